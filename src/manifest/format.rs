//! File formats that can carry markers, and how a new value is written in each.
//!
//! YAML (`*.yaml`, `*.yml`), dotenv (`.env`, `*.env`) and Nix (`*.nix`) share the marker grammar,
//! the planner, the byte splice and the atomic write; they differ in how a file is scanned and
//! how a value is rendered. In dotenv and Nix files a value is written inside the quotes it had
//! (none, `'…'` or `"…"`), and only when every character is one that needs no escaping there —
//! which every valid image name, tag and digest satisfies.

use std::path::Path;

use super::plan::{Edit, Pick, PlanWarning, plan};
use super::{Marker, ParseError, PolicyRef, ScalarStyle, Scan};

/// How a file is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// `*.yaml`, `*.yml`.
    Yaml,
    /// `.env`, `*.env` (Docker Compose's dotenv rules).
    Dotenv,
    /// `*.nix`.
    Nix,
}

impl Format {
    /// The format a file name says, if it is one deckhand scans.
    #[must_use]
    pub fn of_name(name: &[u8]) -> Option<Format> {
        if name.ends_with(b".yaml") || name.ends_with(b".yml") {
            Some(Format::Yaml)
        } else if name.ends_with(b".env") {
            Some(Format::Dotenv)
        } else if name.ends_with(b".nix") {
            Some(Format::Nix)
        } else {
            None
        }
    }

    /// The format of `path`'s file name (YAML when it says nothing else).
    #[must_use]
    pub fn of_path(path: &Path) -> Format {
        path.file_name()
            .and_then(|n| Format::of_name(n.as_encoded_bytes()))
            .unwrap_or(Format::Yaml)
    }
}

/// Scans `bytes` as `format`.
///
/// # Errors
/// [`ParseError`] when the file is not UTF-8 or does not parse.
pub fn scan_as(format: Format, bytes: &[u8]) -> Result<Scan, ParseError> {
    match format {
        Format::Yaml => super::scan(bytes),
        Format::Dotenv => super::dotenv::scan(bytes),
        Format::Nix => super::nix::scan(bytes),
    }
}

/// Characters a dotenv or Nix value may hold without any quoting or escaping concerns.
fn plain_safe(value: &str) -> bool {
    !value.is_empty()
        && value.bytes().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-' | b':' | b'/' | b'@' | b'+')
        })
}

/// The token to write for `value` in a dotenv or Nix file, in the old token's quote style.
///
/// # Errors
/// A message when the value holds a character that would need escaping there.
pub fn render_plain(style: ScalarStyle, value: &str) -> Result<String, String> {
    if !plain_safe(value) {
        return Err(format!(
            "new value {value:?} has characters that would need quoting or escaping here; not written"
        ));
    }
    Ok(match style {
        ScalarStyle::Plain => value.to_owned(),
        ScalarStyle::SingleQuoted => format!("'{value}'"),
        ScalarStyle::DoubleQuoted => format!("\"{value}\""),
    })
}

/// [`plan`] for a file of `format`: YAML keeps YAML's rendering; dotenv and Nix values are
/// rendered by [`render_plain`] (an unsafe value becomes a warning, never an edit).
pub fn plan_as(
    format: Format,
    markers: &[Marker],
    pick: &dyn Fn(&PolicyRef) -> Option<Pick>,
) -> (Vec<Edit>, Vec<PlanWarning>) {
    let (mut edits, mut warnings) = plan(markers, pick);
    if format == Format::Yaml {
        return (edits, warnings);
    }
    edits.retain_mut(|e| {
        let style = markers
            .iter()
            .find(|m| m.span == e.span)
            .map_or(ScalarStyle::Plain, |m| m.style);
        match render_plain(style, &e.new) {
            Ok(token) => {
                e.replacement = token;
                true
            }
            Err(message) => {
                warnings.push(PlanWarning {
                    line: e.line,
                    marker: e.setter.clone(),
                    message,
                });
                false
            }
        }
    });
    (edits, warnings)
}
