//! `deckhand.yaml` exactly as written: serde structs that reject unknown keys. Nothing here is
//! validated beyond types; `model.rs` turns these into a `Config` whose fields are parsed values.

use std::collections::BTreeMap;

use serde::Deserialize;

pub(crate) use super::git::RawGit;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    pub namespace: Option<String>,
    #[serde(default)]
    pub registries: BTreeMap<String, RawRegistry>,
    #[serde(default)]
    pub repositories: BTreeMap<String, RawRepository>,
    #[serde(default)]
    pub policies: BTreeMap<String, RawPolicy>,
    pub update: Option<RawUpdate>,
    pub git: Option<RawGit>,
    // Sections of the contract that later work implements. They are type-checked loosely here so a
    // full DESIGN-style config loads; `model.rs` warns that they are not acted on yet.
    pub rollout: Option<super::rollout::RawRollout>,
    pub daemon: Option<super::daemon::RawDaemon>,
    /// Files or directories holding Flux `image.toolkit.fluxcd.io` objects (see `flux.rs`).
    pub include: Option<Vec<String>>,
    /// What Flux objects' `secretRef`/`certSecretRef` names resolve to.
    #[serde(default)]
    pub credentials: BTreeMap<String, RawCredential>,
}

/// One entry of `credentials:`: a user and password for a `secretRef`, a CA file for a
/// `certSecretRef`, or both.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawCredential {
    pub username: Option<String>,
    pub password: Option<String>,
    pub password_file: Option<String>,
    pub password_env: Option<String>,
    pub ca_file: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawRegistry {
    #[serde(default)]
    pub insecure: bool,
    pub ca_file: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub password_file: Option<String>,
    pub password_env: Option<String>,
    pub harbor: Option<RawHarbor>,
    /// Requests in flight to this registry at once (default 8).
    pub max_concurrency: Option<usize>,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(untagged)]
pub(crate) enum RawHarbor {
    Bool(bool),
    Word(HarborWord),
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum HarborWord {
    Auto,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawRepository {
    pub image: String,
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub exclusion_list: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawPolicy {
    pub repository: String,
    pub filter_tags: Option<RawFilterTags>,
    pub policy: RawRule,
    pub digest_reflection_policy: Option<RawDigestReflection>,
    /// Beyond Flux: tags pushed more recently than this are not candidates yet.
    pub min_age: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFilterTags {
    pub pattern: Option<String>,
    pub extract: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawRule {
    pub alphabetical: Option<RawOrdered>,
    pub numerical: Option<RawOrdered>,
    pub semver: Option<RawSemver>,
    /// Beyond Flux: the most recently pushed tag (Harbor push times).
    pub newest_pushed: Option<RawEmpty>,
}

/// `{}`: a rule without settings.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEmpty {}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOrdered {
    pub order: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSemver {
    pub range: String,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RawDigestReflection {
    Never,
    IfNotPresent,
    Always,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawUpdate {
    pub path: Option<String>,
}
