//! Harbor extras against the stub of Harbor's documented API: paging, double encoding, push
//! times, robot accounts, the `auto` probe (also against the real registry, which is no
//! Harbor), and `newestPushed` / `minAge` / `policy explain` / `lint` end to end.

use std::time::Duration;

use deckhand::registry::{Credentials, RegistryClient, RegistryOptions};
use deckhand::secret::Secret;

use crate::support::bin::deckhand;
use crate::support::git::Checkout;
use crate::support::harbor::{Artifact, HarborRepo, HarborStub, ago, rfc3339};
use crate::support::registry_with;

const ROBOT: &str = "robot$homelab+deckhand";
const SECRET: &str = "robot-secret-value";

fn client(host: &str, credentials: Option<(&str, &str)>) -> RegistryClient {
    RegistryClient::new(
        host,
        RegistryOptions {
            insecure: true,
            credentials: credentials.map(|(u, p)| Credentials::Basic {
                username: u.to_owned(),
                password: Secret::new(p),
            }),
            timeout: Duration::from_secs(10),
            ..RegistryOptions::default()
        },
    )
    .expect("client")
}

fn many(n: usize) -> Vec<Artifact> {
    (0..n)
        .map(|i| Artifact::new(i, ago(10_000 - i as u64), &[&format!("build-{i:03}")]))
        .collect()
}

#[test]
fn artifacts_are_paged_by_total_count_with_double_encoded_names() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let stub = HarborStub::start(
            vec![HarborRepo {
                name: "homelab/team/app".into(),
                artifacts: many(250),
            }],
            Some((ROBOT, SECRET)),
        )
        .await;
        let c = client(&stub.host, Some((ROBOT, SECRET)));
        let listing = c
            .list_tags_timed("homelab/team/app", None)
            .await
            .expect("listing");
        assert_eq!(listing.tags.len(), 250);
        let times = listing.push_times.expect("push times");
        assert_eq!(times.len(), 250);
        assert!(times["build-249"] > times["build-000"]);
        let pages: Vec<String> = stub
            .requests()
            .into_iter()
            .filter(|r| r.contains("/artifacts"))
            .collect();
        assert_eq!(
            pages,
            (1..=3)
                .map(|p| format!(
                    "/api/v2.0/projects/homelab/repositories/team%252Fapp/artifacts?with_tag=true&page={p}&page_size=100"
                ))
                .collect::<Vec<_>>()
        );
        assert!(stub.requests().contains(&"/api/v2.0/systeminfo".to_owned()));
    });
}

#[test]
fn a_tags_push_time_is_its_own_not_its_artifacts() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        // `stable` was re-tagged onto an old artifact an hour ago.
        let mut old = Artifact::new(1, ago(86_400), &["1.0.0"]);
        old.tags.push(("stable".into(), ago(3600)));
        let new = Artifact::new(2, ago(7200), &["1.1.0"]);
        let untagged = Artifact::new(3, ago(60), &[]);
        let stub = HarborStub::start(
            vec![HarborRepo {
                name: "homelab/web".into(),
                artifacts: vec![old, new, untagged],
            }],
            None,
        )
        .await;
        let (tags, times) = client(&stub.host, None)
            .harbor_tags("homelab/web")
            .await
            .expect("tags");
        assert_eq!(tags.len(), 3);
        assert!(times["stable"] > times["1.1.0"]);
        assert!(times["1.0.0"] < times["1.1.0"]);
        assert_eq!(
            rfc3339(times["1.0.0"])[..19],
            rfc3339(ago(86_400))[..19],
            "the time survives the round trip"
        );
    });
}

