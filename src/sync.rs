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

use crate::config::{Config, DigestReflection, RegistrySettings};
use crate::git::{GitError, MessageChange, MessageData, Published, Signer, Upstream, Worktree};
use crate::manifest::{self, Edit, Field, Marker, Pick, PolicyRef};
use crate::registry::{RegistryClient, RegistryError, RegistryOptions};

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
    let picks = resolve_picks(config, &clients, &files, &mut report).await;
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
    let message = commit_message(config, branch, &changes, picks, report);
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
        match manifest::scan(&bytes) {
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
                format!("not valid YAML, file skipped: {}", e.message),
            ),
        }
    }
    files
}

fn registry_clients(config: &Config) -> Result<HashMap<String, Arc<RegistryClient>>, SyncError> {
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
        };
        clients.insert(host.clone(), Arc::new(RegistryClient::new(host, options)?));
    }
    Ok(clients)
}

fn is_loopback(host: &str) -> bool {
    let name = host.rsplit_once(':').map_or(host, |(h, _)| h);
    name == "localhost" || name.starts_with("127.") || name == "[::1]"
}

/// Lists each needed repository once (concurrently), runs the policies, looks up digests where
/// reflected. Returns the pick per policy name.
async fn resolve_picks(
    config: &Config,
    clients: &HashMap<String, Arc<RegistryClient>>,
    files: &[ScannedFile],
    report: &mut Report,
) -> HashMap<String, Pick> {
    let mut tasks = JoinSet::new();
    for repo in config.repositories.values() {
        let Some(client) = clients.get(&repo.reference.registry).cloned() else {
            continue;
        };
        let name = repo.name.clone();
        let path = repo.reference.repository.clone();
        let timeout = repo.timeout;
        tasks.spawn(async move {
            let result = tokio::time::timeout(timeout, client.list_tags(&path)).await;
            (name, result)
        });
    }
    let mut tags_by_repo: BTreeMap<String, Vec<String>> = BTreeMap::new();
    while let Some(joined) = tasks.join_next().await {
        let Ok((name, result)) = joined else {
            report.fail("registry", "a tag listing task panicked");
            continue;
        };
        let image = &config.repositories[&name].image;
        match result {
            Ok(Ok(tags)) => {
                tags_by_repo.insert(name, tags);
            }
            Ok(Err(e)) => report.fail(format!("repository {name} ({image})"), e.to_string()),
            Err(_) => report.fail(
                format!("repository {name} ({image})"),
                format!(
                    "listing tags took longer than the timeout of {:?}",
                    config.repositories[&name].timeout
                ),
            ),
        }
    }

    let mut picks = HashMap::new();
    for policy in config.policies.values() {
        let Some(tags) = tags_by_repo.get(&policy.repository) else {
            continue; // the repository failed and was reported
        };
        let repo = &config.repositories[&policy.repository];
        let subject = format!("policy {}:{}", config.namespace, policy.name);
        // A registry must not be able to put arbitrary text into a file through a tag.
        let mut valid = Vec::with_capacity(tags.len());
        for tag in tags {
            if manifest::is_valid_tag(tag) {
                valid.push(tag.clone());
            } else {
                report.warn(
                    format!("repository {} ({})", repo.name, repo.image),
                    format!("ignoring tag {tag:?}: it is not a valid OCI tag"),
                );
            }
        }
        let candidates = crate::policy::exclude(valid, &repo.exclusions);
        match policy.policy.select(&candidates) {
            Ok(tag) => {
                picks.insert(
                    policy.name.clone(),
                    (
                        Pick {
                            image: repo.image.clone(),
                            tag: tag.to_string(),
                            digest: None,
                        },
                        tags.len(),
                    ),
                );
            }
            Err(e) => report.fail(subject, format!("{e} (repository {})", repo.image)),
        }
    }

    reflect_digests(config, clients, files, &mut picks, report).await;

    let mut out = HashMap::new();
    for (name, (pick, listed)) in picks {
        report.picks.push(PolicyPick {
            policy: format!("{}:{name}", config.namespace),
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
    for policy in config.policies.values() {
        if policy.digest_reflection == DigestReflection::Never {
            continue;
        }
        let Some((pick, _)) = picks.get_mut(&policy.name) else {
            continue;
        };
        if policy.digest_reflection == DigestReflection::IfNotPresent
            && let Some(digest) = digest_in_files(files, &config.namespace, &policy.name, pick)
        {
            pick.digest = Some(digest);
            continue;
        }
        let repo = &config.repositories[&policy.repository];
        let Some(client) = clients.get(&repo.reference.registry).cloned() else {
            continue;
        };
        let (name, path, tag) = (
            policy.name.clone(),
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
                report.fail(format!("policy {}:{name}", config.namespace), e.to_string());
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
    let lookup = |policy: &PolicyRef| -> Option<Pick> {
        if policy.namespace != config.namespace {
            return None;
        }
        picks.get(&policy.name).cloned()
    };
    for file in files {
        let (edits, warnings) = manifest::plan(&file.markers, &lookup);
        for w in warnings {
            // A marker whose policy exists but failed this pass was already reported as an error.
            let failed_policy = file
                .markers
                .iter()
                .find(|m| m.line == w.line)
                .is_some_and(|m| {
                    m.policy.namespace == config.namespace
                        && config.policies.contains_key(&m.policy.name)
                        && !picks.contains_key(&m.policy.name)
                });
            if !failed_policy {
                report.warn(
                    format!("{}:{}", file.relative.display(), w.line),
                    format!("marker {}: {}", w.marker, w.message),
                );
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
fn commit_message(
    config: &Config,
    branch: &str,
    changes: &[Change],
    picks: &HashMap<String, Pick>,
    report: &mut Report,
) -> String {
    let mut images = Vec::new();
    for c in changes {
        let name = c.policy.rsplit(':').next().unwrap_or_default();
        if let Some(p) = picks.get(name) {
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
