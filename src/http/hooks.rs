//! Webhook payloads and their authentication — pure functions, no I/O.
//!
//! An event only says *which repository* may have changed; deckhand then lists that repository's
//! tags itself. The payload's tag is never used: a webhook cannot choose what gets written.

use std::collections::BTreeSet;

use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::{Config, HarborMode};
use crate::registry::ImageRef;
use crate::secret::Secret;

/// Where a webhook came from (the last part of `/hooks/{source}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Harbor, Default or CloudEvents payload.
    Harbor,
    /// The distribution registry's notification envelope.
    Registry,
    /// `{"repository": "<name>"}` or `{"image": "<host>/<path>"}`, e.g. from CI.
    Generic,
}

impl Source {
    /// Parses the path segment.
    #[must_use]
    pub fn from_path(segment: &str) -> Option<Source> {
        match segment {
            "harbor" => Some(Source::Harbor),
            "registry" => Some(Source::Registry),
            "generic" => Some(Source::Generic),
            _ => None,
        }
    }

    /// The metric label.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Source::Harbor => "harbor",
            Source::Registry => "registry",
            Source::Generic => "generic",
        }
    }
}

/// Whether the request carries the secret: `Authorization: <secret>` exactly as Harbor sends its
/// configured auth header, `Authorization: Bearer <secret>`, or `?token=<secret>`. Compared in
/// constant time (over SHA-256 digests, so the length does not leak either).
#[must_use]
pub fn authorized(secret: &Secret, authorization: Option<&[u8]>, query: Option<&str>) -> bool {
    let want = Sha256::digest(secret.expose().as_bytes());
    let matches = |given: &[u8]| -> bool { Sha256::digest(given).ct_eq(&want).into() };
    let mut ok = false;
    if let Some(header) = authorization {
        ok |= matches(header);
        let bearer = header
            .strip_prefix(b"Bearer ")
            .or_else(|| header.strip_prefix(b"bearer "));
        ok |= bearer.is_some_and(matches);
    }
    if let Some(query) = query {
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            if key == "token" {
                ok |= matches(value.as_bytes());
            }
        }
    }
    ok
}

/// What an event asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Images were pushed to these repositories (registry host if known, repository path).
    Pushed(Vec<Pushed>),
    /// Not a push (a pull, a delete, a scan report …): nothing to do.
    Ignored(String),
}

/// One pushed repository.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pushed {
    /// The registry host the event names, when it names one deckhand can trust to be its own
    /// spelling (the distribution registry's request host).
    pub host: Option<String>,
    /// Repository path, e.g. `homelab/web`.
    pub repository: String,
}

#[derive(Deserialize)]
struct HarborDefault {
    #[serde(rename = "type")]
    kind: String,
    event_data: Option<HarborData>,
}

#[derive(Deserialize)]
struct HarborCloudEvent {
    #[serde(rename = "type")]
    kind: String,
    data: Option<HarborData>,
}

#[derive(Deserialize)]
struct HarborData {
    repository: HarborRepository,
}

#[derive(Deserialize)]
struct HarborRepository {
    repo_full_name: String,
}

/// Parses a Harbor webhook body: the Default format (`type: PUSH_ARTIFACT`, or `pushImage` from
/// Harbor 1.x) or CloudEvents (`specversion`, `type: harbor.artifact.pushed`).
pub fn parse_harbor(body: &[u8]) -> Result<Event, String> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let is_cloud_event = value.get("specversion").is_some();
    let (kind, data) = if is_cloud_event {
        let e: HarborCloudEvent = serde_json::from_value(value)
            .map_err(|e| format!("not a Harbor CloudEvents payload: {e}"))?;
        (e.kind, e.data)
    } else {
        let e: HarborDefault = serde_json::from_value(value)
            .map_err(|e| format!("not a Harbor webhook payload: {e}"))?;
        (e.kind, e.event_data)
    };
    let push = matches!(
        kind.as_str(),
        "PUSH_ARTIFACT" | "pushImage" | "harbor.artifact.pushed"
    );
    if !push {
        return Ok(Event::Ignored(format!("event type {kind}")));
    }
    let data = data.ok_or_else(|| {
        let key = if is_cloud_event { "data" } else { "event_data" };
        format!("a {kind} event without `{key}`")
    })?;
    let repository = data.repository.repo_full_name;
    if repository.is_empty() {
        return Err("empty repository.repo_full_name".into());
    }
    Ok(Event::Pushed(vec![Pushed {
        host: None,
        repository,
    }]))
}

#[derive(Deserialize)]
struct Envelope {
    events: Vec<RegistryEvent>,
}

