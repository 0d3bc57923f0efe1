//! Parsing a file with saphyr-parser and finding the exact bytes of its scalars and markers.
//!
//! The parser's events are the source of truth for where scalars are and whether the file parses.
//! Its spans need care: offsets count characters, not bytes; a span may start at the node's anchor or
//! tag; and in block context a quoted scalar's span runs on to the end of the line. So each token is
//! re-located from the span's start (skipping properties) and a quoted token's end is found by
//! scanning for its closing quote. Plain single-line tokens are cross-checked against the decoded
//! value; a token that fails the check is never edited.

use std::ops::Range;

use memchr::memmem;
use saphyr_parser::{Event, Parser, ScalarStyle as SaphyrStyle, ScanError};

use super::marker::{self, Comment, POLICY_KEY};
use super::{Marker, ObjectId, ParseError, ScalarStyle, Scan, ScanWarning};

/// The bytes [`mentions_marker`] looks for, quotes included (Flux's screen).
pub(crate) const SCREEN: &[u8] = b"\"$imagepolicy\"";

/// Cheap screen: does the file contain `"$imagepolicy"` (double quotes included)?
///
/// Flux only considers files that pass this test; a file that fails it cannot hold a marker.
#[must_use]
pub fn mentions_marker(bytes: &[u8]) -> bool {
    memmem::find(bytes, SCREEN).is_some()
}

/// An editable scalar: a single-line plain or quoted scalar in value position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scalar {
    /// 1-based line of the token.
    pub line: usize,
    /// Byte range of the token, quotes included (anchors and tags excluded).
    pub span: Range<usize>,
    /// The decoded value.
    pub value: String,
    /// The token's quoting style.
    pub style: ScalarStyle,
    /// The mapping key this scalar is the value of, when that key is a scalar; `None` for sequence
    /// items, document roots and values of complex keys.
    pub key: Option<String>,
    /// 1-based line of that key.
    pub key_line: Option<usize>,
}

/// Lists every scalar deckhand can edit, in file order: single-line plain, single- or double-quoted
/// scalars that are mapping values, sequence items or document roots.
///
/// Block scalars (`|`, `>`), multi-line scalars, mapping keys, aliases and empty (null) values are
/// not listed. Pair with [`replace_scalar`](super::replace_scalar) to change one value byte-exactly;
/// e.g. all `image:` values written on their key's line are the scalars with
/// `key == Some("image")` and `key_line == Some(line)`.
///
/// # Errors
/// [`ParseError`] when the bytes are not UTF-8 or not YAML.
pub fn scalars(bytes: &[u8]) -> Result<Vec<Scalar>, ParseError> {
    let text = to_str(bytes)?;
    let parsed = parse(text)?;
    Ok(parsed
        .tokens
        .into_iter()
        .filter(Token::editable)
        .filter_map(|t| {
            let (key, key_line) = match t.role {
                Role::Value(Some((k, l))) => (Some(k), Some(l)),
                Role::Value(None) | Role::Item | Role::Root => (None, None),
                Role::Key => return None,
            };
            let TokenStyle::Flow(style) = t.style else {
                return None;
            };
            Some(Scalar {
                line: t.line,
                span: t.span,
                value: t.value,
                style,
                key,
                key_line,
            })
        })
        .collect())
}

