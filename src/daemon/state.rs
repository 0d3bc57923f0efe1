//! The daemon's state file (`state.json` in the state directory): per repository the last scan,
//! per policy the current pick, and the last update pass. `deckhand status` reads it.
//!
//! Writes are atomic (temp file, fsync, rename). A state file that cannot be read or parsed is
//! reported, moved aside as `state.json.corrupt`, and rebuilt from the next scans: the state is a
//! cache of what the registries and the files say, never the only copy of anything.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// File name of the state in the state directory.
pub const STATE_FILE: &str = "state.json";
/// Marks an update pass in flight; present at start means the last one was interrupted.
pub const PASS_MARKER_FILE: &str = "pass-in-flight.json";
const VERSION: u32 = 1;

/// Where the state lives: `--state-dir`, else `daemon.stateDir`, else `$STATE_DIRECTORY` (the
/// first entry, as systemd sets it), else `.deckhand-state` next to the config file.
#[must_use]
pub fn resolve_dir(cli: Option<&Path>, configured: Option<&Path>, config_file: &Path) -> PathBuf {
    if let Some(p) = cli.or(configured) {
        return p.to_path_buf();
    }
    if let Some(dir) = std::env::var_os("STATE_DIRECTORY")
        && let Some(first) = std::env::split_paths(&dir).next()
        && !first.as_os_str().is_empty()
    {
        return first;
    }
    let base = config_file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    base.join(".deckhand-state")
}

/// Everything in `state.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct State {
    /// Format version.
    pub version: u32,
    /// Per repository name.
    #[serde(default)]
    pub repositories: BTreeMap<String, RepositoryState>,
    /// Per policy name.
    #[serde(default)]
    pub policies: BTreeMap<String, PolicyState>,
    /// The last update pass.
    #[serde(default)]
    pub last_update: Option<UpdateState>,
}

/// The last scan of a repository.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RepositoryState {
    /// When it ended (Unix seconds).
    pub last_scan: u64,
    /// How long it took (milliseconds).
    pub duration_ms: u64,
    /// Tags listed (by the last successful scan).
    pub tags: usize,
    /// The error of the last scan, if it failed.
    pub error: Option<String>,
    /// Failures in a row.
    pub consecutive_failures: u32,
    /// When a scan last succeeded (Unix seconds).
    pub last_success: Option<u64>,
}

/// The current pick of a policy.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PolicyState {
    /// The repository it orders.
    pub repository: String,
    /// The picked tag.
    pub tag: Option<String>,
    /// The digest of the pick, when the policy reflects digests and the scan looked it up.
    pub digest: Option<String>,
    /// Why the last scan picked nothing.
    pub error: Option<String>,
    /// When the pick last changed (Unix seconds).
    pub since: Option<u64>,
}

/// The last update pass.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct UpdateState {
    /// When it ended (Unix seconds).
    pub time: u64,
    /// Values changed.
    pub changes: usize,
    /// The commit made, if any.
    pub commit: Option<String>,
    /// What failed (subject: message).
    pub errors: Vec<String>,
    /// Warnings (subject: message).
    pub warnings: Vec<String>,
}

/// Now, in Unix seconds.
#[must_use]
pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A state file read from disk (or rebuilt), and where to write it back.
#[derive(Debug)]
pub struct StateFile {
    path: PathBuf,
    /// The state.
    pub state: State,
}

/// How opening the state went, besides the state itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened {
    /// Read as it was.
    Read,
    /// No state yet.
    New,
    /// The file was unreadable or corrupt: reported here, moved aside, rebuilt.
    Rebuilt(String),
}

