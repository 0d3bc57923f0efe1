//! Rollout: make the compose services on this Docker host run what their compose files say.
//!
//! A reconciler. For each configured project: read the file (desired images), find the
//! project's containers by compose labels (actual images), undo any recreate a crash cut short,
//! [`plan`](plan::plan) (pure), then per differing service in `depends_on` order: pull (nothing is
//! stopped when that fails), recreate one replica at a time create-before-remove, gate on health,
//! and keep the result or put the old containers back. An image that failed is held in the state
//! directory until the file names another one. Re-running is always safe.

pub mod apply;
pub mod compose;
pub mod compose_cli;
pub mod docker;
pub mod plan;
pub mod spec;
pub mod state;

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde::Serialize;

use crate::config::{Config, OnFailure, ProjectSettings, RegistrySettings, RolloutMode};
use crate::registry::Credentials;
use crate::sync::Problem;
use apply::{Gate, Switched};
use compose::ComposeProject;
use compose_cli::ComposeCommand;
use docker::{Engine, PullProgress};
use plan::{Decision, Target};
use state::{RolloutState, StateStore};

/// What the caller asks for.
pub struct Options<'a> {
    /// Where held images are remembered.
    pub state_dir: PathBuf,
    /// Only the project with this name.
    pub project: Option<String>,
    /// Where pull progress goes.
    pub progress: &'a dyn PullProgress,
}

/// Errors that stop the rollout before it starts (usage errors).
#[derive(Debug, thiserror::Error)]
pub enum RolloutError {
    /// The config has no `rollout:` section.
    #[error("{}: there is no `rollout:` section, so no project to roll out", file.display())]
    NotConfigured {
        /// The config file.
        file: PathBuf,
    },
    /// `--project` names no configured project.
    #[error("no rollout project is named `{name}` (configured: {})", known.join(", "))]
    UnknownProject {
        /// The name asked for.
        name: String,
        /// The configured names.
        known: Vec<String>,
    },
}

/// How one service ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Every running container uses the file's image.
    UpToDate,
    /// Recreated with the new image and passed the gate.
    Updated,
    /// The new image failed its gate; the old containers run again and the image is held.
    RolledBack,
    /// The new image failed its gate and was kept (`onFailure: keep`); the image is held.
    FailedKept,
    /// Something failed before any container changed (pull, create), or a rollback failed.
    Failed,
    /// The file's image failed before and is held until the file names another one.
    Held,
    /// Left alone: not selected, no image, or not running.
    Skipped,
}

/// The result for one service.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceReport {
    /// The compose project.
    pub project: String,
    /// The service.
    pub service: String,
    /// The images it ran (distinct), when it was updated or tried.
    pub from: Vec<String>,
    /// The image the file names.
    pub to: Option<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// Details (why skipped, why failed).
    pub message: String,
}

/// What a rollout did.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    /// Per service.
    pub services: Vec<ServiceReport>,
    /// Things noticed (unset variables, an interrupted recreate undone, a corrupt state file).
    pub warnings: Vec<Problem>,
    /// Failures; the exit code is 1 when there are any.
    pub errors: Vec<Problem>,
}

impl Report {
    fn warn(&mut self, subject: impl Into<String>, message: impl Into<String>) {
        let p = Problem {
            subject: subject.into(),
            message: message.into(),
        };
        tracing::warn!("{}: {}", p.subject, p.message);
        self.warnings.push(p);
    }

    fn fail(&mut self, subject: impl Into<String>, message: impl Into<String>) {
        let p = Problem {
            subject: subject.into(),
            message: message.into(),
        };
        tracing::error!("{}: {}", p.subject, p.message);
        self.errors.push(p);
    }

    /// True when a project or service failed or was rolled back.
    #[must_use]
    pub fn failed(&self) -> bool {
        !self.errors.is_empty()
    }
}