/// Parses one YAML file (all its documents) and returns its markers.
///
/// A marker is the comment after the last scalar token on that scalar's line: only blanks between
/// the token and `#`, and the whole comment one JSON object of string values with a string
/// `$imagepolicy`. Comments that mention `$imagepolicy` but cannot be used (bad JSON, trailing text,
/// a malformed marker value, a comment on a line of its own, after a key, an alias or a multi-line
/// scalar) become [`ScanWarning`]s. Text inside block scalars and quoted scalars is content, never a
/// marker. Root-sequence documents are supported.
///
/// # Errors
/// [`ParseError`] when the bytes are not UTF-8 or not YAML.
pub fn scan(bytes: &[u8]) -> Result<Scan, ParseError> {
    let text = to_str(bytes)?;
    let parsed = parse(text)?;
    let mut out = Scan::default();
    if memmem::find(text.as_bytes(), POLICY_KEY.as_bytes()).is_none() {
        return Ok(out);
    }
    let lines = LineIndex::new(text);
    // Lines whose comment has been judged (as marker or warning), so it is not reported twice.
    let mut judged: Vec<usize> = Vec::new();

    for tok in &parsed.tokens {
        let TokenStyle::Flow(style) = tok.style else {
            continue;
        };
        let Some(comment) = trailing_comment(text, tok.span.end) else {
            continue;
        };
        let end_line = lines.line_of(tok.span.end);
        let (raw, policy, field) = match marker::parse_comment(comment) {
            Comment::Ordinary => continue,
            Comment::Rejected(message) => {
                judged.push(end_line);
                out.warnings.push(ScanWarning {
                    line: end_line,
                    message,
                });
                continue;
            }
            Comment::Marker { raw, policy, field } => (raw, policy, field),
        };
        judged.push(end_line);
        let problem = if tok.line != end_line {
            Some("follows a multi-line scalar, which deckhand does not edit")
        } else if matches!(tok.role, Role::Key) {
            Some("follows a mapping key, not a value")
        } else if !tok.verified {
            Some("follows a scalar whose bytes could not be located exactly; not edited")
        } else {
            None
        };
        if let Some(problem) = problem {
            out.warnings.push(ScanWarning {
                line: end_line,
                message: format!("marker \"{raw}\" {problem}"),
            });
            continue;
        }
        out.markers.push(Marker {
            line: tok.line,
            span: tok.span.clone(),
            value: tok.value.clone(),
            style,
            policy,
            field,
            marker: raw,
            object: parsed.objects.get(tok.doc).cloned().unwrap_or_default(),
        });
    }

    // Any other mention of `$imagepolicy` outside scalar content is a comment that is not attached
    // to a scalar value: say so instead of ignoring it silently as Flux does.
    let mut warned_line = 0;
    for pos in memmem::find_iter(text.as_bytes(), POLICY_KEY.as_bytes()) {
        let line = lines.line_of(pos);
        if line == warned_line || judged.contains(&line) || parsed.inside_token(pos) {
            continue;
        }
        warned_line = line;
        let line_text = lines.text(text, line).trim_start();
        let message = if line_text.starts_with('#') {
            format!(
                "comment `{}` is on a line of its own; deckhand reads markers only after the value \
                 on the same line",
                line_text.trim_end()
            )
        } else {
            format!(
                "comment mentioning {POLICY_KEY} does not follow a scalar value (aliases, block \
                 scalars, flow collections and empty values cannot carry a marker); ignored"
            )
        };
        out.warnings.push(ScanWarning { line, message });
    }
    out.warnings.sort_by_key(|w| w.line);
    Ok(out)
}

/// The comment (from its `#`) that follows byte `end` on the same line, with only blanks between.
fn trailing_comment(text: &str, end: usize) -> Option<&str> {
    let rest = &text[end..];
    let rest = memchr::memchr(b'\n', rest.as_bytes()).map_or(rest, |n| &rest[..n]);
    let rest = rest.strip_suffix('\r').unwrap_or(rest);
    let trimmed = rest.trim_start_matches([' ', '\t']);
    (trimmed.len() < rest.len() && trimmed.starts_with('#')).then_some(trimmed)
}

pub(crate) fn to_str(bytes: &[u8]) -> Result<&str, ParseError> {
    std::str::from_utf8(bytes).map_err(|err| {
        let good = &bytes[..err.valid_up_to()];
        let line_start = memchr::memrchr(b'\n', good).map_or(0, |n| n + 1);
        // The prefix is valid UTF-8 by construction.
        let column = std::str::from_utf8(&good[line_start..]).map_or(1, |s| s.chars().count() + 1);
        ParseError {
            line: memchr::memchr_iter(b'\n', good).count() + 1,
            column,
            message: format!(
                "the file is not valid UTF-8 (byte offset {})",
                err.valid_up_to()
            ),
        }
    })
}

/// Where a scalar sits in its parent.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Role {
    /// A mapping key.
    Key,
    /// A mapping value, with its key's text and line when the key is a scalar.
    Value(Option<(String, usize)>),
    /// A sequence item.
    Item,
    /// A document's root node.
    Root,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenStyle {
    Flow(ScalarStyle),
    Block,
}

/// One scalar as found in the text.
#[derive(Debug, Clone)]
struct Token {
    /// Byte range: the whole token for flow scalars, the content for block scalars.
    span: Range<usize>,
    /// 1-based line of `span.start`.
    line: usize,
    value: String,
    style: TokenStyle,
    role: Role,
    /// Single-line token whose bytes were checked against the decoded value (plain) or whose
    /// quotes were found (quoted).
    verified: bool,
    /// Index of the document it is in.
    doc: usize,
}

impl Token {
    fn editable(&self) -> bool {
        self.verified && matches!(self.style, TokenStyle::Flow(_)) && self.role != Role::Key
    }
}

