//! Watches `update.path`: a YAML file whose content changed (a person added a marker, a `git pull`
//! landed) asks for an update pass.
//!
//! Event-driven end to end: notify's inotify thread blocks in the kernel, and the debounce is a
//! tokio timer armed by the first event of a burst — nothing wakes up while nothing changes.
//! (notify-debouncer-full was not used: its debouncer thread wakes every tick even when idle.)
//!
//! deckhand's own writes must not start a loop: `.git/` and the state directory are ignored, only
//! `*.yaml`/`*.yml` count, and a file whose content hash equals the one deckhand wrote (or the
//! one seen last) is not a change.
//!
//! The compose files of `rollout.projects` (and their `.env`) are watched too, also outside
//! `update.path`: a change asks for an update pass, and every pass ends with the rollout, which
//! reconciles the projects with what their files say.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::scheduler::Trigger;

/// Quiet time after the last event of a burst before acting on it.
pub const DEBOUNCE: Duration = Duration::from_millis(300);

/// Content hashes of files deckhand wrote, and of files the watcher has seen: a file whose
/// content equals its recorded hash has not changed.
#[derive(Debug, Default)]
pub struct OwnWrites(Mutex<HashMap<PathBuf, [u8; 32]>>);

impl OwnWrites {
    /// Records the current content of `files` (just written by an update pass).
    pub fn record(&self, files: &[PathBuf]) {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        for f in files {
            if let Ok(bytes) = std::fs::read(f) {
                map.insert(canonical(f), Sha256::digest(&bytes).into());
            }
        }
    }

    /// Whether `path`'s content differs from what was recorded for it; records it either way.
    /// A file that cannot be read (deleted) is no change: nothing in it needs updating.
    fn changed(&self, path: &Path) -> bool {
        let Ok(bytes) = std::fs::read(path) else {
            return false;
        };
        let hash: [u8; 32] = Sha256::digest(&bytes).into();
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        map.insert(canonical(path), hash) != Some(hash)
    }
}

fn canonical(p: &Path) -> PathBuf {
    p.canonicalize().unwrap_or_else(|_| p.to_path_buf())
}

/// Whether an event path can matter: a YAML file outside `.git` and the state directory.
#[must_use]
pub fn relevant(path: &Path, ignore: &Path) -> bool {
    let yaml = path.extension().is_some_and(|e| e == "yaml" || e == "yml");
    yaml && !path.starts_with(ignore) && !path.components().any(|c| c.as_os_str() == ".git")
}

/// Starts watching `dir` (recursively) and each of `extra_files` (e.g. rollout compose files, which
/// may live elsewhere). Returns the watcher, which must be kept alive; the events are handled by
/// [`run`].
pub fn start(
    dir: &Path,
    state_dir: &Path,
    extra_files: &[PathBuf],
) -> Result<(notify::RecommendedWatcher, mpsc::Receiver<PathBuf>), notify::Error> {
    let (tx, rx) = mpsc::channel(256);
    let ignore = canonical(state_dir);
    let extra: HashSet<PathBuf> = extra_files.iter().map(|f| canonical(f)).collect();
    let watch_extra = !extra.is_empty();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if matches!(event.kind, EventKind::Access(_)) {
            return;
        }
        for path in event.paths {
            if relevant(&path, &ignore) || (watch_extra && extra.contains(&canonical(&path))) {
                // A full channel already holds a pending batch that triggers a pass.
                let _ = tx.try_send(path);
            }
        }
    })?;
    watcher.watch(dir, RecursiveMode::Recursive)?;
    let root = canonical(dir);
    let mut parents = HashSet::new();
    for file in extra_files {
        let Some(parent) = canonical(file).parent().map(Path::to_path_buf) else {
            continue;
        };
        if !parent.starts_with(&root) && parents.insert(parent.clone()) {
            // The directory, not the file: editors and `git` replace files by renaming.
            if let Err(e) = watcher.watch(&parent, RecursiveMode::NonRecursive) {
                tracing::warn!(dir = %parent.display(), "cannot watch: {e}");
            }
        }
    }
    Ok((watcher, rx))
}

