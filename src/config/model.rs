//! The validated configuration. Every field holds a parsed value (`Regex`, `Policy`, `ImageRef`,
//! `Duration`), so once `load` succeeds nothing downstream can meet an invalid setting.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use regex::Regex;

use super::ConfigError;
use super::duration::parse_go_duration;
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
}

impl Default for RegistrySettings {
    fn default() -> Self {
        Self {
            insecure: false,
            ca_file: None,
            credentials: None,
            harbor: HarborMode::Auto,
            max_concurrency: DEFAULT_MAX_CONCURRENCY,
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
}

/// Collects every problem in one pass so the user sees them all at once.
struct Checker<'a> {
    file: &'a Path,
    base: PathBuf,
    errors: Vec<ConfigError>,
}

impl Checker<'_> {
    fn error(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.errors.push(ConfigError::Invalid {
            file: self.file.to_path_buf(),
            key: key.into(),
            message: message.into(),
        });
    }

    fn resolve(&self, path: &str) -> PathBuf {
        let p = Path::new(path);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base.join(p)
        }
    }

    fn duration(&mut self, key: &str, value: Option<&str>, default: Duration) -> Duration {
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

    for (section, present) in [
        ("rollout", raw.rollout.is_some()),
        ("daemon", raw.daemon.is_some()),
        ("include", raw.include.is_some()),
        ("credentials", raw.credentials.is_some()),
    ] {
        if present {
            tracing::warn!(
                file = %file.display(),
                "`{section}:` is not implemented in this version of deckhand and is ignored"
            );
        }
    }

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
        if let Some(repo) = repository(&mut c, &name, r) {
            repositories.insert(name, repo);
        }
    }

    let mut policies = BTreeMap::new();
    for (name, p) in raw.policies {
        let key = format!("policies.{name}");
        if !repositories.contains_key(&p.repository) {
            c.error(
                format!("{key}.repository"),
                format!(
                    "names repository `{}`, which is not under `repositories:`",
                    p.repository
                ),
            );
        }
        if let Some(policy) = policy_settings(&mut c, &name, p) {
            policies.insert(name, policy);
        }
    }

    let update_path = raw
        .update
        .and_then(|u| u.path)
        .map_or_else(|| c.base.clone(), |p| c.resolve(&p));

    let git = super::git::validate(file, &c.base, raw.git, &mut c.errors);

    if c.errors.is_empty() {
        Ok(Config {
            file: file.to_path_buf(),
            namespace,
            registries,
            repositories,
            policies,
            update_path,
            git,
        })
    } else {
        Err(c.errors)
    }
}

fn registry_settings(c: &mut Checker<'_>, host: &str, r: RawRegistry) -> RegistrySettings {
    let key = format!("registries.{host}");
    if host.is_empty() || host.contains('/') || host.contains("://") {
        c.error(
            &key,
            format!("`{host}` is not a registry host (write host or host:port, no scheme or path)"),
        );
    }
    let password_sources = [
        r.password.is_some(),
        r.password_file.is_some(),
        r.password_env.is_some(),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if password_sources > 1 {
        c.error(
            &key,
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
        match std::env::var(&var) {
            Ok(v) => Some(Secret::new(v)),
            Err(_) => {
                c.error(
                    format!("{key}.passwordEnv"),
                    format!("environment variable `{var}` is not set"),
                );
                None
            }
        }
    } else {
        None
    };
    let credentials = match (r.username, password) {
        (Some(username), Some(password)) => Some(Credentials::Basic { username, password }),
        (Some(_), None) if password_sources == 0 => {
            c.error(
                &key,
                "`username` needs `passwordFile`, `passwordEnv` or `password`",
            );
            None
        }
        (None, Some(_)) => {
            c.error(&key, "a password needs `username`");
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
    }
}

fn repository(c: &mut Checker<'_>, name: &str, r: RawRepository) -> Option<Repository> {
    let key = format!("repositories.{name}");
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
        DEFAULT_TIMEOUT,
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
    if name.contains(':') {
        c.error(&key, "a policy name cannot contain `:`");
    }
    let RawRule {
        alphabetical,
        numerical,
        semver,
    } = p.policy;
    let chosen = usize::from(alphabetical.is_some())
        + usize::from(numerical.is_some())
        + usize::from(semver.is_some());
    if chosen != 1 {
        c.error(
            format!("{key}.policy"),
            "needs exactly one of `alphabetical`, `numerical`, `semver`",
        );
        return None;
    }
    let rule = if let Some(a) = alphabetical {
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
    Some(PolicySettings {
        name: name.to_string(),
        repository: p.repository,
        policy: Policy { rule, filter },
        digest_reflection,
    })
}
