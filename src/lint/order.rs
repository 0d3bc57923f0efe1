//! Is an alphabetical or numerical policy's order chronological? Decided statically from the
//! `filterTags` pattern and `extract`: the key is read as a sequence of parts (fixed text,
//! varying text, digit runs), and the order is not chronological when a varying non-digit part
//! — a hex sha, a branch name — comes before a timestamp-like digit run (ten digits or more, or
//! an unbounded run). Byte-wise comparison then decides on the varying part, not the time.
//!
//! This is exactly the `main-<sha>-<ts>` + `extract: $0` + alphabetical pattern of the seed
//! scenario; the proposed fix orders numerically on the extracted digit run.

use regex_syntax::ast::{
    self, Ast, ClassPerlKind, ClassSet, ClassSetItem, GroupKind, RepetitionKind, RepetitionRange,
};

/// What was found, and the filter that fixes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderProblem {
    /// The pattern text of the varying part that decides the order (e.g. `[a-f0-9]{7}`).
    pub varying: String,
    /// The pattern text of the timestamp-like digit run (e.g. `[0-9]{10}`).
    pub timestamp: String,
    /// A pattern with the digit run captured.
    pub pattern: String,
    /// The extract that selects it.
    pub extract: String,
}

#[derive(Debug)]
enum Part {
    Fixed,
    Varying(ast::Span),
    Digits {
        min: u32,
        unbounded: bool,
        span: ast::Span,
        /// The innermost capture group that is exactly this run: (index, name).
        group: Option<(u32, Option<String>)>,
    },
}

/// Analyses a filter (`pattern`, `extract`); `None` when the order looks chronological or the
/// pattern is beyond this analysis.
#[must_use]
pub fn non_chronological(pattern: &str, extract: &str) -> Option<OrderProblem> {
    let ast = ast::parse::Parser::new().parse(pattern).ok()?;
    let key = key_ast(&ast, extract)?;
    let mut parts = Vec::new();
    flatten(key, &mut parts, None);
    let ts_index = parts.iter().position(
        |p| matches!(p, Part::Digits { min, unbounded, .. } if *min >= 10 || *unbounded),
    )?;
    let varying = parts[..ts_index].iter().find_map(|p| match p {
        Part::Varying(span) => Some(*span),
        _ => None,
    })?;
    let Part::Digits { span, group, .. } = &parts[ts_index] else {
        return None;
    };
    let ts_text = &pattern[span.start.offset..span.end.offset];
    let (new_pattern, extract) = match group {
        Some((_, Some(name))) => (pattern.to_owned(), format!("${name}")),
        Some((index, None)) => (pattern.to_owned(), format!("${{{index}}}")),
        None => {
            let name = if pattern.contains("(?P<ts>") || pattern.contains("(?<ts>") {
                "timestamp"
            } else {
                "ts"
            };
            (
                format!(
                    "{}(?P<{name}>{ts_text}){}",
                    &pattern[..span.start.offset],
                    &pattern[span.end.offset..]
                ),
                format!("${name}"),
            )
        }
    };
    Some(OrderProblem {
        varying: pattern[varying.start.offset..varying.end.offset].to_owned(),
        timestamp: ts_text.to_owned(),
        pattern: new_pattern,
        extract,
    })
}

/// The part of the pattern the key comes from: the whole match for no extract or `$0`, the
/// group a lone `$name`/`${name}`/`$N` names, else the group the template starts with.
fn key_ast<'a>(ast: &'a Ast, extract: &str) -> Option<&'a Ast> {
    let extract = extract.trim();
    if extract.is_empty() || extract == "$0" || extract == "${0}" {
        return Some(ast);
    }
    let rest = extract.strip_prefix('$')?;
    let name: String = if let Some(braced) = rest.strip_prefix('{') {
        braced.split('}').next()?.to_owned()
    } else {
        rest.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    if name.is_empty() {
        return None;
    }
    if name == "0" {
        return Some(ast);
    }
    find_group(ast, &name)
}

