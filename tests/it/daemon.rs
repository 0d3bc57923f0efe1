//! `deckhand run` end to end: the real binary, the real registry (with its notifications pointed
//! at the daemon), real git checkouts; webhooks sent as Harbor documents them.

use std::path::Path;
use std::time::Duration;

use crate::support::bin::deckhand;
use crate::support::daemon::{Daemon, eventually};
use crate::support::git::Checkout;
use crate::support::registry::{Mode, RegistryServer, free_port};

const SECRET: &str = "hooksecret";
const WAIT: Duration = Duration::from_secs(30);

/// Harbor's Default payload (registry-protocol.md §6.3) for `repo`, with a tag that is a lie.
fn harbor_default(repo: &str) -> String {
    format!(
        r#"{{"type":"PUSH_ARTIFACT","occur_at":1795915790,"operator":"robot$homelab+ci",
 "event_data":{{"resources":[{{"digest":"sha256:9fce","tag":"9.9.9","resource_url":"harbor.lan/{repo}:9.9.9"}}],
 "repository":{{"date_created":1790000000,"name":"web","namespace":"homelab","repo_full_name":"{repo}","repo_type":"private"}}}}}}"#
    )
}

/// The same as a CloudEvent.
fn harbor_cloudevent(repo: &str) -> String {
    format!(
        r#"{{"specversion":"1.0","id":"6f1c","requestid":"r1","source":"/projects/3/webhook/policies/5",
 "type":"harbor.artifact.pushed","datacontenttype":"application/json","time":"2026-11-20T10:11:12Z",
 "operator":"robot$homelab+ci","data":{{"resources":[{{"tag":"9.9.9"}}],
 "repository":{{"date_created":1790000000,"name":"web","namespace":"homelab","repo_full_name":"{repo}","repo_type":"private"}}}}}}"#
    )
}

fn compose(host: &str, tag: &str) -> String {
    format!(
        "services:\n  web:\n    image: {host}/homelab/web:{tag} # {{\"$imagepolicy\": \"flux-system:web\"}}\n    restart: always\n"
    )
}

struct Fixture {
    // Dropped in order: the registry, then the runtime it was started on.
    registry: RegistryServer,
    runtime: tokio::runtime::Runtime,
    host: String,
    port: u16,
    repo: Checkout,
    _secret: tempfile::TempDir,
}

impl Fixture {
    /// A registry holding `homelab/web:1.0.0` (notifying the daemon when `notify`), and a checkout
    /// whose compose files (`copies` of them) use it.
    fn new(notify: bool, copies: usize, config_extra: &str) -> Fixture {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let port = free_port();
        let registry = runtime.block_on(async {
            let mut setup = RegistryServer::setup(Mode::NoAuth);
            if notify {
                setup = setup.notify(
                    &format!("http://127.0.0.1:{port}/hooks/registry"),
                    &format!("Bearer {SECRET}"),
                );
            }
            let registry = setup.start().await;
            registry.push("homelab/web", "1.0.0").await;
            registry
        });
        let host = registry.host.clone();
        let secret = tempfile::tempdir().expect("tempdir");
        std::fs::write(secret.path().join("secret"), format!("{SECRET}\n")).expect("secret");
        let config = format!(
            r#"registries:
  "{host}": {{ insecure: true }}
repositories:
  web: {{ image: {host}/homelab/web, interval: 1h, timeout: 5s }}
policies:
  web: {{ repository: web, policy: {{ semver: {{ range: '>=1.0.0' }} }} }}
update: {{ path: ./deploy }}
git: {{ branch: main, author: {{ name: deckhand-bot, email: bot@example.org }} }}
daemon:
  listen: 127.0.0.1:{port}
  webhookSecretFile: {secret}
  shutdownTimeout: 10s
{config_extra}"#,
            secret = secret.path().join("secret").display()
        );
        let mut files = vec![("deckhand.yaml".to_string(), config)];
        for i in 0..copies {
            files.push((
                format!("deploy/stack{i}/docker-compose.yml"),
                compose(&host, "1.0.0"),
            ));
        }
        let refs: Vec<(&str, &str)> = files
            .iter()
            .map(|(p, t)| (p.as_str(), t.as_str()))
            .collect();
        let repo = Checkout::new("main", &refs);
        Fixture {
            registry,
            runtime,
            host,
            port,
            repo,
            _secret: secret,
        }
    }