/// A file's scalar tokens, in document order.
struct Parsed {
    tokens: Vec<Token>,
    /// Per document: the Kubernetes object it holds (empty fields where there are none).
    objects: Vec<ObjectId>,
}

impl Parsed {
    /// Is byte `pos` inside some scalar's text (a key, a value, block scalar content)?
    fn inside_token(&self, pos: usize) -> bool {
        let i = self.tokens.partition_point(|t| t.span.start <= pos);
        i > 0 && self.tokens[i - 1].span.end > pos
    }
}

enum Frame {
    Map {
        expect_key: bool,
        key: Option<(String, usize)>,
        /// The key this mapping is the value of, for `metadata.name`.
        under: Option<String>,
    },
    Seq,
}

/// Takes the next slot in the innermost collection and says what role a node there plays.
fn take_slot(stack: &mut [Frame]) -> Role {
    match stack.last_mut() {
        None => Role::Root,
        Some(Frame::Seq) => Role::Item,
        Some(Frame::Map {
            expect_key, key, ..
        }) => {
            if *expect_key {
                *expect_key = false;
                *key = None;
                Role::Key
            } else {
                *expect_key = true;
                Role::Value(key.take())
            }
        }
    }
}

fn parse(text: &str) -> Result<Parsed, ParseError> {
    let mut conv = CharToByte::new(text);
    let lines = LineIndex::new(text);
    let mut tokens = Vec::new();
    let mut objects: Vec<ObjectId> = vec![ObjectId::default()];
    let mut started = false;
    let mut stack: Vec<Frame> = Vec::new();
    for item in Parser::new_from_str(text) {
        let (event, span) = item.map_err(|e| scan_error(&e))?;
        match event {
            Event::DocumentStart(_) => {
                stack.clear();
                if started {
                    objects.push(ObjectId::default());
                }
                started = true;
            }
            Event::MappingStart(..) => {
                let under = match take_slot(&mut stack) {
                    Role::Value(Some((k, _))) => Some(k),
                    _ => None,
                };
                stack.push(Frame::Map {
                    expect_key: true,
                    key: None,
                    under,
                });
            }
            Event::SequenceStart(..) => {
                take_slot(&mut stack);
                stack.push(Frame::Seq);
            }
            Event::MappingEnd | Event::SequenceEnd => {
                stack.pop();
            }
            Event::Alias(_) => {
                take_slot(&mut stack);
            }
            Event::Scalar(value, style, _, _) => {
                let role = take_slot(&mut stack);
                let from = conv.byte(span.start.index());
                let to = conv.byte(span.end.index());
                let doc = objects.len() - 1;
                let Some(mut token) = locate(text, from, to, &value, style, role.clone(), &lines)
                else {
                    continue;
                };
                token.doc = doc;
                if token.role == Role::Key
                    && let Some(Frame::Map { key, .. }) = stack.last_mut()
                {
                    *key = Some((token.value.clone(), token.line));
                }
                if let Role::Value(Some((k, _))) = &token.role {
                    record_identity(&stack, k, &token.value, &mut objects[doc]);
                }
                tokens.push(token);
            }
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => {}
        }
    }
    Ok(Parsed { tokens, objects })
}

/// Records `apiVersion`, `kind`, `metadata.name` and `metadata.namespace` of a document.
fn record_identity(stack: &[Frame], key: &str, value: &str, object: &mut ObjectId) {
    let slot = match (stack, key) {
        ([Frame::Map { .. }], "apiVersion") => &mut object.api_version,
        ([Frame::Map { .. }], "kind") => &mut object.kind,
        ([Frame::Map { .. }, Frame::Map { under, .. }], "name" | "namespace")
            if under.as_deref() == Some("metadata") =>
        {
            if key == "name" {
                &mut object.name
            } else {
                &mut object.namespace
            }
        }
        _ => return,
    };
    value.clone_into(slot);
}

