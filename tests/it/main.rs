//! deckhand's integration tests: one binary, one module per area. They run against real
//! components — the Debian `docker-registry`, real git repositories, the real-world YAML corpus —
//! and fail loudly when one is missing.

mod support;

mod cli;
mod container;
mod corpus;
mod daemon;
mod flux_seed;
mod git_auth;
mod git_remote;
mod git_sign;
mod harbor;
mod lint;
mod registry;
mod rollout;
mod sync;
