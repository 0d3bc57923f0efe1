//! Tag selection, with Flux's semantics (image-reflector-controller v1.2):
//!
//! ```text
//! registry tags ─► exclusion list ─► filterTags (pattern + extract) ─► rule ─► original tag
//! ```
//!
//! - [`exclude`] drops tags that match any exclusion regex ([`DEFAULT_EXCLUSION`] by default).
//! - [`Filter`] keeps the tags its pattern finds a match in and turns each into a key.
//! - [`Rule`] picks the best key: [`Rule::Alphabetical`] (byte order), [`Rule::Numerical`]
//!   (Go `ParseFloat`; one non-numeric key fails the policy), or [`Rule::Semver`] (Flux's
//!   version parsing and Masterminds ranges).
//! - The winner is reported as the original tag.
//!
//! One deliberate difference: Flux is order-dependent on numerical ties, equal-precedence
//! versions and duplicate extracted keys. Here, among candidates whose keys rank equal, the
//! byte-wise greatest original tag wins, whatever the input order.
//!
//! Everything here is pure: no I/O, no logging.

mod alphabetical;
mod filter;
mod numerical;
mod pushed;
mod select;
mod semver;

use std::fmt;
use std::str::FromStr;

use regex::Regex;

pub use filter::Filter;
pub use pushed::{PushTimes, format_rfc3339, parse_rfc3339, split_by_age};
pub use select::{TagVerdict, Verdict};
pub use semver::{Constraint, TagVersion};

/// Flux's default `exclusionList`: cosign signature tags.
pub const DEFAULT_EXCLUSION: &str = r"^.*\.sig$";

/// Drops every tag that matches any of the exclusion regexes (unanchored search, as Flux's
/// `MatchString`). An empty list keeps everything.
#[must_use]
pub fn exclude(mut tags: Vec<String>, exclusions: &[Regex]) -> Vec<String> {
    if !exclusions.is_empty() {
        tags.retain(|tag| !exclusions.iter().any(|re| re.is_match(tag)));
    }
    tags
}

/// Which end of the order an alphabetical or numerical policy picks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Order {
    /// The greatest (Flux's default).
    #[default]
    Asc,
    /// The least.
    Desc,
}

impl FromStr for Order {
    type Err = PolicyError;

    /// `asc` or `desc`, exactly as Flux spells them.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "asc" => Ok(Order::Asc),
            "desc" => Ok(Order::Desc),
            _ => Err(PolicyError::InvalidOrder {
                value: s.to_owned(),
            }),
        }
    }
}

impl fmt::Display for Order {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Order::Asc => "asc",
            Order::Desc => "desc",
        })
    }
}

/// The policy proper: how candidates are compared.
#[derive(Clone, Debug)]
pub enum Rule {
    /// Byte-wise order of the keys.
    Alphabetical(Order),
    /// Keys parsed as Go float64; every candidate must parse.
    Numerical(Order),
    /// The highest version within the range.
    Semver(Constraint),
    /// Beyond Flux: the candidate pushed most recently (needs push times, e.g. Harbor's).
    NewestPushed,
}

impl fmt::Display for Rule {
    /// `alphabetical (asc)`, `numerical (desc)`, `semver (>=1.0.0 <2.0.0)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::Alphabetical(order) => write!(f, "alphabetical ({order})"),
            Rule::Numerical(order) => write!(f, "numerical ({order})"),
            Rule::Semver(range) => write!(f, "semver ({range})"),
            Rule::NewestPushed => f.write_str("newestPushed"),
        }
    }
}

/// A rule plus the optional `filterTags`. See [`Policy::select`] and [`Policy::explain`].
#[derive(Clone, Debug)]
pub struct Policy {
    /// How candidates are compared.
    pub rule: Rule,
    /// Which tags are candidates, and what key each contributes; `None` means every tag, keyed
    /// by itself.
    pub filter: Option<Filter>,
}

