//! Which tags count as versions, and how versions are ordered.
//!
//! Flux decides with `version.ParseVersion` (fluxcd/pkg): the tag must contain at least two dots
//! (`strings.SplitN(tag, ".", 3)` must give three pieces), and must then pass Masterminds'
//! coercing `NewVersion`. That parser takes an optional lowercase `v`, accepts leading zeros in
//! major, minor and patch (`2022.04.1`), fills a missing minor or patch with 0 (so `1.2-rc.1.0`
//! becomes `1.2.0-rc.1.0`), and rejects a numeric pre-release identifier with a leading zero.
//!
//! Precedence follows semver 2.0; build metadata never takes part.

use std::cmp::Ordering;
use std::fmt;

/// A parsed version that borrows its pre-release and build text from the string it was parsed
/// from, so the selection hot path never allocates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ver<'a> {
    pub(crate) major: u64,
    pub(crate) minor: u64,
    pub(crate) patch: u64,
    /// Without the leading `-`; empty for a release.
    pub(crate) pre: &'a str,
    /// Without the leading `+`; empty when absent.
    pub(crate) build: &'a str,
}

impl<'a> Ver<'a> {
    /// Flux's `version.ParseVersion`: the three-part rule, then the coercing parse.
    pub(crate) fn parse_tag(tag: &'a str) -> Option<Ver<'a>> {
        // SplitN(tag, ".", 3) yields three pieces exactly when the tag has two dots or more.
        if tag.bytes().filter(|&b| b == b'.').take(2).count() < 2 {
            return None;
        }
        Self::parse_loose(tag)
    }

    /// Masterminds' `NewVersion` grammar: `v? N (.N)? (.N)? (-ids)? (+ids)?`, numbers of any
    /// width that fit in a u64, ids of `[0-9A-Za-z-]`, no empty id, no leading zero in a numeric
    /// pre-release id.
    pub(crate) fn parse_loose(s: &'a str) -> Option<Ver<'a>> {
        let s = s.strip_prefix('v').unwrap_or(s);
        let b = s.as_bytes();
        let mut i = 0;
        let major = number(b, &mut i)?;
        let mut minor = 0;
        let mut patch = 0;
        // A dot must start a numeric segment: nothing else in the grammar may follow a dot here.
        if b.get(i) == Some(&b'.') {
            i += 1;
            minor = number(b, &mut i)?;
            if b.get(i) == Some(&b'.') {
                i += 1;
                patch = number(b, &mut i)?;
            }
        }
        let mut pre = "";
        if b.get(i) == Some(&b'-') {
            let end = identifiers_end(b, i + 1)?;
            pre = &s[i + 1..end];
            i = end;
        }
        let mut build = "";
        if b.get(i) == Some(&b'+') {
            let end = identifiers_end(b, i + 1)?;
            build = &s[i + 1..end];
            i = end;
        }
        if i != b.len() || !prerelease_ok(pre) {
            return None;
        }
        Some(Ver {
            major,
            minor,
            patch,
            pre,
            build,
        })
    }

    /// Semver 2.0 precedence; build metadata is ignored.
    pub(crate) fn cmp_precedence(&self, other: &Ver<'_>) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                // A release outranks its own pre-releases.
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => cmp_prerelease(self.pre, other.pre),
            })
    }
}

/// Digits `[0-9]+` at `*i`, as a u64 (leading zeros allowed); `None` when absent or too large.
fn number(b: &[u8], i: &mut usize) -> Option<u64> {
    let start = *i;
    let mut n: u64 = 0;
    while let Some(&d) = b.get(*i).filter(|d| d.is_ascii_digit()) {
        n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
        *i += 1;
    }
    (*i > start).then_some(n)
}

fn is_id_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-'
}

/// End of `id(.id)*` starting at `start`; `None` if an id is empty.
fn identifiers_end(b: &[u8], start: usize) -> Option<usize> {
    let mut i = start;
    loop {
        let id_start = i;
        while b.get(i).is_some_and(|&c| is_id_byte(c)) {
            i += 1;
        }
        if i == id_start {
            return None;
        }
        if b.get(i) != Some(&b'.') {
            return Some(i);
        }
        i += 1;
    }
}

/// Numeric pre-release identifiers must not have a leading zero (`rc.01`).
pub(crate) fn prerelease_ok(pre: &str) -> bool {
    pre.is_empty()
        || pre.split('.').all(|id| {
            !(id.len() > 1 && id.starts_with('0') && id.bytes().all(|c| c.is_ascii_digit()))
        })
}

