//! Finding candidate files in a tree, and writing a file atomically.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use memchr::memmem;

/// Read-buffer size for screening; files are read in chunks so memory stays flat for big files.
const CHUNK: usize = 256 * 1024;

/// What [`discover`] found.
#[derive(Debug, Default)]
pub struct Discovery {
    /// Files that mention a marker, sorted, each once.
    pub files: Vec<PathBuf>,
    /// Problems met on the way; the walk went on past each of them.
    pub errors: Vec<DiscoverError>,
}

/// A problem met while walking a tree.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    /// The repository root cannot be resolved.
    #[error("cannot resolve the repository root {path}: {source}")]
    Root {
        /// The root as given.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The directory to walk cannot be resolved.
    #[error("cannot resolve the directory {path}: {source}")]
    Dir {
        /// The directory as given (root-joined).
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The directory to walk is not inside the root.
    #[error("directory {dir} is outside the repository root {root}; not walked")]
    DirOutsideRoot {
        /// The directory (resolved).
        dir: PathBuf,
        /// The root (resolved).
        root: PathBuf,
    },
    /// A directory cannot be listed.
    #[error("cannot list directory {path}: {source}")]
    ReadDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// A file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// A symlinked file points outside the root, so it is not read.
    #[error("symlink {path} points outside the repository root (to {target}); skipped")]
    SymlinkOutsideRoot {
        /// The symlink.
        path: PathBuf,
        /// Where it points (resolved).
        target: PathBuf,
    },
}

/// Walks `dir` (inside `root`) and returns the `*.yaml` / `*.yml` (and `.env`, `*.env`, `*.nix`)
/// files whose bytes mention a marker
/// ([`mentions_marker`](super::mentions_marker)).
///
/// `.git` directories are skipped and symlinked directories are not followed. A symlinked file is
/// read only when its resolved path is inside `root`; a dangling one is skipped. A relative `dir` is
/// taken relative to `root`. Paths returned are absolute, `root`-joined (not resolved), sorted, and a
/// file reachable both directly and through a symlink is listed once.
#[must_use]
pub fn discover(root: &Path, dir: &Path) -> Discovery {
    let mut out = Discovery::default();
    let root_abs = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
    let canon_root = match fs::canonicalize(&root_abs) {
        Ok(p) => p,
        Err(source) => {
            out.errors.push(DiscoverError::Root {
                path: root.to_path_buf(),
                source,
            });
            return out;
        }
    };
    let dir_abs = root_abs.join(dir);
    let canon_dir = match fs::canonicalize(&dir_abs) {
        Ok(p) => p,
        Err(source) => {
            out.errors.push(DiscoverError::Dir {
                path: dir_abs,
                source,
            });
            return out;
        }
    };
    if !canon_dir.starts_with(&canon_root) {
        out.errors.push(DiscoverError::DirOutsideRoot {
            dir: canon_dir,
            root: canon_root,
        });
        return out;
    }
    let mut walker = Walker {
        canon_root,
        candidates: Vec::new(),
        errors: Vec::new(),
    };
    walker.walk(dir_abs.clone());
    let Walker {
        candidates,
        mut errors,
        ..
    } = walker;

    let (hits, screen_errors) = screen_all(&candidates);
    errors.extend(screen_errors);
    let mut files: Vec<PathBuf> = Vec::with_capacity(hits.len());
    if candidates.iter().any(|c| c.target.is_some()) {
        // A file reached both directly and through a symlink (or via two symlinks) is listed once,
        // preferring the direct path. Directly reached files resolve to `canon_dir` + relative
        // path, because no symlinked directory is ever entered.
        let identity = |c: &Candidate| {
            c.target
                .clone()
                .unwrap_or_else(|| canon_dir.join(c.path.strip_prefix(&dir_abs).unwrap_or(&c.path)))
        };
        let mut seen = HashSet::new();
        let (direct, linked): (Vec<usize>, Vec<usize>) =
            hits.iter().partition(|&&i| candidates[i].target.is_none());
        for i in direct.into_iter().chain(linked) {
            if seen.insert(identity(&candidates[i])) {
                files.push(candidates[i].path.clone());
            }
        }
    } else {
        files.extend(hits.iter().map(|&i| candidates[i].path.clone()));
    }
    files.sort();
    out.files = files;
    out.errors = errors;
    out
}

/// A `*.yaml` / `*.yml` file to screen.
struct Candidate {
    /// The path as walked (root-joined).
    path: PathBuf,
    /// For a symlinked file, its resolved target (inside the root), which is what gets read.
    target: Option<PathBuf>,
}

/// Walks the tree and collects candidates; reading them is [`screen_all`]'s job.
struct Walker {
    canon_root: PathBuf,
    candidates: Vec<Candidate>,
    errors: Vec<DiscoverError>,
}

/// YAML, and the other formats markers can be in (`.env`, `*.env`, `*.nix`).
fn is_yaml_name(name: &std::ffi::OsStr) -> bool {
    super::Format::of_name(name.as_encoded_bytes()).is_some()
}

impl Walker {
    /// Iterative walk that never enters a symlinked directory.
    fn walk(&mut self, dir: PathBuf) {
        let mut stack = vec![dir];
        while let Some(dir) = stack.pop() {
            let entries = match fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(source) => {
                    self.errors
                        .push(DiscoverError::ReadDir { path: dir, source });
                    continue;
                }
            };
            for entry in entries {
                let entry = match entry {
                    Ok(entry) => entry,
                    Err(source) => {
                        self.errors.push(DiscoverError::ReadDir {
                            path: dir.clone(),
                            source,
                        });
                        continue;
                    }
                };
                let Ok(kind) = entry.file_type() else {
                    continue;
                };
                let name = entry.file_name();
                if kind.is_dir() {
                    if name != ".git" {
                        stack.push(entry.path());
                    }
                } else if !is_yaml_name(&name) {
                } else if kind.is_file() {
                    self.candidates.push(Candidate {
                        path: entry.path(),
                        target: None,
                    });
                } else if kind.is_symlink() {
                    self.symlink(entry.path());
                }
            }
        }
    }

    fn symlink(&mut self, path: PathBuf) {
        let Ok(target) = fs::canonicalize(&path) else {
            tracing::debug!(path = %path.display(), "dangling symlink skipped");
            return;
        };
        if !target.starts_with(&self.canon_root) {
            self.errors
                .push(DiscoverError::SymlinkOutsideRoot { path, target });
            return;
        }
        // A symlink to a directory is never followed.
        if fs::metadata(&target).is_ok_and(|m| m.is_file()) {
            self.candidates.push(Candidate {
                path,
                target: Some(target),
            });
        }
    }
}

