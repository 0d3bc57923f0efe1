//! `deckhand run`: the daemon.

pub mod scheduler;
