//! Lexing and parsing Go `text/template` source into a tree.
//!
//! Supported: text, `{{ pipeline }}`, `{{- … -}}` trim markers, `{{/* comments */}}`, `if` /
//! `else if` / `else`, `range` (with `$v :=` or `$k, $v :=`, and `else`), `with`, `break`,
//! `continue`, variables (`$x := …`, `$x = …`, `$`), fields (`.A.B`, `$x.A`, `(…).A`),
//! pipes, and string, raw string, char, number, bool and nil literals. `define`, `template` and
//! `block` are refused with an error naming them.

use super::TemplateError;

/// A parsed template body.
pub(crate) type Nodes = Vec<Node>;

#[derive(Debug, Clone)]
pub(crate) enum Node {
    Text(String),
    Action {
        line: usize,
        pipe: Pipeline,
    },
    If {
        line: usize,
        branches: Vec<(Pipeline, Nodes)>,
        otherwise: Option<Nodes>,
    },
    Range {
        line: usize,
        pipe: Pipeline,
        body: Nodes,
        otherwise: Option<Nodes>,
    },
    With {
        line: usize,
        pipe: Pipeline,
        body: Nodes,
        otherwise: Option<Nodes>,
    },
    Break,
    Continue,
}

#[derive(Debug, Clone)]
pub(crate) struct Pipeline {
    /// Variables declared (`:=`) or assigned (`=`) by the pipeline.
    pub vars: Vec<String>,
    pub assign: bool,
    pub cmds: Vec<Command>,
}

#[derive(Debug, Clone)]
pub(crate) struct Command {
    pub args: Vec<Arg>,
}

