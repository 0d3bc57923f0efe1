//! `deckhand run`: the daemon.
//!
//! One [`CancellationToken`] and one [`TaskTracker`] supervise three tasks: the [`scheduler`]
//! (scans and update passes), the HTTP server (`crate::http`: webhooks, metrics, health) and the
//! file [`watch`]er. Triggers reach the scheduler over one bounded channel. On cancel (the first
//! SIGTERM/SIGINT) intake stops — the listener closes, the watcher ends, no new scan or pass
//! starts — and an update pass in flight gets `daemon.shutdownTimeout` to finish; then the
//! daemon returns. The caller exits at once on a second signal.

pub mod recover;
pub mod scheduler;
pub mod state;
pub mod status;
pub mod watch;
mod work;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::http::metrics::Metrics;
use crate::http::router::{AppState, router};
use crate::sync::{self, Scans, SyncError};
use scheduler::{Settings, Target};
use state::{Opened, PASS_MARKER_FILE, StateFile};
use watch::OwnWrites;
use work::DaemonWork;

/// Triggers waiting for the scheduler at most (webhooks beyond it get 503 and are retried).
const INTAKE: usize = 256;

/// Options from the command line.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// `--state-dir`.
    pub state_dir: Option<PathBuf>,
}

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// A listener without a secret would accept anyone's webhooks.
    #[error(
        "daemon.listen is {addr}, but no webhook secret is configured: set daemon.webhookSecretFile \
         or daemon.webhookSecretEnv (or `listen: off` for no listener)"
    )]
    NoSecret {
        /// The configured address.
        addr: SocketAddr,
    },
    /// The secret could not be read.
    #[error("{0}")]
    Secret(String),
    /// The listen address is taken or not allowed.
    #[error("cannot listen on {addr} (daemon.listen): {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The state directory is unusable.
    #[error("{0}")]
    State(String),
    /// The checkout or a registry client is unusable.
    #[error(transparent)]
    Sync(#[from] SyncError),
}

impl DaemonError {
    /// A configuration problem (exit code 2) rather than an environment one.
    #[must_use]
    pub fn is_config(&self) -> bool {
        matches!(self, DaemonError::NoSecret { .. } | DaemonError::Secret(_))
    }
}

