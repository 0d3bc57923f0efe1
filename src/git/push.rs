//! Pushing one branch, never forced.
//!
//! Over SSH and HTTP(S) libgit2 pushes and reports per-ref rejections only through
//! `push_update_reference` (the push itself returns Ok). For a repository on this machine deckhand
//! pushes itself: libgit2's local transport checks fast-forward first and then overwrites the ref
//! unconditionally, so two concurrent pushes could drop a commit. Here the objects are copied and
//! the ref is moved with a compare-and-swap under git's own lock file.

use std::cell::RefCell;
use std::io::Write as _;
use std::path::Path;

use git2::{ErrorCode, Oid, PushOptions, Repository};

use super::auth::{Auth, AuthState};
use super::endpoint::Endpoint;
use super::{GitError, Worktree};

/// Why a push did not happen.
#[derive(Debug)]
pub(crate) enum PushFailure {
    /// The remote branch moved (not a fast-forward, or lost a race): fetch, re-apply, retry.
    Rejected(String),
    /// The remote refused for a reason a retry does not fix (hook, protection, checked out).
    Refused(String),
    /// Could not talk to the remote at all.
    Failed(GitError),
}

/// What one push is.
pub(crate) struct PushTarget<'a> {
    pub remote: &'a str,
    pub endpoint: &'a Endpoint,
    pub auth: &'a Auth<'a>,
    pub local_branch: &'a str,
    pub remote_branch: &'a str,
}

/// Pushes `local` (the tip of `target.local_branch`) to `target.remote_branch`.
pub(crate) fn push(wt: &Worktree, target: &PushTarget<'_>, local: Oid) -> Result<(), PushFailure> {
    match target.endpoint {
        Endpoint::Local(path) => push_local(wt, target, path, local),
        _ => push_remote(wt, target),
    }
}

fn remote_error(target: &PushTarget<'_>, message: String) -> PushFailure {
    PushFailure::Failed(GitError::Remote {
        action: "push to",
        remote: target.remote.to_string(),
        url: target.auth.url().to_string(),
        message,
    })
}

fn push_remote(wt: &Worktree, target: &PushTarget<'_>) -> Result<(), PushFailure> {
    let mut remote = wt.repo().find_remote(target.remote).map_err(|_| {
        PushFailure::Failed(GitError::NoRemote {
            repo: wt.root().to_path_buf(),
            remote: target.remote.to_string(),
        })
    })?;
    // No `+`: never forced.
    let refspec = format!(
        "refs/heads/{}:refs/heads/{}",
        target.local_branch, target.remote_branch
    );
    let state = RefCell::new(AuthState::default());
    let rejection: RefCell<Option<String>> = RefCell::new(None);
    let mut callbacks = target.auth.callbacks(&state);
    callbacks.push_update_reference(|_refname, status| {
        if let Some(status) = status {
            *rejection.borrow_mut() = Some(status.to_string());
        }
        Ok(())
    });
    let mut options = PushOptions::new();
    options.remote_callbacks(callbacks);
    let result = remote.push(&[refspec.as_str()], Some(&mut options));
    drop(options);
    match result {
        // libgit2's own check against what the remote advertised.
        Err(e) if e.code() == ErrorCode::NotFastForward => {
            Err(PushFailure::Rejected(target.auth.scrub(e.message())))
        }
        Err(e) => Err(remote_error(target, target.auth.describe(&state, &e))),
        Ok(()) => match rejection.into_inner() {
            None => Ok(()),
            Some(status) => Err(classify(&target.auth.scrub(&status))),
        },
    }
}

/// Sorts a remote's per-ref rejection into "lost a race, retry" and "refused".
fn classify(status: &str) -> PushFailure {
    let lower = status.to_ascii_lowercase();
    let race = [
        "non-fast-forward",
        "fetch first",
        "failed to update ref",
        "cannot lock ref",
        "failed to lock",
        "stale info",
        "incorrect old value",
    ];
    if race.iter().any(|r| lower.contains(r)) {
        PushFailure::Rejected(status.to_string())
    } else {
        PushFailure::Refused(status.to_string())
    }
}

