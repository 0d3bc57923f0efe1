//! The YAML a finding proposes: for deckhand.yaml entries under their key, for Flux objects
//! under `spec:`.

use crate::config::{Origin, PolicySettings};
use crate::policy::{Order, Rule};

/// A YAML single-quoted scalar.
pub(crate) fn quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Indents every line of `body` by `n` spaces.
fn indent(body: &str, n: usize) -> String {
    let pad = " ".repeat(n);
    body.lines()
        .map(|l| {
            if l.is_empty() {
                String::new()
            } else {
                format!("{pad}{l}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Wraps policy settings (`filterTags:`, `policy:` …) for where the policy is defined.
pub(crate) fn for_policy(policy: &PolicySettings, body: &str) -> String {
    wrap(&policy.origin, &policy.name, "policies", body)
}

/// Wraps `body` as the settings of the object at `origin`.
pub(crate) fn wrap(origin: &Origin, name: &str, section: &str, body: &str) -> String {
    if origin.flux {
        format!("spec:\n{}\n", indent(body, 2))
    } else {
        format!("{section}:\n  {name}:\n{}\n", indent(body, 4))
    }
}

/// `filterTags` and a numerical `policy` on the extracted value.
pub(crate) fn numerical_filter(pattern: &str, extract: &str, order: Order) -> String {
    format!(
        "filterTags:\n  pattern: {}\n  extract: {}\npolicy:\n  numerical:\n    order: {order}",
        quoted(pattern),
        quoted(extract)
    )
}

/// The order of an alphabetical or numerical rule (asc otherwise).
pub(crate) fn order_of(rule: &Rule) -> Order {
    match rule {
        Rule::Alphabetical(o) | Rule::Numerical(o) => *o,
        _ => Order::Asc,
    }
}