fn find_group<'a>(ast: &'a Ast, name: &str) -> Option<&'a Ast> {
    match ast {
        Ast::Group(g) => {
            let hit = match &g.kind {
                GroupKind::CaptureIndex(i) => i.to_string() == name,
                GroupKind::CaptureName { name: n, .. } => {
                    n.name == name || n.index.to_string() == name
                }
                GroupKind::NonCapturing(_) => false,
            };
            if hit {
                Some(&g.ast)
            } else {
                find_group(&g.ast, name)
            }
        }
        Ast::Concat(c) => c.asts.iter().find_map(|a| find_group(a, name)),
        Ast::Alternation(a) => a.asts.iter().find_map(|a| find_group(a, name)),
        Ast::Repetition(r) => find_group(&r.ast, name),
        _ => None,
    }
}

/// Whether a class matches digits only.
fn class_digits_only(ast: &Ast) -> Option<bool> {
    match ast {
        Ast::ClassPerl(p) => Some(p.kind == ClassPerlKind::Digit && !p.negated),
        Ast::ClassBracketed(b) => Some(!b.negated && set_digits_only(&b.kind)),
        Ast::ClassUnicode(_) | Ast::Dot(_) => Some(false),
        _ => None,
    }
}

fn set_digits_only(set: &ClassSet) -> bool {
    match set {
        ClassSet::Item(item) => item_digits_only(item),
        ClassSet::BinaryOp(_) => false,
    }
}

fn item_digits_only(item: &ClassSetItem) -> bool {
    match item {
        ClassSetItem::Literal(l) => l.c.is_ascii_digit(),
        ClassSetItem::Range(r) => r.start.c.is_ascii_digit() && r.end.c.is_ascii_digit(),
        ClassSetItem::Perl(p) => p.kind == ClassPerlKind::Digit && !p.negated,
        ClassSetItem::Union(u) => !u.items.is_empty() && u.items.iter().all(item_digits_only),
        ClassSetItem::Bracketed(b) => !b.negated && set_digits_only(&b.kind),
        _ => false,
    }
}

fn flatten(ast: &Ast, out: &mut Vec<Part>, group: Option<(u32, Option<String>)>) {
    match ast {
        Ast::Empty(_) | Ast::Flags(_) | Ast::Assertion(_) => {}
        Ast::Literal(_) => out.push(Part::Fixed),
        Ast::Concat(c) => {
            for a in &c.asts {
                flatten(a, out, None);
            }
        }
        Ast::Group(g) => {
            let this = match &g.kind {
                GroupKind::CaptureIndex(i) => Some((*i, None)),
                GroupKind::CaptureName { name, .. } => Some((name.index, Some(name.name.clone()))),
                GroupKind::NonCapturing(_) => None,
            };
            let before = out.len();
            flatten(&g.ast, out, this.clone().or(group));
            // A group that is exactly one digit run names it.
            if out.len() == before + 1
                && let Some(Part::Digits { group: slot, .. }) = out.last_mut()
                && slot.is_none()
            {
                *slot = this;
            }
        }
        Ast::Repetition(r) => {
            let (min, unbounded) = match &r.op.kind {
                RepetitionKind::ZeroOrOne => (0, false),
                RepetitionKind::ZeroOrMore => (0, true),
                RepetitionKind::OneOrMore => (1, true),
                RepetitionKind::Range(RepetitionRange::Exactly(n)) => (*n, false),
                RepetitionKind::Range(RepetitionRange::AtLeast(n)) => (*n, true),
                RepetitionKind::Range(RepetitionRange::Bounded(n, _)) => (*n, false),
            };
            match class_digits_only(&r.ast) {
                Some(true) => push_digits(out, min, unbounded, r.span),
                Some(false) => out.push(Part::Varying(r.span)),
                None => {
                    // A repeated literal is fixed text; anything else varies.
                    if matches!(*r.ast, Ast::Literal(_)) {
                        out.push(Part::Fixed);
                    } else {
                        out.push(Part::Varying(r.span));
                    }
                }
            }
        }
        Ast::Alternation(a) => out.push(Part::Varying(a.span)),
        class => match class_digits_only(class) {
            Some(true) => push_digits(out, 1, false, *class.span()),
            _ => out.push(Part::Varying(*class.span())),
        },
    }
}

