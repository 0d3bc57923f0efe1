//! The rollout's memory between runs: images that failed their health gate and are held until
//! the compose file names another one. One small JSON file (`rollout.json`) in the state
//! directory, written atomically; a corrupt file is reported and rebuilt.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// The file in the state directory.
pub const FILE_NAME: &str = "rollout.json";

/// An image that failed and is not retried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Held {
    /// The image as the file named it.
    pub image: String,
    /// Why it was held.
    pub reason: String,
    /// When (seconds since the Unix epoch).
    pub since: u64,
}

/// Everything in `rollout.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolloutState {
    /// Format version.
    #[serde(default = "version")]
    pub version: u32,
    /// Held images per project, then per service.
    #[serde(default)]
    pub held: BTreeMap<String, BTreeMap<String, Held>>,
}

fn version() -> u32 {
    1
}

/// Why the state could not be saved.
#[derive(Debug, thiserror::Error)]
#[error("cannot save the rollout state {}: {source}", file.display())]
pub struct StateError {
    /// The state file.
    pub file: PathBuf,
    /// Why.
    pub source: std::io::Error,
}

/// The state file of one state directory.
#[derive(Debug, Clone)]
pub struct StateStore {
    file: PathBuf,
}

impl StateStore {
    /// The store in `dir` (created on the first save).
    #[must_use]
    pub fn new(dir: &Path) -> Self {
        Self {
            file: dir.join(FILE_NAME),
        }
    }

    /// The state file.
    #[must_use]
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// Reads the state. A missing file is an empty state; an unreadable or corrupt one is an
    /// empty state plus a warning naming the file (the next save rebuilds it).
    #[must_use]
    pub fn load(&self) -> (RolloutState, Option<String>) {
        let text = match std::fs::read_to_string(&self.file) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return (RolloutState::default(), None);
            }
            Err(e) => {
                return (
                    RolloutState::default(),
                    Some(format!(
                        "cannot read {}: {e}; starting with no held images",
                        self.file.display()
                    )),
                );
            }
        };
        match serde_json::from_str::<RolloutState>(&text) {
            Ok(state) => (state, None),
            Err(e) => (
                RolloutState::default(),
                Some(format!(
                    "{} is corrupt ({e}); it is rebuilt, held images are forgotten",
                    self.file.display()
                )),
            ),
        }
    }

    /// Writes the state atomically (temp file, fsync, rename), creating the directory.
    ///
    /// # Errors
    ///
    /// [`StateError`] naming the file.
    pub fn save(&self, state: &RolloutState) -> Result<(), StateError> {
        let err = |source| StateError {
            file: self.file.clone(),
            source,
        };
        if let Some(dir) = self.file.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let mut bytes = serde_json::to_vec_pretty(state).map_err(|e| err(e.into()))?;
        bytes.push(b'\n');
        crate::manifest::write_atomic(&self.file, &bytes).map_err(err)
    }
}

impl RolloutState {
    /// The held image of each service of `project`.
    #[must_use]
    pub fn held_images(&self, project: &str) -> BTreeMap<String, String> {
        self.held
            .get(project)
            .map(|m| {
                m.iter()
                    .map(|(s, h)| (s.clone(), h.image.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Holds `image` for `service`.
    pub fn hold(&mut self, project: &str, service: &str, image: &str, reason: &str) {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.held.entry(project.to_string()).or_default().insert(
            service.to_string(),
            Held {
                image: image.to_string(),
                reason: reason.to_string(),
                since,
            },
        );
    }

    /// Forgets the hold of `service`; true when there was one.
    pub fn release(&mut self, project: &str, service: &str) -> bool {
        let Some(services) = self.held.get_mut(project) else {
            return false;
        };
        let removed = services.remove(service).is_some();
        if services.is_empty() {
            self.held.remove(project);
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(&dir.path().join("nested"));
        let (state, warning) = store.load();
        assert_eq!(state, RolloutState::default());
        assert!(warning.is_none());

        let mut state = RolloutState::default();
        state.hold("p", "web", "reg/app:3", "unhealthy");
        store.save(&state).unwrap();
        let (loaded, warning) = store.load();
        assert!(warning.is_none());
        assert_eq!(loaded, state);
        assert_eq!(
            loaded.held_images("p"),
            BTreeMap::from([("web".to_string(), "reg/app:3".to_string())])
        );
        assert!(loaded.held_images("other").is_empty());

        let mut released = loaded.clone();
        assert!(released.release("p", "web"));
        assert!(!released.release("p", "web"));
        assert!(released.held.is_empty());

        std::fs::write(store.file(), b"{\"held\": [truncated").unwrap();
        let (state, warning) = store.load();
        assert_eq!(state, RolloutState::default());
        let warning = warning.unwrap();
        assert!(
            warning.contains("rollout.json") && warning.contains("corrupt"),
            "{warning}"
        );
        // The next save rebuilds it.
        store.save(&state).unwrap();
        assert_eq!(store.load(), (RolloutState::default(), None));
    }
}
