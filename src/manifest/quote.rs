//! Rendering a new scalar value in the style of the old one, and the value grammars.

use std::fmt::Write as _;

use super::ScalarStyle;

/// OCI tag grammar: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
///
/// A tag that fails this is never written, so a registry cannot inject YAML through a tag.
#[must_use]
pub fn is_valid_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b[1..]
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
}

/// OCI digest grammar: `algorithm ":" encoded`, where `algorithm` is lower-case alphanumeric
/// components joined by `+`, `.`, `_` or `-`, and `encoded` is `[A-Za-z0-9=_-]+`.
#[must_use]
pub fn is_valid_digest(digest: &str) -> bool {
    let Some((algorithm, encoded)) = digest.split_once(':') else {
        return false;
    };
    let component_ok = |c: &str| {
        !c.is_empty()
            && c.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    algorithm.split(['+', '.', '_', '-']).all(component_ok)
        && !encoded.is_empty()
        && encoded
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b'_' | b'-'))
}

/// Would go-yaml v2 (YAML 1.1, as used by kyaml's `IsValueNonString`) read this plain text as
/// something other than a string: an int, float, bool or null?
///
/// This is Flux's rule for when a plain scalar must become double-quoted. Empty text and text with a
/// newline are "string" by that rule (kyaml exempts them); timestamps are strings too, because v2
/// decodes them into `interface{}` as strings. Structural text (`a: b`, `- x`) is not judged here:
/// [`render_scalar`] quotes anything that is not a safe plain scalar anyway.
#[must_use]
pub fn yaml11_non_string(text: &str) -> bool {
    let Some(&first) = text.as_bytes().first() else {
        return false;
    };
    if text.contains('\n') {
        return false;
    }
    // go-yaml v2 resolveTable: only these first bytes can start a non-string.
    let hint = match first {
        b'+' | b'-' => b'S',
        b'0'..=b'9' => b'D',
        b'y' | b'Y' | b'n' | b'N' | b't' | b'T' | b'f' | b'F' | b'o' | b'O' | b'~' => b'M',
        b'.' => b'.',
        _ => return false,
    };
    if RESOLVE_MAP.contains(&text) {
        return true;
    }
    match hint {
        b'M' => false,
        b'.' => go_parse_float_dot(text),
        _ => {
            // Timestamps (`YYYY-…`) come first in v2 but resolve to strings here, and no
            // timestamp also parses as a number, so they need no case of their own.
            let plain: String = text.chars().filter(|&c| c != '_').collect();
            go_parse_int_base0(&plain)
                || (yaml_style_float(&plain) && plain.parse::<f64>().is_ok_and(f64::is_finite))
                || binary_prefixed(&plain)
        }
    }
}

/// go-yaml v2's `resolveMap` (bools, nulls, infinities, NaN). `""` is left out: kyaml never quotes
/// an empty value, and [`render_scalar`] handles empty text separately.
const RESOLVE_MAP: &[&str] = &[
    "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON", "n", "N", "no", "No",
    "NO", "false", "False", "FALSE", "off", "Off", "OFF", "~", "null", "Null", "NULL", ".nan",
    ".NaN", ".NAN", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF",
];

/// Go `strconv.ParseInt(s, 0, 64)` or `strconv.ParseUint(s, 0, 64)` succeeds (underscores were
/// already removed by the caller).
fn go_parse_int_base0(s: &str) -> bool {
    let (negative, signed, body) = match s.as_bytes().first() {
        Some(b'-') => (true, true, &s[1..]),
        Some(b'+') => (false, true, &s[1..]),
        _ => (false, false, s),
    };
    let (radix, digits) =
        if let Some(rest) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
            (16, rest)
        } else if let Some(rest) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
            (8, rest)
        } else if let Some(rest) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
            (2, rest)
        } else if body.len() > 1 && body.starts_with('0') {
            (8, &body[1..])
        } else {
            (10, body)
        };
    let Some(magnitude) = parse_magnitude(digits, radix) else {
        return false;
    };
    if negative {
        magnitude <= 1u128 << 63
    } else if signed {
        magnitude <= i64::MAX as u128
    } else {
        magnitude <= u128::from(u64::MAX)
    }
}

/// Digits in `radix`, at least one, value saturating above `u64::MAX` (enough for range checks).
fn parse_magnitude(digits: &str, radix: u32) -> Option<u128> {
    if digits.is_empty() {
        return None;
    }
    let mut value: u128 = 0;
    for c in digits.chars() {
        let d = c.to_digit(radix)?;
        value = (value * u128::from(radix) + u128::from(d)).min(u128::from(u64::MAX) + 1);
    }
    Some(value)
}

