//! The validated configuration. Every field holds a parsed value (`Regex`, `Policy`, `ImageRef`,
//! `Duration`), so once `load` succeeds nothing downstream can meet an invalid setting.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use regex::Regex;

use super::ConfigError;
use super::duration::parse_go_duration;
use super::flux::{self, Automation};
use super::git::GitSettings;
use super::raw::{
    HarborWord, RawConfig, RawDigestReflection, RawHarbor, RawPolicy, RawRegistry, RawRepository,
    RawRule,
};
use crate::policy::{self, Constraint, Filter, Order, Policy, Rule};
use crate::registry::{Credentials, ImageRef};
use crate::secret::Secret;

/// Flux's default scan interval is required there; deckhand defaults it.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(300);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_NAMESPACE: &str = "flux-system";
const DEFAULT_MAX_CONCURRENCY: usize = 8;
/// Flux caps `exclusionList` at 25 entries.
const MAX_EXCLUSIONS: usize = 25;

/// The whole validated configuration.
#[derive(Debug)]
pub struct Config {
    /// The file it was loaded from.
    pub file: PathBuf,
    /// Namespace of the policies; markers say `<namespace>:<policy>`.
    pub namespace: String,
    /// Per registry host (`host[:port]`): transport and credentials.
    pub registries: BTreeMap<String, RegistrySettings>,
    /// Image repositories to scan, by name.
    pub repositories: BTreeMap<String, Repository>,
    /// Tag policies, by name.
    pub policies: BTreeMap<String, PolicySettings>,
    /// Directory (absolute) whose YAML files are scanned for markers.
    pub update_path: PathBuf,
    /// Commit settings.
    pub git: GitSettings,
    /// The Flux `ImageUpdateAutomation` read from `include:`, if any: its namespace and
    /// `policySelector` decide which policies markers may use, and its Go `messageTemplate`
    /// writes the commit message.
    pub automation: Option<Automation>,
    /// Things that load but deserve attention (Flux fields with no meaning here, plain-text
    /// passwords, …), each naming its file and key. `lint` reports them; `sync` logs them.
    pub warnings: Vec<ConfigWarning>,
    /// `deckhand run` settings.
    pub daemon: super::DaemonSettings,
    /// Compose projects to keep running what their files say (`rollout:`).
    pub rollout: Option<super::rollout::RolloutSettings>,
}

/// Where a repository or policy was defined, for messages and for `lint` fixes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The file (deckhand.yaml, or an included Flux manifest).
    pub file: PathBuf,
    /// `policies.web` in deckhand.yaml, or `ImagePolicy flux-system/web` in a Flux file.
    pub key: String,
    /// Whether it is a Flux object (fixes are then written as `spec:` YAML).
    pub flux: bool,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.key, self.file.display())
    }
}

/// A configuration warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    /// The file concerned.
    pub file: PathBuf,
    /// The key or object concerned.
    pub key: String,
    /// What deckhand does about it.
    pub message: String,
}

impl std::fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}: {}", self.file.display(), self.key, self.message)
    }
}

/// The map key of an object: its name in `default_namespace`, else `namespace/name`.
#[must_use]
pub fn object_id(default_namespace: &str, namespace: &str, name: &str) -> String {
    if namespace == default_namespace {
        name.to_owned()
    } else {
        format!("{namespace}/{name}")
    }
}

impl Config {
    /// The policy a marker's `namespace:name` names, if defined (in scope or not).
    #[must_use]
    pub fn find_policy(&self, namespace: &str, name: &str) -> Option<&PolicySettings> {
        self.policies
            .get(&object_id(&self.namespace, namespace, name))
            .filter(|p| p.namespace == namespace && p.name == name)
    }

    /// Why markers may not use `policy` (outside the automation's namespace or selector, or
    /// suspended); `None` when they may.
    #[must_use]
    pub fn out_of_scope(&self, policy: &PolicySettings) -> Option<String> {
        if policy.suspended {
            return Some(format!(
                "policy {}:{} is suspended",
                policy.namespace, policy.name
            ));
        }
        let automation = self.automation.as_ref()?;
        if !policy.origin.flux {
            return None;
        }
        if policy.namespace != automation.namespace {
            return Some(format!(
                "policy {}:{} is outside the namespace of ImageUpdateAutomation {}/{} (Flux uses \
                 only policies in the automation's namespace)",
                policy.namespace, policy.name, automation.namespace, automation.name
            ));
        }
        if !automation.policy_selector.matches(&policy.labels) {
            return Some(format!(
                "policy {}:{} is not selected by the policySelector of ImageUpdateAutomation {}/{}",
                policy.namespace, policy.name, automation.namespace, automation.name
            ));
        }
        None
    }
}

