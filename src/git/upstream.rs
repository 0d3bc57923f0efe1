//! The remote side of a pass: fetch and fast-forward before editing; push after committing, and
//! when the push loses a race, fetch, move onto the new remote tip, re-apply the edits and push
//! again, a bounded number of times with jittered backoff.
//!
//! Two rules hold throughout: nothing is ever force-pushed, and the local branch only ever drops
//! commits deckhand made itself and has not published (their edits are recomputed from the
//! markers); a commit made by anyone else stops the pass with an error instead.

use std::time::Duration;

use git2::Oid;
use serde::Serialize;

use super::auth::Auth;
use super::endpoint::{self, Endpoint};
use super::fetch::fetch;
use super::own::OwnCommits;
use super::push::{PushFailure, PushTarget, push};
use super::{GitError, Worktree};
use crate::config::GitSettings;

/// Pushes tried after the first one is rejected.
const MAX_RETRIES: u32 = 8;
const BACKOFF_BASE: Duration = Duration::from_millis(100);
const BACKOFF_CAP: Duration = Duration::from_secs(2);

/// A successful push.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Published {
    /// The remote pushed to.
    pub remote: String,
    /// The remote branch updated.
    pub branch: String,
    /// The commit the remote branch now points at.
    pub commit: String,
    /// Pushes it took (1 when no race was lost).
    pub attempts: u32,
}

/// Where the checked-out branch comes from and where deckhand's commits go.
#[derive(Debug)]
pub struct Upstream<'a> {
    settings: &'a GitSettings,
    branch: String,
    fetch_remote: String,
    /// `(remote, branch)` to push to; `None` when this pass does not push.
    push: Option<(String, String)>,
}

impl<'a> Upstream<'a> {
    /// The upstream of `branch` per `settings`; `None` when no remote is configured (a local
    /// checkout). With `push` false the branch is still fetched and fast-forwarded.
    #[must_use]
    pub fn new(settings: &'a GitSettings, branch: &str, push: bool) -> Option<Self> {
        // Config validation defaults `remote` to the push remote; settings built elsewhere may not.
        let fetch_remote = settings
            .remote
            .clone()
            .or_else(|| settings.push.as_ref().map(|p| p.remote.clone()))?;
        let push = settings.push.as_ref().filter(|_| push).map(|p| {
            (
                p.remote.clone(),
                p.branch.clone().unwrap_or_else(|| branch.to_string()),
            )
        });
        Some(Self {
            settings,
            branch: branch.to_string(),
            fetch_remote,
            push,
        })
    }

    /// Whether this pass pushes.
    #[must_use]
    pub fn pushes(&self) -> bool {
        self.push.is_some()
    }

    fn endpoint(
        &self,
        wt: &Worktree,
        remote: &str,
        for_push: bool,
    ) -> Result<(Endpoint, String), GitError> {
        let r = wt
            .repo()
            .find_remote(remote)
            .map_err(|_| GitError::NoRemote {
                repo: wt.root().to_path_buf(),
                remote: remote.to_string(),
            })?;
        let push_url = if for_push {
            r.pushurl().ok().flatten().map(str::to_string)
        } else {
            None
        };
        let url = match push_url {
            Some(u) => u,
            None => r
                .url()
                .map_err(wt.err(&format!("reading the URL of remote {remote}")))?
                .to_string(),
        };
        Ok((endpoint::classify(&url, wt.root()), url))
    }

    /// Fetches `branches` of `remote`; the tip of each (`None` when the remote lacks it).
    fn fetch(
        &self,
        wt: &Worktree,
        remote: &str,
        branches: &[&str],
    ) -> Result<Vec<Option<Oid>>, GitError> {
        let (endpoint, url) = self.endpoint(wt, remote, false)?;
        let auth = Auth::new(&self.settings.auth, endpoint, &url);
        let tips = fetch(wt, remote, &auth, branches)?;
        Ok(branches
            .iter()
            .map(|b| tips.get(*b).copied().flatten())
            .collect())
    }

    /// Before editing: fetches the branch and fast-forwards the local branch to it. A diverged
    /// branch, or a fast-forward that would overwrite uncommitted changes, is an error and
    /// nothing is changed. Unpublished commits of deckhand's own are dropped and re-made later.
    pub fn update(&self, wt: &Worktree) -> Result<(), GitError> {
        let mut branches = vec![self.branch.as_str()];
        if let Some((remote, push_branch)) = &self.push
            && *remote == self.fetch_remote
            && *push_branch != self.branch
        {
            branches.push(push_branch);
        }
        let tips = self.fetch(wt, &self.fetch_remote, &branches)?;
        if let Some((remote, push_branch)) = &self.push
            && *remote != self.fetch_remote
        {
            // Only to learn where the push target is; see `publish`.
            self.fetch(wt, remote, &[push_branch])?;
        }
        let Some(remote_tip) = tips[0] else {
            tracing::info!(
                "{}/{} does not exist yet; nothing to fast-forward",
                self.fetch_remote,
                self.branch
            );
            return Ok(());
        };
        self.follow(wt, remote_tip)
    }

