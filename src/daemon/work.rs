//! The daemon's [`Work`]: a scan lists one repository and runs its policies (the same functions
//! `deckhand sync` uses); an update pass is one call of [`sync::sync_scanned`] with those scans,
//! so whatever a pass does — edit, commit, and push and rollout as they are added to `sync` — the
//! daemon does too.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use super::scheduler::Work;
use super::state::{
    PASS_MARKER_FILE, PolicyState, RepositoryState, StateFile, UpdateState, now_unix,
};
use super::watch::OwnWrites;
use crate::config::{Config, DigestReflection};
use crate::http::metrics::{Metrics, RepositoryLabel, ResultLabel};
use crate::registry::RegistryClient;
use crate::sync::{self, Report, Scans, SyncOptions};

/// What the scans and passes share.
pub struct DaemonWork {
    pub(crate) config: Arc<Config>,
    pub(crate) clients: HashMap<String, Arc<RegistryClient>>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) state: Mutex<StateFile>,
    pub(crate) state_dir: PathBuf,
    pub(crate) ready: Arc<AtomicBool>,
    pub(crate) own_writes: Arc<OwnWrites>,
    /// The last successful scan of each repository (or the error, when none succeeded yet).
    pub(crate) scans: Mutex<Scans>,
    /// Digests of picks, for policies that always reflect them: a re-pushed tag is a change.
    pub(crate) digests: Mutex<BTreeMap<String, String>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves plain data behind; keep going.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl DaemonWork {
    fn save_state(&self, state: &StateFile) {
        if let Err(e) = state.save() {
            tracing::error!("{e}");
        }
    }

    fn record_failure(&self, name: &str, duration_ms: u64, message: &str) {
        let mut state = lock(&self.state);
        let entry = state
            .state
            .repositories
            .entry(name.to_string())
            .or_default();
        entry.last_scan = now_unix();
        entry.duration_ms = duration_ms;
        entry.error = Some(message.to_string());
        entry.consecutive_failures = entry.consecutive_failures.saturating_add(1);
        self.save_state(&state);
    }

    /// Runs the rollout of every configured compose project and counts the outcomes.
    pub(crate) async fn roll_out(&self) {
        let options = crate::rollout::Options {
            state_dir: self.state_dir.clone(),
            project: None,
            progress: &crate::rollout::docker::LogProgress,
        };
        match crate::rollout::reconcile(&self.config, &options).await {
            Ok(report) => {
                for s in &report.services {
                    if s.outcome == crate::rollout::Outcome::UpToDate {
                        continue;
                    }
                    let result = serde_json::to_value(&s.outcome)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_else(|| "unknown".into());
                    self.metrics
                        .rollouts
                        .get_or_create(&ResultLabel { result })
                        .inc();
                    tracing::info!(project = %s.project, service = %s.service, outcome = ?s.outcome, "rollout: {}", s.message);
                }
                for e in &report.errors {
                    tracing::error!("rollout: {}: {}", e.subject, e.message);
                }
            }
            Err(e) => tracing::error!("rollout: {e}"),
        }
    }

    fn record_report(&self, report: &Report) {
        let m = &self.metrics;
        let result = if report.errors.is_empty() {
            "ok"
        } else {
            "error"
        };
        m.update_passes
            .get_or_create(&ResultLabel {
                result: result.into(),
            })
            .inc();
        m.files_updated.inc_by(report.written.len() as u64);
        if report.commit.is_some() {
            m.commits.inc();
        }
        if let Some(push) = &report.push {
            m.pushes.inc();
            // Every attempt after the first followed a lost race with another writer.
            m.push_conflicts
                .inc_by(u64::from(push.attempts.saturating_sub(1)));
        }
        self.own_writes.record(&report.written);
        let problem = |p: &sync::Problem| format!("{}: {}", p.subject, p.message);
        let mut state = lock(&self.state);
        state.state.last_update = Some(UpdateState {
            time: now_unix(),
            changes: report.changes.len(),
            commit: report.commit.clone(),
            errors: report.errors.iter().map(problem).collect(),
            warnings: report.warnings.iter().map(problem).collect(),
        });
        self.save_state(&state);
    }
}