/// How deckhand talks to one registry host.
#[derive(Debug, Clone)]
pub struct RegistrySettings {
    /// Plain HTTP and no TLS verification.
    pub insecure: bool,
    /// Extra CA (absolute path).
    pub ca_file: Option<PathBuf>,
    /// Credentials from the config; `None` falls back to the Docker config, then anonymous.
    pub credentials: Option<Credentials>,
    /// Use Harbor's REST API extras.
    pub harbor: HarborMode,
    /// Requests in flight to this host at once.
    pub max_concurrency: usize,
    /// Extra CA certificates (PEM) from a Flux `certSecretRef` Secret manifest.
    pub ca_pem: Option<Vec<u8>>,
}

impl Default for RegistrySettings {
    fn default() -> Self {
        Self {
            insecure: false,
            ca_file: None,
            credentials: None,
            harbor: HarborMode::Auto,
            max_concurrency: DEFAULT_MAX_CONCURRENCY,
            ca_pem: None,
        }
    }
}

/// Whether to use Harbor's REST API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HarborMode {
    /// Detect it.
    Auto,
    /// Always.
    On,
    /// Never.
    Off,
}

/// An image repository (Flux `ImageRepository`).
#[derive(Debug)]
pub struct Repository {
    /// Its name in `repositories:`.
    pub name: String,
    /// `image` exactly as written; this is what `ns:name` markers write before `:tag`.
    pub image: String,
    /// The parsed reference (registry host and repository path).
    pub reference: ImageRef,
    /// Scan interval for the daemon.
    pub interval: Duration,
    /// Deadline for one scan (auth plus listing).
    pub timeout: Duration,
    /// Tags matching any of these are dropped at scan time.
    pub exclusions: Vec<Regex>,
    /// Its namespace (`namespace:` for deckhand.yaml entries, `metadata.namespace` for Flux).
    pub namespace: String,
    /// Where it is defined.
    pub origin: Origin,
    /// Flux `suspend: true`: not scanned; its policies pick nothing.
    pub suspended: bool,
}

/// When to look up and write the digest of the picked tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DigestReflection {
    /// Never; `:digest` markers are left alone.
    #[default]
    Never,
    /// Only when the tag changed or the file has no digest yet.
    IfNotPresent,
    /// On every pass.
    Always,
}

/// A tag policy (Flux `ImagePolicy`).
#[derive(Debug)]
pub struct PolicySettings {
    /// Its name in `policies:`.
    pub name: String,
    /// The repository whose tags it orders.
    pub repository: String,
    /// Filter and ordering rule.
    pub policy: Policy,
    /// Digest reflection.
    pub digest_reflection: DigestReflection,
    /// Its namespace; markers say `<namespace>:<name>`.
    pub namespace: String,
    /// Where it is defined.
    pub origin: Origin,
    /// `metadata.labels` of a Flux ImagePolicy (for the automation's `policySelector`).
    pub labels: BTreeMap<String, String>,
    /// Beyond Flux: tags pushed more recently than this are not candidates yet.
    pub min_age: Option<Duration>,
    /// Flux `suspend: true`: markers naming it are left alone.
    pub suspended: bool,
}

/// Collects every problem in one pass so the user sees them all at once.
pub(super) struct Checker<'a> {
    pub(super) file: &'a Path,
    pub(super) base: PathBuf,
    pub(super) errors: Vec<ConfigError>,
}

impl Checker<'_> {
    pub(super) fn error(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.errors.push(ConfigError::Invalid {
            file: self.file.to_path_buf(),
            key: key.into(),
            message: message.into(),
        });
    }

    pub(super) fn resolve(&self, path: &str) -> PathBuf {
        let p = Path::new(path);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base.join(p)
        }
    }

    pub(super) fn duration(
        &mut self,
        key: &str,
        value: Option<&str>,
        default: Duration,
    ) -> Duration {
        match value {
            None => default,
            Some(text) => match parse_go_duration(text) {
                Ok(d) => d,
                Err(reason) => {
                    self.error(key, reason);
                    default
                }
            },
        }
    }
}