/// Finds a scalar's token in `text[from..to]` (the parser's span, converted to bytes).
fn locate(
    text: &str,
    from: usize,
    to: usize,
    value: &str,
    style: SaphyrStyle,
    role: Role,
    lines: &LineIndex,
) -> Option<Token> {
    let (span, style, verified) = match style {
        SaphyrStyle::Literal | SaphyrStyle::Folded => (from..to, TokenStyle::Block, false),
        SaphyrStyle::Plain => {
            let start = skip_properties(text, from);
            if start >= to {
                // An empty (null) value: no token to edit.
                return None;
            }
            let raw = &text[start..to];
            let ok = !raw.contains('\n') && raw == value;
            (start..to, TokenStyle::Flow(ScalarStyle::Plain), ok)
        }
        SaphyrStyle::SingleQuoted | SaphyrStyle::DoubleQuoted => {
            let start = skip_properties(text, from);
            let double = style == SaphyrStyle::DoubleQuoted;
            let end = if start < to {
                closing_quote(text, start, double)
            } else {
                None
            };
            let style = if double {
                ScalarStyle::DoubleQuoted
            } else {
                ScalarStyle::SingleQuoted
            };
            match end {
                Some(end) => {
                    let ok = !text[start..end].contains('\n');
                    (start..end, TokenStyle::Flow(style), ok)
                }
                // Not found where the parser said: keep the parser's span for the content check
                // but never edit it.
                None => (from..to, TokenStyle::Flow(style), false),
            }
        }
    };
    Some(Token {
        line: lines.line_of(span.start),
        span,
        value: value.to_owned(),
        style,
        role,
        verified,
        doc: 0,
    })
}

/// Skips a node's properties (`&anchor`, `!tag`, `!<verbatim>`), blanks, line breaks and comments
/// between them, returning the byte where the scalar itself starts.
fn skip_properties(text: &str, mut i: usize) -> usize {
    let b = text.as_bytes();
    loop {
        while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\r' | b'\n') {
            i += 1;
        }
        match b.get(i) {
            Some(b'#') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            Some(b'!') if b.get(i + 1) == Some(&b'<') => {
                while i < b.len() && b[i] != b'>' {
                    i += 1;
                }
                i += 1;
            }
            Some(b'&' | b'!') => {
                while i < b.len()
                    && !matches!(
                        b[i],
                        b' ' | b'\t' | b'\r' | b'\n' | b',' | b'[' | b']' | b'{' | b'}'
                    )
                {
                    i += 1;
                }
            }
            _ => return i.min(b.len()),
        }
    }
}

/// The byte after the closing quote of the quoted scalar that opens at `start`.
fn closing_quote(text: &str, start: usize, double: bool) -> Option<usize> {
    let b = text.as_bytes();
    let quote = if double { b'"' } else { b'\'' };
    if b.get(start) != Some(&quote) {
        return None;
    }
    let mut i = start + 1;
    while i < b.len() {
        match b[i] {
            b'\\' if double => i += 2,
            b'\'' if !double && b.get(i + 1) == Some(&b'\'') => i += 2,
            c if c == quote => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

fn scan_error(e: &ScanError) -> ParseError {
    let m = e.marker();
    ParseError {
        line: m.line(),
        column: m.col() + 1,
        message: e.info().to_owned(),
    }
}

/// Converts the parser's character offsets to byte offsets. Offsets arrive almost in order, so a
/// cursor that walks forward (or back) is linear overall.
struct CharToByte<'a> {
    text: &'a str,
    ascii: bool,
    chars: usize,
    bytes: usize,
}

impl<'a> CharToByte<'a> {
    fn new(text: &'a str) -> Self {
        CharToByte {
            text,
            ascii: text.is_ascii(),
            chars: 0,
            bytes: 0,
        }
    }

    fn byte(&mut self, char_index: usize) -> usize {
        let len = self.text.len();
        if self.ascii {
            return char_index.min(len);
        }
        let b = self.text.as_bytes();
        while self.chars < char_index && self.bytes < len {
            self.bytes += utf8_width(b[self.bytes]);
            self.chars += 1;
        }
        while self.chars > char_index && self.bytes > 0 {
            self.bytes -= 1;
            while !self.text.is_char_boundary(self.bytes) {
                self.bytes -= 1;
            }
            self.chars -= 1;
        }
        self.bytes.min(len)
    }
}

fn utf8_width(first: u8) -> usize {
    match first {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

/// Byte offsets of line starts, for 1-based line numbers.
pub(crate) struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub(crate) fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(memchr::memchr_iter(b'\n', text.as_bytes()).map(|n| n + 1));
        LineIndex { starts }
    }

    /// 1-based line containing byte `pos`.
    pub(crate) fn line_of(&self, pos: usize) -> usize {
        self.starts.partition_point(|&s| s <= pos)
    }

    /// The text of 1-based `line`, without its line break.
    fn text<'t>(&self, text: &'t str, line: usize) -> &'t str {
        let start = self.starts.get(line - 1).copied().unwrap_or(text.len());
        let end = self
            .starts
            .get(line)
            .map_or(text.len(), |&s| s.saturating_sub(1));
        let s = &text[start..end.max(start)];
        s.strip_suffix('\r').unwrap_or(s)
    }
}
