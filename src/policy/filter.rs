//! `filterTags`: a pattern that selects tags (unanchored search, like Go's `FindStringSubmatch`)
//! and an `extract` template that turns each selected tag into the key the policy compares.
//!
//! The template follows Go's `Regexp.ExpandString`, applied to the first match:
//! `$0` is the matched text, `$1`/`$10` are numbered groups (`$10` is group ten), `$name` and
//! `${name}` are named groups where the name is the *longest* run of letters, digits and `_`
//! (so `$1x` is the group "1x", and `${1}x` is group one followed by `x`), a number with a
//! leading zero (`$01`) is a name, not a number, `$$` is a literal `$`, a `$` that starts no
//! valid reference is literal, and a reference to a missing or non-participating group expands
//! to nothing. Rust's `Captures::expand` differs on `$01` and on `${...}` with other characters,
//! so the template is compiled here instead, once, when the filter is built.

use std::borrow::Cow;

use regex::{CaptureLocations, Regex};

use crate::policy::PolicyError;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Literal(String),
    Group(usize),
}

/// The compiled template, with the common shapes split out so they can borrow from the tag.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Template {
    /// No template: the key is the tag itself.
    Tag,
    /// A single group reference (`$0`, `$ts`, `${1}`): the key is a slice of the tag.
    Group(usize),
    /// Anything else: the key is built per tag.
    Pieces(Vec<Piece>),
}

/// A compiled `filterTags` (pattern plus extract template).
#[derive(Clone, Debug)]
pub struct Filter {
    regex: Regex,
    extract: String,
    template: Template,
    unknown: Vec<String>,
}

impl Filter {
    /// Compiles the pattern (RE2 syntax, unanchored) and the extract template. `None` or an
    /// empty extract means the key is the whole tag. Only the pattern can be invalid: like
    /// Go's, a template never fails, it expands unknown references to nothing (see
    /// [`Filter::unknown_references`]).
    ///
    /// # Errors
    ///
    /// [`PolicyError::InvalidRegex`] when the pattern does not compile.
    pub fn new(pattern: &str, extract: Option<&str>) -> Result<Filter, PolicyError> {
        let regex = Regex::new(pattern).map_err(|source| PolicyError::InvalidRegex {
            pattern: pattern.to_owned(),
            source,
        })?;
        let extract = extract.unwrap_or_default().to_owned();
        let (template, unknown) = if extract.is_empty() {
            (Template::Tag, Vec::new())
        } else {
            compile(&extract, &regex)
        };
        Ok(Filter {
            regex,
            extract,
            template,
            unknown,
        })
    }

    /// The pattern as written.
    #[must_use]
    pub fn pattern(&self) -> &str {
        self.regex.as_str()
    }

    /// The extract template as written (empty when the key is the tag).
    #[must_use]
    pub fn extract(&self) -> &str {
        &self.extract
    }

    /// The compiled pattern.
    #[must_use]
    pub fn regex(&self) -> &Regex {
        &self.regex
    }

    /// References in the template that name no group of the pattern (`$ts_x` when the group is
    /// `ts`, `$3` with two groups). They always expand to nothing, which is rarely intended;
    /// a linter can report them.
    #[must_use]
    pub fn unknown_references(&self) -> &[String] {
        &self.unknown
    }

    /// The key for one tag, or `None` when the pattern does not match it.
    #[must_use]
    pub fn apply<'a>(&self, tag: &'a str) -> Option<Cow<'a, str>> {
        let mut locs = self.regex.capture_locations();
        let mut buf = String::new();
        match self.key_into(tag, &mut locs, &mut buf)? {
            Key::Borrowed(k) => Some(Cow::Borrowed(k)),
            Key::Built => Some(Cow::Owned(buf)),
        }
    }

    /// The hot-path form of [`Filter::apply`]: reuses the caller's capture slots and buffer,
    /// and borrows from the tag whenever the template allows.
    pub(crate) fn key_into<'a>(
        &self,
        tag: &'a str,
        locs: &mut CaptureLocations,
        buf: &mut String,
    ) -> Option<Key<'a>> {
        match &self.template {
            Template::Tag => self.regex.is_match(tag).then_some(Key::Borrowed(tag)),
            Template::Group(0) => self.regex.find(tag).map(|m| Key::Borrowed(m.as_str())),
            Template::Group(i) => {
                self.regex.captures_read(locs, tag)?;
                Some(Key::Borrowed(locs.get(*i).map_or("", |(s, e)| &tag[s..e])))
            }
            Template::Pieces(pieces) => {
                self.regex.captures_read(locs, tag)?;
                buf.clear();
                for piece in pieces {
                    match piece {
                        Piece::Literal(text) => buf.push_str(text),
                        Piece::Group(i) => {
                            if let Some((s, e)) = locs.get(*i) {
                                buf.push_str(&tag[s..e]);
                            }
                        }
                    }
                }
                Some(Key::Built)
            }
        }
    }
}

