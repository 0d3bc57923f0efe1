//! Finishing an update pass that was killed (power loss, `kill -9`).
//!
//! Every file write is atomic, so each file is old or new. What a kill can leave: new files not
//! yet committed (they would then count as "a person's uncommitted change" and be skipped forever),
//! a commit whose index update did not happen, and temp files of a write in progress. When the
//! state directory says a pass was in flight, the next start:
//! - commits the files whose only difference from HEAD is in the values of marked scalars — the
//!   exact shape of deckhand's own edit — with the usual message;
//! - refreshes the index entry of files equal to HEAD but stale in the index (the commit landed);
//! - removes deckhand's leftover `.deckhand-*.tmp` files.
//!
//! Any other difference is a person's, and is left alone as always.

use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::git::Worktree;
use crate::manifest::{self, Field};
use crate::sync::{self, Change};

/// What recovery did.
#[derive(Debug, Default)]
pub struct Recovered {
    /// The commit of the files an interrupted pass had written.
    pub commit: Option<String>,
    /// Files whose stale index entries were refreshed.
    pub refreshed: Vec<PathBuf>,
    /// Leftover temp files removed.
    pub removed: Vec<PathBuf>,
}

/// The changes that turn `old` into `new`, when the two differ only inside the values of the same
/// markers (same lines, policies and fields); `None` otherwise or when they are equal.
#[must_use]
pub fn marker_only_changes(relative: &Path, old: &[u8], new: &[u8]) -> Option<Vec<Change>> {
    let a = manifest::scan(old).ok()?.markers;
    let b = manifest::scan(new).ok()?.markers;
    if a.len() != b.len() {
        return None;
    }
    let mut changes = Vec::new();
    let (mut pos_a, mut pos_b) = (0, 0);
    for (ma, mb) in a.iter().zip(&b) {
        if ma.line != mb.line || ma.policy != mb.policy || ma.field != mb.field {
            return None;
        }
        if old.get(pos_a..ma.span.start)? != new.get(pos_b..mb.span.start)? {
            return None;
        }
        if ma.value != mb.value {
            changes.push(Change {
                file: relative.to_path_buf(),
                line: mb.line,
                policy: mb.policy.to_string(),
                field: field_name(mb.field),
                old: ma.value.clone(),
                new: mb.value.clone(),
                // Filled in by the caller, which knows the config.
                image: String::new(),
                setter: mb.marker.clone(),
                object: mb.object.clone(),
            });
        }
        pos_a = ma.span.end;
        pos_b = mb.span.end;
    }
    if old.get(pos_a..)? != new.get(pos_b..)? || changes.is_empty() {
        return None;
    }
    Some(changes)
}

fn field_name(f: Field) -> &'static str {
    match f {
        Field::Image => "image",
        Field::Tag => "tag",
        Field::Name => "name",
        Field::Digest => "digest",
    }
}

