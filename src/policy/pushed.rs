//! Beyond Flux: policies that use each tag's push time (Harbor's `tags[].push_time`).
//!
//! - `newestPushed`: among the candidates the filter keeps, the one pushed last wins (ties: the
//!   byte-wise greatest tag, as everywhere else).
//! - `minAge` (any rule): tags pushed less than `minAge` ago are not candidates yet
//!   ([`split_by_age`]); a tag without a known push time is never old enough.
//!
//! Pure: "now" and the push times are arguments.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{Policy, Rule, SelectError, TagVerdict, Verdict};

/// Push time per tag.
pub type PushTimes = HashMap<String, SystemTime>;

/// Splits `tags` into those pushed at least `min_age` before `now` and those that are too young
/// (or have no push time), keeping the input order in both.
#[must_use]
pub fn split_by_age(
    tags: Vec<String>,
    times: &PushTimes,
    now: SystemTime,
    min_age: Duration,
) -> (Vec<String>, Vec<String>) {
    tags.into_iter().partition(|tag| {
        times
            .get(tag)
            .is_some_and(|t| now.duration_since(*t).is_ok_and(|age| age >= min_age))
    })
}

impl Policy {
    /// [`Policy::select`], with push times for the rules that need them (`newestPushed`).
    ///
    /// # Errors
    ///
    /// As [`Policy::select`]; [`SelectError::NoPushTimes`] when a `newestPushed` policy has no
    /// push time for any candidate.
    pub fn select_with_times<'t, S: AsRef<str>>(
        &self,
        tags: &'t [S],
        times: &PushTimes,
    ) -> Result<&'t str, SelectError> {
        if !matches!(self.rule, Rule::NewestPushed) {
            return self.select(tags);
        }
        if tags.is_empty() {
            return Err(SelectError::Empty);
        }
        let mut best: Option<(SystemTime, &'t str)> = None;
        let mut matched = false;
        for tag in tags {
            let tag = tag.as_ref();
            if let Some(filter) = &self.filter
                && filter.apply(tag).is_none()
            {
                continue;
            }
            matched = true;
            let Some(&time) = times.get(tag) else {
                continue;
            };
            let better = best.is_none_or(|(t, b)| {
                time.cmp(&t).then_with(|| tag.as_bytes().cmp(b.as_bytes())) == Ordering::Greater
            });
            if better {
                best = Some((time, tag));
            }
        }
        match (best, &self.filter) {
            (Some((_, tag)), _) => Ok(tag),
            (None, Some(filter)) if !matched => Err(SelectError::NoMatch {
                pattern: filter.pattern().to_owned(),
            }),
            (None, _) => Err(SelectError::NoPushTimes),
        }
    }

    /// [`Policy::explain`], ranking a `newestPushed` policy's candidates by push time (a
    /// candidate without one is reported as [`Verdict::NoPushTime`]).
    #[must_use]
    pub fn explain_with_times<S: AsRef<str>>(
        &self,
        tags: &[S],
        times: &PushTimes,
    ) -> Vec<TagVerdict> {
        let mut verdicts = self.explain(tags);
        if !matches!(self.rule, Rule::NewestPushed) {
            return verdicts;
        }
        let mut ranked: Vec<(SystemTime, usize)> = Vec::new();
        for (i, v) in verdicts.iter_mut().enumerate() {
            if let Verdict::Candidate { key, .. } = &v.verdict {
                match times.get(&v.tag) {
                    Some(&t) => ranked.push((t, i)),
                    None => {
                        v.verdict = Verdict::NoPushTime { key: key.clone() };
                    }
                }
            }
        }
        ranked.sort_by(|a, b| {
            b.0.cmp(&a.0).then_with(|| {
                verdicts[b.1]
                    .tag
                    .as_bytes()
                    .cmp(verdicts[a.1].tag.as_bytes())
            })
        });
        for (position, &(time, i)) in ranked.iter().enumerate() {
            verdicts[i].verdict = Verdict::Candidate {
                key: format_rfc3339(time),
                rank: position + 1,
            };
        }
        verdicts
    }
}