#[derive(Debug, Clone)]
pub(crate) enum Arg {
    /// `.` followed by zero or more field names (`.` alone is the dot).
    Field(Vec<String>),
    /// `$name` followed by field names (`$` is the root).
    Var(String, Vec<String>),
    /// A function name.
    Ident(String),
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Nil,
    /// `( pipeline )` followed by field names.
    Sub(Box<Pipeline>, Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Field(Vec<String>),
    Var(String, Vec<String>),
    Ident(String),
    Str(String),
    Int(i64),
    Float(f64),
    Char(i64),
    LParen,
    RParen,
    /// `)` immediately followed by `.A.B`.
    RParenFields(Vec<String>),
    Pipe,
    Declare,
    Assign,
    Comma,
}

/// One `{{ … }}` with its line.
struct Action {
    line: usize,
    toks: Vec<Tok>,
}

enum Segment {
    Text(String),
    Action(Action),
}

/// Splits the source into text and actions, applying trim markers.
fn segments(src: &str) -> Result<Vec<Segment>, TemplateError> {
    let mut out: Vec<Segment> = Vec::new();
    let mut rest = src;
    let mut line = 1;
    let mut trim_next = false;
    while !rest.is_empty() {
        let Some(open) = rest.find("{{") else {
            let mut text = rest;
            if trim_next {
                text = text.trim_start_matches(is_space);
            }
            out.push(Segment::Text(text.to_owned()));
            break;
        };
        let mut text = &rest[..open];
        line += rest[..open].matches('\n').count();
        let mut inner = &rest[open + 2..];
        // `{{- ` trims the text before; the blank is required (`{{-3}}` is the number -3).
        let trim_left = inner.starts_with('-') && inner[1..].starts_with(is_space);
        if trim_left {
            inner = &inner[1..];
            text = text.trim_end_matches(is_space);
        }
        if trim_next {
            text = text.trim_start_matches(is_space);
        }
        if !text.is_empty() {
            out.push(Segment::Text(text.to_owned()));
        }
        let action_line = line;
        let trimmed = inner.trim_start_matches(is_space);
        let (toks, after, trim_right) = if trimmed.starts_with("/*") {
            let end = trimmed
                .find("*/")
                .ok_or_else(|| err(action_line, "unclosed comment"))?;
            let after_comment = &trimmed[end + 2..];
            let (close_len, trim_right) = close_marker(after_comment)
                .ok_or_else(|| err(action_line, "comment ends before closing delimiter"))?;
            (None, &after_comment[close_len..], trim_right)
        } else {
            let (toks, consumed, trim_right) = lex_action(inner, action_line)?;
            (Some(toks), &inner[consumed..], trim_right)
        };
        line += rest[open..rest.len() - after.len()].matches('\n').count();
        if let Some(toks) = toks {
            out.push(Segment::Action(Action {
                line: action_line,
                toks,
            }));
        }
        trim_next = trim_right;
        rest = after;
    }
    Ok(out)
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// After a comment: optional blanks, then ` -}}` or `}}`. Returns the length and the trim flag.
fn close_marker(s: &str) -> Option<(usize, bool)> {
    let blanks = s.len() - s.trim_start_matches(is_space).len();
    let t = &s[blanks..];
    if blanks > 0 && t.starts_with("-}}") {
        Some((blanks + 3, true))
    } else if t.starts_with("}}") {
        Some((blanks + 2, false))
    } else {
        None
    }
}

fn err(line: usize, message: impl std::fmt::Display) -> TemplateError {
    TemplateError(format!("line {line}: {message}"))
}

/// Lexes an action body up to and including its closing delimiter. Returns the tokens, the
/// bytes consumed and whether it closed with ` -}}`.
fn lex_action(s: &str, line: usize) -> Result<(Vec<Tok>, usize, bool), TemplateError> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut toks = Vec::new();
    loop {
        let Some(&c) = b.get(i) else {
            return Err(err(line, "unclosed action"));
        };
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => {
                // ` -}}` closes with a trim.
                let j = i + s[i..].len() - s[i..].trim_start_matches(is_space).len();
                if s[j..].starts_with("-}}") {
                    return Ok((toks, j + 3, true));
                }
                i = j;
            }
            b'}' if s[i..].starts_with("}}") => return Ok((toks, i + 2, false)),
            b'(' => {
                toks.push(Tok::LParen);
                i += 1;
            }
            b')' => {
                i += 1;
                let (fields, n) = field_chain(&s[i..]);
                i += n;
                toks.push(if fields.is_empty() {
                    Tok::RParen
                } else {
                    Tok::RParenFields(fields)
                });
            }
            b'|' => {
                toks.push(Tok::Pipe);
                i += 1;
            }
            b',' => {
                toks.push(Tok::Comma);
                i += 1;
            }
            b':' if s[i..].starts_with(":=") => {
                toks.push(Tok::Declare);
                i += 2;
            }
            b'=' => {
                toks.push(Tok::Assign);
                i += 1;
            }
            b'.' if b.get(i + 1).is_none_or(|n| !n.is_ascii_digit()) => {
                let (fields, n) = field_chain(&s[i..]);
                if n == 0 {
                    // A lone `.`.
                    toks.push(Tok::Field(Vec::new()));
                    i += 1;
                } else {
                    toks.push(Tok::Field(fields));
                    i += n;
                }
            }
            b'$' => {
                let name_len = s[i + 1..]
                    .bytes()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == b'_')
                    .count();
                let name = format!("${}", &s[i + 1..i + 1 + name_len]);
                i += 1 + name_len;
                let (fields, n) = field_chain(&s[i..]);
                i += n;
                toks.push(Tok::Var(name, fields));
            }
            b'"' => {
                let (text, n) = quoted(&s[i..]).map_err(|m| err(line, m))?;
                toks.push(Tok::Str(text));
                i += n;
            }
            b'`' => {
                let end = s[i + 1..]
                    .find('`')
                    .ok_or_else(|| err(line, "unterminated raw quoted string"))?;
                toks.push(Tok::Str(s[i + 1..i + 1 + end].to_owned()));
                i += end + 2;
            }
            b'\'' => {
                let end = s[i + 1..]
                    .find('\'')
                    .ok_or_else(|| err(line, "unterminated character constant"))?;
                let body = &s[i + 1..i + 1 + end];
                let ch = match body {
                    "\\n" => '\n',
                    "\\t" => '\t',
                    "\\\\" => '\\',
                    "\\'" => '\'',
                    _ => {
                        let mut cs = body.chars();
                        match (cs.next(), cs.next()) {
                            (Some(c), None) => c,
                            _ => return Err(err(line, format!("bad character constant '{body}'"))),
                        }
                    }
                };
                toks.push(Tok::Char(i64::from(u32::from(ch))));
                i += end + 2;
            }
            b'0'..=b'9' | b'-' | b'+' | b'.' => {
                let n = s[i..]
                    .bytes()
                    .enumerate()
                    .take_while(|(k, c)| {
                        c.is_ascii_alphanumeric()
                            || *c == b'.'
                            || *c == b'_'
                            || (*k == 0 && matches!(c, b'-' | b'+'))
                            || (matches!(c, b'-' | b'+')
                                && matches!(s.as_bytes()[i + k - 1], b'e' | b'E' | b'p' | b'P'))
                    })
                    .count();
                let text = &s[i..i + n];
                toks.push(
                    number(text)
                        .ok_or_else(|| err(line, format!("bad number syntax: {text:?}")))?,
                );
                i += n;
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let n = s[i..]
                    .bytes()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == b'_')
                    .count();
                toks.push(Tok::Ident(s[i..i + n].to_owned()));
                i += n;
            }
            _ => {
                let ch = s[i..].chars().next().unwrap_or('?');
                return Err(err(line, format!("unexpected {ch:?} in action")));
            }
        }
    }
}

