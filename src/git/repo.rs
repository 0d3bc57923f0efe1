//! The local checkout: which branch is checked out, whether a file has uncommitted changes, a
//! commit that contains exactly the files deckhand edited — nothing a person staged or changed —
//! and moving the branch to another commit without touching anyone's uncommitted work.

use std::path::{Path, PathBuf};

use git2::build::{CheckoutBuilder, TreeUpdateBuilder};
use git2::{Oid, Repository, Signature, Status};

use super::GitError;
use super::own::OwnCommits;
use super::sign::Signer;
use crate::config::Author;

/// A non-bare repository and its working directory.
pub struct Worktree {
    repo: Repository,
    root: PathBuf,
}

impl std::fmt::Debug for Worktree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worktree")
            .field("root", &self.root)
            .finish()
    }
}

impl Worktree {
    /// Finds the repository containing `path`.
    pub fn discover(path: &Path) -> Result<Self, GitError> {
        let repo = Repository::discover(path).map_err(|source| GitError::NotARepository {
            path: path.to_path_buf(),
            source,
        })?;
        let root = repo
            .workdir()
            .ok_or_else(|| GitError::Bare {
                path: repo.path().to_path_buf(),
            })?
            .to_path_buf();
        // Canonical, so that paths from the walker (also canonicalised) strip cleanly.
        let root = root.canonicalize().unwrap_or(root);
        Ok(Self { repo, root })
    }

