//! A deckhand instance for the git tests: a clone, a config file outside it, and a runner for
//! the real binary with extra environment and a deadline (a hung credential loop fails the test
//! instead of hanging it).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::bin::Run;
use super::registry::{RegistryServer, retag_many};
use super::registry_with;
use super::remote::Clone;

/// How long one deckhand run may take.
const DEADLINE: Duration = Duration::from_secs(120);

/// Runs `deckhand ARGS` in `dir` with `env` added, no `DECKHAND_*` from the test's environment,
/// and HOME pointing at an empty directory (so no key or known_hosts of the machine's user is
/// used by accident). Kills it (by its pid) and panics if it runs past the deadline.
pub fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let home = tempfile::tempdir().expect("home");
    let mut command = Command::new(env!("CARGO_BIN_EXE_deckhand"));
    command
        .args(args)
        .current_dir(dir)
        .env_remove("DECKHAND_CONFIG")
        .env_remove("DECKHAND_LOG")
        .env_remove("SSH_AUTH_SOCK")
        .env("HOME", home.path())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        command.env(k, v);
    }
    let child = command.spawn().expect("spawn deckhand");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(DEADLINE) {
        Ok(out) => out.expect("wait for deckhand"),
        Err(_) => {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            panic!("deckhand {args:?} ran longer than {DEADLINE:?} (killed pid {pid})");
        }
    };
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `image` markers by `:tag` for policies named like their registry repository `race/<name>`,
/// ordered by the number in tags `v<n>`.
pub fn config(registry: &str, update_path: &Path, policies: &[&str], git: &str) -> String {
    let mut text = format!("registries:\n  \"{registry}\": {{ insecure: true }}\nrepositories:\n");
    for p in policies {
        text.push_str(&format!(
            "  {p}: {{ image: {registry}/race/{p}, timeout: 20s }}\n"
        ));
    }
    text.push_str("policies:\n");
    for p in policies {
        text.push_str(&format!(
            "  {p}:\n    repository: {p}\n    filterTags: {{ pattern: '^v(?P<n>[0-9]+)$', extract: '$n' }}\n    policy: {{ numerical: {{ order: asc }} }}\n"
        ));
    }
    text.push_str(&format!(
        "update: {{ path: {} }}\ngit:\n{git}",
        update_path.display()
    ));
    text
}

/// A marker file for policy `name` at tag `v<n>`.
pub fn marker_file(name: &str, n: u32) -> String {
    format!("# {name}\nservice:\n  tag: v{n} # {{\"$imagepolicy\": \"flux-system:{name}:tag\"}}\n")
}

/// The `v<n>` a marker file holds.
pub fn marker_value(text: &str) -> u32 {
    let at = text.find("tag: v").expect("a marker line") + "tag: v".len();
    text[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a number")
}

/// A clone with a config file of its own.
pub struct Instance {
    pub clone: Clone,
    dir: tempfile::TempDir,
    pub config: PathBuf,
}

impl Instance {
    pub fn new(clone: Clone) -> Self {
        let dir = tempfile::tempdir().expect("config dir");
        let config = dir.path().join("deckhand.yaml");
        Self { clone, dir, config }
    }

    /// A directory for this instance's keys and files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn write_config(&self, text: &str) {
        std::fs::write(&self.config, text).expect("write config");
    }

    /// `deckhand -c CONFIG sync ARGS` in the clone.
    pub fn sync(&self, args: &[&str]) -> Run {
        self.sync_env(args, &[])
    }

    pub fn sync_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let config = self.config.to_str().expect("utf-8 path");
        let mut all = vec!["-c", config, "sync"];
        all.extend_from_slice(args);
        run(&self.clone.root, &all, env)
    }
}

/// A registry serving `race/<name>` with tags `v0..=v<upto>`.
pub struct Tags {
    // Dropped in this order: the registry (killed), then the runtime it was started on.
    pub registry: RegistryServer,
    runtime: tokio::runtime::Runtime,
}

impl Tags {
    pub fn start(names: &[&str], upto: u32) -> Self {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let tags: Vec<String> = (0..=upto).map(|n| format!("v{n}")).collect();
        let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
        let repos: Vec<(String, &[&str])> = names
            .iter()
            .map(|n| (format!("race/{n}"), tags.as_slice()))
            .collect();
        let repos: Vec<(&str, &[&str])> = repos.iter().map(|(r, t)| (r.as_str(), *t)).collect();
        let registry = registry_with(&runtime, &repos);
        Self { registry, runtime }
    }

    /// Adds tag `v<n>` to `race/<name>`.
    pub fn add(&self, name: &str, n: u32) {
        let repo = format!("race/{name}");
        self.runtime.block_on(async {
            let auth = self.registry.push_auth(&repo).await;
            retag_many(
                &self.registry.base_url(),
                &repo,
                "v0",
                &[format!("v{n}")],
                &auth,
            )
            .await;
        });
    }

    pub fn host(&self) -> &str {
        &self.registry.host
    }
}