/// Runs the daemon until `cancel`.
pub async fn run(
    config: Config,
    options: RunOptions,
    cancel: CancellationToken,
) -> Result<(), DaemonError> {
    let config = Arc::new(config);
    let secret = match (config.daemon.listen, &config.daemon.webhook_secret) {
        (Some(_), Some(source)) => Some(source.read().map_err(DaemonError::Secret)?),
        (Some(addr), None) => return Err(DaemonError::NoSecret { addr }),
        (None, _) => None,
    };
    // The checkout must be usable before anything is scheduled (as for `deckhand sync`).
    let worktree = crate::git::Worktree::discover(&config.update_path).map_err(SyncError::from)?;
    worktree
        .checked_out_branch(config.git.branch.as_deref())
        .map_err(SyncError::from)?;

    let state_dir = state::resolve_dir(
        options.state_dir.as_deref(),
        config.daemon.state_dir.as_deref(),
        &config.file,
    );
    let (state_file, opened) = StateFile::open(&state_dir).map_err(DaemonError::State)?;
    match opened {
        Opened::Read => tracing::debug!(path = %state_file.path().display(), "state read"),
        Opened::New => tracing::info!(path = %state_file.path().display(), "new state"),
        Opened::Rebuilt(why) => tracing::warn!("{why}; starting from an empty state"),
    }
    let marker = state_dir.join(PASS_MARKER_FILE);
    if marker.exists() {
        tracing::warn!("the last update pass was interrupted; finishing it");
        match recover::finish_interrupted_pass(&config) {
            Ok(r) => {
                if let Some(commit) = &r.commit {
                    tracing::info!(%commit, "committed the files the interrupted pass had written");
                }
                if !r.refreshed.is_empty() {
                    tracing::info!(files = ?r.refreshed, "refreshed stale index entries");
                }
                if !r.removed.is_empty() {
                    tracing::info!(files = ?r.removed, "removed leftover temp files");
                }
            }
            Err(e) => tracing::error!("{e}"),
        }
        let _ = std::fs::remove_file(&marker);
    }

    let clients = sync::registry_clients(&config)?;
    let metrics = Arc::new(Metrics::new());
    let ready = Arc::new(AtomicBool::new(false));
    let stopping = Arc::new(AtomicBool::new(false));
    let own_writes = Arc::new(OwnWrites::default());
    let (triggers, intake) = mpsc::channel(INTAKE);
    let tracker = TaskTracker::new();

    if let (Some(addr), Some(secret)) = (config.daemon.listen, secret) {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| DaemonError::Bind { addr, source })?;
        let local = listener.local_addr().unwrap_or(addr);
        tracing::info!(
            "listening on http://{local} (/hooks/harbor, /hooks/registry, /hooks/generic, /metrics, /healthz, /readyz)"
        );
        let app = router(Arc::new(AppState {
            config: Arc::clone(&config),
            secret,
            triggers: triggers.clone(),
            metrics: Arc::clone(&metrics),
            ready: Arc::clone(&ready),
            stopping: Arc::clone(&stopping),
            max_body_bytes: config.daemon.max_body_bytes,
        }));
        let stop = cancel.clone();
        tracker.spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(stop.clone().cancelled_owned())
                .await;
            if let Err(e) = served {
                tracing::error!("the HTTP server stopped: {e}");
                stop.cancel();
            }
        });
    }

    // Kept alive until return: dropping it stops the inotify thread.
    let _watcher = if config.daemon.watch {
        let compose_files: Vec<PathBuf> = config
            .rollout
            .iter()
            .flat_map(|r| &r.projects)
            .flat_map(|p| {
                let env = p.file.parent().map(|d| d.join(".env"));
                std::iter::once(p.file.clone()).chain(env)
            })
            .collect();
        match watch::start(&config.update_path, &state_dir, &compose_files) {
            Ok((watcher, paths)) => {
                tracker.spawn(watch::run(
                    paths,
                    Arc::clone(&own_writes),
                    triggers.clone(),
                    cancel.clone(),
                ));
                tracing::debug!(path = %config.update_path.display(), "watching for changes");
                Some(watcher)
            }
            Err(e) => {
                tracing::warn!(
                    "cannot watch {} for changes ({e}); scans and webhooks still work",
                    config.update_path.display()
                );
                None
            }
        }
    } else {
        None
    };
    drop(triggers);

    let targets = config
        .repositories
        .iter()
        .filter(|(_, r)| !r.suspended)
        .map(|(id, r)| Target {
            name: id.clone(),
            interval: r.interval,
        })
        .collect();
    let settings = Settings {
        max_concurrent_scans: config.daemon.max_concurrent_scans,
        backoff_max: config.daemon.backoff_max,
        shutdown_timeout: config.daemon.shutdown_timeout,
        seed: fastrand::u64(..),
        ..Settings::default()
    };
    let work = Arc::new(DaemonWork {
        config: Arc::clone(&config),
        clients,
        metrics,
        state: Mutex::new(state_file),
        state_dir,
        ready,
        own_writes,
        scans: Mutex::new(Scans::new()),
        digests: Mutex::new(BTreeMap::new()),
    });
    let stop = cancel.clone();
    tracker.spawn(async move {
        if scheduler::run(work, targets, settings, intake, stop).await
            == scheduler::Stopped::UpdateAborted
        {
            tracing::warn!("stopped an update pass that overran the shutdown timeout");
        }
    });
    tracker.close();

    cancel.cancelled().await;
    stopping.store(true, Ordering::Relaxed);
    tracing::info!("stopping: no new scans or passes; a second signal exits at once");
    // The scheduler bounds its own wait; open HTTP requests get a little longer.
    let bound = config.daemon.shutdown_timeout + Duration::from_secs(5);
    if tokio::time::timeout(bound, tracker.wait()).await.is_err() {
        tracing::warn!("some tasks did not stop within {bound:?}; exiting anyway");
    }
    tracing::info!("stopped");
    Ok(())
}

/// Waits for SIGTERM or SIGINT: the first cancels `cancel`, the second returns (the caller then
/// exits at once).
pub async fn on_signals(cancel: CancellationToken) -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    for round in 0..2 {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        if round == 0 {
            cancel.cancel();
        }
    }
    Ok(())
}