/// `.A.B.C` at the start of `s`: the names and the bytes consumed.
fn field_chain(s: &str) -> (Vec<String>, usize) {
    let mut fields = Vec::new();
    let mut i = 0;
    let b = s.as_bytes();
    while b.get(i) == Some(&b'.') {
        let n = s[i + 1..]
            .bytes()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == b'_')
            .count();
        if n == 0 {
            break;
        }
        fields.push(s[i + 1..i + 1 + n].to_owned());
        i += 1 + n;
    }
    (fields, i)
}

/// A Go interpreted string literal at the start of `s` (which begins with `"`).
fn quoted(s: &str) -> Result<(String, usize), String> {
    let mut out = String::new();
    let mut chars = s.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, i + 1)),
            '\n' => break,
            '\\' => {
                let Some((_, e)) = chars.next() else { break };
                match e {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    '\\' => out.push('\\'),
                    '"' => out.push('"'),
                    '\'' => out.push('\''),
                    'a' => out.push('\u{7}'),
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'v' => out.push('\u{b}'),
                    'x' | 'u' | 'U' => {
                        let len = match e {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let hex: String = (0..len)
                            .filter_map(|_| chars.next().map(|(_, c)| c))
                            .collect();
                        let code = u32::from_str_radix(&hex, 16)
                            .map_err(|_| format!("bad escape \\{e}{hex}"))?;
                        out.push(
                            char::from_u32(code).ok_or_else(|| format!("bad escape \\{e}{hex}"))?,
                        );
                    }
                    other => return Err(format!("unknown escape sequence \\{other}")),
                }
            }
            c => out.push(c),
        }
    }
    Err("unterminated quoted string".into())
}

fn number(text: &str) -> Option<Tok> {
    let clean = text.replace('_', "");
    let (neg, body) = match clean.as_bytes().first()? {
        b'-' => (true, &clean[1..]),
        b'+' => (false, &clean[1..]),
        _ => (false, clean.as_str()),
    };
    let int = if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()
    } else if let Some(o) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
        i64::from_str_radix(o, 8).ok()
    } else if let Some(bits) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
        i64::from_str_radix(bits, 2).ok()
    } else if body.len() > 1 && body.starts_with('0') && body.bytes().all(|c| c.is_ascii_digit()) {
        i64::from_str_radix(&body[1..], 8).ok()
    } else {
        body.parse::<i64>().ok()
    };
    if let Some(v) = int {
        return Some(Tok::Int(if neg { -v } else { v }));
    }
    let f: f64 = clean.parse().ok()?;
    f.is_finite().then_some(Tok::Float(f))
}

/// Parses a whole template.
pub(crate) fn parse(src: &str) -> Result<Nodes, TemplateError> {
    let segs = segments(src)?;
    let mut p = Parser {
        segs: segs.into_iter().peekable(),
        depth_range: 0,
    };
    let (nodes, end) = p.list()?;
    match end {
        End::Eof => Ok(nodes),
        End::Closed(line) => Err(err(line, "unexpected {{end}}")),
        End::Else(line, _) => Err(err(line, "unexpected {{else}}")),
    }
}

