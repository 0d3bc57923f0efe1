//! Each lint rule: a case that fires it and one that does not.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::*;
use crate::config::{Config, load_str};
use crate::manifest::{Format, scan_as};
use crate::policy::{PushTimes, parse_rfc3339};

/// The config file's (unread) path: in the temp dir, so that the default update.path exists.
fn file() -> PathBuf {
    std::env::temp_dir().join("deckhand-lint.yaml")
}

fn config(text: &str) -> Config {
    load_str(&file(), text).unwrap_or_else(|e| panic!("{e}"))
}

fn marked(path: &str, text: &str) -> MarkedFile {
    MarkedFile {
        path: PathBuf::from(path),
        markers: scan_as(Format::of_path(Path::new(path)), text.as_bytes())
            .expect("scan")
            .markers,
    }
}

fn live(repo: &str, tags: &[&str]) -> LiveData {
    let mut l = LiveData::default();
    l.tags.insert(
        repo.to_owned(),
        Ok(tags.iter().map(|t| (*t).to_owned()).collect()),
    );
    l
}

fn with_message<'f>(findings: &'f [Finding], needle: &str) -> Vec<&'f Finding> {
    findings
        .iter()
        .filter(|f| f.message.contains(needle))
        .collect()
}

const SEED: &str = "\
registries: {'reg:5000': {insecure: true}}
repositories: {web: {image: 'reg:5000/homelab/web'}}
policies:
  web:
    repository: web
    filterTags: {pattern: '^main-[a-f0-9]{7}-[0-9]{10}$', extract: '$0'}
    policy: {alphabetical: {order: asc}}
";
const FIXED: &str = "\
registries: {'reg:5000': {insecure: true}}
repositories: {web: {image: 'reg:5000/homelab/web'}}
policies:
  web:
    repository: web
    filterTags: {pattern: '^main-[a-f0-9]+-(?P<ts>[0-9]{10})$', extract: '$ts'}
    policy: {numerical: {order: asc}}
";
const MARKED: &str = "image: reg:5000/homelab/web:main-1a2b3c4-1707300000 # {\"$imagepolicy\": \"flux-system:web\"}\n";
const TAGS: &[&str] = &[
    "main-1a2b3c4-1707300000",
    "main-f00ba47-1707350000",
    "main-0a1b2c3-1707400000",
];

fn now() -> SystemTime {
    SystemTime::now()
}

#[test]
fn the_seed_policy_is_flagged_statically_with_a_fix_to_paste() {
    let files = [marked("compose.yml", MARKED)];
    let f = check(&config(SEED), &files, None, now());
    let order = with_message(&f, "not by the newest build");
    assert_eq!(order.len(), 1, "{f:#?}");
    assert_eq!(order[0].severity, Severity::Warning);
    assert_eq!(order[0].file, file());
    assert_eq!(order[0].subject, "policies.web");
    assert_eq!(
        order[0].fix.as_deref(),
        Some(
            "policies:\n  web:\n    filterTags:\n      pattern: '^main-[a-f0-9]{7}-(?P<ts>[0-9]{10})$'\n      extract: '$ts'\n    policy:\n      numerical:\n        order: asc\n"
        )
    );
    let f = check(&config(FIXED), &files, Some(&live("web", TAGS)), now());
    assert!(f.is_empty(), "{f:#?}");
}

#[test]
fn live_chronology_from_push_times_and_from_timestamps_in_tags() {
    // No filter: only the live data can tell.
    let text = "repositories: {web: {image: 'reg:5000/homelab/web'}}\npolicies: {web: {repository: web, policy: {alphabetical: {}}}}\n";
    let files = [marked("c.yml", MARKED)];
    let f = check(&config(text), &files, Some(&live("web", TAGS)), now());
    let hits = with_message(&f, "carries a later timestamp");
    assert_eq!(hits.len(), 1, "{f:#?}");
    assert!(hits[0].message.contains("main-f00ba47-1707350000"));
    assert!(
        hits[0]
            .fix
            .as_deref()
            .unwrap()
            .contains("pattern: '^main-[a-f0-9]+-(?P<ts>[0-9]{10})$'")
    );
    // Push times: the pick is not the newest pushed.
    let mut l = live("web", &["b", "a"]);
    let times: PushTimes = [
        (
            "a".to_owned(),
            parse_rfc3339("2026-01-02T00:00:00Z").unwrap(),
        ),
        (
            "b".to_owned(),
            parse_rfc3339("2026-01-01T00:00:00Z").unwrap(),
        ),
    ]
    .into();
    l.push_times.insert("web".into(), times.clone());
    let f = check(&config(text), &files, Some(&l), now());
    let hits = with_message(&f, "was pushed later");
    assert_eq!(hits.len(), 1, "{f:#?}");
    assert!(hits[0].fix.as_deref().unwrap().contains("newestPushed: {}"));
    // …and not when the pick is the newest.
    l.push_times.insert(
        "web".into(),
        [(
            "b".to_owned(),
            parse_rfc3339("2026-01-03T00:00:00Z").unwrap(),
        )]
        .into(),
    );
    let f = check(&config(text), &files, Some(&l), now());
    assert!(with_message(&f, "was pushed later").is_empty(), "{f:#?}");
}