/// Parses an RFC 3339 UTC-or-offset timestamp (`2026-11-20T10:11:12.000Z`,
/// `2026-11-20T10:11:12+01:00`), as Harbor writes push times.
#[must_use]
pub fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let s = text.get(r)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())
            .flatten()
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    let mut rest = &text[19..];
    let mut nanos: u32 = 0;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let mut padded: String = frac[..digits.min(9)].to_owned();
        while padded.len() < 9 {
            padded.push('0');
        }
        nanos = padded.parse().ok()?;
        rest = &frac[digits..];
    }
    let offset_secs: i64 = match rest {
        "Z" | "z" => 0,
        _ => {
            let rb = rest.as_bytes();
            if rb.len() != 6 || !matches!(rb[0], b'+' | b'-') || rb[3] != b':' {
                return None;
            }
            let h: i64 = rest[1..3].parse().ok()?;
            let m: i64 = rest[4..6].parse().ok()?;
            let sign = if rb[0] == b'-' { -1 } else { 1 };
            sign * (h * 3600 + m * 60)
        }
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second.min(60) - offset_secs;
    let secs = u64::try_from(secs).ok()?;
    Some(UNIX_EPOCH + Duration::new(secs, nanos))
}

/// `2026-11-20T10:11:12Z` (UTC, whole seconds).
#[must_use]
pub fn format_rfc3339(time: SystemTime) -> String {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{Filter, Order};

    fn at(s: &str) -> SystemTime {
        parse_rfc3339(s).expect(s)
    }

    fn times(pairs: &[(&str, &str)]) -> PushTimes {
        pairs
            .iter()
            .map(|(t, s)| ((*t).to_owned(), at(s)))
            .collect()
    }

    #[test]
    fn rfc3339_round_trip_and_forms() {
        let t = at("2026-11-20T10:11:12.000Z");
        assert_eq!(format_rfc3339(t), "2026-11-20T10:11:12Z");
        assert_eq!(
            t.duration_since(UNIX_EPOCH).unwrap().as_secs(),
            1_795_169_472
        );
        assert_eq!(at("2026-11-20T11:11:12+01:00"), t);
        assert_eq!(at("1970-01-01T00:00:00Z"), UNIX_EPOCH);
        assert_eq!(
            at("2024-02-29T23:59:59.5Z")
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_millis(),
            1_709_251_199_500
        );
        for bad in [
            "",
            "2026-11-20",
            "2026-13-01T00:00:00Z",
            "2026-11-20T10:11:12",
            "2026-11-20T10:11:12.Z",
            "20261120T101112Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn newest_pushed_picks_by_push_time_not_by_name() {
        let tags = ["main-f00ba47-1", "main-0a1b2c3-2", "latest"];
        let pushed = times(&[
            ("main-f00ba47-1", "2026-01-01T00:00:00Z"),
            ("main-0a1b2c3-2", "2026-01-02T00:00:00Z"),
            ("latest", "2026-01-03T00:00:00Z"),
        ]);
        let all = Policy {
            rule: Rule::NewestPushed,
            filter: None,
        };
        assert_eq!(all.select_with_times(&tags, &pushed), Ok("latest"));
        let main = Policy {
            rule: Rule::NewestPushed,
            filter: Some(Filter::new("^main-", None).unwrap()),
        };
        assert_eq!(main.select_with_times(&tags, &pushed), Ok("main-0a1b2c3-2"));
        // Without push times it cannot pick, and says why.
        assert_eq!(main.select(&tags), Err(SelectError::NoPushTimes));
        assert_eq!(
            main.select_with_times(&tags, &PushTimes::new()),
            Err(SelectError::NoPushTimes)
        );
        // Equal push times: the greater tag, whatever the input order.
        let same = times(&[("a", "2026-01-01T00:00:00Z"), ("b", "2026-01-01T00:00:00Z")]);
        assert_eq!(all.select_with_times(&["a", "b"], &same), Ok("b"));
        assert_eq!(all.select_with_times(&["b", "a"], &same), Ok("b"));

        let explained = main.explain_with_times(&["main-f00ba47-1", "x", "main-new"], &pushed);
        assert_eq!(
            explained[0].verdict,
            Verdict::Candidate {
                key: "2026-01-01T00:00:00Z".into(),
                rank: 1
            }
        );
        assert_eq!(explained[1].verdict, Verdict::Filtered);
        assert!(matches!(explained[2].verdict, Verdict::NoPushTime { .. }));
    }

    #[test]
    fn min_age_keeps_only_old_enough_tags() {
        let pushed = times(&[
            ("old", "2026-01-01T00:00:00Z"),
            ("new", "2026-01-01T23:30:00Z"),
        ]);
        let now = at("2026-01-02T00:00:00Z");
        let tags = vec!["old".to_owned(), "new".to_owned(), "unknown".to_owned()];
        let (ok, young) = split_by_age(tags, &pushed, now, Duration::from_secs(3600));
        assert_eq!(ok, ["old"]);
        assert_eq!(young, ["new", "unknown"]);
        let p = Policy {
            rule: Rule::Alphabetical(Order::Asc),
            filter: None,
        };
        assert_eq!(p.select_with_times(&ok, &pushed), Ok("old"));
    }
}
