//! One pass of the loop: fetch and fast-forward → registries → policies → markers → edits →
//! atomic writes → commit → push (on a lost race: fetch, re-apply the edits on the new tip, push
//! again).
//!
//! Fatal errors (no repository, wrong branch, a diverged branch, a fast-forward blocked by
//! uncommitted changes, a failed fetch) stop the pass before anything is written. Everything
//! else — a registry that is down, a file that does not parse, a file with uncommitted changes, a
//! tag that breaks the OCI grammar — is contained: it is reported and the rest of the pass goes on.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use tokio::task::JoinSet;

use crate::config::{Config, DigestReflection, RegistrySettings, Repository};
use crate::git::{GitError, MessageChange, MessageData, Published, Signer, Upstream, Worktree};
use crate::manifest::{self, Edit, Field, Marker, Pick, PolicyRef};
use crate::registry::{Listing, RegistryClient, RegistryError, RegistryOptions};

/// What the caller wants from the pass.
#[derive(Debug, Clone, Copy, Default)]
pub struct SyncOptions {
    /// Compute and report the edits (with a diff) but write nothing.
    pub dry_run: bool,
    /// Write the files but do not commit.
    pub no_commit: bool,
    /// Commit but do not push (fetching and fast-forwarding still happen).
    pub no_push: bool,
}

/// One value changed (or, in a dry run, to be changed).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Change {
    /// File, relative to the repository root.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// `namespace:name` of the policy.
    pub policy: String,
    /// Which part of the reference the marker sets (`image`, `tag`, `name`, `digest`).
    pub field: &'static str,
    /// The policy's image repository, as written in the config.
    pub image: String,
    /// Value before.
    pub old: String,
    /// Value after.
    pub new: String,
    /// The marker's `$imagepolicy` value (Flux's setter).
    #[serde(skip)]
    pub setter: String,
    /// The Kubernetes object the value is in (empty for compose files).
    #[serde(skip)]
    pub object: manifest::ObjectId,
}

/// The newest tag a policy picked in this pass.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyPick {
    /// `namespace:name`.
    pub policy: String,
    /// The repository's image as written.
    pub image: String,
    /// The picked tag.
    pub tag: String,
    /// Its digest, when reflected.
    pub digest: Option<String>,
    /// How many tags the registry listed.
    pub tags_listed: usize,
}

/// Something that failed; the rest of the pass still ran.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// What it concerns: a repository, a policy, a file (with line), a commit.
    pub subject: String,
    /// What went wrong.
    pub message: String,
}

/// What the pass did.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    /// The picks, per policy.
    pub picks: Vec<PolicyPick>,
    /// Values changed (or to be changed in a dry run).
    pub changes: Vec<Change>,
    /// Files written (absolute).
    #[serde(skip)]
    pub written: Vec<PathBuf>,
    /// The commit made, if any.
    pub commit: Option<String>,
    /// The push, if one happened.
    pub push: Option<Published>,
    /// Unified diff of the edits (dry run only).
    #[serde(skip)]
    pub diff: String,
    /// Things left alone on purpose (unknown policy, dirty file, …).
    pub warnings: Vec<Problem>,
    /// Failures (the exit code says so).
    pub errors: Vec<Problem>,
    /// What the rollout after the commit did (filled in by the caller; absent with
    /// `--no-rollout`, `--dry-run` or no `rollout:` section).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollout: Option<crate::rollout::Report>,
    /// Problems are collected without logging (a re-application after a lost push race, whose
    /// new problems are logged when merged).
    #[serde(skip)]
    quiet: bool,
}

impl Report {
    fn warn(&mut self, subject: impl Into<String>, message: impl Into<String>) {
        let p = Problem {
            subject: subject.into(),
            message: message.into(),
        };
        if !self.quiet {
            tracing::warn!("{}: {}", p.subject, p.message);
        }
        self.warnings.push(p);
    }

    fn fail(&mut self, subject: impl Into<String>, message: impl Into<String>) {
        let p = Problem {
            subject: subject.into(),
            message: message.into(),
        };
        if !self.quiet {
            tracing::error!("{}: {}", p.subject, p.message);
        }
        self.errors.push(p);
    }