/// Reconciles every configured project (or the one named in `options`).
///
/// # Errors
///
/// [`RolloutError`] when there is nothing to reconcile; everything else is in the [`Report`].
pub async fn reconcile(config: &Config, options: &Options<'_>) -> Result<Report, RolloutError> {
    let Some(settings) = &config.rollout else {
        return Err(RolloutError::NotConfigured {
            file: config.file.clone(),
        });
    };
    let mut report = Report::default();
    let env = |name: &str| std::env::var(name).ok();
    let mut projects: Vec<(&ProjectSettings, ComposeProject)> = Vec::new();
    let mut known = Vec::new();
    for p in &settings.projects {
        match compose::load(&p.file, p.name.as_deref(), &env) {
            Ok(project) => {
                known.push(project.name.clone());
                if options.project.as_ref().is_none_or(|n| *n == project.name) {
                    projects.push((p, project));
                }
            }
            Err(e) => {
                if let Some(name) = &p.name {
                    known.push(name.clone());
                    if options.project.as_ref().is_some_and(|n| n != name) {
                        continue;
                    }
                }
                report.fail(format!("project {}", p.file.display()), e.to_string());
            }
        }
    }
    if let Some(name) = &options.project
        && !known.contains(name)
    {
        return Err(RolloutError::UnknownProject {
            name: name.clone(),
            known,
        });
    }
    if projects.is_empty() {
        return Ok(report);
    }

    let engine = match Engine::connect(settings.docker.as_deref()).await {
        Ok(e) => e,
        Err(e) => {
            for (_, project) in &projects {
                report.fail(format!("project {}", project.name), e.to_string());
            }
            return Ok(report);
        }
    };
    let store = StateStore::new(&options.state_dir);
    let (mut state, warning) = store.load();
    if let Some(w) = warning {
        report.warn("state", w);
    }
    let mut compose_cmd: Option<Result<ComposeCommand, String>> = None;
    for (settings_p, project) in &projects {
        let run = ProjectRun {
            config,
            engine: &engine,
            settings: settings_p,
            project,
            progress: options.progress,
            docker_host: settings.docker.as_deref(),
        };
        if settings_p.mode == RolloutMode::Compose && compose_cmd.is_none() {
            compose_cmd = Some(ComposeCommand::find().await);
        }
        let compose = compose_cmd
            .as_ref()
            .filter(|_| settings_p.mode == RolloutMode::Compose);
        run.reconcile(compose, &mut state, &store, &mut report)
            .await;
    }
    Ok(report)
}

/// One project's pass.
struct ProjectRun<'a> {
    config: &'a Config,
    engine: &'a Engine,
    settings: &'a ProjectSettings,
    project: &'a ComposeProject,
    progress: &'a dyn PullProgress,
    docker_host: Option<&'a str>,
}

