//! Planning edits from markers and picks, and splicing them into the bytes.

use std::ops::Range;

use super::quote::{is_valid_digest, is_valid_tag, render_scalar};
use super::{Field, Marker, ObjectId, PolicyRef, Scalar};

/// The image a policy selected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pick {
    /// The repository as written in the image repository's spec (Flux's `latestRef.name`).
    pub image: String,
    /// The selected tag.
    pub tag: String,
    /// The tag's digest, when digests are reflected.
    pub digest: Option<String>,
}

/// One planned change of one scalar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    /// 1-based line of the scalar.
    pub line: usize,
    /// Byte range of the old token, quotes included.
    pub span: Range<usize>,
    /// The policy that asked for the change.
    pub policy: PolicyRef,
    /// Which part of the pick was written.
    pub field: Field,
    /// The old decoded value, for reports.
    pub old: String,
    /// The new decoded value, for reports.
    pub new: String,
    /// The exact text spliced into `span`: the old quote style kept, a plain scalar double-quoted
    /// when YAML 1.1 would read it as a non-string.
    pub replacement: String,
    /// The marker's `$imagepolicy` value (Flux's setter name).
    pub setter: String,
    /// The Kubernetes object the value is in.
    pub object: ObjectId,
}

/// A marker the planner left alone, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanWarning {
    /// 1-based line of the marker.
    pub line: usize,
    /// The marker's value as written.
    pub marker: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for PlanWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "line {}: marker \"{}\": {}",
            self.line, self.marker, self.message
        )
    }
}

/// Pure: markers × picks → edits, only where the new value differs from the old.
///
/// - `ns:name` writes `<image>:<tag>`, plus `@<digest>` when the pick has one; `:tag` writes the tag,
///   `:name` the image, `:digest` the digest.
/// - A policy `pick` knows nothing about → warning.
/// - `:digest` when the pick has no digest → warning, value left alone (Flux would blank it).
/// - A tag outside the OCI grammar ([`is_valid_tag`]), a malformed digest, or an empty image or one
///   with blanks or control characters → warning, never written.
pub fn plan(
    markers: &[Marker],
    pick: &dyn Fn(&PolicyRef) -> Option<Pick>,
) -> (Vec<Edit>, Vec<PlanWarning>) {
    let mut edits = Vec::new();
    let mut warnings = Vec::new();
    for m in markers {
        let warn = |message: String| PlanWarning {
            line: m.line,
            marker: m.marker.clone(),
            message,
        };
        let Some(p) = pick(&m.policy) else {
            warnings.push(warn(format!(
                "no image selected for policy {} (unknown policy, or it has no result yet); \
                 value left as {:?}",
                m.policy, m.value
            )));
            continue;
        };
        let new = match new_value(m.field, &p) {
            Ok(new) => new,
            Err(message) => {
                warnings.push(warn(message));
                continue;
            }
        };
        if new == m.value {
            continue;
        }
        edits.push(Edit {
            line: m.line,
            span: m.span.clone(),
            policy: m.policy.clone(),
            field: m.field,
            old: m.value.clone(),
            replacement: render_scalar(m.style, &new),
            new,
            setter: m.marker.clone(),
            object: m.object.clone(),
        });
    }
    (edits, warnings)
}

fn new_value(field: Field, p: &Pick) -> Result<String, String> {
    let check_tag = || {
        if is_valid_tag(&p.tag) {
            Ok(())
        } else {
            Err(format!(
                "tag {:?} is not a valid OCI tag ([A-Za-z0-9_][A-Za-z0-9._-]{{0,127}}); not written",
                p.tag
            ))
        }
    };
    let check_image = || {
        if !p.image.is_empty() && !p.image.chars().any(|c| c.is_whitespace() || c.is_control()) {
            Ok(())
        } else {
            Err(format!(
                "image name {:?} is empty or contains blanks; not written",
                p.image
            ))
        }
    };
    let check_digest = |d: &str| {
        if is_valid_digest(d) {
            Ok(())
        } else {
            Err(format!(
                "digest {d:?} is not a valid OCI digest (algorithm:hex); not written"
            ))
        }
    };
    match field {
        Field::Image => {
            check_image()?;
            check_tag()?;
            match &p.digest {
                Some(d) => {
                    check_digest(d)?;
                    Ok(format!("{}:{}@{d}", p.image, p.tag))
                }
                None => Ok(format!("{}:{}", p.image, p.tag)),
            }
        }
        Field::Tag => check_tag().map(|()| p.tag.clone()),
        Field::Name => check_image().map(|()| p.image.clone()),
        Field::Digest => match &p.digest {
            Some(d) => check_digest(d).map(|()| d.clone()),
            None => Err(format!(
                "policy selected {}:{} but reflects no digest; the value is left alone \
                 (set the policy's digest reflection to IfNotPresent or Always)",
                p.image, p.tag
            )),
        },
    }
}

/// Splices the edits into the bytes; everything outside the spans is untouched.
///
/// Edits may come in any order. An edit whose span lies outside `bytes` or overlaps an earlier one
/// (which [`plan`] never produces for the bytes it scanned) is skipped with a log warning.
#[must_use]
pub fn apply(bytes: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut order: Vec<&Edit> = edits.iter().collect();
    order.sort_by_key(|e| (e.span.start, e.span.end));
    let grow: usize = edits.iter().map(|e| e.replacement.len()).sum();
    let mut out = Vec::with_capacity(bytes.len() + grow);
    let mut at = 0;
    for e in order {
        if e.span.start < at || e.span.start > e.span.end || e.span.end > bytes.len() {
            tracing::warn!(
                line = e.line,
                span = ?e.span,
                "edit skipped: span overlaps another edit or lies outside the file"
            );
            continue;
        }
        out.extend_from_slice(&bytes[at..e.span.start]);
        out.extend_from_slice(e.replacement.as_bytes());
        at = e.span.end;
    }
    out.extend_from_slice(&bytes[at..]);
    out
}

/// Replaces one scalar (as listed by [`scalars`](super::scalars)) with `value`, rendered in the
/// scalar's quote style by [`render_scalar`]; every other byte is kept.
#[must_use]
pub fn replace_scalar(bytes: &[u8], scalar: &Scalar, value: &str) -> Vec<u8> {
    let replacement = render_scalar(scalar.style, value);
    let end = scalar.span.end.min(bytes.len());
    let start = scalar.span.start.min(end);
    let mut out = Vec::with_capacity(bytes.len() + replacement.len());
    out.extend_from_slice(&bytes[..start]);
    out.extend_from_slice(replacement.as_bytes());
    out.extend_from_slice(&bytes[end..]);
    out
}
