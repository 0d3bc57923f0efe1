//! The lint rules: pure functions of the config, the markers and the live tag data.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::SystemTime;

use super::fix::{self, quoted};
use super::order::non_chronological;
use super::{Finding, Severity};
use crate::config::{Config, PolicySettings, object_id};
use crate::manifest::{Field, Marker};
use crate::policy::{PushTimes, Rule, SelectError, TagVersion, Verdict, format_rfc3339};

/// The markers of one file.
#[derive(Debug, Clone)]
pub struct MarkedFile {
    /// The file (as it should be shown).
    pub path: PathBuf,
    /// Its markers.
    pub markers: Vec<Marker>,
}

/// What the registries said, per repository id.
#[derive(Debug, Clone, Default)]
pub struct LiveData {
    /// Every tag listed, or why listing failed.
    pub tags: BTreeMap<String, Result<Vec<String>, String>>,
    /// Push times, where the registry gives them (Harbor).
    pub push_times: BTreeMap<String, PushTimes>,
}

fn finding(
    severity: Severity,
    file: impl Into<PathBuf>,
    line: Option<usize>,
    subject: impl Into<String>,
    message: impl Into<String>,
    fix: Option<String>,
) -> Finding {
    Finding {
        severity,
        file: file.into(),
        line,
        subject: subject.into(),
        message: message.into(),
        fix,
    }
}

fn subject(policy: &PolicySettings) -> String {
    policy.origin.key.clone()
}