enum End {
    Eof,
    Closed(usize),
    /// `{{else}}` or `{{else if …}}` (the tokens after `else`).
    Else(usize, Vec<Tok>),
}

struct Parser {
    segs: std::iter::Peekable<std::vec::IntoIter<Segment>>,
    depth_range: usize,
}

impl Parser {
    /// Nodes up to `{{end}}`, `{{else…}}` or the end of input.
    fn list(&mut self) -> Result<(Nodes, End), TemplateError> {
        let mut nodes = Vec::new();
        while let Some(seg) = self.segs.next() {
            let action = match seg {
                Segment::Text(t) => {
                    nodes.push(Node::Text(t));
                    continue;
                }
                Segment::Action(a) => a,
            };
            let line = action.line;
            let mut toks = action.toks;
            let keyword = match toks.first() {
                Some(Tok::Ident(k)) => k.clone(),
                None => return Err(err(line, "missing value for command")),
                _ => String::new(),
            };
            match keyword.as_str() {
                "end" => return Ok((nodes, End::Closed(line))),
                "else" => {
                    toks.remove(0);
                    return Ok((nodes, End::Else(line, toks)));
                }
                "if" => {
                    toks.remove(0);
                    nodes.push(self.if_node(line, toks)?);
                }
                "range" => {
                    toks.remove(0);
                    let pipe = pipeline(&toks, line, true)?;
                    self.depth_range += 1;
                    let (body, end) = self.list()?;
                    self.depth_range -= 1;
                    let otherwise = self.otherwise(line, "range", end)?;
                    nodes.push(Node::Range {
                        line,
                        pipe,
                        body,
                        otherwise,
                    });
                }
                "with" => {
                    toks.remove(0);
                    let pipe = pipeline(&toks, line, true)?;
                    let (body, end) = self.list()?;
                    let otherwise = self.otherwise(line, "with", end)?;
                    nodes.push(Node::With {
                        line,
                        pipe,
                        body,
                        otherwise,
                    });
                }
                "break" | "continue" => {
                    if self.depth_range == 0 {
                        return Err(err(
                            line,
                            format!("{{{{{keyword}}}}} outside {{{{range}}}}"),
                        ));
                    }
                    nodes.push(if keyword == "break" {
                        Node::Break
                    } else {
                        Node::Continue
                    });
                }
                "define" | "template" | "block" => {
                    return Err(err(
                        line,
                        format!("{{{{{keyword}}}}} is not supported in commit message templates"),
                    ));
                }
                _ => nodes.push(Node::Action {
                    line,
                    pipe: pipeline(&toks, line, true)?,
                }),
            }
        }
        Ok((nodes, End::Eof))
    }

    fn if_node(&mut self, line: usize, toks: Vec<Tok>) -> Result<Node, TemplateError> {
        let mut branches = vec![(pipeline(&toks, line, true)?, Vec::new())];
        loop {
            let (body, end) = self.list()?;
            if let Some(last) = branches.last_mut() {
                last.1 = body;
            }
            match end {
                End::Closed(_) => {
                    return Ok(Node::If {
                        line,
                        branches,
                        otherwise: None,
                    });
                }
                End::Eof => return Err(err(line, "unexpected EOF: {{if}} without {{end}}")),
                End::Else(l, rest) if rest.is_empty() => {
                    let (body, end) = self.list()?;
                    if !matches!(end, End::Closed(_)) {
                        return Err(err(l, "expected {{end}} after {{else}}"));
                    }
                    return Ok(Node::If {
                        line,
                        branches,
                        otherwise: Some(body),
                    });
                }
                End::Else(l, mut rest) => {
                    if rest.first() != Some(&Tok::Ident("if".into())) {
                        return Err(err(l, "expected {{else}} or {{else if …}}"));
                    }
                    rest.remove(0);
                    branches.push((pipeline(&rest, l, true)?, Vec::new()));
                }
            }
        }
    }

