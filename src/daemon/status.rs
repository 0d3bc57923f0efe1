//! `deckhand status`: per policy the latest pick (from the daemon's state), where the policy is
//! used in the files and whether each use has that value, the last scan and its error, the last
//! update pass, and held rollouts. Reads config, state and files; talks to no registry.

use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use serde::Serialize;

use super::state::{self, STATE_FILE, State, UpdateState};
use crate::config::Config;
use crate::manifest::{self, Pick, PolicyRef};

/// Everything `status` shows.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// The state directory read.
    pub state_dir: PathBuf,
    /// Why the state could not be used (it then reads as empty).
    pub state_problem: Option<String>,
    /// Per policy, in name order.
    pub policies: Vec<PolicyStatus>,
    /// The last update pass.
    pub last_update: Option<UpdateState>,
    /// Images held back after failed rollouts, as the rollout work records them.
    pub held_rollouts: Option<serde_json::Value>,
    /// Problems reading the files.
    pub problems: Vec<String>,
}

/// One policy.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyStatus {
    /// `namespace:name`.
    pub policy: String,
    /// Its repository's name.
    pub repository: String,
    /// The repository's image.
    pub image: String,
    /// The latest pick, if a scan made one.
    pub latest: Option<String>,
    /// Its digest, when reflected.
    pub digest: Option<String>,
    /// Why the last scan picked nothing.
    pub pick_error: Option<String>,
    /// When the pick last changed (Unix seconds).
    pub since: Option<u64>,
    /// When the repository was last scanned (Unix seconds).
    pub last_scan: Option<u64>,
    /// Tags it listed.
    pub tags: Option<usize>,
    /// The last scan's error.
    pub scan_error: Option<String>,
    /// Failed scans in a row.
    pub consecutive_failures: u32,
    /// Where the policy's markers are.
    pub uses: Vec<Use>,
    /// Every use has the latest pick (false without a pick).
    pub up_to_date: bool,
}

/// One marker of a policy.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Use {
    /// File, relative to the checkout.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// `image`, `tag`, `name`, `digest`.
    pub field: String,
    /// The value in the file.
    pub value: String,
    /// What the latest pick would write, when it differs.
    pub expected: Option<String>,
    /// Whether the value is what the latest pick would write (`None` without a pick).
    pub current: Option<bool>,
}

/// Gathers the status.
#[must_use]
pub fn status(config: &Config, state_dir: &Path) -> Status {
    let (state, state_problem) = match state::read(&state_dir.join(STATE_FILE)) {
        Ok(Some(s)) => (s, None),
        Ok(None) => (
            State::default(),
            Some(format!(
                "no state in {} yet: `deckhand run` has not scanned",
                state_dir.display()
            )),
        ),
        Err(e) => (State::default(), Some(e)),
    };
    let mut problems = Vec::new();
    let root = crate::git::Worktree::discover(&config.update_path)
        .map(|w| w.root().to_path_buf())
        .unwrap_or_else(|_| config.update_path.clone());
    let discovery = manifest::discover(&root, &config.update_path);
    problems.extend(discovery.errors.iter().map(ToString::to_string));
    let mut markers = Vec::new();
    for path in &discovery.files {
        let relative = path.strip_prefix(&root).unwrap_or(path).to_path_buf();
        match std::fs::read(path).map(|b| manifest::scan(&b)) {
            Ok(Ok(scan)) => markers.extend(scan.markers.into_iter().map(|m| (relative.clone(), m))),
            Ok(Err(e)) => {
                problems.push(format!("{}:{}: {}", relative.display(), e.line, e.message))
            }
            Err(e) => problems.push(format!("{}: {e}", relative.display())),
        }
    }

    let policies = config
        .policies
        .iter()
        .map(|(id, p)| {
            let repo = &config.repositories[&p.repository];
            let ps = state.policies.get(id);
            let rs = state.repositories.get(&p.repository);
            let latest = ps.and_then(|s| s.tag.clone());
            let pick = latest.as_ref().map(|tag| Pick {
                image: repo.image.clone(),
                tag: tag.clone(),
                digest: ps.and_then(|s| s.digest.clone()),
            });
            let name = PolicyRef {
                namespace: p.namespace.clone(),
                name: p.name.clone(),
            };
            let uses: Vec<Use> = markers
                .iter()
                .filter(|(_, m)| m.policy == name)
                .map(|(file, m)| {
                    let (expected, current) = match &pick {
                        None => (None, None),
                        Some(pick) => {
                            let lookup = |_: &PolicyRef| Some(pick.clone());
                            let (edits, _) = manifest::plan(std::slice::from_ref(m), &lookup);
                            match edits.first() {
                                Some(e) => (Some(e.new.clone()), Some(false)),
                                None => (None, Some(true)),
                            }
                        }
                    };
                    Use {
                        file: file.clone(),
                        line: m.line,
                        field: m.field.to_string(),
                        value: m.value.clone(),
                        expected,
                        current,
                    }
                })
                .collect();
            let up_to_date = pick.is_some() && uses.iter().all(|u| u.current == Some(true));
            PolicyStatus {
                policy: name.to_string(),
                repository: p.repository.clone(),
                image: repo.image.clone(),
                latest,
                digest: ps.and_then(|s| s.digest.clone()),
                pick_error: ps.and_then(|s| s.error.clone()),
                since: ps.and_then(|s| s.since),
                last_scan: rs.map(|r| r.last_scan),
                tags: rs.map(|r| r.tags),
                scan_error: rs.and_then(|r| r.error.clone()),
                consecutive_failures: rs.map_or(0, |r| r.consecutive_failures),
                uses,
                up_to_date,
            }
        })
        .collect();

    // Held images are what the rollout recorded in the same state directory.
    let held_rollouts = {
        let store = crate::rollout::state::StateStore::new(state_dir);
        let (rollout_state, problem) = store.load();
        if let Some(problem) = problem {
            problems.push(problem);
        }
        if rollout_state.held.is_empty() {
            None
        } else {
            serde_json::to_value(&rollout_state.held).ok()
        }
    };
    Status {
        state_dir: state_dir.to_path_buf(),
        state_problem,
        policies,
        last_update: state.last_update,
        held_rollouts,
        problems,
    }
}

