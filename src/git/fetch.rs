//! Fetching branches from a remote into its remote-tracking refs.

use std::cell::RefCell;
use std::collections::BTreeMap;

use git2::{AutotagOption, FetchOptions, Oid};

use super::auth::{Auth, AuthState};
use super::{GitError, Worktree};

/// Fetches `branches` from `remote` (updating `refs/remotes/<remote>/<branch>`) and returns each
/// branch's tip as the remote advertised it — `None` for a branch the remote does not have.
pub(crate) fn fetch(
    wt: &Worktree,
    remote_name: &str,
    auth: &Auth<'_>,
    branches: &[&str],
) -> Result<BTreeMap<String, Option<Oid>>, GitError> {
    let mut remote = wt
        .repo()
        .find_remote(remote_name)
        .map_err(|_| GitError::NoRemote {
            repo: wt.root().to_path_buf(),
            remote: remote_name.to_string(),
        })?;
    // Tracking refs follow the remote even when it was rewritten: they are bookkeeping, and
    // deckhand decides separately whether the local branch may follow.
    let refspecs: Vec<String> = branches
        .iter()
        .map(|b| format!("+refs/heads/{b}:refs/remotes/{remote_name}/{b}"))
        .collect();
    let state = RefCell::new(AuthState::default());
    let mut options = FetchOptions::new();
    options
        .remote_callbacks(auth.callbacks(&state))
        .download_tags(AutotagOption::None)
        .update_fetchhead(false);
    remote
        .fetch(&refspecs, Some(&mut options), Some("deckhand: fetch"))
        .map_err(|e| GitError::Remote {
            action: "fetch from",
            remote: remote_name.to_string(),
            url: auth.url().to_string(),
            message: auth.describe(&state, &e),
        })?;
    let heads = remote.list().map_err(|e| GitError::Remote {
        action: "fetch from",
        remote: remote_name.to_string(),
        url: auth.url().to_string(),
        message: auth.scrub(e.message()),
    })?;
    let mut tips = BTreeMap::new();
    for branch in branches {
        let name = format!("refs/heads/{branch}");
        let tip = heads
            .iter()
            .find(|h| h.name() == name)
            .map(git2::RemoteHead::oid);
        if tip.is_none() {
            // Gone on the remote: a stale tracking ref would make the branch look pushed.
            if let Ok(mut stale) = wt
                .repo()
                .find_reference(&format!("refs/remotes/{remote_name}/{branch}"))
            {
                let _ = stale.delete();
            }
        }
        tips.insert((*branch).to_string(), tip);
    }
    Ok(tips)
}