#[derive(Deserialize)]
struct RegistryEvent {
    action: String,
    target: RegistryTarget,
    #[serde(default)]
    request: Option<RegistryRequest>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegistryTarget {
    #[serde(default)]
    media_type: String,
    repository: String,
    #[serde(default)]
    tag: Option<String>,
}

#[derive(Deserialize)]
struct RegistryRequest {
    #[serde(default)]
    host: Option<String>,
}

/// Parses the distribution registry's notification envelope. Only pushes of manifests count (a
/// blob push is part of an image not yet tagged).
pub fn parse_registry(body: &[u8]) -> Result<Event, String> {
    let envelope: Envelope = serde_json::from_slice(body)
        .map_err(|e| format!("not a registry notification envelope: {e}"))?;
    let mut pushed = BTreeSet::new();
    let mut other = BTreeSet::new();
    for e in envelope.events {
        let manifest = e.target.tag.is_some()
            || e.target.media_type.contains("manifest")
            || e.target.media_type.contains("image.index");
        if e.action == "push" && manifest {
            pushed.insert(Pushed {
                host: e.request.and_then(|r| r.host).filter(|h| !h.is_empty()),
                repository: e.target.repository,
            });
        } else {
            other.insert(e.action);
        }
    }
    if pushed.is_empty() {
        let what: Vec<String> = other.into_iter().collect();
        return Ok(Event::Ignored(format!(
            "no manifest push (actions: {})",
            what.join(", ")
        )));
    }
    Ok(Event::Pushed(pushed.into_iter().collect()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Generic {
    repository: Option<String>,
    image: Option<String>,
}

/// What a generic hook names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GenericTarget {
    /// A repository by its name in `repositories:`.
    Name(String),
    /// An image `host/path` (no tag).
    Image(ImageRef),
}

/// Parses `{"repository": "<name>"}` or `{"image": "<host>/<path>"}`.
pub fn parse_generic(body: &[u8]) -> Result<GenericTarget, String> {
    let g: Generic = serde_json::from_slice(body)
        .map_err(|e| format!("expected {{\"repository\": NAME}} or {{\"image\": IMAGE}}: {e}"))?;
    match (g.repository, g.image) {
        (Some(name), None) => Ok(GenericTarget::Name(name)),
        (None, Some(image)) => ImageRef::parse(&image)
            .map(GenericTarget::Image)
            .map_err(|e| e.to_string()),
        _ => Err("give exactly one of `repository` and `image`".into()),
    }
}

/// The configured repositories a push concerns. Harbor: by repository path on every registry not
/// marked `harbor: false` (the event's host is Harbor's own idea of its name, which need not be
/// how deckhand reaches it). Distribution: by path, on the event's host when some repository uses
/// that host, else on any host.
#[must_use]
pub fn match_pushed(config: &Config, source: Source, pushed: &[Pushed]) -> Vec<String> {
    let mut names = BTreeSet::new();
    for p in pushed {
        let same_path = config
            .repositories
            .values()
            .filter(|r| r.reference.repository == p.repository);
        match source {
            Source::Harbor => names.extend(
                same_path
                    .filter(|r| {
                        config
                            .registries
                            .get(&r.reference.registry)
                            .is_none_or(|s| s.harbor != HarborMode::Off)
                    })
                    .map(|r| r.name.clone()),
            ),
            Source::Registry | Source::Generic => {
                let candidates: Vec<_> = same_path.collect();
                let on_host: Vec<_> = candidates
                    .iter()
                    .filter(|r| p.host.as_deref() == Some(r.reference.registry.as_str()))
                    .collect();
                if on_host.is_empty() {
                    names.extend(candidates.iter().map(|r| r.name.clone()));
                } else {
                    names.extend(on_host.iter().map(|r| r.name.clone()));
                }
            }
        }
    }
    names.into_iter().collect()
}

/// The repositories a generic hook names; an unknown name or image is an error naming it.
pub fn match_generic(config: &Config, target: &GenericTarget) -> Result<Vec<String>, String> {
    match target {
        GenericTarget::Name(name) => {
            if config.repositories.contains_key(name) {
                Ok(vec![name.clone()])
            } else {
                Err(format!("no repository `{name}` in the config"))
            }
        }
        GenericTarget::Image(image) => {
            let names: Vec<String> = config
                .repositories
                .values()
                .filter(|r| {
                    r.reference.registry == image.registry
                        && r.reference.repository == image.repository
                })
                .map(|r| r.name.clone())
                .collect();
            if names.is_empty() {
                Err(format!(
                    "no repository in the config has the image {}/{}",
                    image.registry, image.repository
                ))
            } else {
                Ok(names)
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
