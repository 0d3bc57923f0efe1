//! The marker comment and the marker value grammar.

use std::collections::HashMap;

use super::{Field, PolicyRef};

/// The JSON key Flux reads from a setter comment.
pub(crate) const POLICY_KEY: &str = "$imagepolicy";

/// What a comment after a scalar turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Comment {
    /// An ordinary comment: it does not mention `$imagepolicy`.
    Ordinary,
    /// A usable marker.
    Marker {
        /// The `$imagepolicy` value as written.
        raw: String,
        policy: PolicyRef,
        field: Field,
    },
    /// It mentions `$imagepolicy` but is not a usable marker; the message says why.
    Rejected(String),
}

/// Reads the comment text starting at its `#`.
///
/// Flux strips the leading `#`s and unmarshals the rest as a `map[string]string`, so the whole
/// remainder must be one JSON object of string values; trailing text makes it an ordinary comment.
pub(crate) fn parse_comment(comment: &str) -> Comment {
    if !comment.contains(POLICY_KEY) {
        return Comment::Ordinary;
    }
    let body = comment.trim_start_matches('#').trim();
    let map: HashMap<String, String> = match serde_json::from_str(body) {
        Ok(map) => map,
        Err(err) => {
            return Comment::Rejected(format!(
                "comment `{body}` mentions {POLICY_KEY} but is not a JSON object of strings ({err}); \
                 not a marker"
            ));
        }
    };
    let Some(raw) = map.get(POLICY_KEY) else {
        return Comment::Rejected(format!(
            "comment `{body}` has no \"{POLICY_KEY}\" key; not a marker"
        ));
    };
    match parse_value(raw) {
        Ok((policy, field)) => Comment::Marker {
            raw: raw.clone(),
            policy,
            field,
        },
        Err(message) => Comment::Rejected(message),
    }
}

/// Parses `ns:name`, `ns:name:tag`, `ns:name:name` or `ns:name:digest`.
pub(crate) fn parse_value(raw: &str) -> Result<(PolicyRef, Field), String> {
    let usage = "expected \"<namespace>:<policy>\" optionally followed by \":tag\", \":name\" or \":digest\"";
    let parts: Vec<&str> = raw.split(':').collect();
    let ok_part =
        |p: &str| !p.is_empty() && !p.chars().any(|c| c.is_whitespace() || c.is_control());
    if parts.len() == 1 && ok_part(parts[0]) {
        return Err(format!(
            "marker \"{raw}\" names no namespace; write \"<namespace>:{raw}\""
        ));
    }
    if !(2..=3).contains(&parts.len()) || !ok_part(parts[0]) || !ok_part(parts[1]) {
        return Err(format!("marker \"{raw}\" is malformed: {usage}"));
    }
    let field = match parts.get(2) {
        None => Field::Image,
        Some(&"tag") => Field::Tag,
        Some(&"name") => Field::Name,
        Some(&"digest") => Field::Digest,
        Some(other) => {
            return Err(format!(
                "marker \"{raw}\" has unknown field \"{other}\": expected tag, name or digest"
            ));
        }
    };
    Ok((
        PolicyRef {
            namespace: parts[0].to_owned(),
            name: parts[1].to_owned(),
        },
        field,
    ))
}