#[test]
fn robot_credentials_and_permissions_are_named_in_errors() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let stub = HarborStub::start(
            vec![HarborRepo {
                name: "homelab/web".into(),
                artifacts: many(3),
            }],
            Some((ROBOT, SECRET)),
        )
        .await;
        let wrong = client(&stub.host, Some((ROBOT, "nope")));
        let e = wrong
            .list_tags_timed("homelab/web", Some(true))
            .await
            .expect_err("401");
        let text = e.to_string();
        assert!(text.contains("401") && text.contains(ROBOT), "{text}");
        assert!(!text.contains("nope"), "the secret stays out: {text}");
        stub.fail_artifacts(axum::http::StatusCode::FORBIDDEN);
        let right = client(&stub.host, Some((ROBOT, SECRET)));
        let e = right
            .list_tags_timed("homelab/web", Some(true))
            .await
            .expect_err("403");
        assert!(e.to_string().contains("artifact:list"), "{e}");
        // With `auto`, a failing API falls back to the registry API and says why.
        let listing = right
            .list_tags_timed("homelab/web", None)
            .await
            .expect("fallback");
        assert_eq!(listing.tags.len(), 3);
        assert!(listing.push_times.is_none());
        assert!(listing.harbor_error.unwrap().contains("403"));
    });
}

#[test]
fn auto_finds_no_harbor_on_the_real_registry() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let registry = registry_with(&rt, &[("homelab/web", &["1.0.0", "1.1.0"])]);
    rt.block_on(async {
        let c = client(&registry.host, None);
        assert!(!c.is_harbor().await);
        let listing = c.list_tags_timed("homelab/web", None).await.expect("tags");
        let mut tags = listing.tags;
        tags.sort();
        assert_eq!(tags, ["1.0.0", "1.1.0"]);
        assert!(listing.push_times.is_none() && listing.harbor_error.is_none());
    });
    drop(registry);
}

/// A checkout whose compose file pins `web` and whose deckhand.yaml points at the stub.
fn harbor_checkout(host: &str, policies: &str) -> Checkout {
    Checkout::new(
        "main",
        &[
            (
                "deckhand.yaml",
                &format!(
                    "registries:\n  \"{host}\": {{ insecure: true, harbor: auto, username: '{ROBOT}', password: '{SECRET}' }}\nrepositories:\n  web: {{ image: {host}/homelab/web }}\npolicies:\n{policies}update: {{ path: ./deploy }}\n"
                ),
            ),
            (
                "deploy/docker-compose.yml",
                &format!(
                    "services:\n  web:\n    image: {host}/homelab/web:old # {{\"$imagepolicy\": \"flux-system:web\"}}\n"
                ),
            ),
            (
                "deploy/.env",
                "WEB_TAG=old # {\"$imagepolicy\": \"flux-system:web:tag\"}\n",
            ),
            (
                "deploy/host.nix",
                &format!(
                    "{{ ... }}: {{\n  virtualisation.oci-containers.containers.web.image = \"{host}/homelab/web:old\"; # {{\"$imagepolicy\": \"flux-system:web\"}}\n}}\n"
                ),
            ),
        ],
    )
}

fn web_artifacts() -> Vec<Artifact> {
    vec![
        Artifact::new(1, ago(3 * 86_400), &["zzz-oldest"]),
        Artifact::new(2, ago(86_400), &["mmm-middle"]),
        Artifact::new(3, ago(600), &["aaa-newest"]),
        Artifact::new(4, ago(30), &["sha256-x.sig"]),
    ]
}

