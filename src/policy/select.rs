//! The pipeline: filter → rule → original tag, plus a per-tag explanation of the outcome.

use std::cmp::Ordering;
use std::fmt;

use super::filter::Key;
use super::semver::Ver;
use super::{Constraint, Order, Policy, Rule, SelectError, alphabetical, numerical};

impl Policy {
    /// Flux's pipeline: keep the tags the filter matches, key each by its `extract` expansion
    /// (or by itself), let the rule pick the best key, and return the original tag.
    ///
    /// Deterministic: among candidates whose keys rank equal (equal numbers, equal semver
    /// precedence, duplicate extracted keys) the byte-wise greatest original tag wins, so the
    /// input order never matters. Allocation-free per tag unless the extract template needs
    /// to build a key.
    ///
    /// # Errors
    ///
    /// [`SelectError::Empty`] for no tags, [`SelectError::NoMatch`] when the filter matches
    /// none, [`SelectError::NotNumeric`] when a numerical candidate is not a number,
    /// [`SelectError::NoVersions`] and [`SelectError::NoneInRange`] for semver.
    pub fn select<'t, S: AsRef<str>>(&self, tags: &'t [S]) -> Result<&'t str, SelectError> {
        if tags.is_empty() {
            return Err(SelectError::Empty);
        }
        match &self.rule {
            Rule::Alphabetical(order) => self.select_alphabetical(tags, *order),
            Rule::Numerical(order) => self.select_numerical(tags, *order),
            Rule::Semver(range) => self.select_semver(tags, range),
            Rule::NewestPushed => Err(SelectError::NoPushTimes),
        }
    }

    /// What the policy made of each tag, in input order: filtered out, rejected (and why), or a
    /// candidate with its key and rank. Rank 1 is what [`Policy::select`] returns, unless
    /// select fails: a numerical policy with any [`Verdict::NotNumeric`] tag picks nothing.
    #[must_use]
    pub fn explain<S: AsRef<str>>(&self, tags: &[S]) -> Vec<TagVerdict> {
        let mut verdicts: Vec<TagVerdict> = tags
            .iter()
            .map(|tag| {
                let tag = tag.as_ref();
                let key = match &self.filter {
                    None => Some(tag.to_owned()),
                    Some(filter) => filter.apply(tag).map(std::borrow::Cow::into_owned),
                };
                let verdict = match key {
                    None => Verdict::Filtered,
                    Some(key) => self.classify(key),
                };
                TagVerdict {
                    tag: tag.to_owned(),
                    verdict,
                }
            })
            .collect();

        let mut ranked: Vec<usize> = (0..verdicts.len())
            .filter(|&i| matches!(verdicts[i].verdict, Verdict::Candidate { .. }))
            .collect();
        // Best first.
        ranked.sort_by(|&a, &b| self.cmp_candidates(&verdicts[b], &verdicts[a]));
        for (position, &i) in ranked.iter().enumerate() {
            if let Verdict::Candidate { rank, .. } = &mut verdicts[i].verdict {
                *rank = position + 1;
            }
        }
        verdicts
    }

    fn classify(&self, key: String) -> Verdict {
        match &self.rule {
            Rule::Alphabetical(_) => Verdict::Candidate { key, rank: 0 },
            Rule::Numerical(_) => match numerical::parse_go_float(&key) {
                Some(_) => Verdict::Candidate { key, rank: 0 },
                None => Verdict::NotNumeric { key },
            },
            Rule::Semver(range) => match Ver::parse_tag(&key) {
                None => Verdict::NotVersion { key },
                Some(v) if !range.matches_ver(&v) => Verdict::OutOfRange { key },
                Some(_) => Verdict::Candidate { key, rank: 0 },
            },
            Rule::NewestPushed => Verdict::Candidate { key, rank: 0 },
        }
    }

    /// `Greater` when `a` is the better candidate; both must be [`Verdict::Candidate`]s.
    fn cmp_candidates(&self, a: &TagVerdict, b: &TagVerdict) -> Ordering {
        let (Verdict::Candidate { key: ka, .. }, Verdict::Candidate { key: kb, .. }) =
            (&a.verdict, &b.verdict)
        else {
            return Ordering::Equal;
        };
        let by_tag = || a.tag.as_bytes().cmp(b.tag.as_bytes());
        match &self.rule {
            Rule::Alphabetical(order) => alphabetical::cmp(*order, (ka, &a.tag), (kb, &b.tag)),
            Rule::Numerical(order) => {
                let (Some(x), Some(y)) =
                    (numerical::parse_go_float(ka), numerical::parse_go_float(kb))
                else {
                    return Ordering::Equal;
                };
                numerical::cmp(*order, x, y).then_with(by_tag)
            }
            Rule::Semver(_) => match (Ver::parse_tag(ka), Ver::parse_tag(kb)) {
                (Some(x), Some(y)) => x.cmp_precedence(&y).then_with(by_tag),
                _ => Ordering::Equal,
            },
            // Ranked by push time in `explain_with_times`; without times, by tag.
            Rule::NewestPushed => by_tag(),
        }
    }

    /// Calls `visit(tag, key)` for every candidate; fails when a filter matched nothing.
    fn walk<'t, S: AsRef<str>>(
        &self,
        tags: &'t [S],
        mut visit: impl FnMut(&'t str, &str),
    ) -> Result<(), SelectError> {
        let Some(filter) = &self.filter else {
            for tag in tags {
                let tag = tag.as_ref();
                visit(tag, tag);
            }
            return Ok(());
        };
        let mut locs = filter.regex().capture_locations();
        let mut buf = String::new();
        let mut matched = false;
        for tag in tags {
            let tag = tag.as_ref();
            match filter.key_into(tag, &mut locs, &mut buf) {
                Some(Key::Borrowed(key)) => visit(tag, key),
                Some(Key::Built) => visit(tag, &buf),
                None => continue,
            }
            matched = true;
        }
        if matched {
            Ok(())
        } else {
            Err(SelectError::NoMatch {
                pattern: filter.pattern().to_owned(),
            })
        }
    }

    fn select_alphabetical<'t, S: AsRef<str>>(
        &self,
        tags: &'t [S],
        order: Order,
    ) -> Result<&'t str, SelectError> {
        let mut best_key = String::new();
        let mut best_tag: Option<&'t str> = None;
        self.walk(tags, |tag, key| {
            let better = best_tag.is_none_or(|best| {
                alphabetical::cmp(order, (key, tag), (&best_key, best)) == Ordering::Greater
            });
            if better {
                best_key.clear();
                best_key.push_str(key);
                best_tag = Some(tag);
            }
        })?;
        best_tag.ok_or(SelectError::Empty)
    }

    fn select_numerical<'t, S: AsRef<str>>(
        &self,
        tags: &'t [S],
        order: Order,
    ) -> Result<&'t str, SelectError> {
        let mut best: Option<(f64, &'t str)> = None;
        // The byte-wise least offending tag, so the error does not depend on input order.
        let mut bad: Option<(&'t str, String)> = None;
        self.walk(tags, |tag, key| match numerical::parse_go_float(key) {
            Some(value) => {
                let better = best.is_none_or(|(best_value, best_tag)| {
                    numerical::cmp(order, value, best_value)
                        .then_with(|| tag.as_bytes().cmp(best_tag.as_bytes()))
                        == Ordering::Greater
                });
                if better {
                    best = Some((value, tag));
                }
            }
            None => {
                if bad.as_ref().is_none_or(|(worst, _)| tag < *worst) {
                    bad = Some((tag, key.to_owned()));
                }
            }
        })?;
        if let Some((tag, value)) = bad {
            return Err(SelectError::NotNumeric {
                tag: tag.to_owned(),
                value,
            });
        }
        best.map(|(_, tag)| tag).ok_or(SelectError::Empty)
    }

    fn select_semver<'t, S: AsRef<str>>(
        &self,
        tags: &'t [S],
        range: &Constraint,
    ) -> Result<&'t str, SelectError> {
        // The best so far, owned so that a key built in the filter's buffer can be kept.
        let mut best: Option<(u64, u64, u64, &'t str)> = None;
        let mut best_pre = String::new();
        let mut any_version = false;
        self.walk(tags, |tag, key| {
            let Some(v) = Ver::parse_tag(key) else {
                return;
            };
            any_version = true;
            if !range.matches_ver(&v) {
                return;
            }
            let better = best.is_none_or(|(major, minor, patch, best_tag)| {
                let current = Ver {
                    major,
                    minor,
                    patch,
                    pre: &best_pre,
                    build: "",
                };
                v.cmp_precedence(&current)
                    .then_with(|| tag.as_bytes().cmp(best_tag.as_bytes()))
                    == Ordering::Greater
            });
            if better {
                best = Some((v.major, v.minor, v.patch, tag));
                best_pre.clear();
                best_pre.push_str(v.pre);
            }
        })?;
        match best {
            Some((.., tag)) => Ok(tag),
            None if any_version => Err(SelectError::NoneInRange {
                range: range.to_string(),
            }),
            None => Err(SelectError::NoVersions),
        }
    }
}

