//! Flux `image.toolkit.fluxcd.io` objects (v1beta1, v1beta2, v1) as configuration.
//!
//! `include:` names files or directories. A directory with a `kustomization.yaml` contributes
//! the `resources:` it lists (followed recursively, with the kustomization's `namespace:`);
//! one without contributes every `*.yaml`/`*.yml` below it. Every document is read; the kinds
//! that matter here become entries of the same maps as `deckhand.yaml`'s own:
//!
//! - `ImageRepository` → `repositories` (and registry transport: `insecure`, credentials from
//!   `secretRef`, a CA from `certSecretRef`);
//! - `ImagePolicy` → `policies`;
//! - `ImageUpdateAutomation` → git settings, `update.path`, the policy scope and the Go commit
//!   template;
//! - `Secret` (`kubernetes.io/dockerconfigjson`, or one holding `ca.crt`) → what a `secretRef`
//!   or `certSecretRef` resolves to when `credentials:` has no entry of that name. A
//!   `SealedSecret` or SOPS-encrypted Secret cannot be read, and is reported as such.
//!
//! Unknown `spec` fields are errors (as the Kubernetes API server would reject them); fields
//! that have no meaning outside Kubernetes are warnings that say what deckhand does instead.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::ConfigError;
use super::git::{GitSettings, PushSettings};
use super::model::{
    Checker, ConfigWarning, Login, Origin, PolicySettings, RegistrySettings, Repository, login,
    object_id, policy_settings_at, repository_at,
};
use super::raw::{
    RawCredential, RawDigestReflection, RawFilterTags, RawOrdered, RawPolicy, RawRepository,
    RawRule, RawSemver,
};
use crate::registry::Credentials;
use crate::secret::Secret;

const GROUP: &str = "image.toolkit.fluxcd.io";
const VERSIONS: [&str; 3] = ["v1beta1", "v1beta2", "v1"];
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Files a directory is read through, in kustomize's order of preference.
const KUSTOMIZATION_NAMES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// The ImageUpdateAutomation deckhand runs as.
#[derive(Debug, Clone)]
pub struct Automation {
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// Where it is defined.
    pub origin: Origin,
    /// `spec.suspend`: nothing is written while true.
    pub suspended: bool,
    /// `spec.policySelector`: which policies of its namespace markers may use.
    pub policy_selector: LabelSelector,
    /// `spec.git.commit.messageTemplate`: a Go `text/template`.
    pub message_template: Option<crate::template::GoTemplate>,
    /// `spec.git.commit.messageTemplateValues`, exposed to the template as `.Values`.
    pub message_template_values: BTreeMap<String, String>,
    /// `spec.interval`.
    pub interval: Option<Duration>,
}

/// A Kubernetes label selector (`matchLabels` and `matchExpressions`, AND-ed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {
    /// Labels that must be present with these values.
    pub match_labels: BTreeMap<String, String>,
    /// Set-based requirements.
    pub match_expressions: Vec<SelectorExpression>,
}

/// One `matchExpressions` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelectorExpression {
    /// The label's value is one of these.
    In(String, Vec<String>),
    /// The label is absent or its value is none of these.
    NotIn(String, Vec<String>),
    /// The label is present.
    Exists(String),
    /// The label is absent.
    DoesNotExist(String),
}

impl LabelSelector {
    /// Whether `labels` satisfy the selector (an empty selector selects everything).
    #[must_use]
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|e| match e {
                SelectorExpression::In(k, vs) => labels.get(k).is_some_and(|v| vs.contains(v)),
                SelectorExpression::NotIn(k, vs) => labels.get(k).is_none_or(|v| !vs.contains(v)),
                SelectorExpression::Exists(k) => labels.contains_key(k),
                SelectorExpression::DoesNotExist(k) => !labels.contains_key(k),
            })
    }
}

/// One `credentials:` entry, validated.
#[derive(Debug, Clone)]
pub(super) struct Credential {
    credentials: Option<Credentials>,
    ca_file: Option<PathBuf>,
}

/// Validates `credentials:`.
pub(super) fn credentials(
    c: &mut Checker<'_>,
    raw: BTreeMap<String, RawCredential>,
) -> BTreeMap<String, Credential> {
    let mut out = BTreeMap::new();
    for (name, r) in raw {
        let key = format!("credentials.{name}");
        let (credentials, ca_file) = login(
            c,
            &key,
            Login {
                username: r.username,
                password: r.password,
                password_file: r.password_file,
                password_env: r.password_env,
                ca_file: r.ca_file,
            },
        );
        out.insert(
            name,
            Credential {
                credentials,
                ca_file,
            },
        );
    }
    out
}

/// The maps Flux objects are merged into.
pub(super) struct Parts<'a> {
    pub namespace: &'a str,
    pub registries: &'a mut BTreeMap<String, RegistrySettings>,
    pub repositories: &'a mut BTreeMap<String, Repository>,
    pub policies: &'a mut BTreeMap<String, PolicySettings>,
    pub warnings: &'a mut Vec<ConfigWarning>,
}

/// What `include` leaves for [`apply_automation`].
#[derive(Default)]
pub(super) struct Included {
    automations: Vec<Doc>,
    git_repositories: Vec<Doc>,
    warnings: Vec<ConfigWarning>,
}

