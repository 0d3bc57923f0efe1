//! The git side of a pass: the local checkout (`repo`), fetching and fast-forwarding before
//! editing and pushing after committing with retries on a race (`upstream`, over `fetch` and
//! `push`), credentials and SSH host keys (`auth`, `known_hosts`, `endpoint`), commit signing
//! (`sign`) and commit messages (`message`).
//!
//! deckhand never force-pushes and never drops a commit it did not make itself.

mod auth;
mod endpoint;
mod fetch;
mod known_hosts;
mod message;
mod own;
mod push;
mod repo;
mod sign;
mod upstream;

use std::path::PathBuf;

pub use endpoint::redact_url;
pub use message::{
    DEFAULT_TEMPLATE, MessageChange, MessageData, MessageError, MessageTemplate, default_message,
};
pub use repo::Worktree;
pub use sign::Signer;
pub use upstream::{Published, Upstream};

/// A git failure, naming the repository, branch, remote or files concerned.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// No repository contains the path.
    #[error("{} is not inside a git repository: {source}", path.display())]
    NotARepository {
        /// The path searched from.
        path: PathBuf,
        /// libgit2's reason.
        source: git2::Error,
    },
    /// A bare repository has no files to edit.
    #[error("{} is a bare repository; deckhand needs a checkout", path.display())]
    Bare {
        /// The repository.
        path: PathBuf,
    },
    /// HEAD is not on the configured branch.
    #[error("{} has `{actual}` checked out, but git.branch is `{wanted}`; check out `{wanted}` or change git.branch", repo.display())]
    WrongBranch {
        /// The repository.
        repo: PathBuf,
        /// What the config asks for.
        wanted: String,
        /// What is checked out (or "a detached HEAD").
        actual: String,
    },
    /// HEAD is detached or unborn and no branch can be worked on.
    #[error("{} has {state}; check out a branch first", repo.display())]
    NoBranch {
        /// The repository.
        repo: PathBuf,
        /// "a detached HEAD", "no commits yet", …
        state: String,
    },
    /// Any other libgit2 failure.
    #[error("git {action} in {}: {source}", repo.display())]
    Git {
        /// The repository.
        repo: PathBuf,
        /// What deckhand was doing.
        action: String,
        /// libgit2's reason.
        source: git2::Error,
    },
    /// A file to commit could not be read.
    #[error("cannot read {} to commit it: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The configured remote does not exist in the checkout.
    #[error("{} has no remote named `{remote}` (add it with `git remote add {remote} URL`, or change git.remote / git.push.remote)", repo.display())]
    NoRemote {
        /// The repository.
        repo: PathBuf,
        /// The remote's name.
        remote: String,
    },
    /// Talking to the remote failed (network, authentication, host key). Never holds a secret.
    #[error("git {action} {remote} ({url}): {message}")]
    Remote {
        /// `fetch from` or `push to`.
        action: &'static str,
        /// The remote's name.
        remote: String,
        /// Its URL, without any password.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The local branch and the remote branch both have commits the other lacks.
    #[error(
        "local branch `{branch}` has diverged from {remote_branch} ({ahead} local commit(s) not on the remote, {behind} remote commit(s) not local) — merge or rebase `{branch}` onto {remote_branch}"
    )]
    Diverged {
        /// The local branch.
        branch: String,
        /// `remote/branch`.
        remote_branch: String,
        /// Commits only on the local branch.
        ahead: usize,
        /// Commits only on the remote branch.
        behind: usize,
    },
    /// Moving the branch would overwrite uncommitted changes.
    #[error(
        "cannot move `{branch}` to {target}: it would overwrite uncommitted changes in {} — commit or stash them",
        list(files)
    )]
    Dirty {
        /// The local branch.
        branch: String,
        /// Where it was to go (`origin/main`).
        target: String,
        /// The files with uncommitted changes.
        files: Vec<PathBuf>,
    },
    /// The push target exists on the remote and does not contain the local branch's history; it is
    /// never force-pushed.
    #[error(
        "{remote_branch} has diverged from local `{branch}` (it has commits `{branch}` lacks); deckhand never force-pushes — merge {remote_branch} into `{branch}`, or delete it on the remote"
    )]
    PushDiverged {
        /// The local branch that was pushed.
        branch: String,
        /// `remote/push-branch`.
        remote_branch: String,
    },
    /// The push kept losing races (or the remote kept moving) until the retries ran out.
    #[error(
        "push to {remote_branch} was rejected {attempts} time(s), last: {reason}; the commit stays local and the next pass pushes it"
    )]
    PushRejected {
        /// `remote/branch`.
        remote_branch: String,
        /// Pushes tried.
        attempts: u32,
        /// The remote's last answer.
        reason: String,
    },
    /// The remote refused the update for a reason a retry does not fix (a hook, a protected
    /// branch, a checked-out branch).
    #[error("{remote_branch} refused the push: {reason}")]
    PushRefused {
        /// `remote/branch`.
        remote_branch: String,
        /// The remote's answer.
        reason: String,
    },
    /// Signing a commit failed.
    #[error("cannot sign the commit: {message}")]
    Sign {
        /// What went wrong (names the key file and the tool).
        message: String,
    },
}

fn list(files: &[PathBuf]) -> String {
    files
        .iter()
        .map(|f| f.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