/// Turns the raw file into a `Config`, or every error found.
pub(crate) fn validate(file: &Path, raw: RawConfig) -> Result<Config, Vec<ConfigError>> {
    let base = file
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let base = if base.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        base
    };
    let mut c = Checker {
        file,
        base,
        errors: Vec::new(),
    };

    let namespace = raw
        .namespace
        .unwrap_or_else(|| DEFAULT_NAMESPACE.to_string());
    if namespace.is_empty() || namespace.contains(':') {
        c.error(
            "namespace",
            format!("`{namespace}` is not a namespace name"),
        );
    }

    let mut registries = BTreeMap::new();
    for (host, r) in raw.registries {
        let settings = registry_settings(&mut c, &host, r);
        registries.insert(host, settings);
    }

    let mut repositories = BTreeMap::new();
    for (name, r) in raw.repositories {
        if let Some(mut repo) = repository(&mut c, &name, r) {
            repo.namespace.clone_from(&namespace);
            repositories.insert(name, repo);
        }
    }

    let mut policies = BTreeMap::new();
    let mut native_policy_repos = Vec::new();
    for (name, p) in raw.policies {
        native_policy_repos.push((name.clone(), p.repository.clone()));
        if let Some(mut policy) = policy_settings(&mut c, &name, p) {
            policy.namespace.clone_from(&namespace);
            policies.insert(name, policy);
        }
    }

    let mut warnings = Vec::new();
    let credentials = flux::credentials(&mut c, raw.credentials);
    let included = flux::include(
        &mut c,
        raw.include.unwrap_or_default(),
        &credentials,
        flux::Parts {
            namespace: &namespace,
            registries: &mut registries,
            repositories: &mut repositories,
            policies: &mut policies,
            warnings: &mut warnings,
        },
    );
    for (name, repository) in native_policy_repos {
        if !repositories.contains_key(&repository) {
            c.error(
                format!("policies.{name}.repository"),
                format!(
                    "names repository `{repository}`, which is not under `repositories:` (nor an \
                     included ImageRepository in namespace {namespace})"
                ),
            );
        }
    }
    for p in policies.values() {
        if (matches!(p.policy.rule, Rule::NewestPushed) || p.min_age.is_some())
            && let Some(repo) = repositories.get(&p.repository)
            && registries
                .get(&repo.reference.registry)
                .is_some_and(|r| r.harbor == HarborMode::Off)
        {
            c.errors.push(ConfigError::Invalid {
                file: p.origin.file.clone(),
                key: p.origin.key.clone(),
                message: format!(
                    "newestPushed and minAge need push times, which only Harbor's API gives, \
                         but registries.{}.harbor is false",
                    repo.reference.registry
                ),
            });
        }
    }

    let native_update_path = raw.update.and_then(|u| u.path);
    let update_path = native_update_path
        .as_deref()
        .map_or_else(|| c.base.clone(), |p| c.resolve(p));

    // Whether deckhand.yaml names an author itself (an automation's author must then agree).
    let native_git_author = raw.git.as_ref().is_some_and(|g| g.author.is_some());
    let git = super::git::validate(file, &c.base, raw.git, &mut c.errors);
    let (git, update_path, automation) = flux::apply_automation(
        &mut c,
        included,
        flux::NativeAutomation {
            git,
            author_given: native_git_author,
            update_path,
            update_path_given: native_update_path.is_some(),
        },
        &mut warnings,
    );

    let daemon = super::daemon::settings(raw.daemon, &c.base).unwrap_or_else(|errors| {
        for (key, message) in errors {
            c.error(key, message);
        }
        super::DaemonSettings::default()
    });

    let rollout = raw
        .rollout
        .map(|r| super::rollout::validate(file, &c.base, r, &mut c.errors));

    if c.errors.is_empty() {
        Ok(Config {
            file: file.to_path_buf(),
            namespace,
            registries,
            repositories,
            policies,
            update_path,
            git,
            automation,
            warnings,
            daemon,
            rollout,
        })
    } else {
        Err(c.errors)
    }
}

/// The login fields `registries.<host>` and `credentials.<name>` share.
pub(super) struct Login {
    pub username: Option<String>,
    pub password: Option<String>,
    pub password_file: Option<String>,
    pub password_env: Option<String>,
    pub ca_file: Option<String>,
}