/// Runs every rule. `live` is `None` for `--offline`.
#[must_use]
pub fn check(
    config: &Config,
    files: &[MarkedFile],
    live: Option<&LiveData>,
    now: SystemTime,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for w in &config.warnings {
        out.push(finding(
            Severity::Warning,
            &w.file,
            None,
            &w.key,
            &w.message,
            None,
        ));
    }
    if !config.update_path.is_dir() {
        out.push(finding(
            Severity::Error,
            &config.file,
            None,
            "update.path",
            format!(
                "{} does not exist or is not a directory",
                config.update_path.display()
            ),
            None,
        ));
    }
    for (i, project) in config.rollout.iter().flat_map(|r| &r.projects).enumerate() {
        if !project.file.is_file() {
            out.push(finding(
                Severity::Error,
                &config.file,
                None,
                format!("rollout.projects[{i}].file"),
                format!(
                    "{} does not exist or is not a file: this project cannot be rolled out",
                    project.file.display()
                ),
                None,
            ));
        }
    }
    markers(config, files, &mut out);
    usage(config, files, &mut out);
    for policy in config.policies.values() {
        static_order(policy, &mut out);
        if let Some(filter) = &policy.policy.filter
            && !filter.unknown_references().is_empty()
        {
            out.push(finding(
                Severity::Warning,
                &policy.origin.file,
                None,
                subject(policy),
                format!(
                    "filterTags.extract `{}` refers to {} that the pattern does not have; it \
                     always expands to nothing (write `${{name}}` to end a group name)",
                    filter.extract(),
                    filter
                        .unknown_references()
                        .iter()
                        .map(|r| format!("`${r}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                None,
            ));
        }
    }
    if let Some(live) = live {
        live_rules(config, files, live, now, &mut out);
    }
    out.sort_by(|a, b| {
        (&a.file, a.line, &a.subject, &a.message).cmp(&(&b.file, b.line, &b.subject, &b.message))
    });
    out.dedup();
    out
}

/// Markers naming unknown or out-of-scope policies.
fn markers(config: &Config, files: &[MarkedFile], out: &mut Vec<Finding>) {
    for file in files {
        for m in &file.markers {
            match config.find_policy(&m.policy.namespace, &m.policy.name) {
                Some(p) => {
                    if let Some(reason) = config.out_of_scope(p) {
                        out.push(finding(
                            Severity::Warning,
                            &file.path,
                            Some(m.line),
                            format!("marker {}", m.marker),
                            format!("{reason}; the value is left alone"),
                            None,
                        ));
                    }
                }
                None => out.push(unknown_marker(config, &file.path, m)),
            }
        }
    }
}

fn unknown_marker(config: &Config, file: &std::path::Path, m: &Marker) -> Finding {
    let suffix = match m.field {
        Field::Image => "",
        Field::Tag => ":tag",
        Field::Name => ":name",
        Field::Digest => ":digest",
    };
    // Same name in another namespace: the marker's namespace is probably wrong.
    let elsewhere = config
        .policies
        .values()
        .find(|p| p.name == m.policy.name && config.out_of_scope(p).is_none());
    let (message, fix) = if let Some(p) = elsewhere {
        (
            format!(
                "names policy {}, which does not exist; there is a policy {} in namespace {}",
                m.policy, p.name, p.namespace
            ),
            format!(
                "# {{\"$imagepolicy\": \"{}:{}{suffix}\"}}\n",
                p.namespace, p.name
            ),
        )
    } else {
        let image = image_of(&m.value, m.field);
        let repo = config
            .repositories
            .iter()
            .find(|(_, r)| Some(&r.image) == image.as_ref());
        let rule = rule_for_tag(tag_of(&m.value, m.field).unwrap_or_default());
        let fix = match (repo, image) {
            (Some((id, _)), _) => format!(
                "policies:\n  {}:\n    repository: {id}\n{rule}",
                m.policy.name
            ),
            (None, Some(image)) => format!(
                "repositories:\n  {name}:\n    image: {image}\npolicies:\n  {name}:\n    repository: {name}\n{rule}",
                name = m.policy.name
            ),
            (None, None) => format!(
                "policies:\n  {}:\n    repository: <a name under repositories:>\n{rule}",
                m.policy.name
            ),
        };
        (
            format!(
                "names policy {}, which is not defined (namespace {} holds the policies of \
                 deckhand.yaml); the value is left alone",
                m.policy, config.namespace
            ),
            fix,
        )
    };
    finding(
        Severity::Warning,
        file,
        Some(m.line),
        format!("marker {}", m.marker),
        message,
        Some(fix),
    )
}

/// A policy body (indented for `policies.<name>`) that fits a tag like `tag`.
fn rule_for_tag(tag: &str) -> String {
    if TagVersion::parse(tag).is_some() {
        "    policy:\n      semver:\n        range: '>=0.0.0'".to_owned()
    } else if let Some(pattern) = ts_pattern_for(tag) {
        format!(
            "    filterTags:\n      pattern: {}\n      extract: '$ts'\n    policy:\n      numerical:\n        order: asc",
            quoted(&pattern)
        )
    } else {
        "    policy:\n      alphabetical:\n        order: asc   # check that tag order is build order".to_owned()
    }
}

/// `^<prefix>-[a-f0-9]+-(?P<ts>[0-9]{10})$` for a `<prefix>-<hex>-<10+ digits>` tag.
fn ts_pattern_for(tag: &str) -> Option<String> {
    let (rest, ts) = tag.rsplit_once('-')?;
    let (prefix, sha) = rest.rsplit_once('-')?;
    let ok = ts.len() >= 10
        && ts.bytes().all(|c| c.is_ascii_digit())
        && !sha.is_empty()
        && sha.bytes().all(|c| c.is_ascii_hexdigit())
        && !prefix.is_empty();
    ok.then(|| {
        format!(
            "^{}-[a-f0-9]+-(?P<ts>[0-9]{{{}}})$",
            regex::escape(prefix),
            ts.len()
        )
    })
}

/// The image part of a marker's value (`reg/app` of `reg/app:1.0@sha256:…`).
fn image_of(value: &str, field: Field) -> Option<String> {
    match field {
        Field::Name => Some(value.to_owned()),
        Field::Image => {
            let no_digest = value.split('@').next().unwrap_or(value);
            let slash = no_digest.rfind('/').unwrap_or(0);
            match no_digest[slash..].rfind(':') {
                Some(i) => Some(no_digest[..slash + i].to_owned()),
                None => Some(no_digest.to_owned()),
            }
        }
        Field::Tag | Field::Digest => None,
    }
}

/// The tag a marker's value pins, if its field holds one.
fn tag_of(value: &str, field: Field) -> Option<&str> {
    match field {
        Field::Tag => Some(value).filter(|v| !v.is_empty()),
        Field::Image => {
            let no_digest = value.split('@').next().unwrap_or(value);
            let slash = no_digest.rfind('/').unwrap_or(0);
            no_digest[slash..]
                .rfind(':')
                .map(|i| &no_digest[slash + i + 1..])
                .filter(|t| !t.is_empty())
        }
        Field::Name | Field::Digest => None,
    }
}

/// Policies no marker names; repositories no policy uses.
fn usage(config: &Config, files: &[MarkedFile], out: &mut Vec<Finding>) {
    let named: BTreeSet<(String, String)> = files
        .iter()
        .flat_map(|f| &f.markers)
        .map(|m| (m.policy.namespace.clone(), m.policy.name.clone()))
        .collect();
    for policy in config.policies.values() {
        if named.contains(&(policy.namespace.clone(), policy.name.clone())) {
            continue;
        }
        let image = config
            .repositories
            .get(&policy.repository)
            .map_or("<image>", |r| r.image.as_str());
        out.push(finding(
            Severity::Warning,
            &policy.origin.file,
            None,
            subject(policy),
            format!(
                "no marker under {} names this policy, so it changes nothing; mark the image it \
                 should keep current (or remove the policy)",
                config.update_path.display()
            ),
            Some(format!(
                "image: {image}:<tag> # {{\"$imagepolicy\": \"{}:{}\"}}\n",
                policy.namespace, policy.name
            )),
        ));
    }
    let used: BTreeSet<&String> = config.policies.values().map(|p| &p.repository).collect();
    for (id, repo) in &config.repositories {
        if used.contains(id) {
            continue;
        }
        let body = format!(
            "repository: {}\npolicy:\n  semver:\n    range: '>=0.0.0'",
            if repo.origin.flux { "" } else { id.as_str() }
        );
        let fix = if repo.origin.flux {
            format!(
                "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImagePolicy\nmetadata:\n  name: {}\n  namespace: {}\nspec:\n  imageRepositoryRef:\n    name: {}\n  policy:\n    semver:\n      range: '>=0.0.0'\n",
                repo.name, repo.namespace, repo.name
            )
        } else {
            fix::wrap(
                &crate::config::Origin {
                    key: String::new(),
                    ..repo.origin.clone()
                },
                &repo.name,
                "policies",
                &body,
            )
        };
        out.push(finding(
            Severity::Warning,
            &repo.origin.file,
            None,
            &repo.origin.key,
            "no policy uses this repository, so it is never scanned".to_owned(),
            Some(fix),
        ));
    }
}

/// The static chronology rule for one policy.
fn static_order(policy: &PolicySettings, out: &mut Vec<Finding>) {
    let how = match policy.policy.rule {
        Rule::Alphabetical(_) => "alphabetically",
        Rule::Numerical(_) => "numerically",
        _ => return,
    };
    let Some(filter) = &policy.policy.filter else {
        return;
    };
    let Some(problem) = non_chronological(filter.pattern(), filter.extract()) else {
        return;
    };
    let key = if filter.extract().is_empty() || filter.extract() == "$0" {
        "the whole tag".to_owned()
    } else {
        format!("`{}`", filter.extract())
    };
    out.push(finding(
        Severity::Warning,
        &policy.origin.file,
        None,
        subject(policy),
        format!(
            "orders {how} by {key}, in which the varying `{}` comes before the timestamp `{}`: \
             the pick is decided by that part (e.g. the largest sha), not by the newest build. \
             Order numerically on the extracted timestamp instead",
            problem.varying, problem.timestamp
        ),
        Some(fix::for_policy(
            policy,
            &fix::numerical_filter(
                &problem.pattern,
                &problem.extract,
                fix::order_of(&policy.policy.rule),
            ),
        )),
    ));
}

#[allow(clippy::too_many_lines)]
fn live_rules(
    config: &Config,
    files: &[MarkedFile],
    live: &LiveData,
    now: SystemTime,
    out: &mut Vec<Finding>,
) {
    for (id, repo) in &config.repositories {
        if let Some(Err(e)) = live.tags.get(id) {
            out.push(finding(
                Severity::Error,
                &repo.origin.file,
                None,
                &repo.origin.key,
                format!("cannot list the tags of {}: {e}", repo.image),
                None,
            ));
        }
    }
    for (policy_id, policy) in &config.policies {
        if config.out_of_scope(policy).is_some() {
            continue;
        }
        let Some(repo) = config.repositories.get(&policy.repository) else {
            continue;
        };
        let Some(Ok(all_tags)) = live.tags.get(&policy.repository) else {
            continue;
        };
        let times = live.push_times.get(&policy.repository);
        let mut tags: Vec<String> = all_tags
            .iter()
            .filter(|t| crate::manifest::is_valid_tag(t))
            .cloned()
            .collect();
        tags = crate::policy::exclude(tags, &repo.exclusions);
        let empty = PushTimes::new();
        let times_or_empty = times.unwrap_or(&empty);
        if let Some(min_age) = policy.min_age {
            tags = crate::policy::split_by_age(tags, times_or_empty, now, min_age).0;
        }
        let file = &policy.origin.file;
        match policy.policy.select_with_times(&tags, times_or_empty) {
            Err(SelectError::NotNumeric { tag, .. }) if policy.policy.filter.is_none() => {
                out.push(finding(
                    Severity::Warning,
                    file,
                    None,
                    subject(policy),
                    format!(
                        "numerical policy without filterTags, but the registry has non-numeric \
                         tags such as `{tag}`: the policy fails and nothing is updated"
                    ),
                    Some(fix::for_policy(
                        policy,
                        &format!(
                            "filterTags:\n  pattern: '^[0-9]+$'\npolicy:\n  numerical:\n    order: {}",
                            fix::order_of(&policy.policy.rule)
                        ),
                    )),
                ));
            }
            Err(SelectError::NoneInRange { range }) => {
                let highest = tags
                    .iter()
                    .filter_map(|t| TagVersion::parse(t).map(|v| (v, t)))
                    .max_by(|a, b| a.0.cmp_precedence(&b.0));
                let fix = highest.as_ref().map(|(v, _)| {
                    fix::for_policy(
                        policy,
                        &format!("policy:\n  semver:\n    range: '{}.x'", v.major()),
                    )
                });
                out.push(finding(
                    Severity::Warning,
                    file,
                    None,
                    subject(policy),
                    format!(
                        "no tag of {} satisfies the semver range `{range}`{}: nothing is updated",
                        repo.image,
                        highest
                            .map(|(_, t)| format!(" (the highest version is {t})"))
                            .unwrap_or_default()
                    ),
                    fix,
                ));
            }
            Err(e) => out.push(finding(
                Severity::Error,
                file,
                None,
                subject(policy),
                format!("{e} (repository {})", repo.image),
                None,
            )),
            Ok(pick) => {
                chronology_live(policy, &tags, pick, times, out);
                pinned(config, files, policy_id, policy, all_tags, pick, out);
            }
        }
    }
}

/// Live chronology: the pick against the newest pushed candidate (push times), or against the
/// latest timestamp carried in the tags.
fn chronology_live(
    policy: &PolicySettings,
    tags: &[String],
    pick: &str,
    times: Option<&PushTimes>,
    out: &mut Vec<Finding>,
) {
    if !matches!(
        policy.policy.rule,
        Rule::Alphabetical(_) | Rule::Numerical(_)
    ) {
        return;
    }
    let static_fix = policy
        .policy
        .filter
        .as_ref()
        .and_then(|f| non_chronological(f.pattern(), f.extract()));
    let verdicts = policy.policy.explain(tags);
    let candidates: Vec<&str> = verdicts
        .iter()
        .filter(|v| matches!(v.verdict, Verdict::Candidate { .. }))
        .map(|v| v.tag.as_str())
        .collect();
    let fix_body = |fallback: Option<String>| {
        static_fix
            .as_ref()
            .map(|p| {
                fix::numerical_filter(&p.pattern, &p.extract, fix::order_of(&policy.policy.rule))
            })
            .or(fallback)
            .map(|body| fix::for_policy(policy, &body))
    };
    if let Some(times) = times.filter(|t| !t.is_empty()) {
        let newest = candidates
            .iter()
            .filter_map(|t| times.get(*t).map(|time| (*time, *t)))
            .max();
        if let (Some((newest_time, newest)), Some(pick_time)) = (newest, times.get(pick))
            && newest != pick
            && newest_time > *pick_time
        {
            out.push(finding(
                Severity::Warning,
                &policy.origin.file,
                None,
                subject(policy),
                format!(
                    "picks `{pick}` (pushed {}), but `{newest}` was pushed later ({}): this \
                     order is not chronological",
                    format_rfc3339(*pick_time),
                    format_rfc3339(newest_time)
                ),
                fix_body(Some("policy:\n  newestPushed: {}".to_owned())),
            ));
        }
        return;
    }
    if static_fix.is_some() {
        return; // already reported statically
    }
    // Timestamps in the tags: the last run of 10 or more digits.
    let stamp = |tag: &str| -> Option<u64> {
        let mut best = None;
        for run in tag.split(|c: char| !c.is_ascii_digit()) {
            if run.len() >= 10 {
                best = run.parse().ok();
            }
        }
        best
    };
    let stamped: Vec<(u64, &str)> = candidates
        .iter()
        .filter_map(|t| stamp(t).map(|s| (s, *t)))
        .collect();
    if stamped.len() < 2 || stamped.len() != candidates.len() {
        return;
    }
    let (Some(&(newest_stamp, newest)), Some(pick_stamp)) = (stamped.iter().max(), stamp(pick))
    else {
        return;
    };
    if newest_stamp > pick_stamp {
        let fallback = ts_pattern_for(pick)
            .map(|p| fix::numerical_filter(&p, "$ts", fix::order_of(&policy.policy.rule)));
        out.push(finding(
            Severity::Warning,
            &policy.origin.file,
            None,
            subject(policy),
            format!(
                "picks `{pick}`, but `{newest}` carries a later timestamp: this order is not \
                 chronological"
            ),
            fix_body(fallback),
        ));
    }
}

/// Values in the files that pin a tag the registry no longer lists.
fn pinned(
    config: &Config,
    files: &[MarkedFile],
    policy_id: &str,
    policy: &PolicySettings,
    all_tags: &[String],
    pick: &str,
    out: &mut Vec<Finding>,
) {
    let listed: BTreeSet<&str> = all_tags.iter().map(String::as_str).collect();
    for file in files {
        for m in &file.markers {
            if object_id(&config.namespace, &m.policy.namespace, &m.policy.name) != policy_id {
                continue;
            }
            let Some(tag) = tag_of(&m.value, m.field) else {
                continue;
            };
            if listed.contains(tag) {
                continue;
            }
            let new = match m.field {
                Field::Tag => pick.to_owned(),
                _ => config
                    .repositories
                    .get(&policy.repository)
                    .map_or_else(|| pick.to_owned(), |r| format!("{}:{pick}", r.image)),
            };
            out.push(finding(
                Severity::Warning,
                &file.path,
                Some(m.line),
                format!("marker {}", m.marker),
                format!(
                    "pins tag `{tag}`, which the registry no longer lists (deleted, or removed \
                     by a retention rule?); the policy would write `{new}`"
                ),
                Some(format!("{new} # {{\"$imagepolicy\": \"{}\"}}\n", m.marker)),
            ));
        }
    }
}