fn push_local(
    wt: &Worktree,
    target: &PushTarget<'_>,
    path: &Path,
    local: Oid,
) -> Result<(), PushFailure> {
    let failed =
        |what: &str, e: git2::Error| remote_error(target, format!("{what}: {}", e.message()));
    let remote = Repository::open(path).map_err(|e| failed("cannot open the repository", e))?;
    let dst = format!("refs/heads/{}", target.remote_branch);
    if !remote.is_bare()
        && let Ok(head) = remote.find_reference("HEAD")
        && head.symbolic_target().ok().flatten() == Some(dst.as_str())
    {
        // As git's receive.denyCurrentBranch: the remote's files would no longer match its HEAD.
        return Err(PushFailure::Refused(format!(
            "`{}` is checked out in the remote's work tree at {}",
            target.remote_branch,
            path.display()
        )));
    }
    let current = match remote.refname_to_id(&dst) {
        Ok(oid) => Some(oid),
        Err(e) if e.code() == ErrorCode::NotFound => None,
        Err(e) => return Err(failed("cannot read the remote branch", e)),
    };
    if current == Some(local) {
        return Ok(());
    }
    let repo = wt.repo();
    let odb = repo
        .odb()
        .map_err(|e| failed("cannot open the object database", e))?;
    if let Some(current) = current {
        let fast_forward =
            odb.exists(current) && repo.graph_descendant_of(local, current).unwrap_or(false);
        if !fast_forward {
            return Err(PushFailure::Rejected(format!(
                "non-fast-forward: the remote branch is at {current}, which the local branch does not contain"
            )));
        }
    }
    send_objects(repo, &remote, local).map_err(|e| failed("cannot copy the objects", e))?;
    let message = format!("push: deckhand {local}");
    let moved = match current {
        Some(current) => remote.reference_matching(&dst, local, true, current, &message),
        None => remote.reference(&dst, local, false, &message),
    };
    match moved {
        Ok(_) => Ok(()),
        Err(e)
            if matches!(
                e.code(),
                ErrorCode::Modified | ErrorCode::Exists | ErrorCode::Locked
            ) =>
        {
            Err(PushFailure::Rejected(format!(
                "the remote branch moved during the push ({})",
                e.message()
            )))
        }
        Err(e) => Err(failed("cannot update the remote branch", e)),
    }
}

/// Copies what the remote lacks to reach `local`: a pack of the commits not reachable from any
/// of the remote's refs that the local repository knows.
fn send_objects(repo: &Repository, remote: &Repository, local: Oid) -> Result<(), git2::Error> {
    let odb = repo.odb()?;
    let mut walk = repo.revwalk()?;
    walk.push(local)?;
    for reference in remote.references()? {
        let reference = reference?;
        if let Some(oid) = reference.target()
            && odb.exists(oid)
        {
            // A ref to a non-commit (a tag of a blob) cannot be hidden; it does not matter.
            let _ = walk.hide(oid);
        }
    }
    let mut pack = repo.packbuilder()?;
    pack.insert_walk(&mut walk)?;
    if pack.object_count() == 0 {
        return Ok(());
    }
    let remote_odb = remote.odb()?;
    let mut writer = remote_odb.packwriter()?;
    let mut io_error = None;
    pack.foreach(|chunk| match writer.write_all(chunk) {
        Ok(()) => true,
        Err(e) => {
            io_error = Some(e);
            false
        }
    })?;
    if let Some(e) = io_error {
        return Err(git2::Error::from_str(&e.to_string()));
    }
    writer.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_races_are_retried_and_refusals_are_not() {
        for status in [
            "non-fast-forward",
            "failed to update ref",
            "cannot lock ref 'refs/heads/main': is at 1 but expected 2",
            "fetch first",
        ] {
            assert!(
                matches!(classify(status), PushFailure::Rejected(_)),
                "{status}"
            );
        }
        for status in [
            "pre-receive hook declined",
            "protected branch hook declined",
        ] {
            assert!(
                matches!(classify(status), PushFailure::Refused(_)),
                "{status}"
            );
        }
    }
}
