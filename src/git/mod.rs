//! The local git side: which branch is checked out, whether a file has uncommitted changes, and a
//! commit that contains exactly the files deckhand edited — nothing a person staged or changed.

use std::path::{Path, PathBuf};

use git2::{Oid, Repository, Signature, Status, build::TreeUpdateBuilder};

use crate::config::Author;

/// A git failure, naming the repository and what was being done.
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
}

/// A non-bare repository and its working directory.
pub struct Worktree {
    repo: Repository,
    root: PathBuf,
}

impl std::fmt::Debug for Worktree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worktree")
            .field("root", &self.root)
            .finish()
    }
}

impl Worktree {
    /// Finds the repository containing `path`.
    pub fn discover(path: &Path) -> Result<Self, GitError> {
        let repo = Repository::discover(path).map_err(|source| GitError::NotARepository {
            path: path.to_path_buf(),
            source,
        })?;
        let root = repo
            .workdir()
            .ok_or_else(|| GitError::Bare {
                path: repo.path().to_path_buf(),
            })?
            .to_path_buf();
        // Canonical, so that paths from the walker (also canonicalised) strip cleanly.
        let root = root.canonicalize().unwrap_or(root);
        Ok(Self { repo, root })
    }

    /// The working directory.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn err(&self, action: &str) -> impl FnOnce(git2::Error) -> GitError + '_ {
        let action = action.to_string();
        move |source| GitError::Git {
            repo: self.root.clone(),
            action,
            source,
        }
    }

    /// The checked-out branch; an error when it is not `wanted` (if given), or when HEAD is
    /// detached or unborn.
    pub fn checked_out_branch(&self, wanted: Option<&str>) -> Result<String, GitError> {
        let head = match self.repo.head() {
            Ok(head) => head,
            Err(e) if e.code() == git2::ErrorCode::UnbornBranch => {
                return Err(GitError::NoBranch {
                    repo: self.root.clone(),
                    state: "no commits yet".into(),
                });
            }
            Err(e) => return Err(self.err("reading HEAD")(e)),
        };
        if !head.is_branch() {
            return match wanted {
                Some(w) => Err(GitError::WrongBranch {
                    repo: self.root.clone(),
                    wanted: w.to_string(),
                    actual: "a detached HEAD".into(),
                }),
                None => Err(GitError::NoBranch {
                    repo: self.root.clone(),
                    state: "a detached HEAD".into(),
                }),
            };
        }
        let actual = head.shorthand().unwrap_or_default().to_string();
        match wanted {
            Some(w) if w != actual => Err(GitError::WrongBranch {
                repo: self.root.clone(),
                wanted: w.to_string(),
                actual,
            }),
            _ => Ok(actual),
        }
    }

    /// Path relative to the working directory, with `/` separators, as git wants it.
    #[must_use]
    pub fn relative(&self, path: &Path) -> PathBuf {
        path.strip_prefix(&self.root).unwrap_or(path).to_path_buf()
    }

    /// Why deckhand must not touch this file, if it must not: it has uncommitted changes (in the
    /// index or the working tree), is untracked, or is ignored.
    pub fn uncommitted(&self, path: &Path) -> Result<Option<&'static str>, GitError> {
        let rel = self.relative(path);
        let status = self
            .repo
            .status_file(&rel)
            .map_err(self.err(&format!("status of {}", rel.display())))?;
        Ok(if status.is_empty() {
            None
        } else if status.contains(Status::WT_NEW) {
            Some("it is not tracked by git")
        } else if status.contains(Status::IGNORED) {
            Some("it is ignored by git")
        } else {
            Some("it has uncommitted changes")
        })
    }

    /// Commits the current contents of exactly `files` on top of HEAD, as `author`. Other changes
    /// in the index or working tree are neither included nor disturbed. Returns the new commit.
    pub fn commit_files(
        &self,
        files: &[PathBuf],
        author: &Author,
        message: &str,
    ) -> Result<Oid, GitError> {
        let head = self
            .repo
            .head()
            .and_then(|h| h.peel_to_commit())
            .map_err(self.err("reading HEAD"))?;
        let base_tree = head.tree().map_err(self.err("reading HEAD's tree"))?;
        let mut update = TreeUpdateBuilder::new();
        for file in files {
            let rel = self.relative(file);
            let bytes = std::fs::read(file).map_err(|source| GitError::Read {
                path: file.clone(),
                source,
            })?;
            let blob = self
                .repo
                .blob(&bytes)
                .map_err(self.err(&format!("storing {}", rel.display())))?;
            // Keep the executable bit (and any other mode) the file had in HEAD.
            let mode = base_tree
                .get_path(&rel)
                .map_or(git2::FileMode::Blob.into(), |e| e.filemode());
            update.upsert(&rel, blob, file_mode(mode));
        }
        let tree_id = update
            .create_updated(&self.repo, &base_tree)
            .map_err(self.err("building the tree"))?;
        let tree = self
            .repo
            .find_tree(tree_id)
            .map_err(self.err("reading the new tree"))?;
        let sig = Signature::now(&author.name, &author.email)
            .map_err(self.err("making the author signature"))?;
        let oid = self
            .repo
            .commit(Some("HEAD"), &sig, &sig, message, &tree, &[&head])
            .map_err(self.err("committing"))?;
        // Bring the index in line for the committed files only, so `git status` shows them clean
        // while anything a person staged stays staged.
        let mut index = self.repo.index().map_err(self.err("opening the index"))?;
        for file in files {
            index
                .add_path(&self.relative(file))
                .map_err(self.err("updating the index"))?;
        }
        index.write().map_err(self.err("writing the index"))?;
        Ok(oid)
    }
}

fn file_mode(raw: i32) -> git2::FileMode {
    match raw {
        m if m == i32::from(git2::FileMode::BlobExecutable) => git2::FileMode::BlobExecutable,
        m if m == i32::from(git2::FileMode::Link) => git2::FileMode::Link,
        _ => git2::FileMode::Blob,
    }
}