/// go-yaml v2's `yamlStyleFloat`: `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn yaml_style_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'-' | b'+')));
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i);
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'-' | b'+')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// v2's fallback for `0b…` (after `ParseInt(s, 0, 64)` failed): `ParseInt(s[2:], 2, 64)`, which
/// also takes a sign after the prefix, or `ParseUint(s[2:], 2, 64)`.
fn binary_prefixed(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("0b") else {
        return false;
    };
    let (signed, negative, digits) = match rest.as_bytes().first() {
        Some(b'-') => (true, true, &rest[1..]),
        Some(b'+') => (true, false, &rest[1..]),
        _ => (false, false, rest),
    };
    match parse_magnitude(digits, 2) {
        None => false,
        Some(m) if negative => m <= 1u128 << 63,
        Some(m) if signed => m <= i64::MAX as u128,
        Some(m) => m <= u128::from(u64::MAX),
    }
}

/// Go `strconv.ParseFloat` for text starting with `.` (the only form v2 tries for that hint):
/// `.digits[e[+-]digits]`, with Go's underscore placement rules, finite.
fn go_parse_float_dot(s: &str) -> bool {
    if !go_underscores_ok(s) {
        return false;
    }
    let plain: String = s.chars().filter(|&c| c != '_').collect();
    yaml_style_float(&plain) && plain.parse::<f64>().is_ok_and(f64::is_finite)
}

/// Go's `underscoreOK` for a decimal number: each `_` sits between two digits.
fn go_underscores_ok(s: &str) -> bool {
    let mut prev_digit = false;
    let mut prev_underscore = false;
    for c in s.chars() {
        if c.is_ascii_digit() {
            prev_digit = true;
            prev_underscore = false;
        } else if c == '_' {
            if !prev_digit {
                return false;
            }
            prev_digit = false;
            prev_underscore = true;
        } else {
            if prev_underscore {
                return false;
            }
            prev_digit = false;
        }
    }
    !prev_underscore
}

/// Can `text` stand as a plain scalar, in block or flow context, and read back as exactly `text`?
///
/// Deliberately conservative: anything doubtful is quoted, which is always correct.
fn plain_safe(text: &str) -> bool {
    let Some(first) = text.chars().next() else {
        return false;
    };
    if "-?:,[]{}#&*!|>'\"%@`".contains(first) || first.is_whitespace() {
        return false;
    }
    if text.ends_with(|c: char| c.is_whitespace() || c == ':') {
        return false;
    }
    if text.starts_with("...") {
        return false;
    }
    if text.chars().any(|c| {
        c.is_control()
            || matches!(
                c,
                ',' | '[' | ']' | '{' | '}' | '\u{feff}' | '\u{2028}' | '\u{2029}'
            )
    }) {
        return false;
    }
    !(text.contains(": ") || text.contains(" #") || text.contains(":\t") || text.contains("\t#"))
}

/// Renders `value` as a scalar token in the given style, ready to splice over the old token.
///
/// - Double-quoted stays double-quoted, escaped as YAML requires.
/// - Single-quoted stays single-quoted (`'` doubled); a value with control characters, which single
///   quotes cannot carry, is double-quoted instead.
/// - Plain stays plain unless YAML 1.1 would read the text as a non-string ([`yaml11_non_string`],
///   Flux's rule) or the text is not a safe plain scalar (empty, indicators, `: `, ` #`, …); then it is
///   double-quoted. No YAML tag is ever emitted.
#[must_use]
pub fn render_scalar(style: ScalarStyle, value: &str) -> String {
    match style {
        ScalarStyle::Plain if plain_safe(value) && !yaml11_non_string(value) => value.to_owned(),
        ScalarStyle::SingleQuoted if !value.chars().any(needs_escape) => {
            format!("'{}'", value.replace('\'', "''"))
        }
        _ => double_quoted(value),
    }
}

/// Characters a single-quoted scalar cannot hold literally.
fn needs_escape(c: char) -> bool {
    (c.is_control() && c != '\t') || matches!(c, '\u{feff}' | '\u{2028}' | '\u{2029}')
}

fn double_quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\0' => out.push_str("\\0"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{b}' => out.push_str("\\v"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            '\u{1b}' => out.push_str("\\e"),
            '\u{85}' => out.push_str("\\N"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            '\u{feff}' => out.push_str("\\uFEFF"),
            c if c.is_control() => {
                let _ = write!(out, "\\x{:02X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