/// One Kubernetes document from an included file.
#[derive(Debug, Clone)]
struct Doc {
    file: PathBuf,
    api_version: String,
    kind: String,
    namespace: String,
    name: String,
    labels: BTreeMap<String, String>,
    body: Value,
}

impl Doc {
    fn key(&self) -> String {
        format!("{} {}/{}", self.kind, self.namespace, self.name)
    }

    fn origin(&self) -> Origin {
        Origin {
            file: self.file.clone(),
            key: self.key(),
            flux: true,
        }
    }

    fn error(&self, c: &mut Checker<'_>, field: &str, message: impl Into<String>) {
        let key = if field.is_empty() {
            self.key()
        } else {
            format!("{} {field}", self.key())
        };
        c.errors.push(ConfigError::Invalid {
            file: self.file.clone(),
            key,
            message: message.into(),
        });
    }

    fn warning(&self, warnings: &mut Vec<ConfigWarning>, field: &str, message: impl Into<String>) {
        warnings.push(ConfigWarning {
            file: self.file.clone(),
            key: format!("{} {field}", self.key()),
            message: message.into(),
        });
    }

    /// `spec` as `T`; unknown fields and wrong types are errors naming `spec.<path>`.
    fn spec<T: DeserializeOwned>(&self, c: &mut Checker<'_>) -> Option<T> {
        let spec = self.body.get("spec").cloned().unwrap_or(Value::Null);
        let spec = if spec.is_null() {
            Value::Object(serde_json::Map::new())
        } else {
            spec
        };
        match serde_path_to_error::deserialize::<_, T>(spec) {
            Ok(v) => Some(v),
            Err(e) => {
                let path = e.path().to_string();
                let field = if path == "." {
                    "spec".to_owned()
                } else {
                    format!("spec.{path}")
                };
                self.error(c, &field, e.into_inner().to_string());
                None
            }
        }
    }
}

