//! `deckhand run`: the daemon.

pub mod scheduler;
pub mod state;