/// Where [`Filter::key_into`] put the key.
pub(crate) enum Key<'a> {
    /// A slice of the tag.
    Borrowed(&'a str),
    /// The caller's buffer.
    Built,
}

/// Compiles a template with Go's `ExpandString` rules; also returns the references that
/// resolve to no group.
fn compile(template: &str, regex: &Regex) -> (Template, Vec<String>) {
    let mut pieces = Vec::new();
    let mut unknown = Vec::new();
    let mut literal = String::new();
    let mut rest = template;
    while let Some(dollar) = rest.find('$') {
        literal.push_str(&rest[..dollar]);
        rest = &rest[dollar + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            literal.push('$');
            rest = after;
            continue;
        }
        let Some((name, after)) = reference(rest) else {
            // Not a valid reference: the `$` is plain text.
            literal.push('$');
            continue;
        };
        rest = after;
        let group = match number(name) {
            Some(n) => (n < regex.captures_len()).then_some(n),
            None => regex.capture_names().position(|n| n == Some(name)),
        };
        match group {
            Some(i) => {
                if !literal.is_empty() {
                    pieces.push(Piece::Literal(std::mem::take(&mut literal)));
                }
                pieces.push(Piece::Group(i));
            }
            None => unknown.push(name.to_owned()),
        }
    }
    literal.push_str(rest);
    if !literal.is_empty() {
        pieces.push(Piece::Literal(literal));
    }
    let compiled = match pieces.as_slice() {
        [Piece::Group(i)] => Template::Group(*i),
        _ => Template::Pieces(pieces),
    };
    (compiled, unknown)
}

/// Parses the reference after a `$`: `name` or `{name}`, where the name is the longest run of
/// letters, digits and `_`. Returns the name and the text after the reference.
fn reference(s: &str) -> Option<(&str, &str)> {
    let (braced, body) = match s.strip_prefix('{') {
        Some(body) => (true, body),
        None => (false, s),
    };
    let len = body
        .char_indices()
        .find(|&(_, c)| !(c.is_alphabetic() || c.is_numeric() || c == '_'))
        .map_or(body.len(), |(i, _)| i);
    if len == 0 {
        return None;
    }
    let (name, after) = body.split_at(len);
    if braced {
        let after = after.strip_prefix('}')?;
        return Some((name, after));
    }
    Some((name, after))
}