// -------------------------------------------------------------------------------------------
// Flux specs, all versions together (each field exists in at least one of them)

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LocalRef {
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RepositorySpec {
    image: Option<String>,
    interval: Option<String>,
    timeout: Option<String>,
    secret_ref: Option<LocalRef>,
    cert_secret_ref: Option<LocalRef>,
    proxy_secret_ref: Option<LocalRef>,
    service_account_name: Option<String>,
    access_from: Option<Value>,
    suspend: Option<bool>,
    exclusion_list: Option<Vec<String>>,
    provider: Option<String>,
    insecure: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NamespacedRef {
    name: String,
    namespace: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FluxRule {
    alphabetical: Option<RawOrdered>,
    numerical: Option<RawOrdered>,
    semver: Option<RawSemver>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PolicySpec {
    image_repository_ref: Option<NamespacedRef>,
    #[serde(default)]
    policy: FluxRule,
    filter_tags: Option<RawFilterTags>,
    digest_reflection_policy: Option<RawDigestReflection>,
    // Digest refresh period with `Always`: deckhand looks the digest up on every pass anyway.
    #[allow(dead_code)]
    interval: Option<String>,
    suspend: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SourceRef {
    kind: Option<String>,
    name: String,
    namespace: Option<String>,
    #[allow(dead_code)]
    api_version: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct GitRef {
    branch: Option<String>,
    tag: Option<String>,
    semver: Option<String>,
    name: Option<String>,
    commit: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Checkout {
    #[serde(rename = "ref")]
    git_ref: Option<GitRef>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FluxAuthor {
    name: Option<String>,
    email: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CommitSpec {
    author: Option<FluxAuthor>,
    signing_key: Option<Value>,
    message_template: Option<String>,
    message_template_values: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct PushSpec {
    branch: Option<String>,
    refspec: Option<String>,
    options: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct GitSpec {
    checkout: Option<Checkout>,
    commit: Option<CommitSpec>,
    push: Option<PushSpec>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct UpdateSpec {
    path: Option<String>,
    strategy: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpression {
    key: String,
    operator: String,
    #[serde(default)]
    values: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawSelector {
    #[serde(default)]
    match_labels: BTreeMap<String, String>,
    #[serde(default)]
    match_expressions: Vec<RawExpression>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AutomationSpec {
    source_ref: Option<SourceRef>,
    git: Option<GitSpec>,
    interval: Option<String>,
    policy_selector: Option<RawSelector>,
    update: Option<UpdateSpec>,
    suspend: Option<bool>,
}

// -------------------------------------------------------------------------------------------
// Reading the files

/// Reads every included file and merges its ImageRepositories and ImagePolicies into `parts`.
pub(super) fn include(
    c: &mut Checker<'_>,
    includes: Vec<String>,
    credentials: &BTreeMap<String, Credential>,
    parts: Parts<'_>,
) -> Included {
    let mut included = Included::default();
    if includes.is_empty() {
        return included;
    }
    let files = collect_files(c, &includes, &mut included.warnings);
    let mut docs = Vec::new();
    for (file, kustomize_namespace) in files {
        read_docs(
            c,
            &file,
            kustomize_namespace.as_deref(),
            parts.namespace,
            &mut docs,
        );
    }
    let secrets: Vec<&Doc> = docs
        .iter()
        .filter(|d| d.kind == "Secret" || d.kind == "SealedSecret")
        .collect();

    let Parts {
        namespace,
        registries,
        repositories,
        policies,
        warnings,
    } = parts;
    let mut registry_sources: BTreeMap<String, String> = BTreeMap::new();
    for doc in docs.iter().filter(|d| is_image_kind(d, "ImageRepository")) {
        let Some(spec) = doc.spec::<RepositorySpec>(c) else {
            continue;
        };
        let id = object_id(namespace, &doc.namespace, &doc.name);
        if let Some(other) = repositories.get(&id) {
            doc.error(
                c,
                "",
                format!(
                    "repository `{}:{}` is defined twice: here and at {}",
                    doc.namespace, doc.name, other.origin
                ),
            );
            continue;
        }
        let Some(repo) = image_repository(c, doc, spec, credentials, &secrets, warnings) else {
            continue;
        };
        let (repo, transport) = repo;
        let host = repo.reference.registry.clone();
        merge_transport(c, doc, &host, transport, registries, &mut registry_sources);
        repositories.insert(id, repo);
    }
    for doc in docs.iter().filter(|d| is_image_kind(d, "ImagePolicy")) {
        let Some(spec) = doc.spec::<PolicySpec>(c) else {
            continue;
        };
        let id = object_id(namespace, &doc.namespace, &doc.name);
        if let Some(other) = policies.get(&id) {
            doc.error(
                c,
                "",
                format!(
                    "policy `{}:{}` is defined twice: here and at {}",
                    doc.namespace, doc.name, other.origin
                ),
            );
            continue;
        }
        let Some(repo_ref) = spec.image_repository_ref else {
            doc.error(c, "spec.imageRepositoryRef", "is required");
            continue;
        };
        let repo_ns = repo_ref.namespace.unwrap_or_else(|| doc.namespace.clone());
        let repo_id = object_id(namespace, &repo_ns, &repo_ref.name);
        if !repositories.contains_key(&repo_id) {
            doc.error(
                c,
                "spec.imageRepositoryRef",
                format!(
                    "names ImageRepository {repo_ns}/{}, which is neither in the included files \
                     nor under `repositories:`",
                    repo_ref.name
                ),
            );
            continue;
        }
        let raw = RawPolicy {
            repository: repo_id,
            filter_tags: spec.filter_tags,
            policy: RawRule {
                alphabetical: spec.policy.alphabetical,
                numerical: spec.policy.numerical,
                semver: spec.policy.semver,
                newest_pushed: None,
            },
            digest_reflection_policy: spec.digest_reflection_policy,
            min_age: None,
        };
        let mut sub = Checker {
            file: &doc.file,
            base: c.base.clone(),
            errors: Vec::new(),
        };
        let policy = policy_settings_at(
            &mut sub,
            &format!("{}: spec", doc.key()),
            &doc.name,
            raw,
            doc.origin(),
        );
        c.errors.append(&mut sub.errors);
        if let Some(mut policy) = policy {
            policy.namespace.clone_from(&doc.namespace);
            policy.labels.clone_from(&doc.labels);
            policy.suspended = spec.suspend.unwrap_or(false);
            policies.insert(id, policy);
        }
    }
    warnings.append(&mut included.warnings);
    included.automations = docs
        .iter()
        .filter(|d| is_image_kind(d, "ImageUpdateAutomation"))
        .cloned()
        .collect();
    included.git_repositories = docs
        .iter()
        .filter(|d| d.kind == "GitRepository" && d.api_version.starts_with("source.toolkit."))
        .cloned()
        .collect();
    included
}

fn is_image_kind(doc: &Doc, kind: &str) -> bool {
    doc.kind == kind && doc.api_version.starts_with(GROUP)
}

/// Files to read, each with the `namespace:` of the kustomization that listed it.
fn collect_files(
    c: &mut Checker<'_>,
    includes: &[String],
    warnings: &mut Vec<ConfigWarning>,
) -> Vec<(PathBuf, Option<String>)> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, entry) in includes.iter().enumerate() {
        // `a/./b` → `a/b`, so messages show the paths as people write them.
        let path: PathBuf = c.resolve(entry).components().collect();
        if !path.exists() {
            c.error(
                format!("include[{i}]"),
                format!("{} does not exist", path.display()),
            );
            continue;
        }
        let mut walker = Collector {
            out: &mut out,
            seen: &mut seen,
            warnings,
        };
        if let Err((file, message)) = walker.add(&path, None) {
            c.errors.push(ConfigError::Invalid {
                file,
                key: format!("include[{i}]"),
                message,
            });
        }
    }
    out
}

struct Collector<'a> {
    out: &'a mut Vec<(PathBuf, Option<String>)>,
    seen: &'a mut BTreeSet<PathBuf>,
    warnings: &'a mut Vec<ConfigWarning>,
}

impl Collector<'_> {
    fn add(&mut self, path: &Path, namespace: Option<&str>) -> Result<(), (PathBuf, String)> {
        let canonical = path
            .canonicalize()
            .map_err(|e| (path.to_path_buf(), format!("cannot resolve: {e}")))?;
        if !self.seen.insert(canonical.clone()) {
            return Ok(());
        }
        if canonical.is_file() {
            self.out
                .push((path.to_path_buf(), namespace.map(str::to_owned)));
            return Ok(());
        }
        let kustomization = KUSTOMIZATION_NAMES
            .iter()
            .map(|n| path.join(n))
            .find(|p| p.is_file());
        match kustomization {
            Some(k) => self.kustomization(path, &k, namespace),
            None => {
                let mut files = Vec::new();
                yaml_files(path, &mut files).map_err(|e| {
                    (
                        path.to_path_buf(),
                        format!("cannot list the directory: {e}"),
                    )
                })?;
                files.sort();
                for f in files {
                    self.add(&f, namespace)?;
                }
                Ok(())
            }
        }
    }

    fn kustomization(
        &mut self,
        dir: &Path,
        file: &Path,
        outer_namespace: Option<&str>,
    ) -> Result<(), (PathBuf, String)> {
        #[derive(Deserialize, Default)]
        struct Kustomization {
            #[serde(default)]
            resources: Vec<String>,
            namespace: Option<String>,
        }
        let text = std::fs::read_to_string(file)
            .map_err(|e| (file.to_path_buf(), format!("cannot read: {e}")))?;
        let k: Kustomization = if text.trim().is_empty() {
            Kustomization::default()
        } else {
            serde_saphyr::from_str(&text)
                .map_err(|e| (file.to_path_buf(), format!("not a kustomization: {e}")))?
        };
        // The kustomization's own `namespace:` wins over an outer one, as kustomize applies the
        // innermost last.
        let namespace = k.namespace.as_deref().or(outer_namespace);
        for resource in &k.resources {
            if resource.contains("://") || resource.starts_with("github.com/") {
                self.warnings.push(ConfigWarning {
                    file: file.to_path_buf(),
                    key: "resources".into(),
                    message: format!(
                        "`{resource}` is remote; deckhand reads only local files and skips it"
                    ),
                });
                continue;
            }
            let path = dir.join(resource);
            if !path.exists() {
                return Err((
                    file.to_path_buf(),
                    format!("resources: {} does not exist", path.display()),
                ));
            }
            self.add(&path, namespace)?;
        }
        Ok(())
    }
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            if entry.file_name() != ".git" {
                yaml_files(&path, out)?;
            }
        } else {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.ends_with(".yaml") || name.ends_with(".yml") {
                out.push(path);
            }
        }
    }
    Ok(())
}

/// Splits a file into its documents and keeps those with `apiVersion` and `kind`.
fn read_docs(
    c: &mut Checker<'_>,
    file: &Path,
    kustomize_namespace: Option<&str>,
    default_namespace: &str,
    docs: &mut Vec<Doc>,
) {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            c.errors.push(ConfigError::Read {
                file: file.to_path_buf(),
                source: e,
            });
            return;
        }
    };
    if !text.contains("apiVersion") {
        return;
    }
    let values: Vec<Value> = match serde_saphyr::from_multiple(&text) {
        Ok(v) => v,
        Err(e) => {
            c.errors.push(ConfigError::Schema {
                file: file.to_path_buf(),
                key: ".".into(),
                message: e.to_string().lines().next().unwrap_or_default().to_owned(),
            });
            return;
        }
    };
    for body in values {
        let (Some(api_version), Some(kind)) = (
            body.get("apiVersion").and_then(Value::as_str),
            body.get("kind").and_then(Value::as_str),
        ) else {
            continue;
        };
        let meta = body.get("metadata");
        let name = meta
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let namespace = meta
            .and_then(|m| m.get("namespace"))
            .and_then(Value::as_str)
            .or(kustomize_namespace)
            .unwrap_or(default_namespace)
            .to_owned();
        let labels = meta
            .and_then(|m| m.get("labels"))
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        let doc = Doc {
            file: file.to_path_buf(),
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
            namespace,
            name,
            labels,
            body: body.clone(),
        };
        if let Some(version) = api_version
            .strip_prefix(GROUP)
            .and_then(|v| v.strip_prefix('/'))
            && !VERSIONS.contains(&version)
        {
            doc.error(
                c,
                "apiVersion",
                format!("`{api_version}` is not supported (use v1beta1, v1beta2 or v1)"),
            );
            continue;
        }
        if doc.api_version.starts_with(GROUP) && doc.name.is_empty() {
            doc.error(c, "metadata.name", "is required");
            continue;
        }
        docs.push(doc);
    }
}

// -------------------------------------------------------------------------------------------
// ImageRepository

/// What an ImageRepository says about its registry host.
#[derive(Default)]
struct Transport {
    insecure: bool,
    credentials: Option<(Credentials, String)>,
    ca_file: Option<PathBuf>,
    ca_pem: Option<Vec<u8>>,
}

fn image_repository(
    c: &mut Checker<'_>,
    doc: &Doc,
    spec: RepositorySpec,
    credentials: &BTreeMap<String, Credential>,
    secrets: &[&Doc],
    warnings: &mut Vec<ConfigWarning>,
) -> Option<(Repository, Transport)> {
    let Some(image) = spec.image else {
        doc.error(c, "spec.image", "is required");
        return None;
    };
    if let Some(provider) = spec.provider.as_deref()
        && provider != "generic"
    {
        doc.warning(
            warnings,
            "spec.provider",
            format!(
                "`{provider}` cloud identity is not available outside Kubernetes; deckhand uses \
                 the credentials from secretRef (via `credentials:`) or the docker config"
            ),
        );
    }
    if spec.service_account_name.is_some() {
        doc.warning(
            warnings,
            "spec.serviceAccountName",
            "there are no service accounts outside Kubernetes; deckhand uses secretRef (via \
             `credentials:`) or the docker config",
        );
    }
    if spec.access_from.is_some() {
        doc.warning(
            warnings,
            "spec.accessFrom",
            "has no meaning here: every policy deckhand reads may use every repository",
        );
    }
    if spec.proxy_secret_ref.is_some() {
        doc.warning(
            warnings,
            "spec.proxySecretRef",
            "is not read; deckhand uses HTTPS_PROXY/HTTP_PROXY/NO_PROXY from its environment",
        );
    }
    // Flux's timeout defaults to the interval.
    let default_timeout = spec
        .interval
        .as_deref()
        .and_then(|i| super::parse_go_duration(i).ok())
        .map_or(DEFAULT_TIMEOUT, |d| d.max(Duration::from_secs(1)));
    let raw = RawRepository {
        image,
        interval: spec.interval,
        timeout: spec.timeout,
        exclusion_list: spec.exclusion_list,
    };
    let mut sub = Checker {
        file: &doc.file,
        base: c.base.clone(),
        errors: Vec::new(),
    };
    let repo = repository_at(
        &mut sub,
        &format!("{}: spec", doc.key()),
        &doc.name,
        raw,
        default_timeout,
        doc.origin(),
    );
    c.errors.append(&mut sub.errors);
    let mut repo = repo?;
    repo.namespace.clone_from(&doc.namespace);
    repo.suspended = spec.suspend.unwrap_or(false);

    let mut transport = Transport {
        insecure: spec.insecure.unwrap_or(false),
        ..Transport::default()
    };
    let host = repo.reference.registry.clone();
    if let Some(secret) = spec.secret_ref {
        transport.credentials = resolve_secret(c, doc, &secret.name, &host, credentials, secrets)
            .map(|cr| (cr, secret.name));
    }
    if let Some(secret) = spec.cert_secret_ref {
        resolve_ca(c, doc, &secret.name, credentials, secrets, &mut transport);
    }
    Some((repo, transport))
}

/// The credentials a `secretRef` names: a `credentials:` entry, else a dockerconfigjson Secret
/// manifest in the included files.
fn resolve_secret(
    c: &mut Checker<'_>,
    doc: &Doc,
    name: &str,
    host: &str,
    credentials: &BTreeMap<String, Credential>,
    secrets: &[&Doc],
) -> Option<Credentials> {
    if let Some(entry) = credentials.get(name) {
        if entry.credentials.is_none() && entry.ca_file.is_some() {
            doc.error(
                c,
                "spec.secretRef",
                format!(
                    "credentials.{name} has only a caFile; a secretRef needs username and password"
                ),
            );
        }
        return entry.credentials.clone();
    }
    let fix = format!(
        "add to deckhand.yaml:\n  credentials:\n    {name}: {{ username: <user, e.g. robot$project+deckhand>, passwordFile: <file holding the password> }}"
    );
    let Some(secret) = find_secret(secrets, &doc.namespace, name) else {
        doc.error(
            c,
            "spec.secretRef",
            format!(
                "Secret {}/{name} is neither under `credentials:` nor in the included files; {fix}",
                doc.namespace
            ),
        );
        return None;
    };
    if let Some(why) = unreadable(secret) {
        doc.error(c, "spec.secretRef", format!("{why}; {fix}"));
        return None;
    }
    let secret_type = secret
        .body
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("");
    if secret_type != "kubernetes.io/dockerconfigjson" {
        doc.error(
            c,
            "spec.secretRef",
            format!(
                "Secret {}/{name} in {} has type `{secret_type}`, not kubernetes.io/dockerconfigjson",
                secret.namespace,
                secret.file.display()
            ),
        );
        return None;
    }
    let json = match secret_value(secret, ".dockerconfigjson") {
        Ok(Some(bytes)) => bytes,
        Ok(None) => {
            doc.error(
                c,
                "spec.secretRef",
                format!(
                    "Secret {}/{name} in {} has no .dockerconfigjson",
                    secret.namespace,
                    secret.file.display()
                ),
            );
            return None;
        }
        Err(why) => {
            doc.error(c, "spec.secretRef", why);
            return None;
        }
    };
    match docker_config_entry(&json, host) {
        Ok(credentials) => Some(credentials),
        Err(why) => {
            doc.error(
                c,
                "spec.secretRef",
                format!(
                    "Secret {}/{name} in {}: {why}",
                    secret.namespace,
                    secret.file.display()
                ),
            );
            None
        }
    }
}

fn resolve_ca(
    c: &mut Checker<'_>,
    doc: &Doc,
    name: &str,
    credentials: &BTreeMap<String, Credential>,
    secrets: &[&Doc],
    transport: &mut Transport,
) {
    if let Some(entry) = credentials.get(name) {
        match &entry.ca_file {
            Some(f) => transport.ca_file = Some(f.clone()),
            None => doc.error(
                c,
                "spec.certSecretRef",
                format!("credentials.{name} has no caFile"),
            ),
        }
        return;
    }
    let fix =
        format!("add to deckhand.yaml:\n  credentials:\n    {name}: {{ caFile: <PEM file> }}");
    let Some(secret) = find_secret(secrets, &doc.namespace, name) else {
        doc.error(
            c,
            "spec.certSecretRef",
            format!(
                "Secret {}/{name} is neither under `credentials:` nor in the included files; {fix}",
                doc.namespace
            ),
        );
        return;
    };
    if let Some(why) = unreadable(secret) {
        doc.error(c, "spec.certSecretRef", format!("{why}; {fix}"));
        return;
    }
    match secret_value(secret, "ca.crt") {
        Ok(Some(pem)) => transport.ca_pem = Some(pem),
        Ok(None) => doc.error(
            c,
            "spec.certSecretRef",
            format!(
                "Secret {}/{name} in {} has no ca.crt",
                secret.namespace,
                secret.file.display()
            ),
        ),
        Err(why) => doc.error(c, "spec.certSecretRef", why),
    }
}

fn find_secret<'a>(secrets: &[&'a Doc], namespace: &str, name: &str) -> Option<&'a Doc> {
    secrets
        .iter()
        .copied()
        .find(|s| s.namespace == namespace && s.name == name)
}

/// Why a Secret manifest cannot be read here (sealed or encrypted), if so.
fn unreadable(secret: &Doc) -> Option<String> {
    if secret.kind == "SealedSecret" {
        return Some(format!(
            "Secret {}/{} is a SealedSecret ({}): only the cluster's sealed-secrets controller can \
             decrypt it",
            secret.namespace,
            secret.name,
            secret.file.display()
        ));
    }
    if secret.body.get("sops").is_some() {
        return Some(format!(
            "Secret {}/{} in {} is SOPS-encrypted; deckhand does not decrypt it",
            secret.namespace,
            secret.name,
            secret.file.display()
        ));
    }
    None
}

/// A Secret's value: `stringData[key]` as is, else `data[key]` base64-decoded.
fn secret_value(secret: &Doc, key: &str) -> Result<Option<Vec<u8>>, String> {
    use base64::Engine as _;
    if let Some(s) = secret
        .body
        .get("stringData")
        .and_then(|d| d.get(key))
        .and_then(Value::as_str)
    {
        return Ok(Some(s.as_bytes().to_vec()));
    }
    let Some(encoded) = secret
        .body
        .get("data")
        .and_then(|d| d.get(key))
        .and_then(Value::as_str)
    else {
        return Ok(None);
    };
    let compact: String = encoded.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map(Some)
        .map_err(|e| {
            format!(
                "Secret {}/{} in {}: data.{key} is not base64 ({e})",
                secret.namespace,
                secret.name,
                secret.file.display()
            )
        })
}

/// The `auths` entry of a docker config JSON for `host` (keys may carry a scheme or a path, as
/// `docker login` writes them).
fn docker_config_entry(json: &[u8], host: &str) -> Result<Credentials, String> {
    use base64::Engine as _;
    #[derive(Deserialize)]
    struct Config {
        #[serde(default)]
        auths: BTreeMap<String, Entry>,
    }
    #[derive(Deserialize)]
    struct Entry {
        username: Option<String>,
        password: Option<String>,
        auth: Option<String>,
    }
    let config: Config = serde_json::from_slice(json)
        .map_err(|e| format!(".dockerconfigjson is not a docker config ({e})"))?;
    let normalise = |key: &str| -> String {
        let k = key
            .trim_start_matches("https://")
            .trim_start_matches("http://");
        k.split('/').next().unwrap_or(k).to_ascii_lowercase()
    };
    let want = host.to_ascii_lowercase();
    let entry = config
        .auths
        .iter()
        .find(|(k, _)| normalise(k) == want)
        .map(|(_, e)| e)
        .ok_or_else(|| format!(".dockerconfigjson has no entry for {host}"))?;
    match (&entry.username, &entry.password, &entry.auth) {
        (Some(u), Some(p), _) => Ok(Credentials::Basic {
            username: u.clone(),
            password: Secret::new(p.clone()),
        }),
        (_, _, Some(auth)) => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .map_err(|_| format!("the auth entry for {host} is not base64"))?;
            let text = String::from_utf8(decoded)
                .map_err(|_| format!("the auth entry for {host} is not UTF-8"))?;
            let (u, p) = text
                .split_once(':')
                .ok_or_else(|| format!("the auth entry for {host} is not user:password"))?;
            Ok(Credentials::Basic {
                username: u.to_owned(),
                password: Secret::new(p),
            })
        }
        _ => Err(format!(
            "the entry for {host} has no username/password or auth"
        )),
    }
}

/// Folds what an ImageRepository says about its host into `registries`.
fn merge_transport(
    c: &mut Checker<'_>,
    doc: &Doc,
    host: &str,
    transport: Transport,
    registries: &mut BTreeMap<String, RegistrySettings>,
    sources: &mut BTreeMap<String, String>,
) {
    let touched = transport.insecure
        || transport.credentials.is_some()
        || transport.ca_file.is_some()
        || transport.ca_pem.is_some();
    if !touched {
        return;
    }
    let settings = registries.entry(host.to_owned()).or_insert_with(|| {
        let name = host.rsplit_once(':').map_or(host, |(h, _)| h);
        RegistrySettings {
            insecure: name == "localhost" || name.starts_with("127.") || name == "[::1]",
            ..RegistrySettings::default()
        }
    });
    settings.insecure |= transport.insecure;
    if let Some((credentials, secret)) = transport.credentials {
        match &settings.credentials {
            Some(existing) if *existing != credentials => {
                let other = sources
                    .get(host)
                    .cloned()
                    .unwrap_or_else(|| format!("registries.{host} in deckhand.yaml"));
                doc.error(
                    c,
                    "spec.secretRef",
                    format!(
                        "secret `{secret}` gives other credentials for {host} than {other}; \
                         deckhand uses one set per registry host"
                    ),
                );
            }
            Some(_) => {}
            None => {
                settings.credentials = Some(credentials);
                sources.insert(
                    host.to_owned(),
                    format!("{} ({})", doc.key(), doc.file.display()),
                );
            }
        }
    }
    if let Some(ca) = transport.ca_file {
        settings.ca_file.get_or_insert(ca);
    }
    if let Some(pem) = transport.ca_pem {
        settings.ca_pem.get_or_insert(pem);
    }
}

// -------------------------------------------------------------------------------------------
// ImageUpdateAutomation

/// The git and update settings of deckhand.yaml, before an automation is merged in.
pub(super) struct NativeAutomation {
    pub git: GitSettings,
    pub author_given: bool,
    pub update_path: PathBuf,
    pub update_path_given: bool,
}

/// Merges the included ImageUpdateAutomation (at most one) into the git settings and
/// `update.path`; a setting given in both places with different values is an error naming both.
pub(super) fn apply_automation(
    c: &mut Checker<'_>,
    included: Included,
    native: NativeAutomation,
    warnings: &mut Vec<ConfigWarning>,
) -> (GitSettings, PathBuf, Option<Automation>) {
    let NativeAutomation {
        mut git,
        author_given,
        mut update_path,
        update_path_given,
    } = native;
    let automation = match included.automations.as_slice() {
        [] => None,
        [doc] => automation(
            c,
            doc,
            &included.git_repositories,
            &mut git,
            author_given,
            &mut update_path,
            update_path_given,
            warnings,
        ),
        [first, rest @ ..] => {
            let others: Vec<String> = rest
                .iter()
                .map(|d| format!("{} ({})", d.key(), d.file.display()))
                .collect();
            first.error(
                c,
                "",
                format!(
                    "deckhand runs one ImageUpdateAutomation per config, but the includes also \
                     hold {}; give each its own deckhand.yaml",
                    others.join(", ")
                ),
            );
            None
        }
    };
    (git, update_path, automation)
}

#[allow(clippy::too_many_arguments)]
fn automation(
    c: &mut Checker<'_>,
    doc: &Doc,
    git_repositories: &[Doc],
    git: &mut GitSettings,
    author_given: bool,
    update_path: &mut PathBuf,
    update_path_given: bool,
    warnings: &mut Vec<ConfigWarning>,
) -> Option<Automation> {
    let spec = doc.spec::<AutomationSpec>(c)?;
    let native_file = c.file.display().to_string();
    let conflict = |c: &mut Checker<'_>, field: &str, ours: &str, theirs: &str| {
        doc.error(
            c,
            field,
            format!("`{theirs}` conflicts with `{ours}` in {native_file}; set it in one place"),
        );
    };

    // The branch: checkout.ref.branch, else the GitRepository's ref.branch.
    let mut flux_branch: Option<String> = None;
    if let Some(source) = &spec.source_ref {
        let kind = source.kind.as_deref().unwrap_or("GitRepository");
        if kind != "GitRepository" {
            doc.error(
                c,
                "spec.sourceRef.kind",
                format!("`{kind}` is not supported (only GitRepository)"),
            );
        }
        let ns = source
            .namespace
            .clone()
            .unwrap_or_else(|| doc.namespace.clone());
        let repo = git_repositories
            .iter()
            .find(|g| g.namespace == ns && g.name == source.name);
        let url = repo
            .and_then(|g| g.body.pointer("/spec/url"))
            .and_then(Value::as_str)
            .map(|u| format!(" ({u})"))
            .unwrap_or_default();
        doc.warning(
            warnings,
            "spec.sourceRef",
            format!(
                "deckhand works on the git checkout that holds update.path and pushes to its \
                 `origin` remote, not to GitRepository {ns}/{}{url}",
                source.name
            ),
        );
        flux_branch = repo
            .and_then(|g| g.body.pointer("/spec/ref/branch"))
            .and_then(Value::as_str)
            .map(str::to_owned);
    }
    let git_spec = spec.git.unwrap_or_default();
    if let Some(r) = git_spec.checkout.and_then(|ch| ch.git_ref) {
        for (field, value) in [
            ("tag", &r.tag),
            ("semver", &r.semver),
            ("name", &r.name),
            ("commit", &r.commit),
        ] {
            if value.is_some() {
                doc.warning(
                    warnings,
                    &format!("spec.git.checkout.ref.{field}"),
                    "deckhand works on a branch of the local checkout; this is ignored",
                );
            }
        }
        if r.branch.is_some() {
            flux_branch = r.branch;
        }
    }
    if let Some(branch) = flux_branch {
        match &git.branch {
            Some(ours) if *ours != branch => {
                conflict(
                    c,
                    "spec.git.checkout.ref.branch",
                    &format!("git.branch: {ours}"),
                    &branch,
                );
            }
            _ => git.branch = Some(branch),
        }
    }

    let commit = git_spec.commit.unwrap_or_default();
    if let Some(author) = commit.author {
        match author.email {
            Some(email) if !email.trim().is_empty() => {
                let flux = crate::config::Author {
                    name: author.name.unwrap_or_default(),
                    email,
                };
                if author_given && git.author != flux {
                    conflict(
                        c,
                        "spec.git.commit.author",
                        &format!("git.author: {} <{}>", git.author.name, git.author.email),
                        &format!("{} <{}>", flux.name, flux.email),
                    );
                } else {
                    git.author = flux;
                }
            }
            _ => doc.error(c, "spec.git.commit.author.email", "is required"),
        }
    }
    if commit.signing_key.is_some() {
        doc.warning(
            warnings,
            "spec.git.commit.signingKey",
            "deckhand does not sign commits; they are made unsigned",
        );
    }
    let message_template = match commit.message_template {
        Some(text) if git.message_template.is_some() => {
            conflict(
                c,
                "spec.git.commit.messageTemplate",
                "git.messageTemplate",
                &text,
            );
            None
        }
        Some(text) => match crate::template::GoTemplate::parse(&text) {
            Ok(t) => Some(t),
            Err(e) => {
                doc.error(c, "spec.git.commit.messageTemplate", e.to_string());
                None
            }
        },
        None => None,
    };

    let push = git_spec.push.unwrap_or_default();
    if push.refspec.is_some() {
        doc.warning(
            warnings,
            "spec.git.push.refspec",
            "deckhand pushes the branch only; the extra refspec push is not made",
        );
    }
    if push.options.is_some() {
        doc.warning(
            warnings,
            "spec.git.push.options",
            "push options are not sent",
        );
    }
    match (&git.push, push.branch) {
        (Some(ours), Some(branch)) if ours.branch.as_ref().is_some_and(|b| *b != branch) => {
            conflict(
                c,
                "spec.git.push.branch",
                &format!(
                    "git.push.branch: {}",
                    ours.branch.as_deref().unwrap_or_default()
                ),
                &branch,
            );
        }
        (Some(ours), Some(branch)) => {
            let remote = ours.remote.clone();
            git.push = Some(PushSettings {
                remote,
                branch: Some(branch),
            });
        }
        (Some(_), None) => {}
        // Flux always pushes: to push.branch, else to the checkout branch.
        (None, branch) => {
            git.push = Some(PushSettings {
                remote: "origin".into(),
                branch,
            });
        }
    }

    let update = spec.update.unwrap_or_default();
    if let Some(strategy) = update.strategy.as_deref()
        && strategy != "Setters"
    {
        doc.error(
            c,
            "spec.update.strategy",
            format!("`{strategy}` is not supported (only Setters)"),
        );
    }
    if let Some(path) = update.path {
        // Flux resolves update.path against the root of the git repository.
        let root = git_root(&c.base).unwrap_or_else(|| c.base.clone());
        let resolved = root.join(&path);
        if update_path_given && !same_dir(&resolved, update_path) {
            conflict(
                c,
                "spec.update.path",
                &format!("update.path: {}", update_path.display()),
                &path,
            );
        } else {
            *update_path = resolved;
        }
    }

    let mut selector = LabelSelector::default();
    if let Some(raw) = spec.policy_selector {
        selector.match_labels = raw.match_labels;
        for (i, e) in raw.match_expressions.into_iter().enumerate() {
            let expr = match e.operator.as_str() {
                "In" => SelectorExpression::In(e.key, e.values),
                "NotIn" => SelectorExpression::NotIn(e.key, e.values),
                "Exists" => SelectorExpression::Exists(e.key),
                "DoesNotExist" => SelectorExpression::DoesNotExist(e.key),
                other => {
                    doc.error(
                        c,
                        &format!("spec.policySelector.matchExpressions[{i}].operator"),
                        format!("`{other}` is not In, NotIn, Exists or DoesNotExist"),
                    );
                    continue;
                }
            };
            selector.match_expressions.push(expr);
        }
    }
    let interval = spec.interval.as_deref().and_then(|text| {
        super::parse_go_duration(text)
            .map_err(|e| doc.error(c, "spec.interval", e))
            .ok()
    });
    Some(Automation {
        namespace: doc.namespace.clone(),
        name: doc.name.clone(),
        origin: doc.origin(),
        suspended: spec.suspend.unwrap_or(false),
        policy_selector: selector,
        message_template,
        message_template_values: commit.message_template_values.unwrap_or_default(),
        interval,
    })
}

/// The top of the git work tree containing `dir`, if any.
fn git_root(dir: &Path) -> Option<PathBuf> {
    let start = std::path::absolute(dir).ok()?;
    start
        .ancestors()
        .find(|d| d.join(".git").exists())
        .map(Path::to_path_buf)
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => std::path::absolute(a).ok() == std::path::absolute(b).ok(),
    }
}