    fn push(&self, tag: &str) {
        self.runtime
            .block_on(self.registry.push("homelab/web", tag));
    }

    fn start(&self) -> Daemon {
        let mut d = Daemon::start(&self.repo.root, self.port, &[]);
        d.wait_ready();
        d
    }

    fn stack(&self, i: usize) -> String {
        self.repo
            .read(&format!("deploy/stack{i}/docker-compose.yml"))
    }
}

fn metric(daemon: &Daemon, line_start: &str) -> Option<f64> {
    let (_, text) = daemon.request("GET", "/metrics", &[], "");
    text.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn a_push_to_the_registry_reaches_a_commit_through_its_notification() {
    let f = Fixture::new(true, 1, "");
    let mut d = f.start();
    assert_eq!(f.repo.commits(), 1, "1.0.0 is already in the file");

    f.push("1.1.0");
    eventually(&d, WAIT, "the commit of 1.1.0", || f.repo.commits() == 2);
    assert_eq!(f.stack(0), compose(&f.host, "1.1.0"));
    assert_eq!(
        f.repo.git(&["log", "-1", "--format=%an"]).trim(),
        "deckhand-bot"
    );
    assert_eq!(
        f.repo.status(),
        "",
        "clean work tree; the state dir ignores itself"
    );
    assert!(d.log().contains("webhook: re-scanning"), "{}", d.log());
    // The counters move right after the commit lands.
    eventually(&d, WAIT, "deckhand_commits_total 1", || {
        metric(&d, "deckhand_commits_total") == Some(1.0)
    });
    assert!(
        metric(
            &d,
            "deckhand_webhook_events_total{source=\"registry\",result=\"accepted\"}"
        )
        .is_some_and(|n| n >= 1.0)
    );
    assert_eq!(
        metric(&d, "deckhand_policy_pick_info{policy=\"flux-system:web\""),
        Some(1.0)
    );

    let status = d.terminate(Duration::from_secs(15));
    assert_eq!(status.code(), Some(0), "{}", d.log());
    assert!(d.log().contains("stopped"), "{}", d.log());
}

#[test]
fn harbor_webhooks_are_authenticated_checked_and_never_trusted_for_the_tag() {
    let f = Fixture::new(false, 1, "  maxBodyBytes: 4096\n");
    let d = f.start();
    let harbor = harbor_default("homelab/web");

    // Every failure, and nothing happens.
    assert_eq!(d.hook("/hooks/harbor", None, &harbor).0, 401);
    assert_eq!(d.hook("/hooks/harbor", Some("wrong"), &harbor).0, 401);
    assert_eq!(d.hook("/hooks/harbor?token=wrong", None, &harbor).0, 401);
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(10_000));
    assert_eq!(d.hook("/hooks/harbor", Some(SECRET), &big).0, 413);
    assert_eq!(d.hook("/hooks/harbor", Some(SECRET), "{").0, 400);
    assert_eq!(
        d.hook("/hooks/harbor", Some(SECRET), r#"{"type":"PUSH_ARTIFACT"}"#)
            .0,
        400
    );
    assert_eq!(
        d.hook("/hooks/generic", Some(SECRET), r#"{"repository":"nope"}"#)
            .0,
        400
    );

    // A valid event re-scans; the registry's newest tag is written, not the payload's 9.9.9.
    f.push("1.1.0");
    let (status, body) = d.hook("/hooks/harbor", Some(SECRET), &harbor);
    assert_eq!(status, 202, "{body}");
    eventually(&d, WAIT, "the commit of 1.1.0", || f.repo.commits() == 2);
    assert_eq!(f.stack(0), compose(&f.host, "1.1.0"));

    // CloudEvents, with the secret in the query.
    f.push("1.2.0");
    let (status, _) = d.hook(
        &format!("/hooks/harbor?token={SECRET}"),
        None,
        &harbor_cloudevent("homelab/web"),
    );
    assert_eq!(status, 202);
    eventually(&d, WAIT, "the commit of 1.2.0", || f.repo.commits() == 3);
    assert_eq!(f.stack(0), compose(&f.host, "1.2.0"));

    // Another repository's event is accepted and ignored.
    assert_eq!(
        d.hook(
            "/hooks/harbor",
            Some(SECRET),
            &harbor_default("other/thing")
        )
        .0,
        202
    );
    let count = |result: &str| {
        metric(
            &d,
            &format!("deckhand_webhook_events_total{{source=\"harbor\",result=\"{result}\"}}"),
        )
    };
    assert_eq!(count("unauthorized"), Some(3.0));
    assert_eq!(count("too_large"), Some(1.0));
    assert_eq!(count("malformed"), Some(2.0));
    assert_eq!(count("accepted"), Some(2.0));
    assert_eq!(count("ignored"), Some(1.0));
}

#[test]
fn the_listener_refuses_to_start_without_a_secret() {
    let repo = Checkout::new(
        "main",
        &[(
            "deckhand.yaml",
            "repositories:\n  web: { image: 127.0.0.1:1/homelab/web }\n",
        )],
    );
    let run = deckhand(&repo.root, &["run"], "");
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("no webhook secret") && run.stderr.contains("daemon.webhookSecretFile"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_registry_that_is_down_backs_off_while_the_others_keep_updating() {
    let dead = free_port();
    let f = Fixture::new(false, 1, "  backoffMax: 4s\n");
    // Scan `web` every second; `gone` also every second, were it not failing.
    let config = f.repo.read("deckhand.yaml").replace(
        "interval: 1h",
        "interval: 1s",
    ).replace(
        "policies:\n",
        &format!(
            "  gone: {{ image: 127.0.0.1:{dead}/homelab/gone, interval: 1s, timeout: 1s }}\npolicies:\n  gone: {{ repository: gone, policy: {{ semver: {{ range: '*' }} }} }}\n"
        ),
    );
    f.repo.write("deckhand.yaml", &config);
    f.repo.git(&["commit", "-qam", "two repositories"]);
    let mut d = f.start();

    f.push("1.1.0");
    eventually(&d, WAIT, "the commit of 1.1.0", || f.repo.commits() == 3);
    assert_eq!(f.stack(0), compose(&f.host, "1.1.0"));
    std::thread::sleep(Duration::from_secs(6));

    let scans = |repo: &str| {
        metric(
            &d,
            &format!("deckhand_scans_total{{repository=\"{repo}\"}}"),
        )
        .unwrap_or(0.0)
    };
    let errors = metric(&d, "deckhand_scan_errors_total{repository=\"gone\"}").unwrap_or(0.0);
    assert!(errors >= 2.0, "gone kept failing: {errors}");
    assert!(
        scans("gone") < scans("web") / 1.5,
        "gone backs off ({} scans) while web keeps its 1 s interval ({} scans)",
        scans("gone"),
        scans("web")
    );

    // `deckhand status` while the daemon runs.
    let run = deckhand(&f.repo.root, &["status", "--output", "json"], "");
    assert_eq!(run.code, 0, "{run:?}");
    let status: serde_json::Value = serde_json::from_str(&run.stdout).expect("status JSON");
    let policies = status["policies"].as_array().expect("policies");
    let web = policies
        .iter()
        .find(|p| p["policy"] == "flux-system:web")
        .expect("web");
    assert_eq!(web["latest"], "1.1.0");
    assert_eq!(web["upToDate"], true);
    assert_eq!(web["uses"][0]["file"], "deploy/stack0/docker-compose.yml");
    assert_eq!(web["uses"][0]["line"], 3);
    assert_eq!(web["uses"][0]["current"], true);
    assert!(web["scanError"].is_null());
    let gone = policies
        .iter()
        .find(|p| p["policy"] == "flux-system:gone")
        .expect("gone");
    assert!(gone["latest"].is_null());
    let error = gone["scanError"].as_str().expect("scan error");
    assert!(error.contains(&format!("127.0.0.1:{dead}")), "{error}");
    assert!(gone["consecutiveFailures"].as_u64().unwrap_or(0) >= 2);
    assert!(status["lastUpdate"]["commit"].is_string(), "{status}");

    let status = d.terminate(Duration::from_secs(15));
    assert_eq!(status.code(), Some(0));

    // A person's uncommitted edit shows as a difference; text output names file:line.
    f.repo.write(
        "deploy/stack0/docker-compose.yml",
        &compose(&f.host, "1.0.0"),
    );
    let run = deckhand(&f.repo.root, &["status"], "");
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("deploy/stack0/docker-compose.yml:3")
            && run.stdout.contains("differs: pick writes")
            && run.stdout.contains("NOT up to date")
            && run.stdout.contains("failed ("),
        "{}",
        run.stdout
    );
}

/// No commit with the same tree as its parent (a duplicate), and every YAML file parses and holds
/// one of the pushed tags.
fn assert_consistent(f: &Fixture, copies: usize, tags: &[String]) {
    let log = f.repo.git(&["log", "--format=%T %P"]);
    let trees: Vec<(String, Option<String>)> = log
        .lines()
        .map(|l| {
            let mut parts = l.split(' ');
            let tree = parts.next().unwrap_or_default().to_string();
            let parent = parts.next().filter(|p| !p.is_empty()).map(|p| {
                f.repo
                    .git(&["rev-parse", &format!("{p}^{{tree}}")])
                    .trim()
                    .to_string()
            });
            (tree, parent)
        })
        .collect();
    for (tree, parent) in &trees {
        assert_ne!(
            Some(tree),
            parent.as_ref(),
            "a commit that changes nothing:\n{log}"
        );
    }
    for i in 0..copies {
        let text = f.stack(i);
        assert!(
            deckhand::manifest::scan(text.as_bytes()).is_ok(),
            "stack{i} does not parse:\n{text}"
        );
        assert!(
            tags.iter().any(|t| text == compose(&f.host, t)),
            "stack{i} is neither old nor new:\n{text}"
        );
    }
}

fn temp_files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            out.extend(temp_files(&entry.path()));
        } else if name.starts_with(".deckhand-") {
            out.push(entry.path().display().to_string());
        }
    }
    out
}

