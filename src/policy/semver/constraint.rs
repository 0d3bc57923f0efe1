//! Version ranges with the syntax and the matching rules of Masterminds semver v3, the library
//! behind Flux's `policy.semver.range`.
//!
//! Grammar, as implemented here:
//!
//! ```text
//! range      = group ("||" group)*
//! group      = item (sep item)*            sep = whitespace+ | whitespace* "," whitespace*
//! item       = op? ws* version | version ws+ "-" ws+ version      (inclusive hyphen range)
//! op         = "=" | "!=" | ">" | "<" | ">=" | "=>" | "<=" | "=<" | "~" | "~>" | "^"
//! version    = "v"? part ("." part)? ("." part)? ("-" ids)? ("+" ids)?
//! part       = digits | "x" | "X" | "*"
//! ```
//!
//! A missing or wildcard part makes the comparator "dirty": bare and `=` comparators then behave
//! like `~`, and `>`, `<=`, `!=` compare only the parts that were given. A version with a
//! pre-release only matches a group in which at least one comparator carries a pre-release;
//! the opt-in then covers the whole group, across all major.minor.patch tuples.

use std::fmt;
use std::str::FromStr;

use super::version::{Ver, prerelease_ok};
use crate::policy::PolicyError;

// Masterminds refuses longer ranges and more alternatives; the limits keep parsing cheap.
const MAX_RANGE_LEN: usize = 512;
const MAX_GROUPS: usize = 32;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    /// Bare version or `=`: exact, or tilde-like when a part is missing or a wildcard.
    Equal,
    NotEqual,
    Greater,
    Less,
    GreaterEqual,
    LessEqual,
    /// `~` and `~>`.
    Tilde,
    Caret,
}

/// Which part of the written version was missing or a wildcard (the leftmost one decides).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wild {
    None,
    Patch,
    Minor,
    Major,
}

#[derive(Clone, Debug)]
struct Comparator {
    op: Op,
    wild: Wild,
    major: u64,
    minor: u64,
    patch: u64,
    pre: String,
}

#[derive(Clone, Debug)]
struct Group {
    comparators: Vec<Comparator>,
    /// Some comparator carries a pre-release, so pre-release versions may match this group.
    prerelease: bool,
}

/// A parsed semver range, Masterminds-compatible (`>=1.0.0 <2.0.0`, `^1.2`, `1.x || 2.1 - 2.3`).
#[derive(Clone, Debug)]
pub struct Constraint {
    text: String,
    groups: Vec<Group>,
}

impl Constraint {
    /// Parses a range. Errors name the range and what is wrong with it; `""`, `1.0.0p`, `1x`,
    /// `x1`, `-1` and `a` are all invalid, as in Flux.
    ///
    /// # Errors
    ///
    /// [`PolicyError::InvalidRange`] with the range and the reason.
    pub fn parse(text: &str) -> Result<Constraint, PolicyError> {
        let invalid = |reason: String| PolicyError::InvalidRange {
            range: text.to_owned(),
            reason,
        };
        if text.len() > MAX_RANGE_LEN {
            return Err(invalid(format!(
                "it is {} bytes long, the limit is {MAX_RANGE_LEN}",
                text.len()
            )));
        }
        let alternatives: Vec<&str> = text.split("||").collect();
        if alternatives.len() > MAX_GROUPS {
            return Err(invalid(format!(
                "it has {} alternatives joined by '||', the limit is {MAX_GROUPS}",
                alternatives.len()
            )));
        }
        let several = alternatives.len() > 1;
        let groups = alternatives
            .into_iter()
            .map(|g| parse_group(g, several))
            .collect::<Result<Vec<_>, _>>()
            .map_err(invalid)?;
        Ok(Constraint {
            text: text.to_owned(),
            groups,
        })
    }

    /// Does the version satisfy the range?
    #[must_use]
    pub fn matches(&self, version: &super::TagVersion) -> bool {
        self.matches_ver(&version.as_ver())
    }

