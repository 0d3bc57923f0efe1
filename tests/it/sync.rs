//! `deckhand sync` end to end: the real binary, a real registry, a real git checkout.

use std::net::SocketAddr;

use crate::support::bin::{Run, deckhand};
use crate::support::git::Checkout;
use crate::support::registry::RegistryServer;
use crate::support::registry_with;

const BACKEND_TAGS: &[&str] = &[
    "main-1a2b3c4-1707300000",
    "main-f00ba47-1707350000",
    "main-0a1b2c3-1707400000",
    "latest",
];
const FRONTEND_TAGS: &[&str] = &["1.0.0", "1.1.0", "1.2.3", "1.3.0-rc.1", "2.0.0"];

fn config(host: &str, extra: &str) -> String {
    format!(
        r#"registries:
  "{host}": {{ insecure: true }}
repositories:
  backend: {{ image: {host}/homelab/backend, timeout: 10s }}
  frontend: {{ image: {host}/homelab/frontend, timeout: 10s }}
policies:
  backend:
    repository: backend
    filterTags: {{ pattern: '^main-[a-f0-9]+-(?P<ts>[0-9]{{10}})$', extract: '$ts' }}
    policy: {{ numerical: {{ order: asc }} }}
  frontend:
    repository: frontend
    policy: {{ semver: {{ range: '>=1.0.0 <2.0.0' }} }}
update: {{ path: ./deploy }}
git:
  branch: main
  author: {{ name: deckhand-bot, email: bot@example.org }}
{extra}"#
    )
}

fn compose(host: &str, tag: &str) -> String {
    format!(
        "# backend stack\r\nservices:\r\n  api:\r\n    image: \"{host}/homelab/backend:{tag}\" # {{\"$imagepolicy\": \"flux-system:backend\"}}\r\n    restart: always   # keep\r\n\r\n  db:\r\n    image: postgres:16\r\n"
    )
}

fn deployment(host: &str, tag: &str) -> String {
    format!(
        "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: frontend\nspec:\n  template:\n    spec:\n      containers:\n        - name: web\n          image: {host}/homelab/frontend:{tag} # {{\"$imagepolicy\": \"flux-system:frontend\"}}\n---\n# second document\nkind: ConfigMap\ndata:\n  note: |\n    image: x:1 # {{\"$imagepolicy\": \"flux-system:frontend\"}}\n"
    )
}

fn kustomization(tag: &str) -> String {
    format!(
        "images:\n- name: frontend\n  newTag: {tag} # {{\"$imagepolicy\": \"flux-system:frontend:tag\"}}\n"
    )
}

struct Fixture {
    // Dropped in this order: the registry (killed), then the runtime it was started on.
    _registry: RegistryServer,
    _runtime: tokio::runtime::Runtime,
    host: String,
    repo: Checkout,
}

fn fixture(extra_config: &str) -> Fixture {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let registry = registry_with(
        &runtime,
        &[
            ("homelab/backend", BACKEND_TAGS),
            ("homelab/frontend", FRONTEND_TAGS),
        ],
    );
    let host = registry.host.clone();
    let repo = Checkout::new(
        "main",
        &[
            ("deckhand.yaml", &config(&host, extra_config)),
            (
                "deploy/backend/docker-compose.yml",
                &compose(&host, "main-1a2b3c4-1707300000"),
            ),
            (
                "deploy/frontend/deployment.yaml",
                &deployment(&host, "1.0.0"),
            ),
            (
                "deploy/frontend/kustomization.yaml",
                &kustomization("1.0.0"),
            ),
            ("README.md", "not yaml\n"),
        ],
    );
    Fixture {
        _registry: registry,
        _runtime: runtime,
        host,
        repo,
    }
}

fn sync(f: &Fixture, args: &[&str]) -> Run {
    let mut all = vec!["sync"];
    all.extend_from_slice(args);
    deckhand(&f.repo.root, &all, "")
}