#[test]
fn kill_9_during_update_passes_leaves_a_consistent_checkout_that_the_next_start_finishes() {
    const COPIES: usize = 60;
    let f = Fixture::new(false, COPIES, "");
    let mut tags = vec!["1.0.0".to_string()];
    let mut rng = fastrand::Rng::with_seed(5);
    let mut finished = 0;
    for round in 1..=8 {
        let mut d = f.start();
        if d.log()
            .contains("committed the files the interrupted pass had written")
        {
            finished += 1;
        }
        let tag = format!("1.0.{round}");
        f.push(&tag);
        tags.push(tag);
        let (status, _) = d.hook("/hooks/generic", Some(SECRET), r#"{"repository":"web"}"#);
        assert_eq!(status, 202);
        // Somewhere inside the pass: writing 60 files with fsync, then committing.
        std::thread::sleep(Duration::from_millis(rng.u64(0..250)));
        d.kill9();
        assert_consistent(&f, COPIES, &tags);
    }

    // The next start finishes whatever was cut short; then everything is at the newest tag.
    let d = f.start();
    if d.log()
        .contains("committed the files the interrupted pass had written")
    {
        finished += 1;
    }
    let newest = tags.last().expect("tags").clone();
    eventually(&d, WAIT, "every file at the newest tag, committed", || {
        (0..COPIES).all(|i| f.stack(i) == compose(&f.host, &newest)) && f.repo.status().is_empty()
    });
    assert_consistent(&f, COPIES, &tags);
    assert_eq!(temp_files(&f.repo.path("deploy")), Vec::<String>::new());
    // A pass cut short is finished by one commit at the next start, so a round makes at most two.
    let log = f.repo.git(&["log", "--format=%s"]);
    assert!(f.repo.commits() <= 2 * tags.len(), "{log}");
    assert!(
        finished > 0,
        "no kill landed inside a pass's writes; the test did not test recovery"
    );
}

#[test]
fn sigterm_waits_for_work_in_flight_and_a_second_signal_exits_at_once() {
    use std::io::Write;
    let f = Fixture::new(false, 1, "");
    let mut d = f.start();
    // A webhook whose body is still arriving: a request in flight that shutdown waits for.
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", f.port)).expect("connect");
    write!(
        stream,
        "POST /hooks/generic HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {SECRET}\r\n\
         Content-Length: 100\r\n\r\n{{\"repo"
    )
    .expect("write");
    stream.flush().expect("flush");
    std::thread::sleep(Duration::from_millis(300));

    crate::support::daemon::signal(d.pid(), "TERM");
    std::thread::sleep(Duration::from_millis(700));
    assert!(d.running(), "still waiting for the request in flight");
    assert!(
        crate::support::daemon::http(f.port, "GET", "/healthz", &[], "").is_err(),
        "intake stopped: the listener is closed"
    );
    crate::support::daemon::signal(d.pid(), "TERM");
    let status = d.wait(Duration::from_secs(2));
    assert_eq!(status.code(), Some(130), "{}", d.log());
    assert!(d.log().contains("second signal"), "{}", d.log());
    drop(stream);
}