    /// The range as written.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub(crate) fn matches_ver(&self, v: &Ver<'_>) -> bool {
        self.groups
            .iter()
            .any(|g| g.comparators.iter().all(|c| c.admits(v, g.prerelease)))
    }
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for Constraint {
    type Err = PolicyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Constraint::parse(s)
    }
}

impl Comparator {
    fn version(&self) -> Ver<'_> {
        Ver {
            major: self.major,
            minor: self.minor,
            patch: self.patch,
            pre: &self.pre,
            build: "",
        }
    }

    /// One comparator against one version. The branches mirror Masterminds' check functions,
    /// including their treatment of wildcards, so that ranges mean in deckhand what they mean
    /// in Flux.
    fn admits(&self, v: &Ver<'_>, include_prerelease: bool) -> bool {
        use std::cmp::Ordering::{Equal, Greater, Less};

        if !v.pre.is_empty() && !include_prerelease {
            return false;
        }
        let c = self.version();
        let order = v.cmp_precedence(&c);
        let minor_wild = self.wild == Wild::Minor;
        let patch_wild = self.wild == Wild::Patch;
        let dirty = self.wild != Wild::None;
        match self.op {
            Op::Equal if dirty => self.tilde(v, order),
            Op::Equal => order == Equal,
            Op::Tilde => self.tilde(v, order),
            Op::NotEqual => {
                if dirty {
                    if c.major != v.major || (!minor_wild && c.minor != v.minor) {
                        return true;
                    }
                    if minor_wild {
                        return false;
                    }
                    if !patch_wild && c.patch != v.patch {
                        return true;
                    }
                    if patch_wild {
                        // Same major.minor: only a different pre-release escapes `!=1.2`.
                        return v.pre != c.pre;
                    }
                }
                order != Equal
            }
            Op::Greater => {
                if !dirty {
                    return order == Greater;
                }
                if v.major != c.major {
                    return v.major > c.major;
                }
                if minor_wild {
                    // `>1` means 2.0.0 and up.
                    return false;
                }
                if patch_wild {
                    // `>1.2` means 1.3.0 and up.
                    return v.minor > c.minor;
                }
                order == Greater
            }
            Op::Less => order == Less,
            Op::GreaterEqual => order != Less,
            Op::LessEqual => {
                if !dirty {
                    return order != Greater;
                }
                // `<=1.2` admits all of 1.2.x, `<=1` all of 1.x.x.
                !(v.major > c.major || (v.major == c.major && v.minor > c.minor && !minor_wild))
            }
            Op::Caret => {
                if order == Less {
                    return false;
                }
                if c.major > 0 || minor_wild {
                    return v.major == c.major;
                }
                if v.major > 0 {
                    return false;
                }
                if c.minor > 0 || patch_wild {
                    return v.minor == c.minor;
                }
                if v.minor > 0 {
                    return false;
                }
                v.patch == c.patch
            }
        }
    }

    fn tilde(&self, v: &Ver<'_>, order: std::cmp::Ordering) -> bool {
        if order == std::cmp::Ordering::Less {
            return false;
        }
        // `~0.0.0` and `~*` admit everything from 0.0.0 up.
        if self.major == 0
            && self.minor == 0
            && self.patch == 0
            && self.wild != Wild::Minor
            && self.wild != Wild::Patch
        {
            return true;
        }
        v.major == self.major && (v.minor == self.minor || self.wild == Wild::Minor)
    }
}

/// A version as written in a range, before its parts are interpreted.
struct Written<'a> {
    text: &'a str,
    major: &'a str,
    minor: Option<&'a str>,
    patch: Option<&'a str>,
    pre: &'a str,
}