    /// Takes over the outcome of a re-application: its changes, files and commit replace this
    /// report's (they are what lands), its new problems are added.
    fn absorb(&mut self, redo: Report) {
        self.changes = redo.changes;
        self.written = redo.written;
        self.commit = redo.commit;
        for w in redo.warnings {
            if !self
                .warnings
                .iter()
                .any(|x| x.subject == w.subject && x.message == w.message)
            {
                self.warn(w.subject, w.message);
            }
        }
        for e in redo.errors {
            if !self
                .errors
                .iter()
                .any(|x| x.subject == e.subject && x.message == e.message)
            {
                self.fail(e.subject, e.message);
            }
        }
    }
}

/// Errors that stop the pass before anything is written.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The git checkout is not usable.
    #[error(transparent)]
    Git(#[from] GitError),
    /// A registry client could not be built (bad CA file, …).
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// Fetching or fast-forwarding before editing failed.
    #[error("{0}; this pass changed nothing")]
    Upstream(GitError),
}

/// Runs one pass.
pub async fn sync(config: &Config, options: SyncOptions) -> Result<Report, SyncError> {
    sync_scanned(config, options, &Scans::new()).await
}

/// Runs one pass, reusing the repository scans the caller already made (the daemon scans each
/// repository on its own schedule). Repositories missing from `scans` are listed by the pass; the
/// problems of the given scans are the caller's to report and are not repeated here.
pub async fn sync_scanned(
    config: &Config,
    options: SyncOptions,
    scans: &Scans,
) -> Result<Report, SyncError> {
    let worktree = Worktree::discover(&config.update_path)?;
    let branch = worktree.checked_out_branch(config.git.branch.as_deref())?;
    tracing::debug!(root = %worktree.root().display(), %branch, "working on");
    // A dry run changes nothing, not even the local branch, so it does not fetch.
    let upstream = if options.dry_run {
        None
    } else {
        Upstream::new(&config.git, &branch, !options.no_commit && !options.no_push)
    };
    if let Some(upstream) = &upstream {
        blocking(|| upstream.update(&worktree)).map_err(SyncError::Upstream)?;
    }
    let mut report = Report::default();

    let clients = registry_clients(config)?;
    let files = scan_files(config, &worktree, &mut report);
    let picks = resolve_picks(config, &clients, &files, scans, &mut report).await;
    apply_edits(config, &worktree, &files, &picks, options, &mut report);

    let mut signer = config.git.signing_key.as_ref().map(Signer::new);
    let commits = !options.dry_run && !options.no_commit;
    if commits {
        commit_written(
            config,
            &worktree,
            &branch,
            &picks,
            signer.as_mut(),
            &mut report,
        );
    }
    if let Some(upstream) = upstream.as_ref().filter(|u| u.pushes()) {
        // On a lost race: the edits again, on the new remote tip, with the same picks.
        let mut reapply = |wt: &Worktree| {
            let mut redo = Report {
                quiet: true,
                ..Report::default()
            };
            let files = scan_files(config, wt, &mut redo);
            apply_edits(config, wt, &files, &picks, options, &mut redo);
            commit_written(config, wt, &branch, &picks, signer.as_mut(), &mut redo);
            report.absorb(redo);
        };
        match blocking(|| upstream.publish(&worktree, &mut reapply)) {
            Ok(published) => report.push = published,
            Err(e) => report.fail("push", e.to_string()),
        }
    }
    Ok(report)
}

/// Runs blocking git work (network, files) without stalling other tasks of a multi-threaded
/// runtime.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// Commits the files written in this pass (if any) with the configured or default message.
fn commit_written(
    config: &Config,
    worktree: &Worktree,
    branch: &str,
    picks: &HashMap<String, Pick>,
    signer: Option<&mut Signer>,
    report: &mut Report,
) {
    if report.written.is_empty() {
        return;
    }
    let changes = report.changes.clone();
    let message = commit_message(config, worktree.root(), branch, &changes, picks, report);
    match worktree.commit_files(
        branch,
        &report.written,
        &config.git.author,
        &message,
        signer,
    ) {
        Ok(oid) => {
            tracing::info!(commit = %oid, branch, "committed {} change(s)", report.changes.len());
            report.commit = Some(oid.to_string());
        }
        Err(e) => {
            // Uncommitted edits would make the next pass skip these files as a person's work.
            let restored = match worktree.restore(&report.written) {
                Ok(()) => "the edited files were put back as they were".to_string(),
                Err(r) => format!("the edited files could not be put back: {r}"),
            };
            report.fail("commit", format!("{e}; {restored}"));
            report.written.clear();
            report.changes.clear();
        }
    }
}

