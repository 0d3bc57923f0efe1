//! `deckhand policy explain NAME`: the live tag list of a policy's repository, each tag's fate
//! (invalid, excluded by which pattern, too young for `minAge`, filtered out, not a number or
//! version, out of range, or a candidate with its key and rank), push times where the registry
//! gives them, and the pick.

use std::fmt;
use std::time::SystemTime;

use serde::Serialize;

use crate::config::{Config, PolicySettings};
use crate::policy::{PushTimes, Verdict, format_rfc3339, split_by_age};

/// What happened to one tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "fate", rename_all = "camelCase")]
pub enum Fate {
    /// Not a valid OCI tag: never written.
    Invalid,
    /// Dropped by an `exclusionList` pattern.
    Excluded {
        /// The pattern.
        pattern: String,
    },
    /// Pushed less than `minAge` ago (or without a push time).
    TooYoung,
    /// The `filterTags` pattern does not match.
    Filtered,
    /// The key is not a number (fails a numerical policy).
    NotNumeric {
        /// The extracted key.
        key: String,
    },
    /// The key is not a semantic version.
    NotVersion {
        /// The extracted key.
        key: String,
    },
    /// A version outside the range.
    OutOfRange {
        /// The extracted key.
        key: String,
    },
    /// `newestPushed` without a push time for this tag.
    NoPushTime,
    /// A candidate: its key, and its rank (1 is the pick).
    Candidate {
        /// The extracted key (the push time for `newestPushed`).
        key: String,
        /// 1-based rank.
        rank: usize,
    },
}

/// One tag's line.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// The tag.
    pub tag: String,
    /// Its fate.
    #[serde(flatten)]
    pub fate: Fate,
    /// When it was pushed (RFC 3339), where known.
    pub pushed: Option<String>,
}

/// The whole explanation.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    /// `namespace:name`.
    pub policy: String,
    /// The repository's image.
    pub image: String,
    /// The rule, e.g. `alphabetical (asc)`.
    pub rule: String,
    /// The filter, if any: `pattern` → `extract`.
    pub filter: Option<String>,
    /// Every tag the registry listed: candidates by rank, then the rest by tag.
    pub tags: Vec<Row>,
    /// The pick, or why there is none.
    pub pick: Result<String, String>,
    /// Whether push times were known.
    pub push_times: bool,
}

/// Why there is nothing to explain.
#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    /// No such policy.
    #[error("no policy `{name}` (known: {known})")]
    Unknown {
        /// The name asked for.
        name: String,
        /// The policies there are.
        known: String,
    },
    /// Registry trouble.
    #[error("{0}")]
    Registry(String),
}

