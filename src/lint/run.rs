//! The edges of `lint`: scanning the files under `update.path` and asking the registries.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use tokio::task::JoinSet;

use super::rules::{LiveData, MarkedFile, check};
use super::{Finding, Severity};
use crate::config::Config;
use crate::manifest::{self, Format};

/// What `lint` should do.
#[derive(Debug, Clone, Copy, Default)]
pub struct LintOptions {
    /// Skip the rules that need the registries.
    pub offline: bool,
}

/// Scans the files and (unless offline) lists every repository's tags, then runs the rules.
pub async fn run(config: &Config, options: LintOptions) -> Vec<Finding> {
    let mut findings = Vec::new();
    let files = scan(config, &mut findings);
    let live = if options.offline {
        None
    } else {
        Some(live_data(config).await)
    };
    findings.extend(check(config, &files, live.as_ref(), SystemTime::now()));
    findings
}

/// The top of the git work tree holding `dir`, else `dir` itself.
fn root_of(dir: &Path) -> PathBuf {
    let abs = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    abs.ancestors()
        .find(|d| d.join(".git").exists())
        .map_or(abs.clone(), Path::to_path_buf)
}

fn scan(config: &Config, findings: &mut Vec<Finding>) -> Vec<MarkedFile> {
    let mut files = Vec::new();
    if !config.update_path.is_dir() {
        return files; // reported by the rules
    }
    let root = root_of(&config.update_path);
    let discovery = manifest::discover(&root, &config.update_path);
    for e in discovery.errors {
        findings.push(Finding {
            severity: Severity::Error,
            file: config.update_path.clone(),
            line: None,
            subject: "scan".into(),
            message: e.to_string(),
            fix: None,
        });
    }
    let cwd = std::env::current_dir().ok();
    for path in discovery.files {
        let shown = cwd
            .as_ref()
            .and_then(|c| path.strip_prefix(c).ok())
            .map_or_else(|| path.clone(), Path::to_path_buf);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) => {
                findings.push(file_finding(
                    Severity::Error,
                    &shown,
                    None,
                    format!("cannot read: {e}"),
                ));
                continue;
            }
        };
        match manifest::scan_as(Format::of_path(&path), &bytes) {
            Ok(scan) => {
                for w in scan.warnings {
                    findings.push(file_finding(
                        Severity::Warning,
                        &shown,
                        Some(w.line),
                        w.message,
                    ));
                }
                files.push(MarkedFile {
                    path: shown,
                    markers: scan.markers,
                });
            }
            Err(e) => findings.push(file_finding(
                Severity::Error,
                &shown,
                Some(e.line),
                format!("does not parse: {}", e.message),
            )),
        }
    }
    files
}

fn file_finding(severity: Severity, file: &Path, line: Option<usize>, message: String) -> Finding {
    Finding {
        severity,
        file: file.to_path_buf(),
        line,
        subject: "file".into(),
        message,
        fix: None,
    }
}

async fn live_data(config: &Config) -> LiveData {
    let mut live = LiveData::default();
    let clients = match crate::sync::registry_clients(config) {
        Ok(c) => c,
        Err(e) => {
            for id in config.repositories.keys() {
                live.tags.insert(id.clone(), Err(e.to_string()));
            }
            return live;
        }
    };
    let mut tasks = JoinSet::new();
    for (id, repo) in &config.repositories {
        if repo.suspended {
            continue;
        }
        let Some(client) = clients.get(&repo.reference.registry).cloned() else {
            continue;
        };
        let (id, path, timeout) = (id.clone(), repo.reference.repository.clone(), repo.timeout);
        let harbor = crate::sync::harbor_choice(config, &repo.reference.registry);
        tasks.spawn(async move {
            let listing =
                tokio::time::timeout(timeout, client.list_tags_timed(&path, harbor)).await;
            (id, listing)
        });
    }
    while let Some(joined) = tasks.join_next().await {
        let Ok((id, listing)) = joined else { continue };
        match listing {
            Ok(Ok(listed)) => {
                live.tags.insert(id.clone(), Ok(listed.tags));
                if let Some(times) = listed.push_times {
                    live.push_times.insert(id, times);
                }
            }
            Ok(Err(e)) => {
                live.tags.insert(id, Err(e.to_string()));
            }
            Err(_) => {
                live.tags
                    .insert(id, Err("listing the tags timed out".into()));
            }
        }
    }
    live
}