#[test]
fn sync_updates_exactly_the_marked_bytes_and_commits() {
    let f = fixture("");
    let run = sync(&f, &[]);
    assert_eq!(run.code, 0, "{run:?}");

    // The newest build by timestamp, not the largest sha; CRLF, quotes and comments kept.
    assert_eq!(
        f.repo.read("deploy/backend/docker-compose.yml"),
        compose(&f.host, "main-0a1b2c3-1707400000")
    );
    // Highest 1.x release; the block-scalar text that looks like a marker is untouched.
    assert_eq!(
        f.repo.read("deploy/frontend/deployment.yaml"),
        deployment(&f.host, "1.2.3")
    );
    // A `:tag` marker writes the tag alone.
    assert_eq!(
        f.repo.read("deploy/frontend/kustomization.yaml"),
        kustomization("1.2.3")
    );

    assert_eq!(f.repo.commits(), 2);
    assert_eq!(
        f.repo.status(),
        "",
        "the work tree is clean after the commit"
    );
    let author = f.repo.git(&["log", "-1", "--format=%an <%ae>|%cn <%ce>"]);
    assert_eq!(
        author.trim(),
        "deckhand-bot <bot@example.org>|deckhand-bot <bot@example.org>"
    );
    let files = f.repo.git(&["show", "--name-only", "--format=", "HEAD"]);
    let mut files: Vec<&str> = files.lines().collect();
    files.sort_unstable();
    assert_eq!(
        files,
        [
            "deploy/backend/docker-compose.yml",
            "deploy/frontend/deployment.yaml",
            "deploy/frontend/kustomization.yaml"
        ]
    );
    let message = f.repo.git(&["log", "-1", "--format=%B"]);
    assert!(message.contains("flux-system:backend"), "{message}");
    assert!(
        message
            .contains("deploy/frontend/kustomization.yaml:3 flux-system:frontend: 1.0.0 -> 1.2.3"),
        "{message}"
    );

    // A second pass has nothing to do: no write, no commit.
    let again = sync(&f, &[]);
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(f.repo.commits(), 2);
    assert!(again.stderr.contains("no changes"), "{again:?}");
}