struct Cursor<'a> {
    s: &'a str,
    i: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.i).copied()
    }

    fn rest(&self) -> &'a str {
        &self.s[self.i..]
    }

    /// Skips Go's `\s` (space, \t, \n, \f, \r); reports whether anything was skipped.
    fn skip_ws(&mut self) -> bool {
        let start = self.i;
        while self.peek().is_some_and(is_ws) {
            self.i += 1;
        }
        self.i > start
    }

    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a str {
        let start = self.i;
        while self.peek().is_some_and(&f) {
            self.i += 1;
        }
        &self.s[start..self.i]
    }

    fn op(&mut self) -> Option<Op> {
        const OPS: [(&str, Op); 11] = [
            // Two-byte operators first: the longest one that fits wins.
            ("!=", Op::NotEqual),
            (">=", Op::GreaterEqual),
            ("=>", Op::GreaterEqual),
            ("<=", Op::LessEqual),
            ("=<", Op::LessEqual),
            ("~>", Op::Tilde),
            ("=", Op::Equal),
            (">", Op::Greater),
            ("<", Op::Less),
            ("~", Op::Tilde),
            ("^", Op::Caret),
        ];
        let rest = self.rest();
        let (text, op) = OPS.iter().find(|(text, _)| rest.starts_with(text))?;
        self.i += text.len();
        Some(*op)
    }

    fn version(&mut self) -> Result<Written<'a>, String> {
        let start = self.i;
        if self.peek() == Some(b'v') {
            self.i += 1;
        }
        let major = self.take_while(is_part_byte);
        if major.is_empty() {
            return Err(format!(
                "expected a version at {:?}",
                self.s[start..].trim_end()
            ));
        }
        let mut parts = [None, None];
        for part in &mut parts {
            if self.peek() != Some(b'.') {
                break;
            }
            self.i += 1;
            let text = self.take_while(is_part_byte);
            if text.is_empty() {
                return Err(format!(
                    "expected a number or a wildcard after the '.' in {:?}",
                    &self.s[start..self.i]
                ));
            }
            *part = Some(text);
        }
        let mut pre = "";
        if self.peek() == Some(b'-') {
            self.i += 1;
            pre = self.identifiers(start, "pre-release")?;
        }
        if self.peek() == Some(b'+') {
            self.i += 1;
            self.identifiers(start, "build metadata")?;
        }
        let text = &self.s[start..self.i];
        match self.rest().chars().next() {
            None => {}
            Some(c) if c == ',' || (c.is_ascii() && is_ws(c as u8)) => {}
            Some(c) => return Err(format!("unexpected {c:?} after the version {text:?}")),
        }
        Ok(Written {
            text,
            major,
            minor: parts[0],
            patch: parts[1],
            pre,
        })
    }

    /// `id(.id)*` with ids of `[0-9A-Za-z-]`.
    fn identifiers(&mut self, start: usize, what: &str) -> Result<&'a str, String> {
        let begin = self.i;
        loop {
            if self
                .take_while(|b| b.is_ascii_alphanumeric() || b == b'-')
                .is_empty()
            {
                return Err(format!(
                    "empty {what} identifier in {:?}",
                    &self.s[start..self.i]
                ));
            }
            if self.peek() != Some(b'.') {
                return Ok(&self.s[begin..self.i]);
            }
            self.i += 1;
        }
    }
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\x0c' | b'\r')
}

fn is_part_byte(b: u8) -> bool {
    b.is_ascii_digit() || matches!(b, b'x' | b'X' | b'*')
}

fn is_wildcard(part: &str) -> bool {
    matches!(part, "x" | "X" | "*")
}

fn number(part: &str) -> Result<u64, String> {
    if !part.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "{part:?} is neither a number nor a wildcard (x, X or *)"
        ));
    }
    part.parse()
        .map_err(|_| format!("{part:?} is too large for a version number"))
}

/// Interprets a written version as Masterminds does: the leftmost missing or wildcard part
/// decides the wildcard level, and everything right of it is ignored.
fn comparator(op: Op, w: &Written<'_>) -> Result<Comparator, String> {
    if !prerelease_ok(w.pre) {
        return Err(format!(
            "the pre-release of {:?} has a numeric identifier with a leading zero",
            w.text
        ));
    }
    let (wild, major, minor, patch) = if is_wildcard(w.major) {
        (Wild::Major, 0, 0, 0)
    } else {
        let major = number(w.major)?;
        match (w.minor, w.patch) {
            (None, _) => (Wild::Minor, major, 0, 0),
            (Some(m), _) if is_wildcard(m) => (Wild::Minor, major, 0, 0),
            (Some(m), None) => (Wild::Patch, major, number(m)?, 0),
            (Some(m), Some(p)) if is_wildcard(p) => (Wild::Patch, major, number(m)?, 0),
            (Some(m), Some(p)) => (Wild::None, major, number(m)?, number(p)?),
        }
    };
    Ok(Comparator {
        op,
        wild,
        major,
        minor,
        patch,
        pre: w.pre.to_owned(),
    })
}