/// A scanned file with markers.
struct ScannedFile {
    path: PathBuf,
    relative: PathBuf,
    bytes: Vec<u8>,
    markers: Vec<Marker>,
}

fn scan_files(config: &Config, worktree: &Worktree, report: &mut Report) -> Vec<ScannedFile> {
    let discovery = manifest::discover(worktree.root(), &config.update_path);
    for e in discovery.errors {
        report.fail("scan", e.to_string());
    }
    let mut seen = BTreeSet::new();
    let mut files = Vec::new();
    for path in discovery.files {
        // Edit a file at its real path: a symlink is never replaced, and a file reached twice is
        // edited once.
        let path = path.canonicalize().unwrap_or(path);
        if !seen.insert(path.clone()) {
            continue;
        }
        let relative = worktree.relative(&path);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) => {
                report.fail(relative.display().to_string(), format!("cannot read: {e}"));
                continue;
            }
        };
        match manifest::scan_as(manifest::Format::of_path(&path), &bytes) {
            Ok(scan) => {
                for w in scan.warnings {
                    report.warn(format!("{}:{}", relative.display(), w.line), w.message);
                }
                if !scan.markers.is_empty() {
                    files.push(ScannedFile {
                        path,
                        relative,
                        bytes,
                        markers: scan.markers,
                    });
                }
            }
            Err(e) => report.fail(
                format!("{}:{}", relative.display(), e.line),
                format!("does not parse, file skipped: {}", e.message),
            ),
        }
    }
    files
}

/// One registry client per registry host the repositories use.
pub fn registry_clients(
    config: &Config,
) -> Result<HashMap<String, Arc<RegistryClient>>, SyncError> {
    let mut clients = HashMap::new();
    for repo in config.repositories.values() {
        let host = &repo.reference.registry;
        if clients.contains_key(host) {
            continue;
        }
        let settings = config.registries.get(host).cloned().unwrap_or_else(|| {
            // A loopback registry without a `registries:` entry is almost always plain HTTP,
            // as Docker itself assumes for 127.0.0.0/8.
            RegistrySettings {
                insecure: is_loopback(host),
                ..RegistrySettings::default()
            }
        });
        let options = RegistryOptions {
            insecure: settings.insecure,
            ca_file: settings.ca_file.clone(),
            credentials: settings.credentials.clone(),
            timeout: repo.timeout,
            max_concurrency: settings.max_concurrency,
            ca_pem: settings.ca_pem.clone(),
        };
        clients.insert(host.clone(), Arc::new(RegistryClient::new(host, options)?));
    }
    Ok(clients)
}

/// `registries.<host>.harbor` as [`RegistryClient::list_tags_timed`] takes it.
pub fn harbor_choice(config: &Config, host: &str) -> Option<bool> {
    match config.registries.get(host).map(|r| r.harbor) {
        Some(crate::config::HarborMode::On) => Some(true),
        Some(crate::config::HarborMode::Off) => Some(false),
        Some(crate::config::HarborMode::Auto) | None => None,
    }
}

fn is_loopback(host: &str) -> bool {
    let name = host.rsplit_once(':').map_or(host, |(h, _)| h);
    name == "localhost" || name.starts_with("127.") || name == "[::1]"
}

/// The outcome of listing one repository and running its policies over the tags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepositoryScan {
    /// How many tags the registry listed.
    pub tags_listed: usize,
    /// Per policy of this repository (by policy id, the key in `config.policies`): the picked
    /// tag, or why it picked none.
    pub picks: BTreeMap<String, Result<String, String>>,
    /// Listed tags that break the OCI tag grammar, ignored.
    pub invalid_tags: Vec<String>,
}

