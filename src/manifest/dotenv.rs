//! Markers in `.env` files, with Docker Compose's dotenv rules:
//!
//! ```text
//! BACKEND_TAG=main-1a2b3c4-1707300000 # {"$imagepolicy": "flux-system:backend:tag"}
//! export IMAGE="reg.lan/web:1.2.3" # {"$imagepolicy": "flux-system:web"}
//! ```
//!
//! - `KEY=value`, optionally after `export `; blank lines and `#` lines are skipped.
//! - An unquoted value ends at the line end or at a `#` that follows a blank (the comment);
//!   blanks around it are not part of it.
//! - `'single'` values are literal; `"double"` values know `\` escapes and `${VAR}`
//!   interpolation, and either may run over several lines.
//! - The marker is the comment after the value on its line. A value that interpolates (`$` in
//!   an unquoted or double-quoted value), has escapes, or spans lines is refused with a warning:
//!   what it means cannot be rewritten byte-exactly.

use super::marker::{self, Comment, POLICY_KEY};
use super::scan::{LineIndex, to_str};
use super::{Marker, ParseError, ScalarStyle, Scan, ScanWarning};

/// Scans a dotenv file for markers.
///
/// # Errors
/// [`ParseError`] when the bytes are not UTF-8.
pub(crate) fn scan(bytes: &[u8]) -> Result<Scan, ParseError> {
    let text = to_str(bytes)?;
    let mut out = Scan::default();
    if !text.contains(POLICY_KEY) {
        return Ok(out);
    }
    let lines = LineIndex::new(text);
    let mut pos = 0;
    while pos < text.len() {
        let line_no = lines.line_of(pos);
        let end = text[pos..].find('\n').map_or(text.len(), |n| pos + n);
        let line_end = if end > pos && text.as_bytes()[end - 1] == b'\r' {
            end - 1
        } else {
            end
        };
        match assignment(text, pos, line_end) {
            Assignment::None => {
                let line = &text[pos..line_end];
                if line.contains(POLICY_KEY) {
                    let trimmed = line.trim_start_matches('\u{feff}').trim();
                    let message = if trimmed.starts_with('#') {
                        format!(
                            "comment `{trimmed}` is on a line of its own; deckhand reads markers \
                             only after the value on the same line"
                        )
                    } else {
                        format!(
                            "line mentioning {POLICY_KEY} is not a KEY=value assignment; ignored"
                        )
                    };
                    out.warnings.push(ScanWarning {
                        line: line_no,
                        message,
                    });
                }
                pos = end + 1;
            }
            Assignment::Value {
                span,
                value,
                style,
                rest,
                problem,
                value_end,
            } => {
                // A quoted value may run over lines: its comment is on the line it ends on.
                let last_line = lines.line_of(value_end.saturating_sub(1).max(span.start));
                let value_line_end = text[value_end..]
                    .find('\n')
                    .map_or(text.len(), |n| value_end + n);
                if let Some(comment) = rest {
                    judge(
                        &mut out,
                        comment,
                        last_line,
                        span,
                        value,
                        style,
                        problem,
                        last_line != line_no,
                    );
                } else if text[value_end..value_line_end].contains(POLICY_KEY) {
                    out.warnings.push(ScanWarning {
                        line: last_line,
                        message: format!(
                            "text mentioning {POLICY_KEY} after the value is not a `#` comment; \
                             ignored"
                        ),
                    });
                }
                pos = value_line_end + 1;
            }
        }
    }
    out.warnings.sort_by_key(|w| w.line);
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn judge(
    out: &mut Scan,
    comment: &str,
    line: usize,
    span: std::ops::Range<usize>,
    value: String,
    style: ScalarStyle,
    problem: Option<&'static str>,
    multi_line: bool,
) {
    let (raw, policy, field) = match marker::parse_comment(comment) {
        Comment::Ordinary => return,
        Comment::Rejected(message) => {
            out.warnings.push(ScanWarning { line, message });
            return;
        }
        Comment::Marker { raw, policy, field } => (raw, policy, field),
    };
    let problem = if multi_line {
        Some("follows a value that spans several lines, which deckhand does not edit")
    } else {
        problem
    };
    if let Some(problem) = problem {
        out.warnings.push(ScanWarning {
            line,
            message: format!("marker \"{raw}\" {problem}"),
        });
        return;
    }
    out.markers.push(Marker {
        line,
        span,
        value,
        style,
        policy,
        field,
        marker: raw,
        object: super::ObjectId::default(),
    });
}

enum Assignment<'t> {
    None,
    Value {
        /// The value token, quotes included.
        span: std::ops::Range<usize>,
        value: String,
        style: ScalarStyle,
        /// The comment after the value on its (last) line, from its `#`.
        rest: Option<&'t str>,
        /// Why the value cannot be edited, if so.
        problem: Option<&'static str>,
        /// Where the value token ends.
        value_end: usize,
    },
}

