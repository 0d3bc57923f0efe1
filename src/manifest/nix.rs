//! Markers in Nix files: a `#` comment after the one double-quoted string literal on its line.
//!
//! ```nix
//! image = "harbor.lan/homelab/web:1.2.3"; # {"$imagepolicy": "flux-system:web"}
//! ```
//!
//! The file is lexed just enough to tell code from content: `"…"` strings (with `\` escapes and
//! `${…}` antiquotations, which may nest), `''…''` indented strings, `/* … */` and `#`
//! comments. Only a `#` comment in code can be a marker; text inside strings and block comments
//! never is. A literal that holds `${` (interpolation) or `\` (escapes) is refused with a
//! warning, as is a marked line with no string or with several.

use super::marker::{self, Comment, POLICY_KEY};
use super::scan::{LineIndex, to_str};
use super::{Marker, ObjectId, ParseError, ScalarStyle, Scan, ScanWarning};

/// A `"…"` string token.
struct StringTok {
    start: usize,
    end: usize,
}

/// A `#` comment in code.
struct CommentTok {
    start: usize,
    end: usize,
}

enum State {
    /// Code; the number counts `{` opened inside this code block (for `${ … }`).
    Code(usize),
    DString(usize),
    IString,
}

/// Scans a Nix file for markers.
///
/// # Errors
/// [`ParseError`] when the bytes are not UTF-8, or a string or comment is not closed.
pub(crate) fn scan(bytes: &[u8]) -> Result<Scan, ParseError> {
    let text = to_str(bytes)?;
    let mut out = Scan::default();
    if !text.contains(POLICY_KEY) {
        return Ok(out);
    }
    let lines = LineIndex::new(text);
    let (strings, comments) = lex(text, &lines)?;
    for c in comments {
        let comment = &text[c.start..c.end];
        let comment = comment.strip_suffix('\r').unwrap_or(comment);
        let line = lines.line_of(c.start);
        let (raw, policy, field) = match marker::parse_comment(comment) {
            Comment::Ordinary => continue,
            Comment::Rejected(message) => {
                out.warnings.push(ScanWarning { line, message });
                continue;
            }
            Comment::Marker { raw, policy, field } => (raw, policy, field),
        };
        let warn = |out: &mut Scan, problem: &str| {
            out.warnings.push(ScanWarning {
                line,
                message: format!("marker \"{raw}\" {problem}"),
            });
        };
        let on_line: Vec<&StringTok> = strings
            .iter()
            .filter(|s| s.end <= c.start && lines.line_of(s.start) == line)
            .collect();
        let tok = match on_line.as_slice() {
            [one] if lines.line_of(one.end.saturating_sub(1)) == line => *one,
            [_] => {
                warn(
                    &mut out,
                    "follows a string that spans several lines, which deckhand does not edit",
                );
                continue;
            }
            [] => {
                warn(
                    &mut out,
                    "has no double-quoted string literal on its line to set",
                );
                continue;
            }
            _ => {
                warn(
                    &mut out,
                    "has several string literals on its line; put the marked one on a line of its own",
                );
                continue;
            }
        };
        let inner = &text[tok.start + 1..tok.end - 1];
        if inner.contains("${") {
            warn(
                &mut out,
                "follows a string with `${…}` interpolation, which deckhand does not edit",
            );
            continue;
        }
        if inner.contains('\\') {
            warn(
                &mut out,
                "follows a string with escape sequences, which deckhand does not edit",
            );
            continue;
        }
        out.markers.push(Marker {
            line,
            span: tok.start..tok.end,
            value: inner.to_owned(),
            style: ScalarStyle::DoubleQuoted,
            policy,
            field,
            marker: raw,
            object: ObjectId::default(),
        });
    }
    Ok(out)
}

fn unclosed(lines: &LineIndex, text: &str, at: usize, what: &str) -> ParseError {
    let line = lines.line_of(at);
    let line_start = text[..at].rfind('\n').map_or(0, |n| n + 1);
    ParseError {
        line,
        column: text[line_start..at].chars().count() + 1,
        message: format!("{what} that starts here is never closed"),
    }
}

/// Finds the `"…"` strings and the `#` comments in code.
fn lex(text: &str, lines: &LineIndex) -> Result<(Vec<StringTok>, Vec<CommentTok>), ParseError> {
    let b = text.as_bytes();
    let mut strings = Vec::new();
    let mut comments = Vec::new();
    let mut stack: Vec<State> = vec![State::Code(0)];
    let mut i = 0;
    while i < b.len() {
        let Some(state) = stack.last_mut() else {
            stack.push(State::Code(0));
            continue;
        };
        match state {
            State::Code(depth) => match b[i] {
                b'"' => {
                    stack.push(State::DString(i));
                    i += 1;
                }
                b'\'' if b.get(i + 1) == Some(&b'\'') => {
                    stack.push(State::IString);
                    i += 2;
                }
                b'#' => {
                    let end = text[i..].find('\n').map_or(text.len(), |n| i + n);
                    comments.push(CommentTok { start: i, end });
                    i = end;
                }
                b'/' if b.get(i + 1) == Some(&b'*') => {
                    let end = text[i + 2..]
                        .find("*/")
                        .ok_or_else(|| unclosed(lines, text, i, "a /* comment"))?;
                    i += 2 + end + 2;
                }
                b'{' => {
                    *depth += 1;
                    i += 1;
                }
                b'}' => {
                    if *depth == 0 {
                        // The end of a `${ … }` antiquotation: back into its string.
                        if stack.len() > 1 {
                            stack.pop();
                        }
                    } else {
                        *depth -= 1;
                    }
                    i += 1;
                }
                _ => i += 1,
            },
            State::DString(start) => match b[i] {
                b'\\' => i += 2,
                b'"' => {
                    strings.push(StringTok {
                        start: *start,
                        end: i + 1,
                    });
                    stack.pop();
                    i += 1;
                }
                b'$' if b.get(i + 1) == Some(&b'{') => {
                    stack.push(State::Code(0));
                    i += 2;
                }
                _ => i += 1,
            },
            State::IString => {
                let rest = &b[i..];
                if rest.starts_with(b"'''") || rest.starts_with(b"''$") {
                    i += 3;
                } else if rest.starts_with(b"''\\") {
                    i += 4;
                } else if rest.starts_with(b"''") {
                    stack.pop();
                    i += 2;
                } else if rest.starts_with(b"${") {
                    stack.push(State::Code(0));
                    i += 2;
                } else {
                    i += 1;
                }
            }
        }
    }
    match stack.last() {
        Some(State::DString(start)) => Err(unclosed(lines, text, *start, "a string")),
        Some(State::IString) => Err(unclosed(lines, text, text.len(), "an indented string")),
        _ => Ok((strings, comments)),
    }
}