/// Resolves a [`Login`] under `key`: the password from exactly one of its sources (a file is read
/// now, without its final newline), paired with the user; the CA file checked. Problems are
/// recorded in `c`, naming the key.
pub(super) fn login(
    c: &mut Checker<'_>,
    key: &str,
    r: Login,
) -> (Option<Credentials>, Option<PathBuf>) {
    let sources = [
        r.password.is_some(),
        r.password_file.is_some(),
        r.password_env.is_some(),
    ]
    .into_iter()
    .filter(|b| *b)
    .count();
    if sources > 1 {
        c.error(
            key,
            "give only one of `password`, `passwordFile`, `passwordEnv`",
        );
    }
    let password = if let Some(p) = r.password {
        tracing::warn!(
            file = %c.file.display(),
            "{key}.password holds a plain-text password; prefer passwordFile or passwordEnv"
        );
        Some(Secret::new(p))
    } else if let Some(file) = r.password_file {
        let path = c.resolve(&file);
        match std::fs::read_to_string(&path) {
            Ok(text) => Some(Secret::new(text.trim_end_matches(['\r', '\n']))),
            Err(e) => {
                c.error(
                    format!("{key}.passwordFile"),
                    format!("cannot read {}: {e}", path.display()),
                );
                None
            }
        }
    } else if let Some(var) = r.password_env {
        if let Ok(v) = std::env::var(&var) {
            Some(Secret::new(v))
        } else {
            c.error(
                format!("{key}.passwordEnv"),
                format!("environment variable `{var}` is not set"),
            );
            None
        }
    } else {
        None
    };
    let credentials = match (r.username, password) {
        (Some(username), Some(password)) => Some(Credentials::Basic { username, password }),
        (Some(_), None) if sources == 0 => {
            c.error(
                key,
                "`username` needs `passwordFile`, `passwordEnv` or `password`",
            );
            None
        }
        (None, Some(_)) => {
            c.error(key, "a password needs `username`");
            None
        }
        _ => None,
    };
    let ca_file = r.ca_file.map(|f| {
        let path = c.resolve(&f);
        if !path.is_file() {
            c.error(
                format!("{key}.caFile"),
                format!("{} is not a readable file", path.display()),
            );
        }
        path
    });
    (credentials, ca_file)
}

fn registry_settings(c: &mut Checker<'_>, host: &str, r: RawRegistry) -> RegistrySettings {
    let key = format!("registries.{host}");
    if host.is_empty() || host.contains('/') || host.contains("://") {
        c.error(
            &key,
            format!("`{host}` is not a registry host (write host or host:port, no scheme or path)"),
        );
    }
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
    let harbor = match r.harbor {
        None | Some(RawHarbor::Word(HarborWord::Auto)) => HarborMode::Auto,
        Some(RawHarbor::Bool(true)) => HarborMode::On,
        Some(RawHarbor::Bool(false)) => HarborMode::Off,
    };
    let max_concurrency = match r.max_concurrency {
        Some(0) => {
            c.error(format!("{key}.maxConcurrency"), "must be at least 1");
            1
        }
        Some(n) => n,
        None => DEFAULT_MAX_CONCURRENCY,
    };
    RegistrySettings {
        insecure: r.insecure,
        ca_file,
        credentials,
        harbor,
        max_concurrency,
        ca_pem: None,
    }
}

fn repository(c: &mut Checker<'_>, name: &str, r: RawRepository) -> Option<Repository> {
    let key = format!("repositories.{name}");
    let origin = Origin {
        file: c.file.to_path_buf(),
        key: key.clone(),
        flux: false,
    };
    repository_at(c, &key, name, r, DEFAULT_TIMEOUT, origin)
}

