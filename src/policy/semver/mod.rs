//! The semver policy's two halves: which tags are versions ([`TagVersion`], Flux's
//! `version.ParseVersion`) and which versions a range admits ([`Constraint`], Masterminds v3).

mod constraint;
mod version;

pub use constraint::Constraint;
pub use version::TagVersion;
pub(crate) use version::Ver;