/// Repository scans by repository id (the key in `config.repositories`); a failed listing holds
/// its message.
pub type Scans = BTreeMap<String, Result<RepositoryScan, String>>;

/// Lists the tags of one repository (with Harbor push times where known) within its timeout. The
/// error is a message naming the registry URL (or the timeout, when that is what ran out).
pub async fn list_repository(
    config: &Config,
    repo: &Repository,
    client: &RegistryClient,
) -> Result<Listing, String> {
    let harbor = harbor_choice(config, &repo.reference.registry);
    let listing = tokio::time::timeout(
        repo.timeout,
        client.list_tags_timed(&repo.reference.repository, harbor),
    );
    flatten_listing(listing.await, repo)
}

fn flatten_listing(
    result: Result<Result<Listing, RegistryError>, tokio::time::error::Elapsed>,
    repo: &Repository,
) -> Result<Listing, String> {
    match result {
        Ok(Ok(listing)) => Ok(listing),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!(
            "listing the tags of {}/{} took longer than the timeout of {:?}",
            repo.reference.registry, repo.reference.repository, repo.timeout
        )),
    }
}

/// Runs every in-scope policy of the repository `repo_id` over its listing (pure).
#[must_use]
pub fn pick_tags(
    config: &Config,
    repo_id: &str,
    repo: &Repository,
    listing: &Listing,
) -> RepositoryScan {
    // A registry must not be able to put arbitrary text into a file through a tag.
    let (valid, invalid): (Vec<String>, Vec<String>) = listing
        .tags
        .iter()
        .cloned()
        .partition(|t| manifest::is_valid_tag(t));
    let candidates = crate::policy::exclude(valid, &repo.exclusions);
    let no_times = crate::policy::PushTimes::new();
    let times = listing.push_times.as_ref().unwrap_or(&no_times);
    let picks = config
        .policies
        .iter()
        .filter(|(_, p)| p.repository == repo_id && config.out_of_scope(p).is_none())
        .map(|(id, p)| (id.clone(), pick_one(repo, p, &candidates, listing, times)))
        .collect();
    RepositoryScan {
        tags_listed: listing.tags.len(),
        picks,
        invalid_tags: invalid,
    }
}

fn pick_one(
    repo: &Repository,
    policy: &crate::config::PolicySettings,
    candidates: &[String],
    listing: &Listing,
    times: &crate::policy::PushTimes,
) -> Result<String, String> {
    let needs_times =
        policy.min_age.is_some() || matches!(policy.policy.rule, crate::policy::Rule::NewestPushed);
    if needs_times && listing.push_times.is_none() {
        let why = listing.harbor_error.as_ref().map_or_else(
            || {
                format!(
                    "{} is not a Harbor (or its API is turned off)",
                    repo.reference.registry
                )
            },
            |e| format!("Harbor's API failed: {e}"),
        );
        return Err(format!(
            "newestPushed and minAge need push times from Harbor's API, but {why}"
        ));
    }
    let mut candidates = candidates.to_vec();
    if let Some(min_age) = policy.min_age {
        let (old_enough, young) =
            crate::policy::split_by_age(candidates, times, std::time::SystemTime::now(), min_age);
        if !young.is_empty() {
            tracing::debug!(policy = %policy.name, young = young.len(), "tags younger than minAge skipped");
        }
        candidates = old_enough;
    }
    policy
        .policy
        .select_with_times(&candidates, times)
        .map(str::to_string)
        .map_err(|e| format!("{e} (repository {})", repo.image))
}