    fn otherwise(
        &mut self,
        line: usize,
        what: &str,
        end: End,
    ) -> Result<Option<Nodes>, TemplateError> {
        match end {
            End::Closed(_) => Ok(None),
            End::Eof => Err(err(
                line,
                format!("unexpected EOF: {{{{{what}}}}} without {{{{end}}}}"),
            )),
            End::Else(l, rest) => {
                if !rest.is_empty() {
                    return Err(err(
                        l,
                        format!("only a plain {{{{else}}}} may follow {{{{{what}}}}}"),
                    ));
                }
                let (body, end) = self.list()?;
                if !matches!(end, End::Closed(_)) {
                    return Err(err(l, "expected {{end}} after {{else}}"));
                }
                Ok(Some(body))
            }
        }
    }
}

/// Parses a pipeline: optional `$a[, $b] :=` / `$a =`, then commands separated by `|`.
fn pipeline(toks: &[Tok], line: usize, allow_decl: bool) -> Result<Pipeline, TemplateError> {
    let mut vars = Vec::new();
    let mut assign = false;
    let mut rest = toks;
    if allow_decl {
        match toks {
            [
                Tok::Var(a, fa),
                Tok::Comma,
                Tok::Var(b, fb),
                Tok::Declare | Tok::Assign,
                tail @ ..,
            ] if fa.is_empty() && fb.is_empty() => {
                vars = vec![a.clone(), b.clone()];
                assign = matches!(toks[3], Tok::Assign);
                rest = tail;
            }
            [Tok::Var(a, fa), Tok::Declare | Tok::Assign, tail @ ..] if fa.is_empty() => {
                vars = vec![a.clone()];
                assign = matches!(toks[1], Tok::Assign);
                rest = tail;
            }
            _ => {}
        }
    }
    if rest.is_empty() {
        return Err(err(line, "missing value for command"));
    }
    let mut cmds = Vec::new();
    let mut args = Vec::new();
    let mut i = 0;
    while i < rest.len() {
        match &rest[i] {
            Tok::Pipe => {
                if args.is_empty() {
                    return Err(err(line, "missing command before |"));
                }
                cmds.push(Command {
                    args: std::mem::take(&mut args),
                });
                i += 1;
            }
            Tok::LParen => {
                // Find the matching `)`.
                let mut depth = 0;
                let mut j = i;
                let close = loop {
                    match rest.get(j) {
                        Some(Tok::LParen) => depth += 1,
                        Some(Tok::RParen | Tok::RParenFields(_)) => {
                            depth -= 1;
                            if depth == 0 {
                                break j;
                            }
                        }
                        Some(_) => {}
                        None => return Err(err(line, "unclosed left paren")),
                    }
                    j += 1;
                };
                let inner = pipeline(&rest[i + 1..close], line, false)?;
                let fields = match &rest[close] {
                    Tok::RParenFields(f) => f.clone(),
                    _ => Vec::new(),
                };
                args.push(Arg::Sub(Box::new(inner), fields));
                i = close + 1;
            }
            Tok::RParen | Tok::RParenFields(_) => return Err(err(line, "unexpected right paren")),
            Tok::Comma | Tok::Declare | Tok::Assign => {
                return Err(err(line, "unexpected := or , in command"));
            }
            Tok::Field(f) => {
                args.push(Arg::Field(f.clone()));
                i += 1;
            }
            Tok::Var(n, f) => {
                args.push(Arg::Var(n.clone(), f.clone()));
                i += 1;
            }
            Tok::Ident(name) => {
                args.push(match name.as_str() {
                    "true" => Arg::Bool(true),
                    "false" => Arg::Bool(false),
                    "nil" => Arg::Nil,
                    "if" | "range" | "with" | "else" | "end" | "define" | "template" | "block"
                    | "break" | "continue" => {
                        return Err(err(line, format!("unexpected keyword {name} in command")));
                    }
                    _ => Arg::Ident(name.clone()),
                });
                i += 1;
            }
            Tok::Str(s) => {
                args.push(Arg::Str(s.clone()));
                i += 1;
            }
            Tok::Int(n) | Tok::Char(n) => {
                args.push(Arg::Int(*n));
                i += 1;
            }
            Tok::Float(x) => {
                args.push(Arg::Float(*x));
                i += 1;
            }
        }
    }
    if args.is_empty() {
        return Err(err(line, "missing command after |"));
    }
    cmds.push(Command { args });
    Ok(Pipeline { vars, assign, cmds })
}