/// Compares dot-separated pre-release strings identifier by identifier.
fn cmp_prerelease(a: &str, b: &str) -> Ordering {
    let mut left = a.split('.');
    let mut right = b.split('.');
    loop {
        match (left.next(), right.next()) {
            (None, None) => return Ordering::Equal,
            // A longer list wins when one is a prefix of the other.
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => match cmp_identifier(x, y) {
                Ordering::Equal => {}
                unequal => return unequal,
            },
        }
    }
}

fn cmp_identifier(x: &str, y: &str) -> Ordering {
    let x_num = x.bytes().all(|c| c.is_ascii_digit());
    let y_num = y.bytes().all(|c| c.is_ascii_digit());
    match (x_num, y_num) {
        // No leading zeros, so the longer number is the larger one; this works for any width.
        (true, true) => x.len().cmp(&y.len()).then_with(|| x.cmp(y)),
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => x.as_bytes().cmp(y.as_bytes()),
    }
}

/// A tag that Flux's semver policy accepts as a version (`version.ParseVersion`).
///
/// Equality is structural (build metadata included); use [`TagVersion::cmp_precedence`] to order
/// versions the way the policy does.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TagVersion {
    major: u64,
    minor: u64,
    patch: u64,
    pre: String,
    build: String,
}

impl TagVersion {
    /// Parses a tag like Flux: at least two dots, an optional lowercase `v`, leading zeros
    /// allowed in the numbers, a missing patch read as 0 (`1.2-rc.1.0` is `1.2.0-rc.1.0`).
    /// Returns `None` for tags the semver policy skips (`1.2`, `V1.2.3`, `1.2.3.4`, `1.2.3-rc.01`).
    #[must_use]
    pub fn parse(tag: &str) -> Option<TagVersion> {
        Ver::parse_tag(tag).map(|v| TagVersion {
            major: v.major,
            minor: v.minor,
            patch: v.patch,
            pre: v.pre.to_owned(),
            build: v.build.to_owned(),
        })
    }

    /// The major number.
    #[must_use]
    pub fn major(&self) -> u64 {
        self.major
    }

    /// The minor number (0 when the tag had none).
    #[must_use]
    pub fn minor(&self) -> u64 {
        self.minor
    }

    /// The patch number (0 when the tag had none).
    #[must_use]
    pub fn patch(&self) -> u64 {
        self.patch
    }

    /// The pre-release without its `-`; empty for a release.
    #[must_use]
    pub fn prerelease(&self) -> &str {
        &self.pre
    }

    /// The build metadata without its `+`; empty when absent.
    #[must_use]
    pub fn build(&self) -> &str {
        &self.build
    }

    /// Semver 2.0 precedence: numeric identifiers compare numerically, alphanumeric ones
    /// byte-wise, numeric < alphanumeric, a longer identifier list wins on a shared prefix,
    /// a release beats its pre-releases, and build metadata is ignored.
    #[must_use]
    pub fn cmp_precedence(&self, other: &TagVersion) -> Ordering {
        self.as_ver().cmp_precedence(&other.as_ver())
    }

    pub(crate) fn as_ver(&self) -> Ver<'_> {
        Ver {
            major: self.major,
            minor: self.minor,
            patch: self.patch,
            pre: &self.pre,
            build: &self.build,
        }
    }
}