/// Finishes an interrupted pass in the checkout of `config.update_path`.
pub fn finish_interrupted_pass(config: &Config) -> Result<Recovered, String> {
    let mut out = Recovered::default();
    let worktree = Worktree::discover(&config.update_path).map_err(|e| e.to_string())?;
    let root = worktree.root().to_path_buf();
    remove_temp_files(&config.update_path, &mut out.removed);

    let git = |action: &str| {
        let (action, root) = (action.to_string(), root.clone());
        move |e: git2::Error| format!("recovery: git {action} in {}: {e}", root.display())
    };
    let repo = git2::Repository::open(worktree.root()).map_err(git("open"))?;
    let head_tree = repo
        .head()
        .and_then(|h| h.peel_to_tree())
        .map_err(git("reading HEAD"))?;
    let mut options = git2::StatusOptions::new();
    options.include_untracked(false).include_ignored(false);
    let statuses = repo.statuses(Some(&mut options)).map_err(git("status"))?;
    let scope = worktree.relative(
        &config
            .update_path
            .canonicalize()
            .unwrap_or_else(|_| config.update_path.clone()),
    );
    let mut to_commit = Vec::new();
    let mut changes = Vec::new();
    let mut stale = Vec::new();
    for entry in statuses.iter() {
        let Ok(rel) = entry.path().map(PathBuf::from) else {
            continue;
        };
        let yaml = rel.extension().is_some_and(|e| e == "yaml" || e == "yml");
        let modified = entry
            .status()
            .intersects(git2::Status::WT_MODIFIED | git2::Status::INDEX_MODIFIED);
        if !yaml || !modified || !rel.starts_with(&scope) {
            continue;
        }
        let Ok(head_entry) = head_tree.get_path(&rel) else {
            continue;
        };
        let Ok(blob) = repo.find_blob(head_entry.id()) else {
            continue;
        };
        let Ok(work) = std::fs::read(worktree.root().join(&rel)) else {
            continue;
        };
        if work == blob.content() {
            stale.push(rel);
        } else if let Some(c) = marker_only_changes(&rel, blob.content(), &work) {
            changes.extend(c.into_iter().map(|mut change| {
                let (namespace, name) = change.policy.split_once(':').unwrap_or_default();
                if let Some(p) = config.find_policy(namespace, name) {
                    change.image = config.repositories[&p.repository].image.clone();
                }
                change
            }));
            to_commit.push(worktree.root().join(&rel));
        }
    }
    if !stale.is_empty() {
        let mut index = repo.index().map_err(git("opening the index"))?;
        for rel in &stale {
            index.add_path(rel).map_err(git("updating the index"))?;
        }
        index.write().map_err(git("writing the index"))?;
        out.refreshed = stale;
    }
    if !to_commit.is_empty() {
        let branch = worktree
            .checked_out_branch(config.git.branch.as_deref())
            .map_err(|e| format!("recovery: {e}"))?;
        let message = sync::recovery_message(config, worktree.root(), &branch, &changes);
        let mut signer = config.git.signing_key.as_ref().map(crate::git::Signer::new);
        let oid = worktree
            .commit_files(
                &branch,
                &to_commit,
                &config.git.author,
                &message,
                signer.as_mut(),
            )
            .map_err(|e| format!("recovery: {e}"))?;
        out.commit = Some(oid.to_string());
    }
    Ok(out)
}

fn remove_temp_files(dir: &Path, removed: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if kind.is_dir() && name != ".git" {
            remove_temp_files(&path, removed);
        } else if kind.is_file()
            && name.starts_with(".deckhand-")
            && name.ends_with(".tmp")
            && std::fs::remove_file(&path).is_ok()
        {
            removed.push(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = "services:\n  api:\n    image: reg/api:1.0.0 # {\"$imagepolicy\": \"flux-system:api\"}\n    restart: always\n  tag: 1.0.0 # {\"$imagepolicy\": \"flux-system:api:tag\"}\n";

    #[test]
    fn only_marked_values_differ() {
        let new = OLD.replace("1.0.0", "1.2.0");
        let changes = marker_only_changes(Path::new("c.yaml"), OLD.as_bytes(), new.as_bytes())
            .expect("a deckhand edit");
        assert_eq!(changes.len(), 2);
        assert_eq!(changes[0].old, "reg/api:1.0.0");
        assert_eq!(changes[0].new, "reg/api:1.2.0");
        assert_eq!(changes[1].field, "tag");
    }

    #[test]
    fn any_other_difference_is_a_persons() {
        let p = Path::new("c.yaml");
        for other in [
            OLD.replace("always", "never"),
            OLD.replace("1.0.0", "1.2.0").replace("always", "never"),
            OLD.replace(" # {\"$imagepolicy\": \"flux-system:api:tag\"}", ""),
            OLD.replace("flux-system:api:tag", "flux-system:web:tag"),
            format!("{OLD}# more\n"),
            "not: [yaml".to_string(),
        ] {
            assert!(
                marker_only_changes(p, OLD.as_bytes(), other.as_bytes()).is_none(),
                "{other}"
            );
        }
        assert!(marker_only_changes(p, OLD.as_bytes(), OLD.as_bytes()).is_none());
    }
}