fn when(unix: u64) -> String {
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(unix))
}

/// The status for people.
#[must_use]
pub fn render_text(s: &Status) -> String {
    let mut out = String::new();
    if let Some(p) = &s.state_problem {
        out.push_str(&format!("note: {p}\n"));
    }
    for p in &s.policies {
        let pick = match (&p.latest, &p.pick_error) {
            (Some(tag), _) => tag.clone(),
            (None, Some(e)) => format!("none ({e})"),
            (None, None) => "not scanned yet".into(),
        };
        let verdict = if p.up_to_date {
            "up to date"
        } else if p.latest.is_none() {
            "unknown"
        } else {
            "NOT up to date"
        };
        out.push_str(&format!(
            "{}  {}\n  latest: {pick}  [{verdict}]\n",
            p.policy, p.image
        ));
        if let Some(t) = p.last_scan {
            let result = match &p.scan_error {
                Some(e) => format!("failed ({} in a row): {e}", p.consecutive_failures),
                None => format!("ok, {} tags", p.tags.unwrap_or(0)),
            };
            out.push_str(&format!("  last scan: {}: {result}\n", when(t)));
        }
        if p.uses.is_empty() {
            out.push_str("  used nowhere under update.path\n");
        }
        for u in &p.uses {
            let state = match (u.current, &u.expected) {
                (Some(true), _) => "current".to_string(),
                (Some(false), Some(e)) => format!("differs: pick writes {e}"),
                _ => "unknown".to_string(),
            };
            out.push_str(&format!(
                "  {}:{}  {}  {state}\n",
                u.file.display(),
                u.line,
                u.value
            ));
        }
    }
    if let Some(u) = &s.last_update {
        let commit = u.commit.as_deref().map_or_else(
            || "no commit".to_string(),
            |c| format!("commit {}", &c[..c.len().min(12)]),
        );
        out.push_str(&format!(
            "last update pass: {}: {} change(s), {commit}, {} error(s)\n",
            when(u.time),
            u.changes,
            u.errors.len()
        ));
        for e in &u.errors {
            out.push_str(&format!("  error: {e}\n"));
        }
    }
    if let Some(held) = &s.held_rollouts {
        out.push_str(&format!("held rollouts: {held}\n"));
    }
    for p in &s.problems {
        out.push_str(&format!("problem: {p}\n"));
    }
    out
}