impl fmt::Display for TagVersion {
    /// The normalised form `major.minor.patch[-pre][+build]`, without a `v`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        if !self.pre.is_empty() {
            write!(f, "-{}", self.pre)?;
        }
        if !self.build.is_empty() {
            write!(f, "+{}", self.build)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Parts = (u64, u64, u64, String, String);

    fn parts(tag: &str) -> Option<Parts> {
        TagVersion::parse(tag).map(|v| {
            (
                v.major(),
                v.minor(),
                v.patch(),
                v.prerelease().to_owned(),
                v.build().to_owned(),
            )
        })
    }

    #[test]
    fn accepted_tags_and_their_parts() {
        type Row<'a> = (&'a str, (u64, u64, u64, &'a str, &'a str));
        let table: &[Row<'_>] = &[
            ("1.2.3", (1, 2, 3, "", "")),
            ("v1.2.3", (1, 2, 3, "", "")),
            ("0.0.0", (0, 0, 0, "", "")),
            // Calendar versions with leading zeros (IRC#250).
            ("2022.04.1", (2022, 4, 1, "", "")),
            ("v2025.07.03", (2025, 7, 3, "", "")),
            ("007.008.009", (7, 8, 9, "", "")),
            ("1.2.3-rc.1", (1, 2, 3, "rc.1", "")),
            ("1.2.3-rc1-with-hyphen", (1, 2, 3, "rc1-with-hyphen", "")),
            ("1.2.3--x", (1, 2, 3, "-x", "")),
            ("1.2.0-x.Y.0+metadata", (1, 2, 0, "x.Y.0", "metadata")),
            ("1.2.3+build.007", (1, 2, 3, "", "build.007")),
            ("1.2.3-0", (1, 2, 3, "0", "")),
            // Passes the dot count, then the coercing parse fills the patch.
            ("1.2-rc.1.0", (1, 2, 0, "rc.1.0", "")),
            ("1-rc.1.2", (1, 0, 0, "rc.1.2", "")),
            ("18446744073709551615.0.0", (u64::MAX, 0, 0, "", "")),
        ];
        for (tag, (ma, mi, pa, pre, build)) in table {
            assert_eq!(
                parts(tag),
                Some((*ma, *mi, *pa, (*pre).to_owned(), (*build).to_owned())),
                "{tag}"
            );
        }
    }

    #[test]
    fn rejected_tags() {
        for tag in [
            "",
            "1",
            "1.2",
            "v1.0",
            "v1",
            "1.2-5",
            "v1.2-beta5", // fewer than two dots
            "1.2.3.4",
            "v1.2.3.4", // a fourth number
            "V1.2.3",   // only a lowercase v
            "b1.2.3",
            "vv1.2.3",
            "x.y.z",
            "1.2.beta",
            "v1.2.beta",
            "1.2.3-rc.01", // numeric pre-release id with a leading zero
            "1.2.3-00",
            "1.2.3-",
            "1.2.3+",
            "1.2.3-rc..1",
            "1.2.3-rc.",
            "1.2.3+b..c",
            "1.2.3-rc_1",
            "1.2.3 ",
            " 1.2.3",
            "\n1.2.3",
            "1..2.3",
            "1.2.3+a+b",
            "18446744073709551616.0.0", // does not fit in a u64
            "latest",
            "main-abc.def.123",
        ] {
            assert_eq!(parts(tag), None, "{tag:?} must not be a version");
        }
    }

    #[test]
    fn precedence_follows_semver() {
        // Each row is strictly increasing.
        let ladder = [
            "1.0.0-0",
            "1.0.0-0.0",
            "1.0.0-1",
            "1.0.0-9",
            "1.0.0-10",
            "1.0.0-99999999999999999999", // wider than u64 still compares numerically
            "1.0.0-A",
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc",
            "1.0.0-rc.1",
            "1.0.0-rc.9",
            "1.0.0-rc.10",
            "1.0.0-rc10",
            "1.0.0-rc9",
            "1.0.0",
            "1.0.1",
            "1.1.0",
            "2.0.0-rc.1",
            "2.0.0",
            "10.0.0",
        ];
        let parsed: Vec<TagVersion> = ladder
            .iter()
            .map(|t| TagVersion::parse(t).unwrap_or_else(|| panic!("{t}")))
            .collect();
        for (i, a) in parsed.iter().enumerate() {
            for (j, b) in parsed.iter().enumerate() {
                assert_eq!(
                    a.cmp_precedence(b),
                    i.cmp(&j),
                    "{} vs {}",
                    ladder[i],
                    ladder[j]
                );
            }
        }
    }

    #[test]
    fn build_metadata_and_prefix_do_not_change_precedence() {
        let equal = ["1.2.3", "v1.2.3", "1.2.3+build", "v1.2.3+other", "01.02.03"];
        let first = TagVersion::parse(equal[0]).unwrap();
        for tag in equal {
            let v = TagVersion::parse(tag).unwrap();
            assert_eq!(v.cmp_precedence(&first), Ordering::Equal, "{tag}");
        }
        assert_ne!(
            TagVersion::parse("1.2.3+a"),
            TagVersion::parse("1.2.3+b"),
            "equality is structural"
        );
    }

    #[test]
    fn display_is_normalised() {
        let v = TagVersion::parse("v01.2-rc.1+b.1").unwrap();
        assert_eq!(v.to_string(), "1.2.0-rc.1+b.1");
    }
}