impl ProjectRun<'_> {
    #[tracing::instrument(skip_all, fields(project = %self.project.name))]
    async fn reconcile(
        &self,
        compose: Option<&Result<ComposeCommand, String>>,
        state: &mut RolloutState,
        store: &StateStore,
        report: &mut Report,
    ) {
        let name = &self.project.name;
        for var in &self.project.unset_variables {
            report.warn(
                format!("project {name}"),
                format!(
                    "variable {var} is not set (in the environment or {}); using an empty string",
                    self.project.dir.join(".env").display()
                ),
            );
        }
        let mut containers = match self.observe().await {
            Ok(c) => c,
            Err(e) => return report.fail(format!("project {name}"), e),
        };
        let cut_short = plan::interrupted(&containers);
        if !cut_short.is_empty() {
            for i in &cut_short {
                let switched = Switched {
                    old_id: i.old_id.clone(),
                    name: i.name.clone(),
                    new_id: i.new_id.clone(),
                };
                match apply::restore(self.engine, &switched).await {
                    Ok(()) => report.warn(
                        format!("{name}/{}", i.service),
                        format!(
                            "an interrupted recreate of {} was undone; the original container runs again",
                            i.name
                        ),
                    ),
                    Err(e) => report.fail(
                        format!("{name}/{}", i.service),
                        format!("cannot undo the interrupted recreate of {}: {e}", i.name),
                    ),
                }
            }
            containers = match self.observe().await {
                Ok(c) => c,
                Err(e) => return report.fail(format!("project {name}"), e),
            };
        }
        let held = state.held_images(name);
        let plans = plan::plan(
            self.project,
            self.settings.services.as_ref(),
            &containers,
            &held,
        );
        if let Some(selected) = &self.settings.services {
            let known: BTreeSet<&String> = self.project.services.iter().map(|s| &s.name).collect();
            for s in selected.iter().filter(|s| !known.contains(s)) {
                report.warn(
                    format!("project {name}"),
                    format!(
                        "services lists `{s}`, which is not in {}",
                        self.project.file.display()
                    ),
                );
            }
        }
        for p in plans {
            if p.release_hold && state.release(name, &p.service) {
                tracing::info!(service = %p.service, "the held image no longer applies; hold released");
                save(store, state, report);
            }
            let service_report = match p.decision {
                Decision::Update { to, containers } => {
                    let outcome = match compose {
                        Some(cmd) => {
                            self.update_with_compose(cmd, &p.service, &to, &containers)
                                .await
                        }
                        None => self.update(&p.service, &to, &containers).await,
                    };
                    if matches!(outcome.outcome, Outcome::RolledBack | Outcome::FailedKept) {
                        state.hold(name, &p.service, &to, &outcome.message);
                        save(store, state, report);
                    }
                    if outcome.outcome == Outcome::Updated {
                        tracing::info!(service = %p.service, to = %to, "updated");
                    } else {
                        report.fail(format!("{name}/{}", p.service), outcome.message.clone());
                    }
                    outcome
                }
                Decision::Held { image } => {
                    let reason = state
                        .held
                        .get(name)
                        .and_then(|m| m.get(&p.service))
                        .map(|h| h.reason.clone())
                        .unwrap_or_default();
                    report.warn(
                        format!("{name}/{}", p.service),
                        format!(
                            "{image} is held: it failed before ({reason}); it is not retried until the file names another image"
                        ),
                    );
                    self.report(
                        &p.service,
                        Some(image),
                        Outcome::Held,
                        "held after a failure",
                    )
                }
                Decision::UpToDate => self.report(&p.service, None, Outcome::UpToDate, ""),
                Decision::NoImage => {
                    self.report(&p.service, None, Outcome::Skipped, "no image: in the file")
                }
                Decision::NotSelected => {
                    self.report(&p.service, None, Outcome::Skipped, "not in `services`")
                }
                Decision::NotRunning => self.report(
                    &p.service,
                    None,
                    Outcome::Skipped,
                    "no running container (deckhand updates services, it does not start them)",
                ),
            };
            report.services.push(service_report);
        }
    }

    async fn observe(&self) -> Result<Vec<plan::Observed>, String> {
        self.engine
            .project_containers(&self.project.name)
            .await
            .map(|list| list.into_iter().map(|(o, _)| o).collect())
            .map_err(|e| e.to_string())
    }

    fn report(
        &self,
        service: &str,
        to: Option<String>,
        outcome: Outcome,
        message: &str,
    ) -> ServiceReport {
        ServiceReport {
            project: self.project.name.clone(),
            service: service.to_string(),
            from: Vec::new(),
            to,
            outcome,
            message: message.to_string(),
        }
    }

    fn gate_settings(&self) -> Gate {
        Gate {
            health_timeout: self.settings.health_timeout,
            settle: self.settings.settle,
        }
    }

    async fn pull(&self, image: &str) -> Result<(), String> {
        let (name, _) = docker::split_reference(image);
        let host = docker::registry_host(name);
        let credentials = credentials_for(self.config, host).await;
        tracing::info!(image, "pulling");
        self.engine
            .pull(image, credentials.as_ref(), self.progress)
            .await
            .map_err(|e| e.to_string())
    }

    /// API mode: recreate each stale container, one at a time; gate each; then keep or undo all.
    #[tracing::instrument(skip_all, fields(service = %service, to = %to))]
    async fn update(&self, service: &str, to: &str, targets: &[Target]) -> ServiceReport {
        let mut out = self.report(service, Some(to.to_string()), Outcome::Failed, "");
        out.from = distinct_images(targets);
        if let Err(e) = self.pull(to).await {
            out.message = format!("{e}; nothing was changed");
            return out;
        }
        let mut switched: Vec<Switched> = Vec::new();
        let mut failure: Option<String> = None;
        for target in targets {
            tracing::info!(container = %target.name, from = %target.from, "recreating");
            match apply::recreate(self.engine, target, to).await {
                Ok(s) => {
                    switched.push(s.clone());
                    if let Err(e) = apply::gate(self.engine, &s.new_id, self.gate_settings()).await
                    {
                        failure = Some(format!("{}: {e}", target.name));
                        break;
                    }
                }
                Err(e) => {
                    failure = Some(format!("{}: {}", target.name, e.message));
                    break;
                }
            }
        }
        let Some(failure) = failure else {
            for s in &switched {
                if let Err(e) = apply::discard_old(self.engine, s).await {
                    tracing::warn!("{e}");
                }
            }
            out.outcome = Outcome::Updated;
            out.message = format!("{} container(s) recreated", switched.len());
            return out;
        };
        if switched.is_empty() {
            // The first replica failed before its replacement ran: nothing changed.
            out.message = format!("{failure}; the old container was left running");
            return out;
        }
        match self.settings.on_failure {
            OnFailure::Rollback => {
                let mut undo_errors = Vec::new();
                for s in switched.iter().rev() {
                    if let Err(e) = apply::restore(self.engine, s).await {
                        undo_errors.push(format!("{}: {e}", s.name));
                    }
                }
                if undo_errors.is_empty() {
                    out.outcome = Outcome::RolledBack;
                    out.message = format!("{failure}; rolled back to {}", out.from.join(", "));
                } else {
                    out.message = format!("{failure}; ROLLBACK FAILED: {}", undo_errors.join("; "));
                }
            }
            OnFailure::Keep => {
                for s in &switched {
                    if let Err(e) = apply::discard_old(self.engine, s).await {
                        tracing::warn!("{e}");
                    }
                }
                out.outcome = Outcome::FailedKept;
                out.message =
                    format!("{failure}; the new container(s) were kept (onFailure: keep)");
            }
        }
        out
    }

    /// Compose mode: pull, `up -d --no-deps`, gate the containers compose made; on failure,
    /// compose again with the old image as an override.
    #[tracing::instrument(skip_all, fields(service = %service, to = %to))]
    async fn update_with_compose(
        &self,
        cmd: &Result<ComposeCommand, String>,
        service: &str,
        to: &str,
        targets: &[Target],
    ) -> ServiceReport {
        let mut out = self.report(service, Some(to.to_string()), Outcome::Failed, "");
        out.from = distinct_images(targets);
        let cmd = match cmd {
            Ok(c) => c,
            Err(e) => {
                out.message = e.clone();
                return out;
            }
        };
        if let Err(e) = self.pull(to).await {
            out.message = format!("{e}; nothing was changed");
            return out;
        }
        if let Err(e) = cmd.up(self.project, service, self.docker_host, None).await {
            out.message = e;
            return out;
        }
        let failure = match self.observe().await {
            Err(e) => Some(e),
            Ok(containers) => {
                let desired = plan::normalize(to);
                let fresh: Vec<&plan::Observed> = containers
                    .iter()
                    .filter(|c| {
                        c.service == service && !c.oneoff && plan::normalize(&c.image) == desired
                    })
                    .collect();
                let mut failure = fresh
                    .is_empty()
                    .then(|| format!("{} made no container with {to}", cmd.display()));
                for c in fresh {
                    if failure.is_some() {
                        break;
                    }
                    if let Err(e) = apply::gate(self.engine, &c.id, self.gate_settings()).await {
                        failure = Some(format!("{}: {e}", c.name));
                    }
                }
                failure
            }
        };
        let Some(failure) = failure else {
            out.outcome = Outcome::Updated;
            out.message = format!("recreated by {}", cmd.display());
            return out;
        };
        if self.settings.on_failure == OnFailure::Keep {
            out.outcome = Outcome::FailedKept;
            out.message = format!("{failure}; kept (onFailure: keep)");
            return out;
        }
        let Some(previous) = out.from.first().cloned() else {
            out.message = failure;
            return out;
        };
        let undo = async {
            let dir = tempfile::tempdir().map_err(|e| format!("cannot make a temp dir: {e}"))?;
            let file = dir.path().join("deckhand-rollback.yml");
            std::fs::write(&file, compose_cli::image_override(service, &previous))
                .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
            cmd.up(self.project, service, self.docker_host, Some(&file))
                .await
        }
        .await;
        match undo {
            Ok(()) => {
                out.outcome = Outcome::RolledBack;
                out.message = format!("{failure}; rolled back to {previous} by {}", cmd.display());
            }
            Err(e) => out.message = format!("{failure}; ROLLBACK FAILED: {e}"),
        }
        out
    }
}

fn distinct_images(targets: &[Target]) -> Vec<String> {
    let mut seen = Vec::new();
    for t in targets {
        if !seen.contains(&t.from) {
            seen.push(t.from.clone());
        }
    }
    seen
}

fn save(store: &StateStore, state: &RolloutState, report: &mut Report) {
    if let Err(e) = store.save(state) {
        report.fail("state", e.to_string());
    }
}

/// Credentials for pulling from `host`: deckhand's `registries:` entry, else the docker config,
/// else none (anonymous).
async fn credentials_for(config: &Config, host: &str) -> Option<Credentials> {
    let configured = config
        .registries
        .get(host)
        .and_then(|r: &RegistrySettings| r.credentials.clone());
    match configured {
        Some(c) => Some(c),
        None => crate::registry::docker_config_credentials(host).await,
    }
}