impl StateFile {
    /// Reads `dir/state.json`, creating `dir` when missing. Never fails on a bad file: it is moved
    /// aside and the state starts empty; only an unusable directory is an error.
    pub fn open(dir: &Path) -> Result<(StateFile, Opened), String> {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create the state directory {}: {e}", dir.display()))?;
        // Keep the state out of `git add -A` when it sits in a checkout.
        let ignore = dir.join(".gitignore");
        if !ignore.exists() {
            let _ = std::fs::write(&ignore, "*\n");
        }
        let path = dir.join(STATE_FILE);
        let (state, opened) = match read(&path) {
            Ok(Some(state)) => (state, Opened::Read),
            Ok(None) => (State::default(), Opened::New),
            Err(problem) => {
                let aside = dir.join(format!("{STATE_FILE}.corrupt"));
                let moved = std::fs::rename(&path, &aside)
                    .map(|()| format!("; moved to {}", aside.display()))
                    .unwrap_or_default();
                (
                    State::default(),
                    Opened::Rebuilt(format!("{problem}{moved}")),
                )
            }
        };
        let state = State {
            version: VERSION,
            ..state
        };
        Ok((StateFile { path, state }, opened))
    }

    /// Writes the state atomically.
    pub fn save(&self) -> Result<(), String> {
        let mut bytes = serde_json::to_vec_pretty(&self.state)
            .map_err(|e| format!("cannot encode the state: {e}"))?;
        bytes.push(b'\n');
        crate::manifest::write_atomic(&self.path, &bytes)
            .map_err(|e| format!("cannot write the state {}: {e}", self.path.display()))
    }

    /// The file's path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Reads a state file: `Ok(None)` when there is none; `Err` naming the file when it is unreadable,
/// not JSON, or of an unknown version.
pub fn read(path: &Path) -> Result<Option<State>, String> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read the state {}: {e}", path.display())),
    };
    let state: State = serde_json::from_slice(&bytes)
        .map_err(|e| format!("the state {} is corrupt: {e}", path.display()))?;
    if state.version != VERSION {
        return Err(format!(
            "the state {} has version {}, this deckhand writes {VERSION}",
            path.display(),
            state.version
        ));
    }
    Ok(Some(state))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let (mut file, opened) = StateFile::open(&dir.path().join("s")).unwrap();
        assert_eq!(opened, Opened::New);
        file.state.repositories.insert(
            "web".into(),
            RepositoryState {
                last_scan: 5,
                tags: 3,
                ..RepositoryState::default()
            },
        );
        file.save().unwrap();
        let (again, opened) = StateFile::open(&dir.path().join("s")).unwrap();
        assert_eq!(opened, Opened::Read);
        assert_eq!(again.state, file.state);
        assert_eq!(
            std::fs::read_to_string(dir.path().join("s/.gitignore")).unwrap(),
            "*\n"
        );
    }

    #[test]
    fn a_corrupt_file_is_reported_moved_aside_and_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(STATE_FILE),
            "{\"version\": 1, \"repositories\": [",
        )
        .unwrap();
        let (file, opened) = StateFile::open(dir.path()).unwrap();
        let Opened::Rebuilt(why) = opened else {
            panic!("expected a rebuild, got {opened:?}")
        };
        assert!(
            why.contains("is corrupt") && why.contains("state.json.corrupt"),
            "{why}"
        );
        assert_eq!(file.state.repositories.len(), 0);
        assert!(dir.path().join("state.json.corrupt").exists());
        file.save().unwrap();
        assert!(read(&dir.path().join(STATE_FILE)).unwrap().is_some());

        std::fs::write(dir.path().join(STATE_FILE), "{\"version\": 99}").unwrap();
        let (_, opened) = StateFile::open(dir.path()).unwrap();
        assert!(matches!(opened, Opened::Rebuilt(ref why) if why.contains("version 99")));
    }

    #[test]
    fn state_dir_precedence() {
        let cfg = Path::new("/srv/repo/deckhand.yaml");
        assert_eq!(
            resolve_dir(Some(Path::new("/a")), Some(Path::new("/b")), cfg),
            Path::new("/a")
        );
        assert_eq!(
            resolve_dir(None, Some(Path::new("/b")), cfg),
            Path::new("/b")
        );
        // $STATE_DIRECTORY is only read when neither is given; not set in the test environment
        // unless systemd runs the tests.
        if std::env::var_os("STATE_DIRECTORY").is_none() {
            assert_eq!(
                resolve_dir(None, None, cfg),
                Path::new("/srv/repo/.deckhand-state")
            );
            assert_eq!(
                resolve_dir(None, None, Path::new("deckhand.yaml")),
                Path::new("./.deckhand-state")
            );
        }
    }
}