#[test]
fn newest_pushed_and_min_age_pick_by_harbor_push_time() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let stub = rt.block_on(HarborStub::start(
        vec![HarborRepo {
            name: "homelab/web".into(),
            artifacts: web_artifacts(),
        }],
        Some((ROBOT, SECRET)),
    ));
    let repo = harbor_checkout(
        &stub.host,
        "  web: { repository: web, policy: { newestPushed: {} } }\n",
    );
    let run = deckhand(&repo.root, &["sync"], "");
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        repo.read("deploy/docker-compose.yml")
            .contains("web:aaa-newest #")
    );
    assert_eq!(
        repo.read("deploy/.env"),
        "WEB_TAG=aaa-newest # {\"$imagepolicy\": \"flux-system:web:tag\"}\n"
    );
    assert_eq!(
        repo.read("deploy/host.nix"),
        format!(
            "{{ ... }}: {{\n  virtualisation.oci-containers.containers.web.image = \"{}/homelab/web:aaa-newest\"; # {{\"$imagepolicy\": \"flux-system:web\"}}\n}}\n",
            stub.host
        )
    );
    // All three files in one commit.
    let files = repo.git(&["show", "--name-only", "--format=", "HEAD"]);
    assert_eq!(files.lines().count(), 3, "{files}");

    // minAge: the build pushed ten minutes ago is not a candidate yet.
    let repo = harbor_checkout(
        &stub.host,
        "  web: { repository: web, policy: { newestPushed: {} }, minAge: 1h }\n",
    );
    let run = deckhand(&repo.root, &["sync"], "");
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        repo.read("deploy/docker-compose.yml")
            .contains("web:mmm-middle #")
    );

    // explain: every tag's fate and push time, ending with the pick.
    let run = deckhand(&repo.root, &["policy", "explain", "web"], "");
    assert_eq!(run.code, 0, "{run:?}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        lines[0],
        format!("policy flux-system:web on {}/homelab/web", stub.host)
    );
    assert_eq!(lines[1], "rule: newestPushed");
    assert!(
        lines[2].starts_with("tag") && lines[2].ends_with("pushed"),
        "{}",
        run.stdout
    );
    let row = |tag: &str| {
        *lines
            .iter()
            .find(|l| l.starts_with(tag))
            .unwrap_or_else(|| panic!("no row for {tag}: {}", run.stdout))
    };
    assert!(row("mmm-middle").contains("#1 key"), "{}", run.stdout);
    assert!(row("zzz-oldest").contains("#2 key"), "{}", run.stdout);
    assert!(
        row("aaa-newest").contains("too young (minAge)"),
        "{}",
        run.stdout
    );
    assert!(
        row("sha256-x.sig").contains("excluded by \"^.*\\\\.sig$\""),
        "{}",
        run.stdout
    );
    assert!(
        row("mmm-middle").ends_with('Z'),
        "push time shown: {}",
        run.stdout
    );
    assert_eq!(*lines.last().unwrap(), "pick: mmm-middle");
    // JSON, too.
    let run = deckhand(
        &repo.root,
        &["policy", "explain", "flux-system:web", "--output", "json"],
        "",
    );
    let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(v["pick"]["Ok"], "mmm-middle");
    assert_eq!(v["tags"][0]["fate"], "candidate");
    // An unknown policy is a usage error naming the known ones.
    let run = deckhand(&repo.root, &["policy", "explain", "nope"], "");
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("flux-system:web"), "{run:?}");
    drop(stub);
}

#[test]
fn lint_warns_when_the_pick_is_not_the_newest_pushed() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let stub = rt.block_on(HarborStub::start(
        vec![HarborRepo {
            name: "homelab/web".into(),
            artifacts: web_artifacts(),
        }],
        Some((ROBOT, SECRET)),
    ));
    let repo = harbor_checkout(
        &stub.host,
        "  web: { repository: web, policy: { alphabetical: {} } }\n",
    );
    let run = deckhand(&repo.root, &["lint"], "");
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("picks `zzz-oldest`") && !run.stdout.contains("`sha256-x.sig`"),
        "{run:?}"
    );
    assert!(run.stdout.contains("was pushed later"), "{run:?}");
    assert!(run.stdout.contains("newestPushed: {}"), "{run:?}");
    let repo = harbor_checkout(
        &stub.host,
        "  web: { repository: web, policy: { newestPushed: {} } }\n",
    );
    let run = deckhand(&repo.root, &["lint", "--strict"], "");
    assert!(!run.stdout.contains("was pushed later"), "{run:?}");
    drop(stub);
}

#[test]
fn push_time_policies_on_a_registry_without_push_times_fail_clearly() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let registry = registry_with(&rt, &[("homelab/web", &["1.0.0"])]);
    let repo = harbor_checkout(
        &registry.host,
        "  web: { repository: web, policy: { newestPushed: {} } }\n",
    );
    let run = deckhand(&repo.root, &["sync"], "");
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("need push times from Harbor's API"),
        "{run:?}"
    );
    assert!(run.stderr.contains("is not a Harbor"), "{run:?}");
    assert!(repo.read("deploy/docker-compose.yml").contains("web:old #"));
    drop(registry);
}