/// Debounces the paths from [`start`] and sends an update trigger when some file's content
/// changed, until `cancel`.
pub async fn run(
    mut paths: mpsc::Receiver<PathBuf>,
    own: std::sync::Arc<OwnWrites>,
    triggers: mpsc::Sender<Trigger>,
    cancel: CancellationToken,
) {
    loop {
        let mut batch = HashSet::new();
        tokio::select! {
            () = cancel.cancelled() => return,
            first = paths.recv() => match first {
                Some(p) => { batch.insert(p); }
                None => return,
            },
        }
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(DEBOUNCE) => break,
                next = paths.recv() => match next {
                    Some(p) => { batch.insert(p); }
                    None => break,
                },
            }
        }
        let changed: Vec<&PathBuf> = batch.iter().filter(|p| own.changed(p)).collect();
        if changed.is_empty() {
            tracing::trace!(paths = batch.len(), "file events without content changes");
            continue;
        }
        tracing::info!(files = ?changed, "files changed; update pass requested");
        if triggers.send(Trigger::Update).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn only_yaml_outside_git_and_state_counts() {
        let state = Path::new("/repo/.deckhand-state");
        assert!(relevant(Path::new("/repo/deploy/a.yaml"), state));
        assert!(relevant(Path::new("/repo/deploy/a.yml"), state));
        assert!(!relevant(Path::new("/repo/deploy/.deckhand-x.tmp"), state));
        assert!(!relevant(Path::new("/repo/.git/index"), state));
        assert!(!relevant(Path::new("/repo/.git/x.yaml"), state));
        assert!(!relevant(Path::new("/repo/.deckhand-state/s.yaml"), state));
        assert!(!relevant(Path::new("/repo/README.md"), state));
    }

    #[tokio::test]
    async fn own_writes_are_not_changes_but_other_writes_are() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let state = root.join(".deckhand-state");
        std::fs::create_dir_all(&state).unwrap();
        let file = root.join("app.yaml");
        std::fs::write(&file, "a: 1\n").unwrap();
        let own = Arc::new(OwnWrites::default());
        let (watcher, paths) = start(&root, &state, &[]).unwrap();
        let (tx, mut rx) = mpsc::channel(8);
        let cancel = CancellationToken::new();
        let task = tokio::spawn(run(paths, Arc::clone(&own), tx, cancel.clone()));
        let quiet = DEBOUNCE * 4;

        // deckhand writes the file (atomically) and records it: no trigger.
        crate::manifest::write_atomic(&file, b"a: 2\n").unwrap();
        own.record(std::slice::from_ref(&file));
        assert!(tokio::time::timeout(quiet, rx.recv()).await.is_err());

        // The state directory and non-YAML files: no trigger.
        std::fs::write(state.join("state.json"), "{}").unwrap();
        std::fs::write(root.join("notes.txt"), "x").unwrap();
        assert!(tokio::time::timeout(quiet, rx.recv()).await.is_err());

        // A person's edit: one trigger for a burst of writes.
        for i in 0..5 {
            std::fs::write(&file, format!("a: {i}\nb: 1\n")).unwrap();
        }
        let got = tokio::time::timeout(quiet * 4, rx.recv()).await;
        assert_eq!(got.unwrap(), Some(Trigger::Update));
        assert!(tokio::time::timeout(quiet, rx.recv()).await.is_err());

        // The same content written again (a touch, a checkout of the same bytes): no trigger.
        std::fs::write(&file, "a: 4\nb: 1\n").unwrap();
        assert!(tokio::time::timeout(quiet, rx.recv()).await.is_err());

        // A new file in a new directory is seen too.
        std::fs::create_dir_all(root.join("new/dir")).unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        std::fs::write(root.join("new/dir/b.yml"), "x: 1\n").unwrap();
        let got = tokio::time::timeout(quiet * 4, rx.recv()).await;
        assert_eq!(got.unwrap(), Some(Trigger::Update));

        cancel.cancel();
        task.await.unwrap();
        drop(watcher);
    }
}