    /// Moves the local branch to `remote_tip` when that loses no one's commit.
    fn follow(&self, wt: &Worktree, remote_tip: Oid) -> Result<(), GitError> {
        let local = wt.branch_tip(&self.branch)?;
        if local == remote_tip {
            return Ok(());
        }
        let remote_branch = format!("{}/{}", self.fetch_remote, self.branch);
        let (ahead, behind) = wt
            .repo()
            .graph_ahead_behind(local, remote_tip)
            .map_err(wt.err("comparing with the remote branch"))?;
        if behind == 0 {
            // Local commits not pushed yet (an earlier push failed); this pass pushes them.
            return Ok(());
        }
        if ahead > 0 {
            let only_local = wt.commits_not_in(local, remote_tip)?;
            let own = OwnCommits::new(wt.repo()).load();
            if !only_local.iter().all(|c| own.contains(c)) {
                return Err(GitError::Diverged {
                    branch: self.branch.clone(),
                    remote_branch,
                    ahead,
                    behind,
                });
            }
            tracing::info!(
                "{remote_branch} moved on; dropping {ahead} unpublished deckhand commit(s) from `{}` — their updates are applied again",
                self.branch
            );
        }
        wt.move_branch(&self.branch, local, remote_tip, &remote_branch)?;
        if ahead == 0 {
            tracing::info!(
                "fast-forwarded `{}` by {behind} commit(s) to {remote_branch}",
                self.branch
            );
        }
        Ok(())
    }

    /// After committing: pushes the local branch. When the push loses a race, fetches, moves
    /// onto the new remote tip, calls `reapply` (which re-plans, writes and commits what is still
    /// needed on the new HEAD) and pushes again. `None` when there was nothing to push.
    pub fn publish(
        &self,
        wt: &Worktree,
        reapply: &mut dyn FnMut(&Worktree),
    ) -> Result<Option<Published>, GitError> {
        let Some((remote, push_branch)) = &self.push else {
            return Ok(None);
        };
        let (endpoint, url) = self.endpoint(wt, remote, true)?;
        let auth = Auth::new(&self.settings.auth, endpoint.clone(), &url);
        let target = PushTarget {
            remote,
            endpoint: &endpoint,
            auth: &auth,
            local_branch: &self.branch,
            remote_branch: push_branch,
        };
        let tracking = format!("refs/remotes/{remote}/{push_branch}");
        let remote_branch = format!("{remote}/{push_branch}");
        let same_branch = *remote == self.fetch_remote && *push_branch == self.branch;
        let mut attempts = 0;
        loop {
            let local = wt.branch_tip(&self.branch)?;
            if wt.repo().refname_to_id(&tracking).ok() == Some(local) {
                return Ok(None);
            }
            attempts += 1;
            let reason = match push(wt, &target, local) {
                Ok(()) => {
                    // Record where the remote is now, as a fetch would.
                    let _ = wt
                        .repo()
                        .reference(&tracking, local, true, "deckhand: push");
                    tracing::info!(commit = %local, "pushed `{}` to {remote_branch}", self.branch);
                    return Ok(Some(Published {
                        remote: remote.clone(),
                        branch: push_branch.clone(),
                        commit: local.to_string(),
                        attempts,
                    }));
                }
                Err(PushFailure::Failed(e)) => return Err(e),
                Err(PushFailure::Refused(reason)) => {
                    return Err(GitError::PushRefused {
                        remote_branch,
                        reason,
                    });
                }
                Err(PushFailure::Rejected(reason)) => reason,
            };
            if attempts > MAX_RETRIES {
                return Err(GitError::PushRejected {
                    remote_branch,
                    attempts,
                    reason,
                });
            }
            tracing::info!(
                "push to {remote_branch} rejected ({reason}); fetching and trying again"
            );
            std::thread::sleep(backoff(attempts));
            if same_branch {
                let tip = self.fetch(wt, remote, &[push_branch])?[0];
                if let Some(tip) = tip {
                    self.follow(wt, tip)?;
                    reapply(wt);
                }
            } else {
                // Built on the checkout branch: a push branch that has commits of its own is
                // reported, never overwritten.
                let tip = self.fetch(wt, remote, &[push_branch])?[0];
                if let Some(tip) = tip
                    && !wt.repo().graph_descendant_of(local, tip).unwrap_or(false)
                    && tip != local
                {
                    return Err(GitError::PushDiverged {
                        branch: self.branch.clone(),
                        remote_branch,
                    });
                }
            }
        }
    }
}

/// Exponential backoff with ±50 % jitter, so that racing hosts do not retry in lockstep.
fn backoff(attempt: u32) -> Duration {
    let exp = BACKOFF_BASE.saturating_mul(1 << attempt.min(10).saturating_sub(1));
    exp.min(BACKOFF_CAP).mul_f64(0.5 + fastrand::f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        for attempt in 1..=12 {
            let d = backoff(attempt);
            let nominal = BACKOFF_BASE
                .saturating_mul(1 << (attempt.min(10) - 1))
                .min(BACKOFF_CAP);
            assert!(
                d >= nominal.mul_f64(0.5) && d <= nominal.mul_f64(1.5),
                "{attempt}: {d:?}"
            );
        }
        let spread: std::collections::HashSet<_> = (0..20).map(|_| backoff(3)).collect();
        assert!(spread.len() > 1, "jittered");
    }
}
