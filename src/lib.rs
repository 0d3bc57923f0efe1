//! deckhand: GitOps image automation for Docker Compose hosts.
//!
//! The flow of one pass (see `sync`): `registry` lists tags → `policy` picks the newest → `manifest`
//! finds the setter markers and plans byte-exact edits → files are written atomically → `git`
//! commits exactly the edited files. `config` turns `deckhand.yaml` into a validated model; `cli`
//! is the command line.

pub mod cli;
pub mod config;
pub mod daemon;
pub mod explain;
pub mod git;
pub mod http;
pub mod lint;
pub mod manifest;
pub mod policy;
pub mod registry;
pub mod rollout;
pub mod secret;
pub mod sync;
pub mod template;