/// Candidates per batch a screening thread takes at a time.
const BATCH: usize = 32;

/// Screens every candidate, on a few threads when there are many; returns the indices of the hits
/// (unordered) and the read errors.
fn screen_all(candidates: &[Candidate]) -> (Vec<usize>, Vec<DiscoverError>) {
    let want = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .min(4)
        .min(candidates.len().div_ceil(4 * BATCH));
    let next = AtomicUsize::new(0);
    let work = || {
        let mut screener = Screener::new();
        let mut hits = Vec::new();
        let mut errors = Vec::new();
        loop {
            let from = next.fetch_add(BATCH, Ordering::Relaxed);
            if from >= candidates.len() {
                break;
            }
            for (i, c) in candidates.iter().enumerate().skip(from).take(BATCH) {
                match screener.screen(c.target.as_ref().unwrap_or(&c.path)) {
                    Ok(true) => hits.push(i),
                    Ok(false) => {}
                    Err(source) => errors.push(DiscoverError::Read {
                        path: c.path.clone(),
                        source,
                    }),
                }
            }
        }
        (hits, errors)
    };
    std::thread::scope(|scope| {
        // Helpers share the queue with this thread; if one cannot be started, the others (and
        // this thread) simply take its share.
        let helpers: Vec<_> = (1..want)
            .filter_map(|_| std::thread::Builder::new().spawn_scoped(scope, work).ok())
            .collect();
        let (mut hits, mut errors) = work();
        for h in helpers {
            match h.join() {
                Ok((more_hits, more_errors)) => {
                    hits.extend(more_hits);
                    errors.extend(more_errors);
                }
                // A panicking helper is a bug; re-raise it rather than return a partial list.
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        (hits, errors)
    })
}

/// Reads files in chunks, looking for `"$imagepolicy"`; the buffer is reused across files.
struct Screener {
    finder: memmem::Finder<'static>,
    buf: Vec<u8>,
}

impl Screener {
    fn new() -> Self {
        Screener {
            finder: memmem::Finder::new(super::scan::SCREEN),
            buf: vec![0; CHUNK],
        }
    }

    /// Reads the file in chunks, stopping at the first `"$imagepolicy"`.
    fn screen(&mut self, path: &Path) -> io::Result<bool> {
        let mut file = File::open(path)?;
        let keep_max = self.finder.needle().len() - 1;
        let mut filled = 0;
        loop {
            let n = match file.read(&mut self.buf[filled..]) {
                Ok(0) => return Ok(false),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let end = filled + n;
            if self.finder.find(&self.buf[..end]).is_some() {
                return Ok(true);
            }
            // Keep a tail shorter than the needle so a match across chunks is still seen.
            let keep = end.min(keep_max);
            self.buf.copy_within(end - keep..end, 0);
            filled = keep;
        }
    }
}

/// Replaces the file at `path` with `bytes` atomically: a temp file in the same directory, written,
/// fsynced, given the original's permissions, then renamed over the original (and the directory
/// fsynced). On any error the original is untouched and the temp file is removed.
///
/// A symlink is resolved first, so the file it points to is replaced and the link stays.
///
/// # Errors
/// The underlying I/O error, its message prefixed with the operation and the path.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let context = |what: &str, p: &Path| {
        let what = what.to_owned();
        let p = p.display().to_string();
        move |e: io::Error| io::Error::new(e.kind(), format!("{what} {p}: {e}"))
    };
    let target = match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            fs::canonicalize(path).map_err(context("cannot resolve symlink", path))?
        }
        _ => path.to_path_buf(),
    };
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let permissions = fs::metadata(&target).ok().map(|m| m.permissions());
    let mut tmp = tempfile::Builder::new()
        .prefix(".deckhand-")
        .suffix(".tmp")
        .tempfile_in(&dir)
        .map_err(context("cannot create a temp file in", &dir))?;
    tmp.write_all(bytes)
        .map_err(context("cannot write a temp file for", &target))?;
    if let Some(permissions) = permissions {
        tmp.as_file()
            .set_permissions(permissions)
            .map_err(context("cannot copy the permissions of", &target))?;
    }
    tmp.as_file()
        .sync_all()
        .map_err(context("cannot fsync a temp file for", &target))?;
    tmp.persist(&target)
        .map_err(|e| context("cannot rename a temp file over", &target)(e.error))?;
    // Make the rename itself durable; failure here cannot undo it, so it is only logged.
    if let Err(e) = File::open(&dir).and_then(|d| d.sync_all()) {
        tracing::debug!(dir = %dir.display(), error = %e, "directory fsync failed");
    }
    Ok(())
}