/// A group number as Go reads it: ASCII digits, no leading zero, below 10^8.
fn number(name: &str) -> Option<usize> {
    if name.len() > 8
        || (name.len() > 1 && name.starts_with('0'))
        || !name.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    name.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(pattern: &str, extract: &str, tag: &str) -> Option<String> {
        Filter::new(pattern, Some(extract))
            .unwrap()
            .apply(tag)
            .map(Cow::into_owned)
    }

    #[test]
    fn pattern_is_an_unanchored_search() {
        let f = Filter::new("[0-9]+", None).unwrap();
        assert_eq!(f.apply("v123-x").as_deref(), Some("v123-x"));
        assert_eq!(f.apply("latest"), None);
        let anchored = Filter::new("^[0-9]+$", None).unwrap();
        assert_eq!(anchored.apply("v123"), None);
        assert_eq!(anchored.apply("123").as_deref(), Some("123"));
        // The empty pattern matches every tag.
        assert_eq!(
            Filter::new("", None).unwrap().apply("x").as_deref(),
            Some("x")
        );
    }

    #[test]
    fn extract_follows_go_expand_string() {
        let p = r"^main-(?P<sha>[a-f0-9]+)-(?P<ts>[0-9]+)$";
        let tag = "main-abc1234-1707400000";
        let table: &[(&str, &str)] = &[
            ("$0", tag),
            ("$1", "abc1234"),
            ("$2", "1707400000"),
            ("$ts", "1707400000"),
            ("${ts}", "1707400000"),
            ("${2}", "1707400000"),
            ("$sha", "abc1234"),
            // Literal text around references.
            ("$2.$1", "1707400000.abc1234"),
            ("ts=${ts}!", "ts=1707400000!"),
            // The longest name wins: `$ts_x` is group "ts_x", which does not exist.
            ("$ts_x", ""),
            ("${ts}_x", "1707400000_x"),
            // `$2x` is group "2x", not group 2 followed by x.
            ("$2x", ""),
            ("${2}x", "1707400000x"),
            // Out of range and unknown names expand to nothing.
            ("$3", ""),
            ("$10", ""),
            ("$nope", ""),
            ("a${nope}b", "ab"),
            // A leading zero makes a name, not a number (Rust's expand would read group 1).
            ("$01", ""),
            ("$00", ""),
            // `$$` is a literal `$`; a `$` that starts no reference is literal too.
            ("$$", "$"),
            ("$$1", "$1"),
            ("$", "$"),
            ("x$", "x$"),
            ("$-", "$-"),
            ("${", "${"),
            ("${ts", "${ts"),
            ("${}", "${}"),
            ("${ts-x}", "${ts-x}"),
            ("$.$1", "$.abc1234"),
            ("constant", "constant"),
        ];
        for (extract, want) in table {
            assert_eq!(
                key(p, extract, tag).as_deref(),
                Some(*want),
                "extract {extract:?}"
            );
        }
    }

    #[test]
    fn ten_groups_and_more() {
        let p = "(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)(k)";
        assert_eq!(key(p, "$10", "abcdefghijk").as_deref(), Some("j"));
        assert_eq!(key(p, "$11", "abcdefghijk").as_deref(), Some("k"));
        assert_eq!(key(p, "${1}0", "abcdefghijk").as_deref(), Some("a0"));
    }

    #[test]
    fn first_match_and_missing_groups() {
        // `$0` is the matched text only, not the whole tag.
        assert_eq!(key("[0-9]+", "$0", "v12-34").as_deref(), Some("12"));
        // A group that did not take part expands to nothing.
        assert_eq!(key("^(a)?(b)$", "[$1]", "b").as_deref(), Some("[]"));
        assert_eq!(key("^(?<x>a)|(?<y>b)$", "$x$y", "b").as_deref(), Some("b"));
        // Both named-group syntaxes work.
        assert_eq!(key(r"(?<ts>\d+)", "$ts", "t-99").as_deref(), Some("99"));
        assert_eq!(key(r"(?P<ts>\d+)", "$ts", "t-99").as_deref(), Some("99"));
    }

    #[test]
    fn semver_built_from_parts() {
        assert_eq!(
            key(r"^v(\d+)\.(\d+)$", "$1.$2.0", "v1.2").as_deref(),
            Some("1.2.0")
        );
    }

    #[test]
    fn unknown_references_are_reported() {
        let f = Filter::new(r"(?P<ts>\d+)", Some("$ts_x-$2-${ts}-$$")).unwrap();
        assert_eq!(f.unknown_references(), ["ts_x", "2"]);
        assert!(
            Filter::new(r"(?P<ts>\d+)", Some("$ts"))
                .unwrap()
                .unknown_references()
                .is_empty()
        );
    }

    #[test]
    fn invalid_pattern_is_an_error_naming_it() {
        let err = Filter::new("main-(", None).unwrap_err();
        assert!(matches!(&err, PolicyError::InvalidRegex { pattern, .. } if pattern == "main-("));
        assert!(err.to_string().contains("main-("), "{err}");
        // RE2 has no lookaround, and neither does Rust's regex.
        assert!(Filter::new("(?=x)", None).is_err());
    }

    #[test]
    fn accessors() {
        let f = Filter::new("^x$", Some("$0")).unwrap();
        assert_eq!(f.pattern(), "^x$");
        assert_eq!(f.extract(), "$0");
        assert!(f.regex().is_match("x"));
        assert_eq!(Filter::new("x", Some("")).unwrap().extract(), "");
    }
}