impl Work for DaemonWork {
    async fn scan(&self, name: &str) -> Result<bool, ()> {
        let Some(repo) = self.config.repositories.get(name) else {
            return Err(());
        };
        let Some(client) = self.clients.get(&repo.reference.registry) else {
            return Err(());
        };
        let label = RepositoryLabel {
            repository: name.to_string(),
        };
        let started = Instant::now();
        let listed = sync::list_repository(&self.config, repo, client).await;
        let elapsed = started.elapsed();
        let duration_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        self.metrics.scans.get_or_create(&label).inc();
        self.metrics
            .scan_duration
            .get_or_create(&label)
            .observe(elapsed.as_secs_f64());
        let tags = match listed {
            Ok(tags) => tags,
            Err(message) => {
                self.metrics.scan_errors.get_or_create(&label).inc();
                tracing::warn!(repository = name, image = %repo.image, "scan failed: {message}");
                lock(&self.scans)
                    .entry(name.to_string())
                    .or_insert_with(|| Err(message.clone()));
                self.record_failure(name, duration_ms, &message);
                return Err(());
            }
        };
        let scan = sync::pick_tags(&self.config, name, repo, &tags);

        // For policies that always reflect digests, a new digest under the same tag is a change.
        let mut digests = BTreeMap::new();
        for (policy, pick) in &scan.picks {
            let always = self
                .config
                .policies
                .get(policy)
                .is_some_and(|p| p.digest_reflection == DigestReflection::Always);
            if let (true, Ok(tag)) = (always, pick) {
                match client.digest(&repo.reference.repository, tag).await {
                    Ok(d) => {
                        digests.insert(policy.clone(), d);
                    }
                    Err(e) => tracing::warn!(repository = name, "digest of {tag}: {e}"),
                }
            }
        }

        let previous = lock(&self.scans).insert(name.to_string(), Ok(scan.clone()));
        let previous = previous.and_then(Result::ok);
        if !scan.invalid_tags.is_empty()
            && previous.as_ref().map(|p| &p.invalid_tags) != Some(&scan.invalid_tags)
        {
            tracing::warn!(
                repository = name,
                "ignoring tags that are not valid OCI tags: {:?}",
                scan.invalid_tags
            );
        }
        let mut changed = false;
        {
            let mut known = lock(&self.digests);
            for (policy, digest) in digests {
                changed |= known.insert(policy, digest.clone()).as_ref() != Some(&digest);
            }
        }
        let now = now_unix();
        let mut state = lock(&self.state);
        for (policy, pick) in &scan.picks {
            let before = previous.as_ref().and_then(|p| p.picks.get(policy));
            let old_tag = before.and_then(|b| b.as_ref().ok()).cloned();
            let entry = state.state.policies.entry(policy.clone()).or_default();
            entry.repository = name.to_string();
            match pick {
                Ok(tag) => {
                    if old_tag.as_ref() != Some(tag) {
                        changed = true;
                        tracing::info!(policy = %policy, repository = name, from = ?old_tag, to = %tag, "new pick");
                        entry.since = Some(now);
                    }
                    let prior_metric = entry.tag.clone();
                    entry.tag = Some(tag.clone());
                    entry.error = None;
                    entry.digest = lock(&self.digests).get(policy).cloned();
                    let policy_ref = self.config.policies.get(policy).map_or_else(
                        || format!("{}:{policy}", self.config.namespace),
                        |p| format!("{}:{}", p.namespace, p.name),
                    );
                    self.metrics
                        .set_pick(&policy_ref, &repo.image, prior_metric.as_deref(), tag);
                }
                Err(e) => {
                    if before.is_none_or(|b| b.as_ref().err() != Some(e)) {
                        tracing::error!(policy = %policy, repository = name, "{e}");
                    }
                    *entry = PolicyState {
                        repository: name.to_string(),
                        error: Some(e.clone()),
                        ..entry.clone()
                    };
                }
            }
        }
        let last_success = Some(now);
        state.state.repositories.insert(
            name.to_string(),
            RepositoryState {
                last_scan: now,
                duration_ms,
                tags: scan.tags_listed,
                error: None,
                consecutive_failures: 0,
                last_success,
            },
        );
        self.save_state(&state);
        drop(state);
        tracing::debug!(
            repository = name,
            tags = scan.tags_listed,
            changed,
            "scanned"
        );
        Ok(changed)
    }

    async fn update(&self) {
        let scans = lock(&self.scans).clone();
        let marker = self.state_dir.join(PASS_MARKER_FILE);
        // Present at the next start only if this pass was killed: then that start finishes it.
        if let Err(e) = crate::manifest::write_atomic(
            &marker,
            format!("{{\"started\": {}}}\n", now_unix()).as_bytes(),
        ) {
            tracing::warn!("cannot write {}: {e}", marker.display());
        }
        let started = Instant::now();
        let result = sync::sync_scanned(&self.config, SyncOptions::default(), &scans).await;
        let _ = std::fs::remove_file(&marker);
        // The rollout reconciles whatever the files say now, like `deckhand sync` does after its
        // commit, so it runs even when part of the pass failed.
        if self.config.rollout.is_some() {
            self.roll_out().await;
        }
        match result {
            Ok(report) => {
                let elapsed = started.elapsed();
                match &report.commit {
                    Some(commit) => tracing::info!(
                        commit = %commit,
                        changes = report.changes.len(),
                        errors = report.errors.len(),
                        ?elapsed,
                        "update pass committed"
                    ),
                    None => tracing::debug!(
                        changes = report.changes.len(),
                        errors = report.errors.len(),
                        ?elapsed,
                        "update pass: nothing to commit"
                    ),
                }
                self.record_report(&report);
            }
            Err(e) => {
                tracing::error!("update pass failed: {e}");
                self.metrics
                    .update_passes
                    .get_or_create(&ResultLabel {
                        result: "error".into(),
                    })
                    .inc();
                let mut state = lock(&self.state);
                state.state.last_update = Some(UpdateState {
                    time: now_unix(),
                    errors: vec![e.to_string()],
                    ..UpdateState::default()
                });
                self.save_state(&state);
            }
        }
    }

    fn ready(&self) {
        self.ready.store(true, Ordering::Relaxed);
        tracing::info!("every repository scanned once; ready");
    }
}
