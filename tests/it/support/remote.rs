//! Bare remotes and clones of them, driven by the `git` command line (an independent
//! implementation from the libgit2 deckhand uses). The bare repository keeps a reflog of every
//! ref update, so a test can prove that no update was ever a force-push.
#![allow(dead_code)] // not every test uses every helper

use std::path::{Path, PathBuf};

use super::git::git;

/// A bare repository in a temp dir.
pub struct Remote {
    _dir: tempfile::TempDir,
    /// The bare repository's directory.
    pub bare: PathBuf,
    /// Its default branch.
    pub branch: String,
}

impl Remote {
    /// A bare repository whose `branch` holds one commit of `files`, by "A Person".
    pub fn new(branch: &str, files: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().canonicalize().expect("canonical tempdir");
        let bare = root.join("remote.git");
        std::fs::create_dir_all(&bare).expect("mkdir");
        git(&bare, &["init", "-q", "--bare", "-b", branch]);
        // Every ref update is logged, so a force-push cannot hide.
        git(&bare, &["config", "core.logAllRefUpdates", "always"]);
        let seed = root.join("seed");
        std::fs::create_dir_all(&seed).expect("mkdir");
        git(&seed, &["init", "-q", "-b", branch]);
        identity(&seed, "A Person", "person@example.org");
        for (path, text) in files {
            let p = seed.join(path);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(p, text).expect("write");
        }
        git(&seed, &["add", "-A"]);
        git(&seed, &["commit", "-q", "-m", "initial"]);
        let url = format!("file://{}", bare.display());
        git(
            &seed,
            &["push", "-q", &url, &format!("HEAD:refs/heads/{branch}")],
        );
        std::fs::remove_dir_all(&seed).expect("remove seed");
        Self {
            _dir: dir,
            bare,
            branch: branch.to_string(),
        }
    }

    /// `file:///…/remote.git`.
    pub fn url(&self) -> String {
        format!("file://{}", self.bare.display())
    }

    /// A fresh clone (of `self.branch`) with the committer identity `name`.
    pub fn clone_as(&self, name: &str) -> Clone {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().canonicalize().expect("canonical").join("work");
        git(
            dir.path(),
            &[
                "clone",
                "-q",
                "-b",
                &self.branch,
                &self.url(),
                root.to_str().expect("utf-8"),
            ],
        );
        identity(
            &root,
            name,
            &format!("{}@example.org", name.replace(' ', ".")),
        );
        Clone { _dir: dir, root }
    }

    /// Runs git in the bare repository.
    pub fn git(&self, args: &[&str]) -> String {
        git(&self.bare, args)
    }

    /// The tip of a branch.
    pub fn tip(&self, branch: &str) -> String {
        self.git(&["rev-parse", &format!("refs/heads/{branch}")])
            .trim()
            .to_string()
    }

    /// A file's content at `rev`.
    pub fn show(&self, rev: &str, path: &str) -> String {
        self.git(&["show", &format!("{rev}:{path}")])
    }

    /// Commit subjects of `branch`, newest first.
    pub fn subjects(&self, branch: &str) -> Vec<String> {
        self.git(&["log", "--format=%s", branch])
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Asserts that every update of `branch` recorded in the reflog was a fast-forward.
    pub fn assert_never_forced(&self, branch: &str) {
        let log = std::fs::read_to_string(self.bare.join("logs/refs/heads").join(branch))
            .expect("the bare remote keeps a reflog");
        let mut updates = 0;
        for line in log.lines() {
            let mut fields = line.split(' ');
            let (old, new) = (fields.next().expect("old"), fields.next().expect("new"));
            if old.chars().all(|c| c == '0') {
                continue;
            }
            updates += 1;
            let ancestor = std::process::Command::new("git")
                .args(["merge-base", "--is-ancestor", old, new])
                .current_dir(&self.bare)
                .status()
                .expect("git merge-base");
            assert!(
                ancestor.success(),
                "{branch} was moved from {old} to {new}, which is not a fast-forward:\n{log}"
            );
        }
        assert!(updates > 0, "no updates of {branch} were logged:\n{log}");
    }
}

fn identity(dir: &Path, name: &str, email: &str) {
    git(dir, &["config", "user.name", name]);
    git(dir, &["config", "user.email", email]);
}

/// A clone of a [`Remote`].
pub struct Clone {
    _dir: tempfile::TempDir,
    /// The work tree.
    pub root: PathBuf,
}

impl Clone {
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).expect("read")
    }

    pub fn write(&self, rel: &str, text: &str) {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }

    pub fn git(&self, args: &[&str]) -> String {
        git(&self.root, args)
    }

    /// `git rev-parse HEAD`.
    pub fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"]).trim().to_string()
    }

    /// `git status --porcelain`.
    pub fn status(&self) -> String {
        self.git(&["status", "--porcelain"])
    }

    /// Writes `rel`, commits it with `message` and pushes, pulling (rebasing) and retrying when
    /// the push loses a race — what a person does.
    pub fn commit_and_push(&self, rel: &str, text: &str, message: &str) {
        self.write(rel, text);
        self.git(&["add", rel]);
        self.git(&["commit", "-q", "-m", message]);
        for _ in 0..50 {
            let pushed = std::process::Command::new("git")
                .args(["push", "-q", "origin", "HEAD"])
                .current_dir(&self.root)
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .output()
                .expect("git push");
            if pushed.status.success() {
                return;
            }
            self.git(&["pull", "-q", "--rebase", "origin"]);
        }
        panic!("{message}: could not push after 50 tries");
    }
}
