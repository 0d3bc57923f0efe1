use std::path::Path;

use super::{ConfigError, DigestReflection, HarborMode, load_str};

const FILE: &str = "/etc/deckhand/deckhand.yaml";

fn errors(text: &str) -> Vec<ConfigError> {
    match load_str(Path::new(FILE), text) {
        Ok(c) => panic!("expected errors, got {c:#?}"),
        Err(e) => e.0,
    }
}

/// Asserts that some error names `key` and contains `needle`, and that every message names the file.
fn assert_error(text: &str, key: &str, needle: &str) {
    let errs = errors(text);
    for e in &errs {
        assert!(
            e.to_string().starts_with(FILE),
            "{e} does not name the file"
        );
    }
    assert!(
        errs.iter().any(|e| {
            let s = e.to_string();
            s.contains(&format!(": {key}: ")) && s.contains(needle)
        }),
        "no error for key {key} containing {needle:?}: {errs:#?}"
    );
}

const GOOD: &str = r#"
registries:
  "192.168.0.40:5000":
    insecure: true
    harbor: auto
repositories:
  web:
    image: 192.168.0.40:5000/homelab/web
    interval: 1m
    timeout: 30s
    exclusionList: ['^.*\.sig$', '^latest$']
policies:
  web:
    repository: web
    filterTags: { pattern: '^main-[a-f0-9]{7}-(?P<ts>[0-9]{10})$', extract: '$ts' }
    policy: { numerical: { order: asc } }
    digestReflectionPolicy: IfNotPresent
  web-semver:
    repository: web
    policy: { semver: { range: '>=1.0.0 <2.0.0 || ^3' } }
update:
  path: ./clusters/production
git:
  branch: master
  author: { name: fluxcdbot, email: fluxcdbot@users.noreply.github.com }
"#;

#[test]
fn the_contract_example_loads_with_defaults() {
    let c = load_str(Path::new(FILE), GOOD).expect("valid config");
    assert_eq!(c.namespace, "flux-system");
    assert_eq!(
        c.update_path,
        Path::new("/etc/deckhand/./clusters/production")
    );
    let reg = &c.registries["192.168.0.40:5000"];
    assert!(reg.insecure);
    assert_eq!(reg.harbor, HarborMode::Auto);
    let web = &c.repositories["web"];
    assert_eq!(web.image, "192.168.0.40:5000/homelab/web");
    assert_eq!(web.reference.registry, "192.168.0.40:5000");
    assert_eq!(web.reference.repository, "homelab/web");
    assert_eq!(web.interval.as_secs(), 60);
    assert_eq!(web.exclusions.len(), 2);
    assert_eq!(
        c.policies["web"].digest_reflection,
        DigestReflection::IfNotPresent
    );
    assert_eq!(c.git.branch.as_deref(), Some("master"));
    assert_eq!(c.git.author.name, "fluxcdbot");
}

#[test]
fn defaults_for_a_minimal_file() {
    let c = load_str(
        Path::new(FILE),
        "repositories: {app: {image: nginx}}\npolicies: {app: {repository: app, policy: {semver: {range: '1.x'}}}}\n",
    )
    .expect("valid");
    assert_eq!(c.namespace, "flux-system");
    assert_eq!(c.update_path, Path::new("/etc/deckhand"));
    let app = &c.repositories["app"];
    assert_eq!(app.interval.as_secs(), 300);
    // Flux's default exclusion list applies when none is given.
    assert_eq!(app.exclusions.len(), 1);
    assert!(app.exclusions[0].is_match("sha256-abc.sig"));
    assert!(c.git.push.is_none());
}

#[test]
fn an_empty_file_is_all_defaults() {
    let c = load_str(Path::new(FILE), "# nothing yet\n").expect("valid");
    assert!(c.policies.is_empty());
}