#[test]
fn dry_run_prints_a_diff_and_changes_nothing() {
    let f = fixture("");
    let before = f.repo.read("deploy/backend/docker-compose.yml");
    let run = sync(&f, &["--dry-run"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains(
            "--- a/deploy/backend/docker-compose.yml\n+++ b/deploy/backend/docker-compose.yml"
        ),
        "{run:?}"
    );
    assert!(
        run.stdout.contains(&format!(
            "+          image: {}/homelab/frontend:1.2.3",
            f.host
        )),
        "{run:?}"
    );
    assert_eq!(f.repo.read("deploy/backend/docker-compose.yml"), before);
    assert_eq!(f.repo.commits(), 1);
    assert_eq!(f.repo.status(), "");
}

#[test]
fn json_output_is_the_plan() {
    let f = fixture("");
    let run = sync(&f, &["--dry-run", "--output", "json"]);
    assert_eq!(run.code, 0, "{run:?}");
    let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("json on stdout");
    let changes = v["changes"].as_array().expect("changes");
    assert_eq!(changes.len(), 3, "{v:#}");
    let kz = changes
        .iter()
        .find(|c| c["file"] == "deploy/frontend/kustomization.yaml")
        .expect("kustomization change");
    assert_eq!(kz["line"], 3);
    assert_eq!(kz["policy"], "flux-system:frontend");
    assert_eq!(kz["old"], "1.0.0");
    assert_eq!(kz["new"], "1.2.3");
    assert!(v["commit"].is_null());
}

#[test]
fn no_commit_writes_files_without_committing() {
    let f = fixture("");
    let run = sync(&f, &["--no-commit"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(f.repo.commits(), 1);
    assert_eq!(
        f.repo.read("deploy/frontend/kustomization.yaml"),
        kustomization("1.2.3")
    );
    assert!(
        f.repo
            .status()
            .contains(" M deploy/frontend/kustomization.yaml")
    );
}

#[test]
fn a_file_with_uncommitted_edits_is_left_exactly_as_it_was() {
    let f = fixture("");
    let dirty = format!(
        "{}# a person is editing this\n",
        deployment(&f.host, "1.0.0")
    );
    f.repo.write("deploy/frontend/deployment.yaml", &dirty);
    // A change a person staged elsewhere must not be swept into deckhand's commit.
    f.repo.write("README.md", "staged by a person\n");
    f.repo.git(&["add", "README.md"]);

    let run = sync(&f, &[]);
    assert_eq!(run.code, 0, "a skipped file is a warning: {run:?}");
    assert!(
        run.stderr.contains("deploy/frontend/deployment.yaml")
            && run.stderr.contains("uncommitted changes"),
        "{run:?}"
    );
    assert_eq!(f.repo.read("deploy/frontend/deployment.yaml"), dirty);
    assert_eq!(
        f.repo.read("deploy/frontend/kustomization.yaml"),
        kustomization("1.2.3")
    );
    let committed = f.repo.git(&["show", "--name-only", "--format=", "HEAD"]);
    assert!(!committed.contains("README.md"), "{committed}");
    assert!(!committed.contains("deployment.yaml"), "{committed}");
    let status = f.repo.status();
    assert!(status.contains("M  README.md"), "still staged: {status}");
    assert!(
        status.contains(" M deploy/frontend/deployment.yaml"),
        "{status}"
    );
}

#[test]
fn a_broken_yaml_file_is_reported_and_the_others_still_go() {
    let f = fixture("");
    let broken = "services:\n  api:\n    image: x:1 # {\"$imagepolicy\": \"flux-system:backend\"}\n   bad: [unclosed\n";
    f.repo.write("deploy/broken.yaml", broken);
    f.repo.git(&["add", "deploy/broken.yaml"]);
    f.repo.git(&["commit", "-qm", "broken file"]);

    let run = sync(&f, &[]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("deploy/broken.yaml:"), "{run:?}");
    assert_eq!(f.repo.read("deploy/broken.yaml"), broken);
    assert_eq!(
        f.repo.read("deploy/backend/docker-compose.yml"),
        compose(&f.host, "main-0a1b2c3-1707400000")
    );
    assert_eq!(f.repo.commits(), 3);
}

#[test]
fn an_unreachable_registry_fails_its_policies_only() {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let f = fixture("");
    // Point the frontend at a port nothing listens on.
    let cfg = f.repo.read("deckhand.yaml").replace(
        &format!("image: {}/homelab/frontend", f.host),
        &format!("image: 127.0.0.1:{closed}/homelab/frontend"),
    );
    f.repo.write("deckhand.yaml", &cfg);
    f.repo.git(&["commit", "-qam", "frontend elsewhere"]);

    let run = sync(&f, &[]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains(&format!("127.0.0.1:{closed}")),
        "the error names the registry URL: {run:?}"
    );
    assert_eq!(
        f.repo.read("deploy/backend/docker-compose.yml"),
        compose(&f.host, "main-0a1b2c3-1707400000")
    );
    assert_eq!(
        f.repo.read("deploy/frontend/kustomization.yaml"),
        kustomization("1.0.0")
    );
    assert_eq!(f.repo.commits(), 3);
}

#[test]
fn the_wrong_branch_stops_before_anything_is_written() {
    let f = fixture("");
    f.repo.git(&["checkout", "-qb", "feature"]);
    let run = sync(&f, &[]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("feature") && run.stderr.contains("main"),
        "{run:?}"
    );
    assert_eq!(f.repo.status(), "");
    assert_eq!(f.repo.commits(), 1);
}

#[test]
fn unknown_policies_are_left_alone_with_a_warning() {
    let f = fixture("");
    let text = "image: a/b:1.0.0 # {\"$imagepolicy\": \"flux-system:nope\"}\nother: c/d:1 # {\"$imagepolicy\": \"elsewhere:frontend\"}\n";
    f.repo.write("deploy/unknown.yaml", text);
    f.repo.git(&["add", "-A"]);
    f.repo.git(&["commit", "-qm", "unknown"]);
    let run = sync(&f, &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(f.repo.read("deploy/unknown.yaml"), text);
    assert!(
        run.stderr.contains("deploy/unknown.yaml:1") && run.stderr.contains("flux-system:nope"),
        "{run:?}"
    );
    assert!(run.stderr.contains("deploy/unknown.yaml:2"), "{run:?}");
}

/// A registry that lies: it lists tags no real registry could store, crafted to inject YAML.
async fn lying_registry(tags: Vec<&'static str>) -> SocketAddr {
    use axum::{Json, Router, routing::get};
    let body = serde_json::json!({ "name": "evil/app", "tags": tags });
    let app = Router::new()
        .route("/v2/", get(|| async { Json(serde_json::json!({})) }))
        .route(
            "/v2/evil/app/tags/list",
            get(move || {
                let body = body.clone();
                async move { Json(body) }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

#[test]
fn tags_that_break_the_oci_grammar_are_never_written() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let addr = rt.block_on(lying_registry(vec![
        "1.0.0",
        "1.1.0",
        "9.9.9\n  injected: true",
        "9.9.9 # {}",
        "-9.9.9",
        "9.9.9/../x",
    ]));
    let host = format!("127.0.0.1:{}", addr.port());
    let text =
        format!("image: {host}/evil/app:1.0.0 # {{\"$imagepolicy\": \"flux-system:evil\"}}\n");
    let repo = Checkout::new(
        "main",
        &[
            (
                "deckhand.yaml",
                &format!(
                    "repositories: {{evil: {{image: {host}/evil/app}}}}\npolicies: {{evil: {{repository: evil, policy: {{alphabetical: {{order: asc}}}}}}}}\n"
                ),
            ),
            ("app.yaml", &text),
        ],
    );
    let run = deckhand(&repo.root, &["sync"], "");
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        repo.read("app.yaml"),
        format!("image: {host}/evil/app:1.1.0 # {{\"$imagepolicy\": \"flux-system:evil\"}}\n")
    );
    assert!(
        run.stderr.contains("injected"),
        "the bad tag is named: {run:?}"
    );
    drop(rt);
}