/// Invalid policy configuration.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// A `filterTags.pattern` or exclusion that is not a valid regex.
    #[error("invalid regular expression {pattern:?}: {source}")]
    InvalidRegex {
        /// The pattern as written.
        pattern: String,
        /// What the regex compiler objected to.
        #[source]
        source: regex::Error,
    },
    /// A semver range that does not parse.
    #[error("invalid semver range {range:?}: {reason}")]
    InvalidRange {
        /// The range as written.
        range: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An order other than `asc` or `desc`.
    #[error("invalid order {value:?}: expected \"asc\" or \"desc\"")]
    InvalidOrder {
        /// The order as written.
        value: String,
    },
}

/// Why a policy could not pick a tag. Flux keeps the previous pick in every one of these cases.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    /// The repository has no tags (after exclusions).
    #[error("there are no tags to choose from")]
    Empty,
    /// The filter matched no tag (Flux: "version list argument cannot be empty").
    #[error("no tag matches the filterTags pattern {pattern:?}")]
    NoMatch {
        /// The filter's pattern.
        pattern: String,
    },
    /// A candidate of a numerical policy is not a number (Flux: "failed to parse invalid
    /// numeric value"). When several are not, this names the byte-wise least tag.
    #[error(
        "tag {tag:?} gives {value:?}, which is not a number, and a numerical policy needs every \
         candidate to be one: add a filterTags pattern that selects only numeric tags \
         (for example '^[0-9]+$')"
    )]
    NotNumeric {
        /// The original tag.
        tag: String,
        /// Its key (the tag itself without a filter).
        value: String,
    },
    /// No candidate is a version (Flux needs `x.y.z`, optionally with a `v` prefix).
    #[error("no tag is a semantic version of the form x.y.z (optionally v-prefixed)")]
    NoVersions,
    /// Some candidates are versions, but none is in the range.
    #[error("no version satisfies the semver range {range:?}")]
    NoneInRange {
        /// The range as written.
        range: String,
    },
    /// A `newestPushed` policy, or a `minAge`, without push times for the tags.
    #[error(
        "this policy orders by push time, but the registry gave no push times (newestPushed and \
         minAge need Harbor's API)"
    )]
    NoPushTimes,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusion_is_an_unanchored_search_over_any_regex() {
        let tags: Vec<String> = ["1.0.0", "sha256-abc.sig", "sha256-abc.att", "x.sig.bak"]
            .map(String::from)
            .to_vec();
        let default = [Regex::new(DEFAULT_EXCLUSION).unwrap()];
        assert_eq!(
            exclude(tags.clone(), &default),
            ["1.0.0", "sha256-abc.att", "x.sig.bak"]
        );
        let two = [Regex::new(r"\.sig").unwrap(), Regex::new("att").unwrap()];
        assert_eq!(exclude(tags.clone(), &two), ["1.0.0"]);
        assert_eq!(exclude(tags.clone(), &[]), tags);
    }

    #[test]
    fn order_parses_and_displays() {
        assert_eq!("asc".parse::<Order>().unwrap(), Order::Asc);
        assert_eq!("desc".parse::<Order>().unwrap(), Order::Desc);
        assert_eq!(Order::default(), Order::Asc);
        assert_eq!(Order::Desc.to_string(), "desc");
        let err = "ASC".parse::<Order>().unwrap_err();
        assert!(matches!(&err, PolicyError::InvalidOrder { value } if value == "ASC"));
        assert_eq!(
            err.to_string(),
            "invalid order \"ASC\": expected \"asc\" or \"desc\""
        );
    }

    #[test]
    fn rule_displays() {
        assert_eq!(
            Rule::Alphabetical(Order::Asc).to_string(),
            "alphabetical (asc)"
        );
        assert_eq!(Rule::Numerical(Order::Desc).to_string(), "numerical (desc)");
        let range = Constraint::parse(">=1.0.0 <2.0.0").unwrap();
        assert_eq!(Rule::Semver(range).to_string(), "semver (>=1.0.0 <2.0.0)");
    }
}
