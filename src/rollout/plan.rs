//! The rollout decision, pure: what the compose file wants (desired) against what runs (actual).
//! No I/O here; `apply` and `docker` carry the decisions out.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::compose::ComposeProject;

/// Label compose puts on every container of a project.
pub const LABEL_PROJECT: &str = "com.docker.compose.project";
/// Label naming the container's service.
pub const LABEL_SERVICE: &str = "com.docker.compose.service";
/// `True` on `docker compose run` containers, which are never touched.
pub const LABEL_ONEOFF: &str = "com.docker.compose.oneoff";
/// Set on a replacement container to the id of the container it replaces (compose v2 uses the
/// same label during its recreate). deckhand finds interrupted recreates by it.
pub const LABEL_REPLACE: &str = "com.docker.compose.replace";

/// One container of the project, as observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// Full id.
    pub id: String,
    /// Name without the leading `/`.
    pub name: String,
    /// `com.docker.compose.service`.
    pub service: String,
    /// The image reference it was created from (`Config.Image`).
    pub image: String,
    /// Whether it is running.
    pub running: bool,
    /// `com.docker.compose.oneoff` is `True`.
    pub oneoff: bool,
    /// `com.docker.compose.replace`, when set.
    pub replaces: Option<String>,
}

/// A recreate that was cut short (deckhand stopped mid-way): a replacement container and the
/// container it replaces both exist. It is undone before anything else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interrupted {
    /// The service.
    pub service: String,
    /// The replacement (removed).
    pub new_id: String,
    /// The original container (restored under `name` and started).
    pub old_id: String,
    /// Whether the original container is running now.
    pub old_running: bool,
    /// The name the original container had before the recreate.
    pub name: String,
}

/// Name of the replacement container while it is prepared, as compose v2 names it.
#[must_use]
pub fn temporary_name(old_id: &str, name: &str) -> String {
    format!("{}_{name}", short_id(old_id))
}

/// Name the original container carries while its replacement is being gated.
#[must_use]
pub fn parked_name(old_id: &str, name: &str) -> String {
    format!("{name}_deckhand-previous-{}", short_id(old_id))
}

/// The first 12 characters of an id.
#[must_use]
pub fn short_id(id: &str) -> &str {
    &id[..id.len().min(12)]
}

/// Finds interrupted recreates among a project's containers.
#[must_use]
pub fn interrupted(containers: &[Observed]) -> Vec<Interrupted> {
    let mut out = Vec::new();
    for new in containers {
        let Some(old_id) = &new.replaces else {
            continue;
        };
        let Some(old) = containers.iter().find(|c| &c.id == old_id) else {
            continue; // the normal end of a recreate: the old container is gone
        };
        // Before the swap the replacement has the temporary name; after it, the original one.
        let temp_prefix = format!("{}_", short_id(old_id));
        let name = new
            .name
            .strip_prefix(&temp_prefix)
            .map_or_else(|| new.name.clone(), str::to_string);
        out.push(Interrupted {
            service: new.service.clone(),
            new_id: new.id.clone(),
            old_id: old.id.clone(),
            old_running: old.running,
            name,
        });
    }
    out
}

/// What to do with one service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "kebab-case")]
pub enum Decision {
    /// Every running container uses the desired image.
    UpToDate,
    /// The service has no `image:` (only `build:`).
    NoImage,
    /// Not in the project's `services` allow-list.
    NotSelected,
    /// No running container: deckhand updates services, it does not start them.
    NotRunning,
    /// The desired image failed before and is held until the file names another one.
    Held {
        /// The held image.
        image: String,
    },
    /// Pull `to` and recreate these containers.
    Update {
        /// The image the file names.
        to: String,
        /// The containers to recreate, one at a time (by name).
        containers: Vec<Target>,
    },
}

/// A container to recreate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The image it runs now.
    pub from: String,
}

/// The decision for one service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServicePlan {
    /// The service.
    pub service: String,
    /// What to do.
    #[serde(flatten)]
    pub decision: Decision,
    /// A held image no longer applies (the file names another image, or it runs after all).
    pub release_hold: bool,
}

/// Decides, per service in `depends_on` order, what to do. `held` maps a service to the image
/// that failed its gate; `selected` is the allow-list.
#[must_use]
pub fn plan(
    project: &ComposeProject,
    selected: Option<&BTreeSet<String>>,
    containers: &[Observed],
    held: &BTreeMap<String, String>,
) -> Vec<ServicePlan> {
    let mut out = Vec::new();
    for service in &project.services {
        let held_image = held.get(&service.name);
        let mut release_hold = false;
        let decision = if selected.is_some_and(|s| !s.contains(&service.name)) {
            Decision::NotSelected
        } else if let Some(image) = &service.image {
            let desired = normalize(image);
            let running: Vec<&Observed> = containers
                .iter()
                .filter(|c| c.service == service.name && c.running && !c.oneoff)
                .collect();
            let stale: Vec<Target> = running
                .iter()
                .filter(|c| normalize(&c.image) != desired)
                .map(|c| Target {
                    id: c.id.clone(),
                    name: c.name.clone(),
                    from: c.image.clone(),
                })
                .collect();
            if let Some(h) = held_image {
                release_hold = normalize(h) != desired || (stale.is_empty() && !running.is_empty());
            }
            if running.is_empty() {
                Decision::NotRunning
            } else if stale.is_empty() {
                Decision::UpToDate
            } else if held_image.is_some() && !release_hold {
                Decision::Held {
                    image: image.trim().to_string(),
                }
            } else {
                Decision::Update {
                    to: image.trim().to_string(),
                    containers: stale,
                }
            }
        } else {
            Decision::NoImage
        };
        out.push(ServicePlan {
            service: service.name.clone(),
            decision,
            release_hold,
        });
    }
    out
}

/// An image reference in Docker's canonical form, for comparing: `nginx` →
/// `docker.io/library/nginx:latest`; a digest is kept (`name@sha256:…`, with the tag if any).
#[must_use]
pub fn normalize(reference: &str) -> String {
    let reference = reference.trim();
    let (name_tag, digest) = match reference.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (reference, None),
    };
    let slash = name_tag.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match name_tag[slash..].rfind(':') {
        Some(i) => (&name_tag[..slash + i], Some(&name_tag[slash + i + 1..])),
        None => (name_tag, None),
    };
    let (domain, path) = match name.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (first, rest.to_string())
        }
        _ => ("docker.io", name.to_string()),
    };
    let domain = if domain == "index.docker.io" {
        "docker.io"
    } else {
        domain
    };
    let path = if domain == "docker.io" && !path.contains('/') {
        format!("library/{path}")
    } else {
        path
    };
    let tag = match (tag, digest) {
        (Some(t), _) => format!(":{t}"),
        (None, None) => ":latest".into(),
        (None, Some(_)) => String::new(),
    };
    match digest {
        Some(d) => format!("{domain}/{path}{tag}@{d}"),
        None => format!("{domain}/{path}{tag}"),
    }
}

#[cfg(test)]
mod tests;