/// Finds a policy by `namespace:name`, or by a name unique across namespaces.
fn find<'c>(config: &'c Config, name: &str) -> Result<&'c PolicySettings, ExplainError> {
    let found = match name.split_once(':') {
        Some((ns, n)) => config.find_policy(ns, n),
        None => config
            .policies
            .get(name)
            .filter(|p| p.namespace == config.namespace)
            .or_else(|| {
                let mut matching = config.policies.values().filter(|p| p.name == name);
                match (matching.next(), matching.next()) {
                    (Some(p), None) => Some(p),
                    _ => None,
                }
            }),
    };
    found.ok_or_else(|| ExplainError::Unknown {
        name: name.to_owned(),
        known: config
            .policies
            .values()
            .map(|p| format!("{}:{}", p.namespace, p.name))
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// Lists the policy's repository and explains every tag.
///
/// # Errors
/// An unknown policy, or a registry that cannot be reached.
pub async fn explain(config: &Config, name: &str) -> Result<Explanation, ExplainError> {
    let policy = find(config, name)?;
    let repo = &config.repositories[&policy.repository];
    let clients =
        crate::sync::registry_clients(config).map_err(|e| ExplainError::Registry(e.to_string()))?;
    let client = clients.get(&repo.reference.registry).ok_or_else(|| {
        ExplainError::Registry(format!("no client for {}", repo.reference.registry))
    })?;
    let harbor = crate::sync::harbor_choice(config, &repo.reference.registry);
    let listing = tokio::time::timeout(
        repo.timeout,
        client.list_tags_timed(&repo.reference.repository, harbor),
    )
    .await
    .map_err(|_| ExplainError::Registry(format!("listing {} timed out", repo.image)))?
    .map_err(|e| ExplainError::Registry(e.to_string()))?;
    Ok(build(
        policy,
        &repo.image,
        &repo.exclusions,
        &listing.tags,
        listing.push_times.as_ref(),
        SystemTime::now(),
    ))
}

/// Pure: the explanation for `tags` under `policy`.
#[must_use]
pub fn build(
    policy: &PolicySettings,
    image: &str,
    exclusions: &[regex::Regex],
    tags: &[String],
    times: Option<&PushTimes>,
    now: SystemTime,
) -> Explanation {
    let empty = PushTimes::new();
    let times_or_empty = times.unwrap_or(&empty);
    let pushed = |t: &str| times.and_then(|m| m.get(t)).map(|t| format_rfc3339(*t));
    let mut rows = Vec::new();
    let mut remaining = Vec::new();
    for tag in tags {
        if !crate::manifest::is_valid_tag(tag) {
            rows.push(Row {
                tag: tag.clone(),
                fate: Fate::Invalid,
                pushed: pushed(tag),
            });
        } else if let Some(re) = exclusions.iter().find(|re| re.is_match(tag)) {
            rows.push(Row {
                tag: tag.clone(),
                fate: Fate::Excluded {
                    pattern: re.as_str().to_owned(),
                },
                pushed: pushed(tag),
            });
        } else {
            remaining.push(tag.clone());
        }
    }
    if let Some(min_age) = policy.min_age {
        let (ok, young) = split_by_age(remaining, times_or_empty, now, min_age);
        for tag in young {
            rows.push(Row {
                fate: Fate::TooYoung,
                pushed: pushed(&tag),
                tag,
            });
        }
        remaining = ok;
    }
    for v in policy.policy.explain_with_times(&remaining, times_or_empty) {
        let fate = match v.verdict {
            Verdict::Filtered => Fate::Filtered,
            Verdict::NotNumeric { key } => Fate::NotNumeric { key },
            Verdict::NotVersion { key } => Fate::NotVersion { key },
            Verdict::OutOfRange { key } => Fate::OutOfRange { key },
            Verdict::NoPushTime { .. } => Fate::NoPushTime,
            Verdict::Candidate { key, rank } => Fate::Candidate { key, rank },
        };
        rows.push(Row {
            pushed: pushed(&v.tag),
            tag: v.tag,
            fate,
        });
    }
    rows.sort_by(|a, b| {
        let rank = |r: &Row| match r.fate {
            Fate::Candidate { rank, .. } => rank,
            _ => usize::MAX,
        };
        rank(a).cmp(&rank(b)).then_with(|| a.tag.cmp(&b.tag))
    });
    let pick = policy
        .policy
        .select_with_times(&remaining, times_or_empty)
        .map(str::to_owned)
        .map_err(|e| e.to_string());
    Explanation {
        policy: format!("{}:{}", policy.namespace, policy.name),
        image: image.to_owned(),
        rule: policy.policy.rule.to_string(),
        filter: policy
            .policy
            .filter
            .as_ref()
            .map(|f| format!("pattern {:?}, extract {:?}", f.pattern(), f.extract())),
        tags: rows,
        pick,
        push_times: times.is_some(),
    }
}

impl fmt::Display for Fate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fate::Invalid => f.write_str("invalid tag (not OCI grammar)"),
            Fate::Excluded { pattern } => write!(f, "excluded by {pattern:?}"),
            Fate::TooYoung => f.write_str("too young (minAge)"),
            Fate::Filtered => f.write_str("filtered out (pattern does not match)"),
            Fate::NotNumeric { key } => write!(f, "key {key:?} is not a number"),
            Fate::NotVersion { key } => write!(f, "key {key:?} is not a version"),
            Fate::OutOfRange { key } => write!(f, "key {key:?} is out of range"),
            Fate::NoPushTime => f.write_str("no push time"),
            Fate::Candidate { key, rank } => write!(f, "#{rank} key {key:?}"),
        }
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "policy {} on {}", self.policy, self.image)?;
        writeln!(f, "rule: {}", self.rule)?;
        if let Some(filter) = &self.filter {
            writeln!(f, "filterTags: {filter}")?;
        }
        let width = self
            .tags
            .iter()
            .map(|r| r.tag.len())
            .max()
            .unwrap_or(3)
            .max(3);
        let fate_width = self
            .tags
            .iter()
            .map(|r| r.fate.to_string().len())
            .max()
            .unwrap_or(4)
            .max(4);
        if self.push_times {
            writeln!(f, "{:width$}  {:fate_width$}  pushed", "tag", "fate")?;
        } else {
            writeln!(f, "{:width$}  fate", "tag")?;
        }
        for row in &self.tags {
            let fate = row.fate.to_string();
            match (&row.pushed, self.push_times) {
                (Some(p), true) => writeln!(f, "{:width$}  {fate:fate_width$}  {p}", row.tag)?,
                (None, true) => writeln!(f, "{:width$}  {fate:fate_width$}  -", row.tag)?,
                _ => writeln!(f, "{:width$}  {fate}", row.tag)?,
            }
        }
        match &self.pick {
            Ok(tag) => writeln!(f, "pick: {tag}"),
            Err(e) => writeln!(f, "pick: none ({e})"),
        }
    }
}