/// Adds a digit run, merging it with a run just before (`\d\d\d…`).
fn push_digits(out: &mut Vec<Part>, min: u32, unbounded: bool, span: ast::Span) {
    if let Some(Part::Digits {
        min: m,
        unbounded: u,
        span: s,
        group,
    }) = out.last_mut()
        && s.end.offset == span.start.offset
    {
        *m += min;
        *u |= unbounded;
        s.end = span.end;
        *group = None;
        return;
    }
    out.push(Part::Digits {
        min,
        unbounded,
        span,
        group: None,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_scenario_is_flagged_with_the_numerical_fix() {
        let p = non_chronological("^main-[a-f0-9]{7}-[0-9]{10}$", "$0").expect("flagged");
        assert_eq!(p.varying, "[a-f0-9]{7}");
        assert_eq!(p.timestamp, "[0-9]{10}");
        assert_eq!(p.pattern, "^main-[a-f0-9]{7}-(?P<ts>[0-9]{10})$");
        assert_eq!(p.extract, "$ts");
        // The fix itself is chronological.
        assert_eq!(non_chronological(&p.pattern, &p.extract), None);
        // No extract is the same as $0.
        assert!(non_chronological("^main-[a-f0-9]{7}-[0-9]{10}$", "").is_some());
    }

    #[test]
    fn variants_that_are_not_chronological() {
        for (pattern, extract) in [
            (r"^main-[0-9a-f]+-\d+$", "$0"),
            (r"^(?P<all>main-[a-f0-9]{7}-[0-9]{10})$", "$all"),
            (r"^[a-z]+-[a-f0-9]{7}-\d{10}$", ""),
            (r"^(main|develop)-\d{10}$", "$0"),
            (r"^main-.{7}-\d\d\d\d\d\d\d\d\d\d$", ""),
            (r"^main-\w+-(\d{10})", "$0"),
        ] {
            assert!(
                non_chronological(pattern, extract).is_some(),
                "{pattern} {extract}"
            );
        }
        // A digit run already in a group is reused.
        let p = non_chronological(r"^main-[a-f0-9]+-(\d{10})$", "").unwrap();
        assert_eq!(
            (p.pattern.as_str(), p.extract.as_str()),
            (r"^main-[a-f0-9]+-(\d{10})$", "${1}")
        );
        let p = non_chronological(r"^main-[a-f0-9]+-(?P<build>\d{10})$", "").unwrap();
        assert_eq!(p.extract, "$build");
    }

    #[test]
    fn chronological_or_unknown_orders_are_not_flagged() {
        for (pattern, extract) in [
            // The documented form: numerical on the extracted timestamp.
            (r"^main-[a-f0-9]+-(?P<ts>[0-9]{10})$", "$ts"),
            (r"^main-[a-f0-9]+-(?P<ts>[0-9]{10})$", "${ts}"),
            // A fixed prefix before the time, nothing varying.
            (r"^build-[0-9]{10}$", "$0"),
            (r"^v[0-9]+\.[0-9]+\.[0-9]+$", ""),
            // The time first, then the sha: byte order is time order.
            (r"^[0-9]{10}-[a-f0-9]{7}$", ""),
            // A sha but no time at all.
            (r"^main-[a-f0-9]{7}$", ""),
            // Not a pattern this analysis reads.
            (r"(unclosed", ""),
            (r"^main-[a-f0-9]+-(?P<ts>[0-9]{10})$", "$1.$2"),
        ] {
            assert_eq!(
                non_chronological(pattern, extract),
                None,
                "{pattern} {extract}"
            );
        }
    }
}