#[test]
fn numerical_without_filter_and_non_numeric_tags() {
    let text = "repositories: {web: {image: 'reg:5000/a/web'}}\npolicies: {web: {repository: web, policy: {numerical: {}}}}\n";
    let files = [marked(
        "c.yml",
        "image: reg:5000/a/web:1 # {\"$imagepolicy\": \"flux-system:web\"}\n",
    )];
    let f = check(
        &config(text),
        &files,
        Some(&live("web", &["1", "2", "latest"])),
        now(),
    );
    let hits = with_message(&f, "non-numeric tags such as `latest`");
    assert_eq!(hits.len(), 1, "{f:#?}");
    assert!(
        hits[0]
            .fix
            .as_deref()
            .unwrap()
            .contains("pattern: '^[0-9]+$'")
    );
    let f = check(
        &config(text),
        &files,
        Some(&live("web", &["1", "2"])),
        now(),
    );
    assert!(f.is_empty(), "{f:#?}");
}

#[test]
fn markers_naming_unknown_policies() {
    let files = [marked(
        "deploy/c.yml",
        "a: reg:5000/homelab/web:1.0.0 # {\"$imagepolicy\": \"flux-system:nope\"}\nb: x:1 # {\"$imagepolicy\": \"apps:web:tag\"}\nc: reg:5000/homelab/web:main-1a2b3c4-1707300000 # {\"$imagepolicy\": \"flux-system:web\"}\n",
    )];
    let f = check(&config(FIXED), &files, None, now());
    let unknown: Vec<&Finding> = f
        .iter()
        .filter(|f| {
            f.message.contains("which does not exist") || f.message.contains("is not defined")
        })
        .collect();
    assert_eq!(unknown.len(), 2, "{f:#?}");
    assert_eq!(
        (unknown[0].file.as_path(), unknown[0].line),
        (Path::new("deploy/c.yml"), Some(1))
    );
    // A name that exists under another namespace: fix the marker.
    assert_eq!(
        unknown[1].fix.as_deref(),
        Some("# {\"$imagepolicy\": \"flux-system:web:tag\"}\n")
    );
    // An unknown name: a policy on the repository of that image.
    let fix = unknown[0].fix.as_deref().unwrap();
    assert!(
        fix.starts_with("policies:\n  nope:\n    repository: web\n"),
        "{fix}"
    );
    assert!(fix.contains("semver"), "{fix}");
}

#[test]
fn unused_policies_and_repositories() {
    let text = "repositories:\n  web: {image: 'reg:5000/a/web'}\n  spare: {image: 'reg:5000/a/spare'}\npolicies:\n  web: {repository: web, policy: {semver: {range: '*'}}}\n";
    let f = check(&config(text), &[], None, now());
    let policy = with_message(&f, "no marker");
    assert_eq!(policy.len(), 1, "{f:#?}");
    assert_eq!(
        policy[0].fix.as_deref(),
        Some("image: reg:5000/a/web:<tag> # {\"$imagepolicy\": \"flux-system:web\"}\n")
    );
    let repo = with_message(&f, "no policy uses");
    assert_eq!(repo.len(), 1, "{f:#?}");
    assert_eq!(repo[0].subject, "repositories.spare");
    assert!(
        repo[0]
            .fix
            .as_deref()
            .unwrap()
            .contains("repository: spare")
    );
    let files = [marked(
        "c.yml",
        "i: reg:5000/a/web:1.0.0 # {\"$imagepolicy\": \"flux-system:web\"}\n",
    )];
    let used = "repositories:\n  web: {image: 'reg:5000/a/web'}\npolicies:\n  web: {repository: web, policy: {semver: {range: '*'}}}\n";
    assert!(check(&config(used), &files, None, now()).is_empty());
}

