//! Configuration: `deckhand.yaml` → raw serde structs (`raw`) → a validated [`Config`] (`model`).
//! Every error names the file and the key path.

mod daemon;
mod duration;
mod flux;
mod git;
mod model;
mod raw;
mod rollout;

use std::fmt;
use std::path::{Path, PathBuf};

pub use daemon::{DEFAULT_LISTEN, DaemonSettings, SecretSource};
pub use duration::parse_go_duration;
pub use flux::{Automation, LabelSelector, SelectorExpression};
pub use git::{Author, GitAuth, GitSettings, PushSettings, SigningFormat, SigningKey};
pub use model::{
    Config, ConfigWarning, DigestReflection, HarborMode, Origin, PolicySettings, RegistrySettings,
    Repository, object_id,
};
pub use rollout::{
    DEFAULT_HEALTH_TIMEOUT, DEFAULT_SETTLE, OnFailure, ProjectSettings, RolloutMode,
    RolloutSettings, valid_project_name,
};

/// The file name looked for in the working directory when no config is named.
pub const DEFAULT_FILE: &str = "deckhand.yaml";

/// One problem with the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {}: {source}", file.display())]
    Read {
        /// The config file.
        file: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The YAML does not fit the schema (syntax, unknown key, wrong type).
    #[error("{}: {key}: {message}", file.display())]
    Schema {
        /// The config file.
        file: PathBuf,
        /// Key path, e.g. `policies.web.policy`; `.` for the document itself.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A value is well-typed but invalid (bad regex, unknown repository, …).
    #[error("{}: {key}: {message}", file.display())]
    Invalid {
        /// The config file.
        file: PathBuf,
        /// Key path.
        key: String,
        /// What is wrong.
        message: String,
    },
}

/// Every problem found while loading, in file order.
#[derive(Debug)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Loads and validates a config file.
pub fn load(file: &Path) -> Result<Config, ConfigErrors> {
    let text = std::fs::read_to_string(file).map_err(|source| {
        ConfigErrors(vec![ConfigError::Read {
            file: file.to_path_buf(),
            source,
        }])
    })?;
    load_str(file, &text)
}

/// Validates config text as if it had been read from `file` (relative paths resolve against
/// `file`'s directory).
pub fn load_str(file: &Path, text: &str) -> Result<Config, ConfigErrors> {
    let raw = parse(file, text).map_err(|e| ConfigErrors(vec![e]))?;
    model::validate(file, raw).map_err(ConfigErrors)
}

fn parse(file: &Path, text: &str) -> Result<raw::RawConfig, ConfigError> {
    // An empty file (or one holding only comments) is a config with every default.
    let has_content = text.lines().any(|l| {
        let t = l.trim();
        !t.is_empty() && !t.starts_with('#') && t != "---"
    });
    if !has_content {
        return Ok(raw::RawConfig::default());
    }
    let mut path_at_error = None;
    let result = serde_saphyr::with_deserializer_from_str(text, |de| {
        serde_path_to_error::deserialize::<_, raw::RawConfig>(de).map_err(|e| {
            path_at_error = Some(e.path().to_string());
            e.into_inner()
        })
    });
    result.map_err(|e| ConfigError::Schema {
        file: file.to_path_buf(),
        key: path_at_error.unwrap_or_else(|| ".".into()),
        message: clean_message(&e.to_string()),
    })
}

/// serde-saphyr's messages can carry a multi-line source snippet; keep the first line and the
/// location so the error stays one readable line next to the key path.
fn clean_message(message: &str) -> String {
    let first = message.lines().next().unwrap_or(message).trim();
    first.strip_prefix("error: ").unwrap_or(first).to_string()
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_flux;
