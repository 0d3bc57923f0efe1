//! The worked example in `compose/examples/flux-harbor-seed/`, against the real registry: the
//! team's Flux objects as they are, `lint` flagging the alphabetical policies, Flux's own
//! (old-build) pick, and the corrected policies picking the newest build.

use std::path::{Path, PathBuf};

use crate::support::bin::{Run, deckhand_env};
use crate::support::git::Checkout;
use crate::support::registry::RegistryServer;
use crate::support::registry_with;

const EXAMPLE_HOST: &str = "192.168.0.40:5000";
/// Pushed so that the alphabetical pick (largest sha) is an older build than the newest.
const TAGS: &[&str] = &[
    "main-1a2b3c4-1707300000",
    "main-f00ba47-1707350000", // largest sha, middle build: Flux's alphabetical pick
    "main-0a1b2c3-1707400000", // newest build
    "latest",
    "sha256-abc.sig",
];
const OLD: &str = "main-1a2b3c4-1707300000";
const ALPHABETICAL_PICK: &str = "main-f00ba47-1707350000";
const NEWEST: &str = "main-0a1b2c3-1707400000";
const POLICIES: &str = "flux/clusters/production/image-automation/image-policies.yaml";
const COMPOSE: &str = "flux/clusters/production/backend/docker-compose.yml";
const DEPLOYMENT: &str = "flux/clusters/production/frontend/deployment.yaml";

fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("compose/examples/flux-harbor-seed")
}

/// Every file of the example, with the registry host swapped for the test registry's.
fn example_files(host: &str) -> Vec<(String, String)> {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).expect("read example dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(&path, base, out);
            } else {
                let rel = path
                    .strip_prefix(base)
                    .expect("prefix")
                    .to_string_lossy()
                    .into_owned();
                let text = std::fs::read_to_string(&path).expect("read example file");
                out.push((rel, text));
            }
        }
    }
    let mut files = Vec::new();
    walk(&example_dir(), &example_dir(), &mut files);
    for (_, text) in &mut files {
        *text = text.replace(EXAMPLE_HOST, host);
    }
    files
}

struct Seed {
    _registry: RegistryServer,
    _runtime: tokio::runtime::Runtime,
    host: String,
    repo: Checkout,
}

fn seed() -> Seed {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let registry = registry_with(
        &runtime,
        &[("homelab/frontend", TAGS), ("homelab/backend", TAGS)],
    );
    let host = registry.host.clone();
    let files = example_files(&host);
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    let repo = Checkout::new("master", &refs);
    Seed {
        _registry: registry,
        _runtime: runtime,
        host,
        repo,
    }
}

fn run(s: &Seed, args: &[&str]) -> Run {
    deckhand_env(
        &s.repo.root,
        args,
        "",
        &[("HARBOR_ROBOT_SECRET", "robot-secret")],
    )
}

/// The corrected policy block `lint` proposes, as pasted under `spec:` of each ImagePolicy.
const FIX: &str = "spec:\n  filterTags:\n    pattern: '^main-[a-f0-9]{7}-(?P<ts>[0-9]{10})$'\n    extract: '$ts'\n  policy:\n    numerical:\n      order: asc\n";

#[test]
fn lint_flags_the_alphabetical_policies_with_the_numerical_fix() {
    let s = seed();
    let run_ = run(&s, &["lint", "--output", "json"]);
    assert_eq!(run_.code, 0, "warnings only: {run_:?}");
    let findings: serde_json::Value = serde_json::from_str(&run_.stdout).expect("json");
    let order: Vec<&serde_json::Value> = findings
        .as_array()
        .expect("array")
        .iter()
        .filter(|f| {
            f["message"]
                .as_str()
                .unwrap_or("")
                .contains("not by the newest build")
        })
        .collect();
    let subjects: Vec<&str> = order
        .iter()
        .map(|f| f["subject"].as_str().unwrap())
        .collect();
    assert_eq!(
        subjects,
        [
            "ImagePolicy flux-system/backend",
            "ImagePolicy flux-system/frontend"
        ],
        "{findings:#}"
    );
    for f in &order {
        assert_eq!(f["severity"], "warning");
        assert!(f["file"].as_str().unwrap().ends_with(POLICIES), "{f}");
        assert_eq!(f["fix"].as_str(), Some(FIX), "{f}");
    }
    // --strict turns the warnings into a failure.
    let strict = run(&s, &["lint", "--strict"]);
    assert_eq!(strict.code, 1, "{strict:?}");
    assert!(strict.stdout.contains("fix: paste into"), "{strict:?}");
}