/// Lists each needed repository once (concurrently) unless `known` has it, runs the policies,
/// looks up digests where reflected. Returns the pick per policy id.
async fn resolve_picks(
    config: &Config,
    clients: &HashMap<String, Arc<RegistryClient>>,
    files: &[ScannedFile],
    known: &Scans,
    report: &mut Report,
) -> HashMap<String, Pick> {
    let mut tasks = JoinSet::new();
    for (id, repo) in &config.repositories {
        if repo.suspended {
            report.warn(
                format!(
                    "repository {}:{} ({})",
                    repo.namespace, repo.name, repo.image
                ),
                "suspended: not scanned, its policies keep the values in the files",
            );
            continue;
        }
        if known.contains_key(id) {
            continue;
        }
        let Some(client) = clients.get(&repo.reference.registry).cloned() else {
            continue;
        };
        let id = id.clone();
        let harbor = harbor_choice(config, &repo.reference.registry);
        let (path, timeout) = (repo.reference.repository.clone(), repo.timeout);
        tasks.spawn(async move {
            let result = tokio::time::timeout(timeout, client.list_tags_timed(&path, harbor)).await;
            (id, result)
        });
    }
    let mut fresh = Scans::new();
    while let Some(joined) = tasks.join_next().await {
        let Ok((id, result)) = joined else {
            report.fail("registry", "a tag listing task panicked");
            continue;
        };
        let repo = &config.repositories[&id];
        let subject = format!("repository {id} ({})", repo.image);
        match flatten_listing(result, repo) {
            Ok(listing) => {
                let scan = pick_tags(config, &id, repo, &listing);
                for tag in &scan.invalid_tags {
                    report.warn(
                        subject.clone(),
                        format!("ignoring tag {tag:?}: it is not a valid OCI tag"),
                    );
                }
                for (policy_id, pick) in &scan.picks {
                    if let Err(e) = pick {
                        let p = &config.policies[policy_id];
                        report.fail(format!("policy {}:{}", p.namespace, p.name), e.clone());
                    }
                }
                fresh.insert(id, Ok(scan));
            }
            Err(message) => report.fail(subject, message),
        }
    }

    let mut picks = HashMap::new();
    for (id, policy) in &config.policies {
        if config.out_of_scope(policy).is_some() {
            continue; // markers naming it are warned about with the reason
        }
        let scan = fresh
            .get(&policy.repository)
            .or_else(|| known.get(&policy.repository));
        let Some(Ok(scan)) = scan else {
            continue; // the repository failed and was reported
        };
        let Some(Ok(tag)) = scan.picks.get(id) else {
            continue; // the policy failed and was reported
        };
        let repo = &config.repositories[&policy.repository];
        picks.insert(
            id.clone(),
            (
                Pick {
                    image: repo.image.clone(),
                    tag: tag.clone(),
                    digest: None,
                },
                scan.tags_listed,
            ),
        );
    }

    reflect_digests(config, clients, files, &mut picks, report).await;

    let mut out = HashMap::new();
    for (name, (pick, listed)) in picks {
        let policy = &config.policies[&name];
        report.picks.push(PolicyPick {
            policy: format!("{}:{}", policy.namespace, policy.name),
            image: pick.image.clone(),
            tag: pick.tag.clone(),
            digest: pick.digest.clone(),
            tags_listed: listed,
        });
        out.insert(name, pick);
    }
    report.picks.sort_by(|a, b| a.policy.cmp(&b.policy));
    out
}

/// Fills in digests for policies that reflect them. `IfNotPresent` reuses a digest already written
/// next to the same image and tag in the files, and asks the registry only otherwise.
async fn reflect_digests(
    config: &Config,
    clients: &HashMap<String, Arc<RegistryClient>>,
    files: &[ScannedFile],
    picks: &mut HashMap<String, (Pick, usize)>,
    report: &mut Report,
) {
    let mut lookups = JoinSet::new();
    for (id, policy) in &config.policies {
        if policy.digest_reflection == DigestReflection::Never {
            continue;
        }
        let Some((pick, _)) = picks.get_mut(id) else {
            continue;
        };
        if policy.digest_reflection == DigestReflection::IfNotPresent
            && let Some(digest) = digest_in_files(files, &policy.namespace, &policy.name, pick)
        {
            pick.digest = Some(digest);
            continue;
        }
        let repo = &config.repositories[&policy.repository];
        let Some(client) = clients.get(&repo.reference.registry).cloned() else {
            continue;
        };
        let (name, path, tag) = (
            id.clone(),
            repo.reference.repository.clone(),
            pick.tag.clone(),
        );
        lookups.spawn(async move {
            let result = client.digest(&path, &tag).await;
            (name, result)
        });
    }
    while let Some(joined) = lookups.join_next().await {
        let Ok((name, result)) = joined else {
            report.fail("registry", "a digest lookup task panicked");
            continue;
        };
        match result {
            Ok(digest) => {
                if let Some((pick, _)) = picks.get_mut(&name) {
                    pick.digest = Some(digest);
                }
            }
            Err(e) => {
                // Without the digest the pick would write a reference that is not pinned as
                // configured; leave this policy's markers alone.
                let policy = &config.policies[&name];
                report.fail(
                    format!("policy {}:{}", policy.namespace, policy.name),
                    e.to_string(),
                );
                picks.remove(&name);
            }
        }
    }
}