/// Validates one repository whose keys start at `key` (`repositories.web`, or
/// `ImageRepository ns/web spec` for a Flux object).
pub(super) fn repository_at(
    c: &mut Checker<'_>,
    key: &str,
    name: &str,
    r: RawRepository,
    default_timeout: Duration,
    origin: Origin,
) -> Option<Repository> {
    let reference = match ImageRef::parse(&r.image) {
        Ok(reference) => Some(reference),
        Err(e) => {
            c.error(format!("{key}.image"), e.to_string());
            None
        }
    };
    let interval = c.duration(
        &format!("{key}.interval"),
        r.interval.as_deref(),
        DEFAULT_INTERVAL,
    );
    let timeout = c.duration(
        &format!("{key}.timeout"),
        r.timeout.as_deref(),
        default_timeout,
    );
    let patterns = r
        .exclusion_list
        .unwrap_or_else(|| vec![policy::DEFAULT_EXCLUSION.to_string()]);
    if patterns.len() > MAX_EXCLUSIONS {
        c.error(
            format!("{key}.exclusionList"),
            format!(
                "has {} entries; Flux allows at most {MAX_EXCLUSIONS}",
                patterns.len()
            ),
        );
    }
    let mut exclusions = Vec::new();
    for (i, p) in patterns.iter().enumerate() {
        match Regex::new(p) {
            Ok(re) => exclusions.push(re),
            Err(e) => c.error(
                format!("{key}.exclusionList[{i}]"),
                format!("`{p}` is not a valid regex: {e}"),
            ),
        }
    }
    Some(Repository {
        name: name.to_string(),
        image: r.image,
        reference: reference?,
        interval,
        timeout,
        exclusions,
        namespace: String::new(),
        origin,
        suspended: false,
    })
}

fn order(c: &mut Checker<'_>, key: &str, value: Option<&str>) -> Order {
    match value {
        None => Order::Asc,
        Some(text) => text.parse().unwrap_or_else(|_| {
            c.error(key, format!("`{text}` is not an order (use asc or desc)"));
            Order::Asc
        }),
    }
}

fn policy_settings(c: &mut Checker<'_>, name: &str, p: RawPolicy) -> Option<PolicySettings> {
    let key = format!("policies.{name}");
    let origin = Origin {
        file: c.file.to_path_buf(),
        key: key.clone(),
        flux: false,
    };
    policy_settings_at(c, &key, name, p, origin)
}

/// Validates one policy whose keys start at `key`.
pub(super) fn policy_settings_at(
    c: &mut Checker<'_>,
    key: &str,
    name: &str,
    p: RawPolicy,
    origin: Origin,
) -> Option<PolicySettings> {
    let key = key.to_owned();
    if name.contains(':') {
        c.error(&key, "a policy name cannot contain `:`");
    }
    let RawRule {
        alphabetical,
        numerical,
        semver,
        newest_pushed,
    } = p.policy;
    let chosen = usize::from(alphabetical.is_some())
        + usize::from(numerical.is_some())
        + usize::from(semver.is_some())
        + usize::from(newest_pushed.is_some());
    if chosen != 1 {
        c.error(
            format!("{key}.policy"),
            "needs exactly one of `alphabetical`, `numerical`, `semver`, `newestPushed`",
        );
        return None;
    }
    let rule = if newest_pushed.is_some() {
        Rule::NewestPushed
    } else if let Some(a) = alphabetical {
        Rule::Alphabetical(order(
            c,
            &format!("{key}.policy.alphabetical.order"),
            a.order.as_deref(),
        ))
    } else if let Some(n) = numerical {
        Rule::Numerical(order(
            c,
            &format!("{key}.policy.numerical.order"),
            n.order.as_deref(),
        ))
    } else {
        let range = semver.map(|s| s.range).unwrap_or_default();
        match Constraint::parse(&range) {
            Ok(constraint) => Rule::Semver(constraint),
            Err(e) => {
                c.error(format!("{key}.policy.semver.range"), e.to_string());
                return None;
            }
        }
    };
    let filter = match p.filter_tags {
        None => None,
        Some(f) => match Filter::new(f.pattern.as_deref().unwrap_or(""), f.extract.as_deref()) {
            Ok(filter) => Some(filter),
            Err(e) => {
                c.error(format!("{key}.filterTags.pattern"), e.to_string());
                return None;
            }
        },
    };
    let digest_reflection = match p.digest_reflection_policy {
        None | Some(RawDigestReflection::Never) => DigestReflection::Never,
        Some(RawDigestReflection::IfNotPresent) => DigestReflection::IfNotPresent,
        Some(RawDigestReflection::Always) => DigestReflection::Always,
    };
    let min_age = p
        .min_age
        .as_deref()
        .map(|text| c.duration(&format!("{key}.minAge"), Some(text), Duration::ZERO));
    Some(PolicySettings {
        name: name.to_string(),
        repository: p.repository,
        policy: Policy { rule, filter },
        digest_reflection,
        namespace: String::new(),
        origin,
        labels: BTreeMap::new(),
        min_age,
        suspended: false,
    })
}
