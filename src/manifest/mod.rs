//! Setter markers in YAML files: find them, plan the new values, and splice them in byte-exactly.
//!
//! A *marker* is a line comment that follows a scalar value on the same line and whose text is a JSON
//! object of string values with a `$imagepolicy` key, exactly as Flux's image-automation-controller
//! reads it:
//!
//! ```yaml
//! image: ghcr.io/acme/web:1.4.0 # {"$imagepolicy": "flux-system:web"}
//! ```
//!
//! The pipeline is [`discover`] (walk a tree, screen files by their bytes) → [`scan`] (parse one file,
//! return its [`Marker`]s) → [`plan`] (pure: markers × picks → [`Edit`]s) → [`apply`] (splice the edits
//! into the original bytes) → [`write_atomic`].
//!
//! Unlike Flux, which re-serialises the whole file, only the bytes of the marked scalar ever change:
//! comments, blank lines, indentation, quoting elsewhere, `---` separators, CRLF line endings, a BOM
//! and a missing final newline are all kept. The one typing rule copied from Flux: a plain scalar whose
//! new text YAML 1.1 would read as a number, bool or null is written double-quoted.

mod discover;
mod dotenv;
mod format;
mod marker;
mod nix;
mod plan;
mod quote;
mod scan;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_formats;

use std::fmt;
use std::ops::Range;

pub use discover::{DiscoverError, Discovery, discover, write_atomic};
pub use format::{Format, plan_as, render_plain, scan_as};
pub use plan::{Edit, Pick, PlanWarning, apply, plan, replace_scalar};
pub use quote::{is_valid_digest, is_valid_tag, render_scalar, yaml11_non_string};
pub use scan::{Scalar, mentions_marker, scalars, scan};

/// Which part of the picked image a marker asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// `"ns:name"`: the whole reference, `<image>:<tag>` plus `@<digest>` when a digest is known.
    Image,
    /// `"ns:name:tag"`: the tag only.
    Tag,
    /// `"ns:name:name"`: the image name (repository) only.
    Name,
    /// `"ns:name:digest"`: the digest only.
    Digest,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Field::Image => "image",
            Field::Tag => "tag",
            Field::Name => "name",
            Field::Digest => "digest",
        })
    }
}

/// The image policy a marker refers to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PolicyRef {
    /// Namespace of the policy (mandatory in a marker).
    pub namespace: String,
    /// Name of the policy.
    pub name: String,
}

impl fmt::Display for PolicyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.namespace, self.name)
    }
}

/// How a scalar is written in the file. Block scalars (`|`, `>`) are never edited and so not listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScalarStyle {
    /// No quotes.
    Plain,
    /// `'single quoted'`.
    SingleQuoted,
    /// `"double quoted"`.
    DoubleQuoted,
}

/// One setter marker and the scalar it is attached to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    /// 1-based line of the scalar (and of the marker comment).
    pub line: usize,
    /// Byte range of the scalar token in the file, quotes included.
    pub span: Range<usize>,
    /// The scalar's current (decoded) value.
    pub value: String,
    /// The scalar's quoting style.
    pub style: ScalarStyle,
    /// The policy the marker names.
    pub policy: PolicyRef,
    /// Which part of the pick the marker wants.
    pub field: Field,
    /// The marker's `$imagepolicy` value as written, e.g. `flux-system:web:tag`.
    pub marker: String,
    /// The Kubernetes object of the enclosing document (all fields empty for compose files and
    /// other non-Kubernetes files), as Flux records it for commit templates.
    pub object: ObjectId,
}

/// A Kubernetes object's identity: `apiVersion`, `kind`, `metadata.name`, `metadata.namespace`
/// (Flux's `ObjectIdentifier`); fields are empty where the document has none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId {
    /// `apiVersion`.
    pub api_version: String,
    /// `kind`.
    pub kind: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`.
    pub namespace: String,
}

/// Something in a file that looks like it was meant to be a marker but is not usable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanWarning {
    /// 1-based line of the comment.
    pub line: usize,
    /// What is wrong, naming the marker text.
    pub message: String,
}

impl fmt::Display for ScanWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// The result of scanning one file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scan {
    /// Usable markers, in file order.
    pub markers: Vec<Marker>,
    /// Marker-like comments that were ignored, in file order.
    pub warnings: Vec<ScanWarning>,
}

/// The file is not YAML (or not UTF-8).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("yaml does not parse at line {line}, column {column}: {message}")]
pub struct ParseError {
    /// 1-based line of the problem.
    pub line: usize,
    /// 1-based column (in characters) of the problem.
    pub column: usize,
    /// The parser's description.
    pub message: String,
}