fn digest_in_files(
    files: &[ScannedFile],
    namespace: &str,
    policy: &str,
    pick: &Pick,
) -> Option<String> {
    let full_prefix = format!("{}:{}@", pick.image, pick.tag);
    let mut digest = None;
    for m in files.iter().flat_map(|f| &f.markers) {
        if m.policy.namespace != namespace || m.policy.name != policy {
            continue;
        }
        match m.field {
            Field::Image => match m.value.strip_prefix(&full_prefix) {
                Some(d) if !d.is_empty() => digest = Some(d.to_string()),
                _ => return None,
            },
            Field::Digest if !m.value.is_empty() => digest = Some(m.value.clone()),
            _ => {}
        }
    }
    digest
}

fn apply_edits(
    config: &Config,
    worktree: &Worktree,
    files: &[ScannedFile],
    picks: &HashMap<String, Pick>,
    options: SyncOptions,
    report: &mut Report,
) {
    if let Some(automation) = &config.automation
        && automation.suspended
    {
        report.warn(
            format!(
                "ImageUpdateAutomation {}/{}",
                automation.namespace, automation.name
            ),
            "suspended: no file is changed",
        );
        return;
    }
    let id_of = |policy: &PolicyRef| -> Option<String> {
        config
            .find_policy(&policy.namespace, &policy.name)
            .map(|p| crate::config::object_id(&config.namespace, &p.namespace, &p.name))
    };
    let lookup = |policy: &PolicyRef| -> Option<Pick> { picks.get(&id_of(policy)?).cloned() };
    for file in files {
        let format = manifest::Format::of_path(&file.path);
        let (edits, warnings) = manifest::plan_as(format, &file.markers, &lookup);
        for w in warnings {
            let Some(marker) = file.markers.iter().find(|m| m.line == w.line) else {
                continue;
            };
            let policy = config.find_policy(&marker.policy.namespace, &marker.policy.name);
            let subject = format!("{}:{}", file.relative.display(), w.line);
            match policy.and_then(|p| config.out_of_scope(p)) {
                Some(reason) => {
                    report.warn(
                        subject,
                        format!("marker {}: {reason}; value left alone", w.marker),
                    );
                }
                // A marker whose policy exists but failed this pass was already reported as an
                // error.
                None if policy.is_some_and(|_| {
                    id_of(&marker.policy).is_some_and(|id| !picks.contains_key(&id))
                }) => {}
                None => report.warn(subject, format!("marker {}: {}", w.marker, w.message)),
            }
        }
        if edits.is_empty() {
            continue;
        }
        match worktree.uncommitted(&file.path) {
            Ok(None) => {}
            Ok(Some(why)) => {
                report.warn(
                    file.relative.display().to_string(),
                    format!("skipped: {why}; {} update(s) not applied", edits.len()),
                );
                continue;
            }
            Err(e) => {
                report.fail(file.relative.display().to_string(), e.to_string());
                continue;
            }
        }
        let updated = manifest::apply(&file.bytes, &edits);
        if options.dry_run {
            report
                .diff
                .push_str(&unified_diff(&file.relative, &file.bytes, &updated));
        } else if let Err(e) = manifest::write_atomic(&file.path, &updated) {
            report.fail(
                file.relative.display().to_string(),
                format!("cannot write, file left as it was: {e}"),
            );
            continue;
        } else {
            report.written.push(file.path.clone());
        }
        report.changes.extend(edits.iter().map(|e| {
            let image = picks
                .get(&e.policy.name)
                .map_or_else(String::new, |p| p.image.clone());
            change(&file.relative, e, image)
        }));
    }
}