fn is_blank(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

/// Reads `KEY=value` starting at byte `start` of a line ending at `end`.
fn assignment(text: &str, start: usize, end: usize) -> Assignment<'_> {
    let b = text.as_bytes();
    let mut i = start;
    if i == 0 && text.starts_with('\u{feff}') {
        i += '\u{feff}'.len_utf8();
    }
    while i < end && is_blank(b[i]) {
        i += 1;
    }
    if text[i..end].starts_with("export ") {
        i += "export ".len();
        while i < end && is_blank(b[i]) {
            i += 1;
        }
    }
    let key_start = i;
    while i < end && (b[i].is_ascii_alphanumeric() || matches!(b[i], b'_' | b'.' | b'-')) {
        i += 1;
    }
    if i == key_start {
        return Assignment::None;
    }
    while i < end && is_blank(b[i]) {
        i += 1;
    }
    if i >= end || b[i] != b'=' {
        return Assignment::None;
    }
    i += 1;
    let after_equals = i;
    while i < end && is_blank(b[i]) {
        i += 1;
    }
    match b.get(i) {
        Some(&q @ (b'\'' | b'"')) if i < end => {
            // Find the closing quote, possibly on a later line.
            let mut j = i + 1;
            let mut escaped = false;
            let mut close = None;
            while j < text.len() {
                let c = b[j];
                if q == b'"' && c == b'\\' && !escaped {
                    escaped = true;
                    j += 1;
                    continue;
                }
                if c == q && !escaped {
                    close = Some(j);
                    break;
                }
                escaped = false;
                j += 1;
            }
            let Some(close) = close else {
                return Assignment::None;
            };
            let inner = &text[i + 1..close];
            let style = if q == b'"' {
                ScalarStyle::DoubleQuoted
            } else {
                ScalarStyle::SingleQuoted
            };
            let problem = if q == b'"' && inner.contains('\\') {
                Some("follows a value with escape sequences, which deckhand does not edit")
            } else if q == b'"' && inner.contains('$') {
                Some(
                    "follows a value that interpolates a variable (`$`), which deckhand does not edit",
                )
            } else {
                None
            };
            let value_end = close + 1;
            let line_end = text[value_end..]
                .find('\n')
                .map_or(text.len(), |n| value_end + n);
            let after = text[value_end..line_end].trim_end_matches('\r');
            let trimmed = after.trim_start_matches([' ', '\t']);
            let rest = trimmed.starts_with('#').then_some(trimmed);
            Assignment::Value {
                span: i..value_end,
                value: inner.to_owned(),
                style,
                rest,
                problem,
                value_end,
            }
        }
        _ => {
            // Unquoted: up to a `#` that follows a blank, then trailing blanks trimmed.
            let mut j = i;
            let mut comment = None;
            while j < end {
                if b[j] == b'#' && (j == i || is_blank(b[j - 1])) {
                    comment = Some(j);
                    break;
                }
                j += 1;
            }
            let mut v_end = comment.unwrap_or(end);
            while v_end > i && is_blank(b[v_end - 1]) {
                v_end -= 1;
            }
            // An empty value is set right after the `=`.
            let (i, v_end) = if v_end == i {
                (after_equals, after_equals)
            } else {
                (i, v_end)
            };
            let value = &text[i..v_end];
            let problem = if value.contains('$') {
                Some(
                    "follows a value that interpolates a variable (`$`), which deckhand does not edit",
                )
            } else if value.contains(['"', '\'', '\\']) {
                Some(
                    "follows a value with quotes or backslashes inside, which deckhand does not edit",
                )
            } else {
                None
            };
            Assignment::Value {
                span: i..v_end,
                value: value.to_owned(),
                style: ScalarStyle::Plain,
                rest: comment.map(|c| &text[c..end]),
                problem,
                value_end: v_end,
            }
        }
    }
}