#[test]
fn unknown_keys_name_their_path() {
    assert_error(
        "repositories: {web: {image: nginx, intervall: 1m}}\n",
        "repositories.web.intervall",
        "unknown field",
    );
    assert_error("polices: {}\n", "polices", "unknown field");
    assert_error(
        "git: {author: {email: a@b, nmae: x}}\n",
        "git.author.nmae",
        "unknown field",
    );
}

#[test]
fn wrong_types_name_their_path() {
    assert_error(
        "repositories: {web: {image: nginx, exclusionList: 5}}\n",
        "repositories.web.exclusionList",
        "",
    );
    assert_error(
        "registries: {'r:5000': {insecure: maybe}}\n",
        "registries.r:5000.insecure",
        "",
    );
}

#[test]
fn invalid_values_name_their_path() {
    let base = "repositories: {web: {image: nginx}}\n";
    assert_error(
        &format!(
            "{base}policies: {{web: {{repository: web, filterTags: {{pattern: '(unclosed'}}, policy: {{alphabetical: {{}}}}}}}}\n"
        ),
        "policies.web.filterTags.pattern",
        "(unclosed",
    );
    assert_error(
        &format!(
            "{base}policies: {{web: {{repository: web, policy: {{semver: {{range: '1.0.0p'}}}}}}}}\n"
        ),
        "policies.web.policy.semver.range",
        "1.0.0p",
    );
    assert_error(
        &format!(
            "{base}policies: {{web: {{repository: nope, policy: {{numerical: {{order: asc}}}}}}}}\n"
        ),
        "policies.web.repository",
        "nope",
    );
    assert_error(
        &format!(
            "{base}policies: {{web: {{repository: web, policy: {{numerical: {{order: up}}}}}}}}\n"
        ),
        "policies.web.policy.numerical.order",
        "up",
    );
    assert_error(
        &format!(
            "{base}policies: {{web: {{repository: web, policy: {{numerical: {{}}, semver: {{range: '*'}}}}}}}}\n"
        ),
        "policies.web.policy",
        "exactly one",
    );
    assert_error(
        "repositories: {web: {image: nginx, interval: 1d}}\n",
        "repositories.web.interval",
        "1d",
    );
    assert_error(
        "repositories: {web: {image: 'https://reg/x'}}\n",
        "repositories.web.image",
        "https://reg/x",
    );
    assert_error(
        "repositories: {web: {image: nginx, exclusionList: ['[']}}\n",
        "repositories.web.exclusionList[0]",
        "[",
    );
    assert_error(
        "registries: {'r:5000': {username: u, passwordFile: /nonexistent/deckhand-pw}}\n",
        "registries.r:5000.passwordFile",
        "/nonexistent/deckhand-pw",
    );
    assert_error("git: {branch: 'a..b'}\n", "git.branch", "a..b");
}

#[test]
fn all_errors_are_reported_at_once() {
    let errs =
        errors("repositories: {a: {image: nginx, interval: x}, b: {image: nginx, timeout: y}}\n");
    assert_eq!(errs.len(), 2, "{errs:#?}");
}

#[test]
fn passwords_are_read_from_files_and_never_shown() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("pw"), "s3cret-value\n").expect("write");
    let file = dir.path().join("deckhand.yaml");
    let c = load_str(
        &file,
        "registries: {'r:5000': {username: 'robot$homelab+deckhand', passwordFile: ./pw}}\n",
    )
    .expect("valid");
    let creds = c.registries["r:5000"]
        .credentials
        .clone()
        .expect("credentials");
    let shown = format!("{c:?} {creds:?}");
    assert!(!shown.contains("s3cret-value"), "{shown}");
    match creds {
        crate::registry::Credentials::Basic { username, password } => {
            assert_eq!(username, "robot$homelab+deckhand");
            assert_eq!(password.expose(), "s3cret-value");
        }
        crate::registry::Credentials::IdentityToken(_) => panic!("expected basic credentials"),
    }
}