fn change(file: &Path, e: &Edit, image: String) -> Change {
    Change {
        file: file.to_path_buf(),
        line: e.line,
        policy: e.policy.to_string(),
        field: match e.field {
            Field::Image => "image",
            Field::Tag => "tag",
            Field::Name => "name",
            Field::Digest => "digest",
        },
        image,
        old: e.old.clone(),
        new: e.new.clone(),
        setter: e.setter.clone(),
        object: e.object.clone(),
    }
}

fn unified_diff(relative: &Path, old: &[u8], new: &[u8]) -> String {
    let old = String::from_utf8_lossy(old);
    let new = String::from_utf8_lossy(new);
    let name = relative.display();
    similar::TextDiff::from_lines(old.as_ref(), new.as_ref())
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{name}"), &format!("b/{name}"))
        .to_string()
}

/// The commit message: `git.messageTemplate` rendered with the changes, or the default. A template
/// that fails to render is reported and the default is used, so the edits are still committed.
/// The message for a commit that finishes a pass a crash interrupted (the daemon's recovery):
/// rendered as a pass would, without the picks (its images come from the config).
#[must_use]
pub fn recovery_message(config: &Config, root: &Path, branch: &str, changes: &[Change]) -> String {
    let mut ignored = Report {
        quiet: true,
        ..Report::default()
    };
    commit_message(config, root, branch, changes, &HashMap::new(), &mut ignored)
}

fn commit_message(
    config: &Config,
    root: &Path,
    branch: &str,
    changes: &[Change],
    picks: &HashMap<String, Pick>,
    report: &mut Report,
) -> String {
    // An ImageUpdateAutomation's Go template (Flux objects) comes first.
    match flux_commit_message(config, root, changes) {
        Some(Ok(message)) => return message,
        Some(Err(e)) => report.fail(
            "commit message",
            format!("the ImageUpdateAutomation's messageTemplate failed ({e}); the default message is used"),
        ),
        None => {}
    }
    let mut images = Vec::new();
    for c in changes {
        let (namespace, name) = c.policy.split_once(':').unwrap_or(("", &c.policy));
        let id = crate::config::object_id(&config.namespace, namespace, name);
        if let Some(p) = picks.get(&id) {
            images.push(format!("{}:{}", p.image, p.tag));
        }
    }
    let data = MessageData::new(
        &config.git.automation,
        branch,
        changes
            .iter()
            .map(|c| MessageChange {
                file: c.file.display().to_string(),
                line: c.line,
                policy: c.policy.clone(),
                field: c.field.to_string(),
                image: c.image.clone(),
                old: c.old.clone(),
                new: c.new.clone(),
            })
            .collect(),
        images,
    );
    match &config.git.message_template {
        None => crate::git::default_message(&data),
        Some(template) => template.render(&data).unwrap_or_else(|e| {
            report.fail(
                "git.messageTemplate",
                format!("{e}; the default message was used"),
            );
            crate::git::default_message(&data)
        }),
    }
}

// ---------------------------------------------------------------------------------------------
// Commit messages from a Flux ImageUpdateAutomation's Go template (`messageTemplate`).

/// The message rendered from the included ImageUpdateAutomation's `messageTemplate`, with
/// Flux's template data (file paths relative to `update.path`, as Flux records them); `None`
/// when the config has no such template.
fn flux_commit_message(
    config: &Config,
    root: &Path,
    changes: &[Change],
) -> Option<Result<String, crate::template::TemplateError>> {
    let automation = config.automation.as_ref()?;
    let template = automation.message_template.as_ref()?;
    let update_path = config
        .update_path
        .canonicalize()
        .unwrap_or_else(|_| config.update_path.clone());
    let data: Vec<crate::template::FluxChange> = changes
        .iter()
        .map(|c| {
            let absolute = root.join(&c.file);
            let file = absolute
                .strip_prefix(&update_path)
                .unwrap_or(&c.file)
                .components()
                .map(|p| p.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            crate::template::FluxChange {
                file,
                object: c.object.clone(),
                old_value: c.old.clone(),
                new_value: c.new.clone(),
                setter: c.setter.clone(),
            }
        })
        .collect();
    let values = crate::template::flux_data(
        &automation.namespace,
        &automation.name,
        &data,
        &automation.message_template_values,
    );
    Some(template.render(&values))
}
