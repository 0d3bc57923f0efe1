//! The `rollout:` section: which compose projects on this Docker host deckhand keeps running what
//! their files say, and how. Raw serde structs first, then the validated settings.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;
use super::duration::parse_go_duration;

/// How long a new container may take to report `healthy`.
pub const DEFAULT_HEALTH_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a new container without a healthcheck must stay up, without restarts.
pub const DEFAULT_SETTLE: Duration = Duration::from_secs(10);

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRollout {
    pub docker: Option<String>,
    #[serde(default)]
    pub projects: Vec<RawProject>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawProject {
    pub file: String,
    pub name: Option<String>,
    pub health_timeout: Option<String>,
    pub settle: Option<String>,
    pub on_failure: Option<RawOnFailure>,
    pub services: Option<Vec<String>>,
    pub mode: Option<RawMode>,
}

#[derive(Debug, Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RawOnFailure {
    Rollback,
    Keep,
}

#[derive(Debug, Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RawMode {
    Api,
    Compose,
}

/// The validated `rollout:` section.
#[derive(Debug, Clone, Default)]
pub struct RolloutSettings {
    /// Docker endpoint (`unix://…`, `tcp://…`); `None`: `DOCKER_HOST`, then the local socket.
    pub docker: Option<String>,
    /// The compose projects to reconcile, in file order.
    pub projects: Vec<ProjectSettings>,
}

/// One compose project.
#[derive(Debug, Clone)]
pub struct ProjectSettings {
    /// The compose file (absolute).
    pub file: PathBuf,
    /// The project name as configured; `None` derives it as compose does (see
    /// `rollout::compose::project_name`).
    pub name: Option<String>,
    /// Deadline for a new container with a healthcheck to become healthy.
    pub health_timeout: Duration,
    /// How long a new container without a healthcheck must keep running, without restarts.
    pub settle: Duration,
    /// What to do when a new container fails its gate.
    pub on_failure: OnFailure,
    /// Only these services are rolled out; `None`: every service with an image.
    pub services: Option<BTreeSet<String>>,
    /// Who recreates the containers.
    pub mode: RolloutMode,
}

/// What to do with a new container that failed its health gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnFailure {
    /// Remove it and put the old container back.
    #[default]
    Rollback,
    /// Leave it as it is, and report.
    Keep,
}

/// Who recreates the containers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RolloutMode {
    /// deckhand itself, over the Docker Engine API.
    #[default]
    Api,
    /// `docker compose` (or `docker-compose`) `up -d --no-deps <service>`.
    Compose,
}

/// Validates `rollout:`; relative files resolve against `base`. Problems go to `errors`.
pub(crate) fn validate(
    file: &Path,
    base: &Path,
    raw: RawRollout,
    errors: &mut Vec<ConfigError>,
) -> RolloutSettings {
    let mut error = |key: String, message: String| {
        errors.push(ConfigError::Invalid {
            file: file.to_path_buf(),
            key,
            message,
        });
    };
    if let Some(docker) = &raw.docker {
        // TLS endpoints (https://, DOCKER_TLS_VERIFY) are not built in: bollard without its ssl
        // feature keeps the binary lean.
        let known = ["unix://", "tcp://", "http://"];
        if !known.iter().any(|scheme| docker.starts_with(scheme)) {
            error(
                "rollout.docker".into(),
                format!("`{docker}` is not a Docker endpoint (unix:///path or tcp://host:port)"),
            );
        }
    }
    let mut projects = Vec::new();
    let mut seen_files = BTreeSet::new();
    for (i, p) in raw.projects.into_iter().enumerate() {
        let key = format!("rollout.projects[{i}]");
        let path = Path::new(&p.file);
        let compose_file = if path.is_absolute() {
            path.to_path_buf()
        } else {
            base.join(path)
        };
        // A missing compose file is reported per project at rollout time, so it never stops the
        // rest of the configuration.
        if !seen_files.insert((compose_file.clone(), p.name.clone())) {
            error(
                format!("{key}.file"),
                format!("{} is listed twice", compose_file.display()),
            );
        }
        if let Some(name) = &p.name
            && !valid_project_name(name)
        {
            error(
                format!("{key}.name"),
                format!(
                    "`{name}` is not a compose project name (lowercase letters, digits, `-` and `_`, \
                     starting with a letter or digit)"
                ),
            );
        }
        let mut duration = |field: &str, value: Option<&str>, default: Duration| match value {
            None => default,
            Some(text) => parse_go_duration(text).unwrap_or_else(|reason| {
                error(format!("{key}.{field}"), reason);
                default
            }),
        };
        let health_timeout = duration(
            "healthTimeout",
            p.health_timeout.as_deref(),
            DEFAULT_HEALTH_TIMEOUT,
        );
        let settle = duration("settle", p.settle.as_deref(), DEFAULT_SETTLE);
        if health_timeout.is_zero() {
            error(
                format!("{key}.healthTimeout"),
                "must be longer than 0s".into(),
            );
        }
        let services = p.services.map(|list| {
            if list.is_empty() {
                error(
                    format!("{key}.services"),
                    "is empty: leave it out to roll out every service".into(),
                );
            }
            list.into_iter().collect()
        });
        projects.push(ProjectSettings {
            file: compose_file,
            name: p.name,
            health_timeout,
            settle,
            on_failure: match p.on_failure {
                None | Some(RawOnFailure::Rollback) => OnFailure::Rollback,
                Some(RawOnFailure::Keep) => OnFailure::Keep,
            },
            services,
            mode: match p.mode {
                None | Some(RawMode::Api) => RolloutMode::Api,
                Some(RawMode::Compose) => RolloutMode::Compose,
            },
        });
    }
    RolloutSettings {
        docker: raw.docker,
        projects,
    }
}