#[test]
fn semver_range_nothing_satisfies() {
    let text = "repositories: {web: {image: 'reg:5000/a/web'}}\npolicies: {web: {repository: web, policy: {semver: {range: '^1.0'}}}}\n";
    let files = [marked(
        "c.yml",
        "i: reg:5000/a/web:2.0.0 # {\"$imagepolicy\": \"flux-system:web\"}\n",
    )];
    let f = check(
        &config(text),
        &files,
        Some(&live("web", &["2.0.0", "2.1.3", "latest"])),
        now(),
    );
    let hits = with_message(&f, "satisfies the semver range `^1.0`");
    assert_eq!(hits.len(), 1, "{f:#?}");
    assert!(hits[0].message.contains("2.1.3"));
    assert_eq!(
        hits[0].fix.as_deref(),
        Some("policies:\n  web:\n    policy:\n      semver:\n        range: '2.x'\n")
    );
    let f = check(
        &config(text),
        &files,
        Some(&live("web", &["1.4.0", "2.0.0"])),
        now(),
    );
    assert!(with_message(&f, "satisfies").is_empty(), "{f:#?}");
}

#[test]
fn a_pinned_tag_the_registry_no_longer_has() {
    let text = "repositories: {web: {image: 'reg:5000/a/web'}}\npolicies: {web: {repository: web, policy: {semver: {range: '*'}}}}\n";
    let files = [marked(
        "c.env",
        "TAG=0.9.0 # {\"$imagepolicy\": \"flux-system:web:tag\"}\n",
    )];
    let f = check(&config(text), &files, Some(&live("web", &["1.0.0"])), now());
    let hits = with_message(&f, "no longer lists");
    assert_eq!(hits.len(), 1, "{f:#?}");
    assert_eq!(hits[0].line, Some(1));
    assert_eq!(
        hits[0].fix.as_deref(),
        Some("1.0.0 # {\"$imagepolicy\": \"flux-system:web:tag\"}\n")
    );
    let f = check(
        &config(text),
        &files,
        Some(&live("web", &["0.9.0", "1.0.0"])),
        now(),
    );
    assert!(with_message(&f, "no longer lists").is_empty());
}

#[test]
fn update_path_must_exist_and_registry_failures_are_errors() {
    let text = "update: {path: /nonexistent/deckhand-lint}\nrepositories: {web: {image: 'reg:5000/a/web'}}\npolicies: {web: {repository: web, policy: {semver: {range: '*'}}}}\n";
    let mut l = LiveData::default();
    l.tags
        .insert("web".into(), Err("connection refused".into()));
    let f = check(&config(text), &[], Some(&l), now());
    let path = with_message(&f, "does not exist");
    assert_eq!(path.len(), 1);
    assert_eq!(path[0].severity, Severity::Error);
    assert_eq!(path[0].subject, "update.path");
    let reg = with_message(&f, "connection refused");
    assert_eq!(reg.len(), 1);
    assert_eq!(reg[0].severity, Severity::Error);
    let dir = tempfile::tempdir().unwrap();
    let ok = text.replace("/nonexistent/deckhand-lint", dir.path().to_str().unwrap());
    assert!(with_message(&check(&config(&ok), &[], None, now()), "does not exist").is_empty());
}

#[test]
fn a_rollout_file_must_exist() {
    let dir = tempfile::tempdir().unwrap();
    let compose = dir.path().join("docker-compose.yml");
    let text = format!(
        "update: {{path: {d}}}\nrollout: {{projects: [{{file: {f}, name: app}}]}}\n",
        d = dir.path().display(),
        f = compose.display()
    );
    let f = check(&config(&text), &[], None, now());
    let missing = with_message(&f, "cannot be rolled out");
    assert_eq!(missing.len(), 1, "{f:#?}");
    assert_eq!(missing[0].severity, Severity::Error);
    assert_eq!(missing[0].subject, "rollout.projects[0].file");
    std::fs::write(&compose, "services: {app: {image: 'reg:5000/a/app:1'}}\n").unwrap();
    let f = check(&config(&text), &[], None, now());
    assert!(
        with_message(&f, "cannot be rolled out").is_empty(),
        "{f:#?}"
    );
}

#[test]
fn extract_references_to_missing_groups() {
    let text = "repositories: {web: {image: 'reg:5000/a/web'}}\npolicies: {web: {repository: web, filterTags: {pattern: '^(?P<ts>[0-9]+)$', extract: '$ts_x'}, policy: {numerical: {}}}}\n";
    let f = check(&config(text), &[], None, now());
    assert_eq!(with_message(&f, "`$ts_x`").len(), 1, "{f:#?}");
    let good = text.replace("$ts_x", "${ts}");
    assert!(with_message(&check(&config(&good), &[], None, now()), "refers to").is_empty());
}

#[test]
fn findings_print_with_the_fix_indented() {
    let f = Finding {
        severity: Severity::Warning,
        file: "a.yaml".into(),
        line: None,
        subject: "policies.web".into(),
        message: "m".into(),
        fix: Some("policies:\n  web: {}\n".into()),
    };
    assert_eq!(
        f.to_string(),
        "warning: a.yaml: policies.web: m\n  fix: paste into a.yaml (policies.web):\n    policies:\n      web: {}\n"
    );
    let _ = Duration::ZERO;
}