/// What a policy made of one tag (see [`Policy::explain`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TagVerdict {
    /// The original tag.
    pub tag: String,
    /// What happened to it.
    pub verdict: Verdict,
}

/// The fate of one tag in a policy run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The `filterTags` pattern does not match the tag.
    Filtered,
    /// Semver policy: the key is not a version under Flux's rules.
    NotVersion {
        /// The key (the tag itself without a filter).
        key: String,
    },
    /// Semver policy: a version, but outside the range.
    OutOfRange {
        /// The key.
        key: String,
    },
    /// Numerical policy: the key is not a number, which fails the whole policy.
    NotNumeric {
        /// The key.
        key: String,
    },
    /// `newestPushed` policy: the registry gave no push time for the tag.
    NoPushTime {
        /// The key.
        key: String,
    },
    /// A candidate; rank 1 is the pick, 2 the runner-up, and so on (no two share a rank).
    Candidate {
        /// The key the rule compared.
        key: String,
        /// 1-based position in the rule's order, ties broken by the greater original tag.
        rank: usize,
    },
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Filtered => f.write_str("does not match the filterTags pattern"),
            Verdict::NotVersion { key } => write!(f, "{key:?} is not a semantic version"),
            Verdict::OutOfRange { key } => write!(f, "{key:?} is outside the range"),
            Verdict::NotNumeric { key } => {
                write!(f, "{key:?} is not a number (this fails the policy)")
            }
            Verdict::NoPushTime { key } => write!(f, "{key:?} has no known push time"),
            Verdict::Candidate { key, rank } => write!(f, "candidate #{rank} with key {key:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::policy::Filter;

    fn policy(rule: Rule, filter: Option<(&str, &str)>) -> Policy {
        Policy {
            rule,
            filter: filter.map(|(p, e)| Filter::new(p, Some(e)).unwrap()),
        }
    }

    fn semver(range: &str) -> Rule {
        Rule::Semver(Constraint::parse(range).unwrap())
    }

    #[test]
    fn seed_scenario_alphabetical_is_not_chronological() {
        let tags = [
            "main-f00ba47-1707300000",
            "main-0a1b2c3-1707400000",
            "latest",
        ];
        let alpha = policy(
            Rule::Alphabetical(Order::Asc),
            Some((r"^main-[a-f0-9]{7}-[0-9]{10}$", "$0")),
        );
        // The sha decides: the older build wins.
        assert_eq!(alpha.select(&tags), Ok("main-f00ba47-1707300000"));
        let numeric = policy(
            Rule::Numerical(Order::Asc),
            Some((r"^main-[a-f0-9]+-(?P<ts>[0-9]{10})$", "$ts")),
        );
        assert_eq!(numeric.select(&tags), Ok("main-0a1b2c3-1707400000"));
        let oldest = policy(
            Rule::Numerical(Order::Desc),
            Some((r"^main-[a-f0-9]+-(?P<ts>[0-9]{10})$", "$ts")),
        );
        assert_eq!(oldest.select(&tags), Ok("main-f00ba47-1707300000"));
    }

    #[test]
    fn alphabetical_orders_bytes() {
        let tags = ["v9", "v10", "v1", "V99"];
        let asc = policy(Rule::Alphabetical(Order::Asc), None);
        let desc = policy(Rule::Alphabetical(Order::Desc), None);
        assert_eq!(asc.select(&tags), Ok("v9"));
        assert_eq!(desc.select(&tags), Ok("V99"));
    }

    #[test]
    fn numerical_orders_values() {
        let tags = ["9", "10", "-3", "2.5e1", "0x1p4", "007"];
        let asc = policy(Rule::Numerical(Order::Asc), None);
        let desc = policy(Rule::Numerical(Order::Desc), None);
        assert_eq!(asc.select(&tags), Ok("2.5e1"));
        assert_eq!(desc.select(&tags), Ok("-3"));
        let inf = ["1", "inf", "-Inf"];
        assert_eq!(asc.select(&inf), Ok("inf"));
        assert_eq!(desc.select(&inf), Ok("-Inf"));
        // NaN never wins against a number, in either order.
        let nan = ["NaN", "1", "2"];
        assert_eq!(asc.select(&nan), Ok("2"));
        assert_eq!(desc.select(&nan), Ok("1"));
        assert_eq!(asc.select(&["nan", "NaN"]), Ok("nan"));
    }

    #[test]
    fn numerical_fails_on_one_bad_candidate_and_names_it() {
        let p = policy(Rule::Numerical(Order::Asc), None);
        let err = p.select(&["3", "zeta", "latest", "4"]).unwrap_err();
        assert_eq!(
            err,
            SelectError::NotNumeric {
                tag: "latest".into(),
                value: "latest".into()
            }
        );
        let text = err.to_string();
        assert!(
            text.contains("\"latest\"") && text.contains("filterTags"),
            "{text}"
        );
        // With a filter the error carries the extracted value.
        let filtered = policy(Rule::Numerical(Order::Asc), Some(("^build-(.*)$", "$1")));
        assert_eq!(
            filtered.select(&["build-12", "build-x1"]),
            Err(SelectError::NotNumeric {
                tag: "build-x1".into(),
                value: "x1".into()
            })
        );
        // Overflow is an error in Go, so it is not a number here either.
        assert!(matches!(
            p.select(&["1", "1e400"]),
            Err(SelectError::NotNumeric { .. })
        ));
    }

    #[test]
    fn ties_go_to_the_greatest_original_tag() {
        // Equal numbers.
        let num = policy(Rule::Numerical(Order::Asc), None);
        assert_eq!(num.select(&["1", "1.0", "01", "0.5"]), Ok("1.0"));
        let num_desc = policy(Rule::Numerical(Order::Desc), None);
        assert_eq!(num_desc.select(&["1", "1.0", "01", "2"]), Ok("1.0"));
        // Integers beyond 2^53 collapse to the same float.
        assert_eq!(
            num.select(&["9007199254740993", "9007199254740992"]),
            Ok("9007199254740993")
        );
        // Equal semver precedence.
        let sv = policy(semver("*"), None);
        assert_eq!(
            sv.select(&["1.2.3", "v1.2.3", "1.2.3+build", "1.2.2"]),
            Ok("v1.2.3")
        );
        assert_eq!(sv.select(&["1.2.3+b", "1.2.3+a", "01.2.3"]), Ok("1.2.3+b"));
        // Duplicate extracted keys, for every rule and order.
        let tags = ["a-7", "c-7", "b-7", "z-1"];
        for rule in [Rule::Alphabetical(Order::Asc), Rule::Numerical(Order::Asc)] {
            assert_eq!(
                policy(rule, Some((r"-(\d+)$", "$1"))).select(&tags),
                Ok("c-7")
            );
        }
        let tags = ["a-1", "c-1", "b-1", "z-7"];
        for rule in [
            Rule::Alphabetical(Order::Desc),
            Rule::Numerical(Order::Desc),
        ] {
            assert_eq!(
                policy(rule, Some((r"-(\d+)$", "$1"))).select(&tags),
                Ok("c-1")
            );
        }
        let sv_extract = policy(semver(">=1.0.0"), Some((r"^(?:a|b|c)-(.*)$", "$1")));
        assert_eq!(
            sv_extract.select(&["a-1.0.0", "c-1.0.0", "b-1.0.0"]),
            Ok("c-1.0.0")
        );
    }

    #[test]
    fn semver_picks_the_highest_in_range() {
        let tags = [
            "1.0.0",
            "v1.9.0",
            "1.10.0-rc.1",
            "2.0.0",
            "2022.04.1",
            "latest",
            "1.2",
            "1.9.1.1",
        ];
        assert_eq!(
            policy(semver(">=1.0.0 <2.0.0"), None).select(&tags),
            Ok("v1.9.0")
        );
        assert_eq!(
            policy(semver(">=1.0.0-0 <2.0.0"), None).select(&tags),
            Ok("1.10.0-rc.1")
        );
        assert_eq!(policy(semver("*"), None).select(&tags), Ok("2022.04.1"));
        assert_eq!(policy(semver("^2.0"), None).select(&tags), Ok("2.0.0"));
        assert_eq!(
            policy(semver(">=3.0.0 <2000.0.0"), None).select(&tags),
            Err(SelectError::NoneInRange {
                range: ">=3.0.0 <2000.0.0".into()
            })
        );
        assert_eq!(
            policy(semver("*"), None).select(&["latest", "1.2", "V1.2.3"]),
            Err(SelectError::NoVersions)
        );
        // A release beats its own pre-releases; build metadata does not matter.
        let pre = policy(semver(">=1.0.0-0"), None);
        assert_eq!(
            pre.select(&["1.0.0-rc.1", "1.0.0", "1.0.0-rc.2"]),
            Ok("1.0.0")
        );
        assert_eq!(
            pre.select(&["1.0.0-rc.9", "1.0.0-rc.10"]),
            Ok("1.0.0-rc.10")
        );
        // Extract can build a version out of a tag that is not one.
        let built = policy(semver("^1.0"), Some((r"^release-(\d+)\.(\d+)$", "$1.$2.0")));
        assert_eq!(
            built.select(&["release-1.4", "release-1.10", "release-2.0"]),
            Ok("release-1.10")
        );
    }

    #[test]
    fn errors_for_empty_and_unmatched_lists() {
        let empty: [&str; 0] = [];
        for rule in [
            Rule::Alphabetical(Order::Asc),
            Rule::Numerical(Order::Asc),
            semver("*"),
        ] {
            assert_eq!(
                policy(rule.clone(), None).select(&empty),
                Err(SelectError::Empty)
            );
            assert_eq!(
                policy(rule, Some(("^main-", ""))).select(&["latest", "1.0.0"]),
                Err(SelectError::NoMatch {
                    pattern: "^main-".into()
                })
            );
        }
    }

    #[test]
    fn select_accepts_owned_and_borrowed_tags() {
        let owned = vec!["b".to_owned(), "a".to_owned()];
        let p = policy(Rule::Alphabetical(Order::Asc), None);
        assert_eq!(p.select(&owned), Ok("b"));
        assert_eq!(p.select(&["b", "a"][..]), Ok("b"));
    }

    #[test]
    fn explain_reports_every_tag() {
        let p = policy(semver(">=1.0.0 <2.0.0"), Some((r"^v?\d", "")));
        let got = p.explain(&[
            "latest", "0.9.0", "1.2", "1.5.0", "v1.6.0", "1.6.0", "2.0.0",
        ]);
        let want = [
            ("latest", Verdict::Filtered),
            (
                "0.9.0",
                Verdict::OutOfRange {
                    key: "0.9.0".into(),
                },
            ),
            ("1.2", Verdict::NotVersion { key: "1.2".into() }),
            (
                "1.5.0",
                Verdict::Candidate {
                    key: "1.5.0".into(),
                    rank: 3,
                },
            ),
            (
                "v1.6.0",
                Verdict::Candidate {
                    key: "v1.6.0".into(),
                    rank: 1,
                },
            ),
            (
                "1.6.0",
                Verdict::Candidate {
                    key: "1.6.0".into(),
                    rank: 2,
                },
            ),
            (
                "2.0.0",
                Verdict::OutOfRange {
                    key: "2.0.0".into(),
                },
            ),
        ];
        let got: Vec<(&str, Verdict)> = got
            .iter()
            .map(|v| (v.tag.as_str(), v.verdict.clone()))
            .collect();
        assert_eq!(got, want);

        let n = policy(Rule::Numerical(Order::Desc), Some((r"^b-(.+)$", "$1")));
        let got = n.explain(&["b-3", "b-x", "b-1", "c-1"]);
        assert_eq!(
            got[0].verdict,
            Verdict::Candidate {
                key: "3".into(),
                rank: 2
            }
        );
        assert_eq!(got[1].verdict, Verdict::NotNumeric { key: "x".into() });
        assert_eq!(
            got[2].verdict,
            Verdict::Candidate {
                key: "1".into(),
                rank: 1
            }
        );
        assert_eq!(got[3].verdict, Verdict::Filtered);
        assert_eq!(
            got[1].verdict.to_string(),
            "\"x\" is not a number (this fails the policy)"
        );
    }

    /// Tags from a small alphabet, so that equal keys, equal numbers and equal precedence are
    /// common.
    fn tag_strategy() -> impl Strategy<Value = String> {
        prop_oneof![
            "(v?)[0-2]\\.[0-2]\\.[0-2](-rc\\.[0-2])?(\\+b[0-2])?",
            "[0-2]{1,2}(\\.0)?",
            "main-[a-c]{2}-[0-2]{2}",
            "(latest|nan|inf|-0|0|1e0|0x1p0)",
        ]
    }

    fn rules() -> Vec<Policy> {
        #[allow(clippy::unnecessary_wraps)] // matches `policy`'s parameter
        fn f<'a>(p: &'a str, e: &'a str) -> Option<(&'a str, &'a str)> {
            Some((p, e))
        }
        vec![
            policy(Rule::Alphabetical(Order::Asc), None),
            policy(Rule::Alphabetical(Order::Desc), None),
            policy(
                Rule::Alphabetical(Order::Asc),
                f(r"^main-[a-c]+-(\d+)$", "$1"),
            ),
            policy(
                Rule::Alphabetical(Order::Desc),
                f(r"^main-([a-c]+)", "${1}"),
            ),
            policy(
                Rule::Numerical(Order::Asc),
                f(r"^main-[a-c]+-(?P<ts>\d+)$", "$ts"),
            ),
            policy(Rule::Numerical(Order::Desc), f(r"^[0-9.]+$", "")),
            policy(Rule::Numerical(Order::Asc), None),
            policy(Rule::Numerical(Order::Asc), f("^[^.]+$", "")),
            policy(semver("*"), None),
            policy(semver(">=0.1.0-0 <2.0.0"), None),
            policy(semver("~1.1 || ^0.1.0"), f(r"^v?(\d)\.(\d)\.\d", "$1.$2.0")),
        ]
    }

    proptest! {
        #[test]
        fn input_order_never_changes_the_outcome(
            (tags, shuffled) in prop::collection::vec(tag_strategy(), 0..24)
                .prop_flat_map(|tags| (Just(tags.clone()), Just(tags).prop_shuffle()))
        ) {
            for p in rules() {
                prop_assert_eq!(p.select(&tags), p.select(&shuffled), "{}", p.rule);
            }
        }

        #[test]
        fn explain_agrees_with_select(tags in prop::collection::vec(tag_strategy(), 0..24)) {
            for p in rules() {
                let verdicts = p.explain(&tags);
                let first = verdicts.iter().find(|v| {
                    matches!(v.verdict, Verdict::Candidate { rank: 1, .. })
                });
                let not_numeric = verdicts
                    .iter()
                    .any(|v| matches!(v.verdict, Verdict::NotNumeric { .. }));
                match p.select(&tags) {
                    Ok(tag) => prop_assert_eq!(Some(tag), first.map(|v| v.tag.as_str()), "{}", p.rule),
                    Err(SelectError::NotNumeric { .. }) => prop_assert!(not_numeric),
                    Err(_) => prop_assert!(first.is_none(), "{}", p.rule),
                }
                // Ranks are 1..=n without gaps.
                let mut ranks: Vec<usize> = verdicts.iter().filter_map(|v| match v.verdict {
                    Verdict::Candidate { rank, .. } => Some(rank),
                    _ => None,
                }).collect();
                ranks.sort_unstable();
                prop_assert!(ranks.iter().enumerate().all(|(i, r)| *r == i + 1));
            }
        }
    }
}