    /// The working directory.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn repo(&self) -> &Repository {
        &self.repo
    }

    pub(crate) fn err(&self, action: &str) -> impl FnOnce(git2::Error) -> GitError + '_ {
        let action = action.to_string();
        move |source| GitError::Git {
            repo: self.root.clone(),
            action,
            source,
        }
    }

    /// The checked-out branch; an error when it is not `wanted` (if given), or when HEAD is
    /// detached or unborn.
    pub fn checked_out_branch(&self, wanted: Option<&str>) -> Result<String, GitError> {
        let head = match self.repo.head() {
            Ok(head) => head,
            Err(e) if e.code() == git2::ErrorCode::UnbornBranch => {
                return Err(GitError::NoBranch {
                    repo: self.root.clone(),
                    state: "no commits yet".into(),
                });
            }
            Err(e) => return Err(self.err("reading HEAD")(e)),
        };
        if !head.is_branch() {
            return match wanted {
                Some(w) => Err(GitError::WrongBranch {
                    repo: self.root.clone(),
                    wanted: w.to_string(),
                    actual: "a detached HEAD".into(),
                }),
                None => Err(GitError::NoBranch {
                    repo: self.root.clone(),
                    state: "a detached HEAD".into(),
                }),
            };
        }
        let actual = head.shorthand().unwrap_or_default().to_string();
        match wanted {
            Some(w) if w != actual => Err(GitError::WrongBranch {
                repo: self.root.clone(),
                wanted: w.to_string(),
                actual,
            }),
            _ => Ok(actual),
        }
    }

    /// The commit a local branch points at.
    pub fn branch_tip(&self, branch: &str) -> Result<Oid, GitError> {
        self.repo
            .refname_to_id(&format!("refs/heads/{branch}"))
            .map_err(self.err(&format!("reading branch {branch}")))
    }

    /// Path relative to the working directory, with `/` separators, as git wants it.
    #[must_use]
    pub fn relative(&self, path: &Path) -> PathBuf {
        path.strip_prefix(&self.root).unwrap_or(path).to_path_buf()
    }

    /// Why deckhand must not touch this file, if it must not: it has uncommitted changes (in the
    /// index or the working tree), is untracked, or is ignored.
    pub fn uncommitted(&self, path: &Path) -> Result<Option<&'static str>, GitError> {
        let rel = self.relative(path);
        let status = match self.repo.status_file(&rel) {
            Ok(s) => s,
            // A path that exists nowhere (not in HEAD, the index or the work tree) is clean.
            Err(e) if e.code() == git2::ErrorCode::NotFound => Status::CURRENT,
            Err(e) => return Err(self.err(&format!("status of {}", rel.display()))(e)),
        };
        Ok(if status.is_empty() {
            None
        } else if status.contains(Status::WT_NEW) {
            Some("it is not tracked by git")
        } else if status.contains(Status::IGNORED) {
            Some("it is ignored by git")
        } else {
            Some("it has uncommitted changes")
        })
    }

    /// Commits the current contents of exactly `files` on top of `branch` (which is checked out),
    /// as `author`, signed when a signer is given. Other changes in the index or working tree are
    /// neither included nor disturbed. Returns the new commit.
    pub fn commit_files(
        &self,
        branch: &str,
        files: &[PathBuf],
        author: &Author,
        message: &str,
        signer: Option<&mut Signer>,
    ) -> Result<Oid, GitError> {
        let refname = format!("refs/heads/{branch}");
        let parent_id = self.branch_tip(branch)?;
        let parent = self
            .repo
            .find_commit(parent_id)
            .map_err(self.err("reading HEAD"))?;
        let base_tree = parent.tree().map_err(self.err("reading HEAD's tree"))?;
        let mut update = TreeUpdateBuilder::new();
        for file in files {
            let rel = self.relative(file);
            let bytes = std::fs::read(file).map_err(|source| GitError::Read {
                path: file.clone(),
                source,
            })?;
            let blob = self
                .repo
                .blob(&bytes)
                .map_err(self.err(&format!("storing {}", rel.display())))?;
            // Keep the executable bit (and any other mode) the file had in HEAD.
            let mode = base_tree
                .get_path(&rel)
                .map_or(git2::FileMode::Blob.into(), |e| e.filemode());
            update.upsert(&rel, blob, file_mode(mode));
        }
        let tree_id = update
            .create_updated(&self.repo, &base_tree)
            .map_err(self.err("building the tree"))?;
        let tree = self
            .repo
            .find_tree(tree_id)
            .map_err(self.err("reading the new tree"))?;
        let sig = Signature::now(&author.name, &author.email)
            .map_err(self.err("making the author signature"))?;
        let oid = match signer {
            None => self
                .repo
                .commit(None, &sig, &sig, message, &tree, &[&parent])
                .map_err(self.err("committing"))?,
            Some(signer) => {
                let buffer = self
                    .repo
                    .commit_create_buffer(&sig, &sig, message, &tree, &[&parent])
                    .map_err(self.err("preparing the commit"))?;
                let content = buffer.as_str().map_err(|_| GitError::Sign {
                    message: "the commit is not UTF-8 text".into(),
                })?;
                let signature = signer.sign(content.as_bytes())?;
                self.repo
                    .commit_signed(content, &signature, None)
                    .map_err(self.err("writing the signed commit"))?
            }
        };
        // Compare-and-swap: if someone moved the branch meanwhile, fail rather than drop their
        // commit.
        let subject = message.lines().next().unwrap_or_default();
        self.repo
            .reference_matching(
                &refname,
                oid,
                true,
                parent_id,
                &format!("commit: {subject}"),
            )
            .map_err(self.err(&format!("moving {branch} to the new commit")))?;
        // Remembered so that, unpublished, it may be dropped and re-made on a newer remote tip.
        if let Err(e) = OwnCommits::new(&self.repo).record(oid) {
            tracing::warn!("cannot record commit {oid} as deckhand's own: {e}");
        }
        // Bring the index in line for the committed files only, so `git status` shows them clean
        // while anything a person staged stays staged.
        let mut index = self.repo.index().map_err(self.err("opening the index"))?;
        for file in files {
            index
                .add_path(&self.relative(file))
                .map_err(self.err("updating the index"))?;
        }
        index.write().map_err(self.err("writing the index"))?;
        Ok(oid)
    }

    /// Puts `files` back as HEAD has them — after a commit of them failed, so the work tree is
    /// clean and the next pass makes the same edits again. Only for files deckhand wrote: they
    /// were unmodified before it edited them.
    pub fn restore(&self, files: &[PathBuf]) -> Result<(), GitError> {
        if files.is_empty() {
            return Ok(());
        }
        let mut checkout = CheckoutBuilder::new();
        checkout.force();
        for file in files {
            checkout.path(self.relative(file));
        }
        self.repo
            .checkout_head(Some(&mut checkout))
            .map_err(self.err("restoring the edited files"))
    }

    /// Moves the checked-out `branch` from `from` to `to` and updates the work tree and index to
    /// match — a fast-forward, or dropping deckhand's own unpublished commits. Every file that
    /// differs between the two commits must be unmodified in the work tree and index; otherwise
    /// nothing is changed and the error names those files. `target` names `to` in messages.
    pub fn move_branch(
        &self,
        branch: &str,
        from: Oid,
        to: Oid,
        target: &str,
    ) -> Result<(), GitError> {
        if from == to {
            return Ok(());
        }
        let tree_of = |oid: Oid| {
            self.repo
                .find_commit(oid)
                .and_then(|c| c.tree())
                .map_err(self.err(&format!("reading commit {oid}")))
        };
        let (old_tree, new_tree) = (tree_of(from)?, tree_of(to)?);
        let diff = self
            .repo
            .diff_tree_to_tree(Some(&old_tree), Some(&new_tree), None)
            .map_err(self.err("comparing trees"))?;
        let mut paths: Vec<PathBuf> = Vec::new();
        for delta in diff.deltas() {
            for file in [delta.old_file(), delta.new_file()] {
                if let Some(p) = file.path()
                    && !paths.iter().any(|q| q == p)
                {
                    paths.push(p.to_path_buf());
                }
            }
        }
        let mut dirty = Vec::new();
        for p in &paths {
            if self.uncommitted(&self.root.join(p))?.is_some() {
                dirty.push(p.clone());
            }
        }
        if !dirty.is_empty() {
            return Err(GitError::Dirty {
                branch: branch.to_string(),
                target: target.to_string(),
                files: dirty,
            });
        }
        if !paths.is_empty() {
            let mut checkout = CheckoutBuilder::new();
            // Safe: only files that still match the old commit are touched; restricting the
            // paths keeps a large work tree from being scanned.
            checkout.safe().recreate_missing(true);
            for p in &paths {
                checkout.path(p.as_path());
            }
            let object = new_tree.as_object();
            self.repo
                .checkout_tree(object, Some(&mut checkout))
                .map_err(self.err(&format!("checking out {target}")))?;
        }
        self.repo
            .reference_matching(
                &format!("refs/heads/{branch}"),
                to,
                true,
                from,
                &format!("deckhand: move to {target}"),
            )
            .map_err(self.err(&format!("moving {branch} to {target}")))?;
        Ok(())
    }

    /// Commits reachable from `local` but not from `remote`, newest first.
    pub fn commits_not_in(&self, local: Oid, remote: Oid) -> Result<Vec<Oid>, GitError> {
        let mut walk = self.repo.revwalk().map_err(self.err("walking history"))?;
        walk.push(local).map_err(self.err("walking history"))?;
        walk.hide(remote).map_err(self.err("walking history"))?;
        walk.collect::<Result<Vec<_>, _>>()
            .map_err(self.err("walking history"))
    }
}

fn file_mode(raw: i32) -> git2::FileMode {
    match raw {
        m if m == i32::from(git2::FileMode::BlobExecutable) => git2::FileMode::BlobExecutable,
        m if m == i32::from(git2::FileMode::Link) => git2::FileMode::Link,
        _ => git2::FileMode::Blob,
    }
}