#[test]
fn as_written_the_policy_picks_an_older_build_and_the_fix_picks_the_newest() {
    let s = seed();
    // Flux always pushes, and so does deckhand with an ImageUpdateAutomation: to `origin`.
    let remote = tempfile::tempdir().expect("tempdir");
    let bare = remote.path().join("fleet.git");
    crate::support::git::git(remote.path(), &["init", "-q", "--bare", "fleet.git"]);
    let url = bare.to_str().expect("utf-8 path");
    s.repo.git(&["remote", "add", "origin", url]);
    s.repo.git(&["push", "-q", "origin", "master"]);
    // Flux-exact: the alphabetical policy picks the largest sha.
    let dry = run(&s, &["sync", "--dry-run"]);
    assert_eq!(dry.code, 0, "{dry:?}");
    assert!(
        dry.stdout.contains(&format!(
            "+    image: {}/homelab/backend:{ALPHABETICAL_PICK}",
            s.host
        )),
        "{dry:?}"
    );
    assert!(!dry.stdout.contains(NEWEST), "{dry:?}");

    // Paste the fix into both ImagePolicies, as lint said.
    let policies = s.repo.read(POLICIES);
    let fixed_spec = "  filterTags:\n    pattern: '^main-[a-f0-9]{7}-(?P<ts>[0-9]{10})$'\n    extract: '$ts'\n  policy:\n    numerical:\n      order: asc\n";
    let old_spec = "  filterTags:\n    pattern: '^main-[a-f0-9]{7}-[0-9]{10}$'\n    extract: '$0'\n  policy:\n    alphabetical:\n      order: asc\n";
    assert_eq!(policies.matches(old_spec).count(), 2, "{policies}");
    s.repo
        .write(POLICIES, &policies.replace(old_spec, fixed_spec));
    s.repo.git(&["commit", "-qam", "order by build time"]);

    let lint = run(&s, &["lint", "--strict"]);
    assert!(!lint.stdout.contains("not by the newest build"), "{lint:?}");

    let sync = run(&s, &["sync"]);
    assert_eq!(sync.code, 0, "{sync:?}");
    let compose = s.repo.read(COMPOSE);
    assert!(
        compose.contains(&format!(
            "image: {}/homelab/backend:{NEWEST} # {{\"$imagepolicy\": \"flux-system:backend\"}}",
            s.host
        )),
        "{compose}"
    );
    assert!(
        s.repo
            .read(DEPLOYMENT)
            .contains(&format!("frontend:{NEWEST} #"))
    );
    assert!(!compose.contains(OLD));
    // Committed on master as fluxcdbot, with the automation's Go template.
    let head = s.repo.git(&["log", "-1", "--format=%an <%ae>%n%B"]);
    let want_message = format!(
        "fluxcdbot <fluxcdbot@users.noreply.github.com>\nAutomated image update\n\n\
         Automation name: flux-system/flux-system\n\nFiles:\n\
         - backend/docker-compose.yml\n- frontend/deployment.yaml\nObjects:\n\
         -  \n  Changes:\n    - {host}/homelab/backend:{OLD} -> {host}/homelab/backend:{NEWEST}\n\
         - Deployment frontend\n  Changes:\n    - {host}/homelab/frontend:{OLD} -> {host}/homelab/frontend:{NEWEST}\n",
        host = s.host
    );
    assert_eq!(head.trim_end(), want_message.trim_end());
    assert_eq!(
        s.repo.git(&["rev-parse", "--abbrev-ref", "HEAD"]).trim(),
        "master"
    );
    assert_eq!(s.repo.status(), "");
    // … and pushed to master on the remote.
    let pushed = crate::support::git::git(&bare, &["rev-parse", "refs/heads/master"]);
    assert_eq!(pushed.trim(), s.repo.git(&["rev-parse", "HEAD"]).trim());
}
