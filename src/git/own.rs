//! Which commits deckhand made itself, so that an unpublished one may be dropped and re-made on
//! top of a newer remote tip — its edits are recomputed from the markers, so nothing is lost —
//! while a commit anyone else made never is.
//!
//! The record is a small file in the repository's git directory, one commit id per line.

use std::collections::HashSet;
use std::io::Write as _;
use std::path::PathBuf;

use git2::{Oid, Repository};

/// Lines kept when the file is compacted; far more than any run of unpublished commits.
const KEEP: usize = 500;

/// The record of deckhand's own commits in one repository.
pub(crate) struct OwnCommits {
    path: PathBuf,
}

impl OwnCommits {
    pub(crate) fn new(repo: &Repository) -> Self {
        Self {
            path: repo.path().join("deckhand-own-commits"),
        }
    }

    /// Every recorded commit (none when the file does not exist).
    pub(crate) fn load(&self) -> HashSet<Oid> {
        std::fs::read_to_string(&self.path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| Oid::from_str(l.trim()).ok())
            .collect()
    }

    /// Records `oid` as made by deckhand.
    pub(crate) fn record(&self, oid: Oid) -> std::io::Result<()> {
        let existing = std::fs::read_to_string(&self.path).unwrap_or_default();
        let lines = existing.lines().count();
        if lines >= 2 * KEEP {
            let kept: Vec<&str> = existing.lines().skip(lines - KEEP).collect();
            let mut text = kept.join("\n");
            text.push('\n');
            text.push_str(&format!("{oid}\n"));
            return std::fs::write(&self.path, text);
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        writeln!(file, "{oid}")
    }
}