fn parse_group(text: &str, several: bool) -> Result<Group, String> {
    let mut cur = Cursor { s: text, i: 0 };
    cur.skip_ws();
    if cur.peek().is_none() {
        return Err(if several {
            "an alternative around '||' is empty".to_owned()
        } else {
            "the range is empty; use * to accept every release".to_owned()
        });
    }
    let mut comparators = Vec::new();
    loop {
        let op = cur.op();
        cur.skip_ws();
        let first = cur.version()?;
        let mut spaced = cur.skip_ws();
        let hyphen_follows = cur.rest().starts_with('-')
            && cur.s.as_bytes().get(cur.i + 1).is_some_and(|&b| is_ws(b));
        if op.is_none() && spaced && hyphen_follows {
            // Inclusive hyphen range `a - b`, i.e. `>=a <=b`.
            cur.i += 1;
            cur.skip_ws();
            let last = cur.version()?;
            comparators.push(comparator(Op::GreaterEqual, &first)?);
            comparators.push(comparator(Op::LessEqual, &last)?);
            spaced = cur.skip_ws();
        } else {
            comparators.push(comparator(op.unwrap_or(Op::Equal), &first)?);
        }
        match cur.peek() {
            None => break,
            Some(b',') => {
                cur.i += 1;
                cur.skip_ws();
                if cur.peek().is_none() {
                    return Err("a ',' must be followed by another comparison".to_owned());
                }
            }
            Some(_) if spaced => {}
            Some(_) => {
                return Err(format!(
                    "expected a space or ',' before {:?}",
                    cur.rest().trim_end()
                ));
            }
        }
    }
    let prerelease = comparators.iter().any(|c| !c.pre.is_empty());
    Ok(Group {
        comparators,
        prerelease,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(range: &str, version: &str) -> bool {
        let c = Constraint::parse(range).unwrap_or_else(|e| panic!("{range:?}: {e}"));
        let v = Ver::parse_loose(version).unwrap_or_else(|| panic!("version {version:?}"));
        c.matches_ver(&v)
    }

    /// Rows: range, version, expected. Written from the Masterminds v3 documentation and the
    /// semantics table in flux-semantics.md §2.6.
    #[test]
    #[allow(clippy::too_many_lines)] // one row per case reads best as one table
    fn range_table() {
        let table: &[(&str, &str, bool)] = &[
            // Exact matches: bare and `=`, build metadata ignored.
            ("1.2.3", "1.2.3", true),
            ("1.2.3", "1.2.4", false),
            ("=1.2.3", "1.2.3", true),
            ("= 1.2.3", "1.2.3+build.5", true),
            ("1.2.3+meta", "1.2.3", true),
            ("v1.2.3", "1.2.3", true),
            ("=2.0.0", "1.2.3", false),
            ("=0", "1.0.0", false),
            // Bare partial versions act like `~`.
            ("1.2", "1.2.0", true),
            ("1.2", "1.2.9", true),
            ("1.2", "1.3.0", false),
            ("1.2", "1.1.9", false),
            ("=1.2", "1.2.7", true),
            ("1.2.x", "1.2.7", true),
            ("1.2.X", "1.3.0", false),
            ("1.2.*", "1.2.0", true),
            ("2", "2.9.9", true),
            ("2", "3.0.0", false),
            ("2", "1.9.9", false),
            ("1.x", "1.4.0", true),
            ("1.x.x", "2.0.0", false),
            ("4.1", "4.1.0", true),
            // Wildcards.
            ("*", "1.2.3", true),
            ("x", "0.0.0", true),
            ("X", "99.0.0", true),
            ("*", "1.2.3-alpha.1", false),
            ("*-0", "1.2.3-alpha.1", true),
            // Inequalities.
            ("!=1.2.3", "1.2.3", false),
            ("!=1.2.3", "1.2.4", true),
            ("!=1.2.3", "1.2.3+b", false),
            (">1.2.3", "1.2.4", true),
            (">1.2.3", "1.2.3", false),
            ("<1.2.3", "1.2.2", true),
            ("<1.2.3", "1.2.3", false),
            (">=1.2.3", "1.2.3", true),
            (">=1.2.3", "1.2.2", false),
            ("=>1.2.3", "1.2.3", true),
            ("=>1.2.3", "1.2.2", false),
            ("<=1.2.3", "1.2.3", true),
            ("<=1.2.3", "1.2.4", false),
            ("=<1.2.3", "1.2.3", true),
            ("=<1.2.3", "1.2.4", false),
            // Missing parts read as 0 for `<` and `>=`.
            ("<1.2", "1.1.99", true),
            ("<1.2", "1.2.0", false),
            ("<1", "0.9.9", true),
            ("<1", "1.0.0", false),
            (">=1.2", "1.2.0", true),
            (">=1.2", "1.1.9", false),
            (">=11", "11.1.2", true),
            (">=11.1", "11.0.2", false),
            // Wildcard forms of `>`: `>1.2` is >=1.3.0, `>1` is >=2.0.0.
            (">1.2", "1.2.99", false),
            (">1.2", "1.3.0", true),
            (">1.2", "2.0.0", true),
            (">1.2.x", "1.2.5", false),
            (">1", "1.99.0", false),
            (">1", "2.0.0", true),
            (">1.x", "1.5.0", false),
            (">11", "11.1.0", false),
            (">11.1", "11.1.1", false),
            (">11.1", "11.2.1", true),
            // Wildcard forms of `<=`: `<=1.2` is <1.3.0, `<=1` is <2.0.0.
            ("<=1.2", "1.2.99", true),
            ("<=1.2", "1.3.0", false),
            ("<=1.2", "0.9.0", true),
            ("<=1", "1.99.99", true),
            ("<=1", "2.0.0", false),
            ("<=1.x", "1.1.0", true),
            ("<=2.x", "3.0.0", false),
            ("<=1.1.x", "1.2.500", false),
            ("<=4.5", "4.6.3", false),
            ("<=4.5", "3.7.0", true),
            // `<` with wildcards reads them as 0.
            ("<1.x", "0.1.1", true),
            ("<1.x", "1.1.1", false),
            ("<1.1.x", "1.0.500", true),
            ("<1.1.x", "1.1.500", false),
            // `!=` with wildcards excludes the whole line.
            ("!=1.x", "1.0.0", false),
            ("!=1.x", "1.9.9", false),
            ("!=1.x", "2.0.0", true),
            ("!=4.1", "4.1.0", false),
            ("!=4.1", "4.1.1", false),
            ("!=4.1", "5.1.0", true),
            ("!=4.1.x", "4.2.0", true),
            ("!=4.2.x", "4.2.3", false),
            ("!=4.1", "5.1.0-alpha.1", false),
            ("!=4.1-alpha", "4.1.0", true),
            ("!=4.1-alpha", "4.1.0-alpha", false),
            ("!=4.1-alpha", "4.1.1-alpha", false),
            ("!=4.1-alpha", "4.1.1-beta", true),
            // Tilde.
            ("~1.2.3", "1.2.3", true),
            ("~1.2.3", "1.2.9", true),
            ("~1.2.3", "1.3.0", false),
            ("~1.2.3", "1.2.2", false),
            ("~>1.2.3", "1.2.9", true),
            ("~> 1.2.3", "1.3.0", false),
            ("~1.2", "1.2.0", true),
            ("~1.2", "1.3.0", false),
            ("~1", "1.0.0", true),
            ("~1", "1.99.0", true),
            ("~1", "2.0.0", false),
            ("~1.x", "1.3.5", true),
            ("~1.x", "2.1.1", false),
            ("~0.2.3", "0.2.5", true),
            ("~0.2.3", "0.3.0", false),
            ("~*", "2.1.1", true),
            ("~0.0.0", "1.2.3", true),
            // Masterminds' code (not its doc comments) for wildcards under other operators:
            // `^*` is `^0.0.0`, `<=*` admits only 0.0.x, `!=*` is `!=0.0.0`. Kept for parity.
            ("^*", "0.0.0", true),
            ("^*", "1.2.3", false),
            ("<=*", "0.0.5", true),
            ("<=*", "0.1.0", false),
            (">*", "0.0.1", true),
            (">*", "0.0.0", false),
            ("!=*", "0.0.0", false),
            ("!=*", "1.0.0", true),
            // Parts right of a wildcard are ignored, whatever they are.
            ("*.1x", "3.0.0", true),
            ("1.x.9", "1.5.0", true),
            // Caret, including the 0.x and 0.0.x cases.
            ("^1.2.3", "1.2.3", true),
            ("^1.2.3", "1.99.0", true),
            ("^1.2.3", "2.0.0", false),
            ("^1.2.3", "1.2.2", false),
            ("^1.2", "1.2.0", true),
            ("^1.2", "1.9.9", true),
            ("^1.2", "2.0.0", false),
            ("^1", "1.0.0", true),
            ("^1", "2.0.0", false),
            ("^1.x", "1.1.1", true),
            ("^1.x", "2.1.1", false),
            ("^2.x", "1.1.1", false),
            ("^0.2.3", "0.2.3", true),
            ("^0.2.3", "0.2.9", true),
            ("^0.2.3", "0.3.0", false),
            ("^0.2.3", "0.2.2", false),
            ("^0.2", "0.2.5", true),
            ("^0.2", "0.3.0", false),
            ("^0.0.3", "0.0.3", true),
            ("^0.0.3", "0.0.4", false),
            ("^0.0.3", "0.1.3", false),
            ("^0.0", "0.0.9", true),
            ("^0.0", "0.1.0", false),
            ("^0.0", "1.0.0", false),
            ("^0", "0.9.9", true),
            ("^0", "1.0.0", false),
            ("^0.0.0", "1.2.3", false),
            ("^0.0.1", "0.0.1", true),
            ("^0.0.1", "0.3.1", false),
            // AND by space or comma, OR by `||`.
            (">=1.0.0 <2.0.0", "1.5.0", true),
            (">=1.0.0 <2.0.0", "2.0.0", false),
            (">=1.0.0, <2.0.0", "0.9.0", false),
            (">=1.0 <2", "1.9.9", true),
            (">1.1, <2", "1.1.1", false),
            (">1.1, <2", "1.2.1", true),
            (">1.1    <3", "4.3.2", false),
            ("> 1.1 , <     2", "1.2.1", true),
            (">=1.1, <2, !=1.2.3", "1.2.3", false),
            (">=1.1 <2 !=1.2.3", "1.2.4", true),
            (">=1.1, <2, !=1.2.3 || > 3", "4.1.2", true),
            (">=1.1, <2, !=1.2.3 || > 3", "3.1.2", false),
            (">=1.1, <2, !=1.2.3 || >= 3", "3.0.0", true),
            (">=1.1, <2, !=1.2.3 || > 3", "1.2.3", false),
            ("1.2.x || 2.1.x", "2.1.5", true),
            ("1.2.x || 2.1.x", "2.2.0", false),
            ("  >=1.0.0  ", "1.0.0", true),
            // Hyphen ranges are inclusive.
            ("1.2 - 1.4.5", "1.2.0", true),
            ("1.2 - 1.4.5", "1.4.5", true),
            ("1.2 - 1.4.5", "1.4.6", false),
            ("1.2 - 1.4.5", "1.1.9", false),
            ("1.1 - 2", "2.9.9", true),
            ("1.1 - 2", "3.0.0", false),
            ("1.5.0 - 4.5", "3.7.0", true),
            ("1.5.0 - 4.5", "4.5.9", true),
            ("1 - 2 || 4 - 5", "4.5.0", true),
            ("1 - 2 || 4 - 5", "3.0.0", false),
            ("1 - 2, !=1.5.0", "1.5.0", false),
            ("1 - 2 !=1.5.0", "1.5.1", true),
            // `1.1-3` is the pre-release `1.1.0-3`, not a range.
            ("1.1-3", "4.3.2", false),
            ("1.1-3", "1.1.0-3", true),
        ];
        for (range, version, want) in table {
            assert_eq!(check(range, version), *want, "{range:?} vs {version}");
        }
    }

    #[test]
    fn prerelease_opt_in_is_per_group() {
        let table: &[(&str, &str, bool)] = &[
            // Excluded by default, by every comparator.
            (">=1.0.0", "1.5.0-beta.1", false),
            (">=1.1", "4.1.0-beta", false),
            ("^1.x", "1.1.1-beta1", false),
            ("~1.1", "1.1.1-alpha", false),
            ("<=1.1", "0.1.0-alpha", false),
            (">0", "0.0.1-alpha", false),
            (">=0", "0.0.0-alpha", false),
            ("<2.0.0", "2.0.0-rc.1", false),
            // One comparator with a pre-release opts in the whole group, across every tuple.
            (">=1.0.0-0 <2.0.0", "1.5.0-beta.1", true),
            // 2.0.0-rc.1 precedes 2.0.0, so an opted-in `<2.0.0` admits it (npm would not).
            (">=1.0.0-0 <2.0.0", "2.0.0-rc.1", true),
            (">=1.0.0-0 <2.0.0-0", "2.0.0-rc.1", false),
            (">=1.0.0-0", "3.4.5-beta.1", true),
            (">=1.2.0-0", "2.0.0-rc.1", true),
            ("<2.0.0 >=1.0.0-0", "1.9.0-rc.1", true),
            ("^1.x-0", "1.4.0-rc.1", true),
            ("^1.x-0", "2.0.0-rc.1", false),
            ("~2.0.0-rc", "2.0.5-beta", true),
            ("~2.0.0-rc", "2.0.0-beta", false),
            ("~1.2.3-beta.2", "1.2.3-beta.4", true),
            ("~1.2.3-beta.2", "1.2.4-beta.2", true),
            ("~1.2.3-beta.2", "1.3.4-beta.2", false),
            ("^1.1.2-alpha", "1.2.1-beta1", true),
            ("^1.2.x-alpha", "1.1.1-beta1", false),
            ("^1.2.0-alpha.0", "1.2.1-alpha.1", true),
            ("^1.2.0-alpha.2", "1.2.0-alpha.1", false),
            ("^0.2.3-beta.2", "0.2.4-beta.2", true),
            ("^0.2.3-beta.2", "0.3.4-beta.2", false),
            ("<=1.1-a", "0.1.0-alpha", true),
            (">=0-0", "0.0.1-alpha", true),
            (">=0.0-0", "0.0.1-alpha", true),
            (">0-0", "0.0.1-alpha", false), // `>0` needs a major above 0
            (">0.0.0-0", "0.0.0-alpha", true),
            ("<0-z", "0.0.0-alpha", true),
            (">1.2.3-alpha.1", "1.2.3-alpha.2", true),
            (">1.2.3-alpha.1", "1.3.3-alpha.2", true),
            ("~1.1.1-beta", "1.1.1-alpha", false),
            ("~1.1.1-beta", "1.1.1", true),
            // The opt-in does not leak into another `||` group.
            (">=3.0.0 || >=1.0.0-0 <2.0.0", "3.1.0-rc.1", false),
            (">=3.0.0 || >=1.0.0-0 <2.0.0", "1.1.0-rc.1", true),
            // Pre-release ordering inside the range.
            (">=1.0.0-rc.2", "1.0.0-rc.10", true),
            (">=1.0.0-rc.2", "1.0.0-rc.1", false),
            (">=1.0.0-rc", "1.0.0-rc.1", true),
            ("<1.0.0-rc.1", "1.0.0-rc", true),
            (">=1.0.0-rc9", "1.0.0-rc10", false),
            (">=1.0.0-alpha", "1.0.0-1", false),
            ("<1.0.0-0", "1.0.0", false), // a release beats its pre-releases
        ];
        for (range, version, want) in table {
            assert_eq!(check(range, version), *want, "{range:?} vs {version}");
        }
    }

    #[test]
    fn invalid_ranges_name_the_range_and_the_reason() {
        let table: &[(&str, &str)] = &[
            ("", "empty"),
            ("   ", "empty"),
            ("1.0.0p", "unexpected 'p'"),
            ("1x", "\"1x\" is neither a number nor a wildcard"),
            ("x1", "\"x1\" is neither a number nor a wildcard"),
            ("1.x1", "\"x1\" is neither a number nor a wildcard"),
            ("-1", "expected a version at \"-1\""),
            ("a", "expected a version at \"a\""),
            (">= bar", "expected a version at \"bar\""),
            ("BAR >= 1.2.3", "expected a version at \"BAR >= 1.2.3\""),
            ("1.2.3.4", "unexpected '.'"),
            ("12.3.34~ 1.2.3", "unexpected '~'"),
            ("1.0 ||", "alternative around '||' is empty"),
            ("|| 1.0", "alternative around '||' is empty"),
            ("1.0 | 2.0", "expected a version at \"| 2.0\""),
            (">=1.0,", "must be followed by another comparison"),
            (">=1.0,,<2", "expected a version at \",<2\""),
            (",>=1.0", "expected a version at \",>=1.0\""),
            (">1.0<2.0", "unexpected '<'"),
            ("1.2.3-rc.01", "leading zero"),
            ("1.2.3-", "empty pre-release identifier"),
            ("1.2.3-rc..1", "empty pre-release identifier"),
            ("1.2.3+", "empty build metadata identifier"),
            ("1.", "after the '.'"),
            ("1 -2", "expected a version at \"-2\""),
            ("1- 2", "empty pre-release identifier"),
            (">=1 - 2", "expected a version at \"- 2\""),
            ("1 - 2 - 3", "expected a version at \"- 3\""),
            ("==1.0", "expected a version at \"=1.0\""),
            ("V1.2.3", "expected a version at \"V1.2.3\""),
            ("99999999999999999999.0.0", "too large"),
        ];
        for (range, reason) in table {
            match Constraint::parse(range) {
                Ok(_) => panic!("{range:?} must be invalid"),
                Err(PolicyError::InvalidRange {
                    range: r,
                    reason: why,
                }) => {
                    assert_eq!(r, *range);
                    assert!(why.contains(reason), "{range:?}: {why:?} lacks {reason:?}");
                    let shown = PolicyError::InvalidRange {
                        range: r.clone(),
                        reason: why,
                    }
                    .to_string();
                    assert!(shown.contains(&format!("{r:?}")), "{shown}");
                }
                Err(other) => panic!("{range:?}: unexpected error {other}"),
            }
        }
        let long = ">=1.0.0 ".repeat(70);
        assert!(Constraint::parse(&long).is_err());
        let many = vec!["1.0.0"; 33].join("||");
        assert!(Constraint::parse(&many).is_err());
    }

    #[test]
    fn display_keeps_the_text() {
        let text = ">= 1.2, < 2 || ^3";
        let c: Constraint = text.parse().unwrap();
        assert_eq!(c.to_string(), text);
        assert_eq!(c.as_str(), text);
    }

    #[test]
    fn matches_takes_tag_versions() {
        let c = Constraint::parse("^1.2").unwrap();
        let yes = super::super::TagVersion::parse("v1.4.0").unwrap();
        let no = super::super::TagVersion::parse("2.0.0").unwrap();
        assert!(c.matches(&yes));
        assert!(!c.matches(&no));
    }
}