/// Compose's rule for project names: lowercase letters, digits, `-`, `_`, starting with a letter
/// or digit.
#[must_use]
pub fn valid_project_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use super::{OnFailure, RolloutMode};
    use crate::config::load_str;

    const FILE: &str = "/etc/deckhand/deckhand.yaml";

    #[test]
    fn the_contract_example_and_defaults() {
        let text = "
rollout:
  docker: unix:///var/run/docker.sock
  projects:
    - file: ./backend/docker-compose.backend.yml
      name: backend
      healthTimeout: 2m
      onFailure: rollback
    - file: /srv/web/compose.yaml
      settle: 0s
      onFailure: keep
      services: [web, worker]
      mode: compose
";
        let config = load_str(Path::new(FILE), text).unwrap();
        let r = config.rollout.unwrap();
        assert_eq!(r.docker.as_deref(), Some("unix:///var/run/docker.sock"));
        let [a, b] = &r.projects[..] else {
            panic!("{:?}", r.projects)
        };
        assert_eq!(
            a.file,
            Path::new("/etc/deckhand/./backend/docker-compose.backend.yml")
        );
        assert_eq!(a.name.as_deref(), Some("backend"));
        assert_eq!(a.health_timeout, Duration::from_secs(120));
        assert_eq!(a.settle, super::DEFAULT_SETTLE);
        assert_eq!(a.on_failure, OnFailure::Rollback);
        assert_eq!(a.mode, RolloutMode::Api);
        assert_eq!(a.services, None);
        assert_eq!(b.file, Path::new("/srv/web/compose.yaml"));
        assert_eq!(b.name, None);
        assert_eq!(b.settle, Duration::ZERO);
        assert_eq!(b.on_failure, OnFailure::Keep);
        assert_eq!(b.mode, RolloutMode::Compose);
        assert_eq!(
            b.services.as_ref().unwrap().iter().collect::<Vec<_>>(),
            ["web", "worker"]
        );
        assert!(
            load_str(Path::new(FILE), "namespace: x\n")
                .unwrap()
                .rollout
                .is_none()
        );
    }

    #[test]
    fn errors_name_file_and_key() {
        #[rustfmt::skip]
        let cases = [
            ("rollout: { docker: /var/run/docker.sock }", "rollout.docker", "not a Docker endpoint"),
            ("rollout: { projects: [{ file: a.yml, healthTimeout: soon }] }", "rollout.projects[0].healthTimeout", "soon"),
            ("rollout: { projects: [{ file: a.yml, healthTimeout: 0s }] }", "rollout.projects[0].healthTimeout", "longer than 0s"),
            ("rollout: { projects: [{ file: a.yml, settle: 5 }] }", "rollout.projects[0].settle", "without a unit"),
            ("rollout: { projects: [{ file: a.yml, name: My_Stack }] }", "rollout.projects[0].name", "not a compose project name"),
            ("rollout: { projects: [{ file: a.yml, services: [] }] }", "rollout.projects[0].services", "is empty"),
            ("rollout: { projects: [{ file: a.yml }, { file: ./a.yml }] }", "rollout.projects[1].file", "listed twice"),
            ("rollout: { projects: [{ file: a.yml, onFailure: retry }] }", "rollout.projects[0].onFailure", "retry"),
            ("rollout: { projects: [{ file: a.yml, mode: swarm }] }", "rollout.projects[0].mode", "swarm"),
            ("rollout: { projects: [{ file: a.yml, color: red }] }", "rollout.projects[0]", "color"),
            ("rollout: { projects: [{ name: x }] }", "rollout.projects[0]", "file"),
        ];
        for (text, key, needle) in cases {
            let errors = match load_str(Path::new(FILE), text) {
                Ok(c) => panic!("{text}: expected an error, got {:?}", c.rollout),
                Err(e) => e.0,
            };
            assert!(
                errors.iter().any(|e| {
                    let s = e.to_string();
                    s.starts_with(FILE) && s.contains(key) && s.contains(needle)
                }),
                "{text}: no error naming {key} with {needle:?}: {errors:#?}"
            );
        }
    }
}
