//! `deckhand rollout` against a real Docker engine, a real registry and stacks brought up by
//! Debian's `docker-compose`.

use std::time::Duration;

use crate::support::bin::{Run, deckhand};
use crate::support::docker::{
    ImageKind, Images, Stack, docker_ok, http_get, label_yaml, require_docker, run_id,
};
use crate::support::registry::{Mode, RegistryServer, free_port};

const HEALTHY: Option<bool> = Some(true);

struct Fixture {
    // Dropped in this order: stack (containers), images, registry, runtime.
    stack: Stack,
    _images: Images,
    _registry: RegistryServer,
    _runtime: tokio::runtime::Runtime,
    host: String,
    port: u16,
    work: tempfile::TempDir,
}

impl Fixture {
    /// A registry with `app:v1` and `app:v2` (healthy), `app:v3` (unhealthy healthcheck); a
    /// stack running `v1`. Only `v1` is in the engine; the rollout must pull the others.
    fn new(prefix: &str, mode: &str) -> Fixture {
        require_docker();
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let registry = runtime.block_on(RegistryServer::start(Mode::NoAuth));
        let host = registry.host.clone();
        let run = run_id(prefix);
        let mut images = Images::new(&run);
        for (tag, healthy) in [("v1", HEALTHY), ("v2", HEALTHY), ("v3", Some(false))] {
            let version = match tag {
                "v1" => "v1",
                "v2" => "v2",
                _ => "v3",
            };
            images.build_and_push(
                &format!("{host}/deckhand-test/app:{tag}"),
                ImageKind { version, healthy },
            );
        }
        images.forget(&format!("{host}/deckhand-test/app:v2"));
        images.forget(&format!("{host}/deckhand-test/app:v3"));
        let port = free_port();
        let stack = Stack::new(&run, &compose_file("v1", port, &run));
        std::fs::write(stack.dir().join(".env"), format!("REGISTRY={host}\n")).unwrap();
        stack.compose_ok(&["up", "-d"]);
        let work = tempfile::tempdir().unwrap();
        let fixture = Fixture {
            stack,
            _images: images,
            _registry: registry,
            _runtime: runtime,
            host,
            port,
            work,
        };
        fixture.write_config(mode, "");
        assert_eq!(fixture.version(), "v1");
        fixture
    }

    fn write_config(&self, mode: &str, extra: &str) {
        std::fs::write(
            self.work.path().join("deckhand.yaml"),
            format!(
                "rollout:\n  projects:\n    - file: {}\n      name: {}\n      healthTimeout: 30s\n      settle: 1s\n      mode: {mode}\n{extra}",
                self.stack.file().display(),
                self.stack.project
            ),
        )
        .unwrap();
    }

    fn set_tag(&self, tag: &str) {
        self.stack
            .write_file(&compose_file(tag, self.port, &self.stack.run));
    }

    fn image(&self, tag: &str) -> String {
        format!("{}/deckhand-test/app:{tag}", self.host)
    }

    fn rollout(&self) -> Run {
        let state = self.work.path().join("state");
        let run = deckhand(
            self.work.path(),
            &["rollout", "--state-dir", state.to_str().unwrap()],
            "",
        );
        eprintln!("--- deckhand rollout (exit {}):\n{}", run.code, run.stderr);
        run
    }

    fn version(&self) -> String {
        http_get(
            &format!("http://127.0.0.1:{}/version", self.port),
            Duration::from_secs(20),
        )
        .expect("the service answers on its port")
    }

    fn web_id(&self) -> String {
        let ids = self.stack.ps("web");
        assert_eq!(
            ids.len(),
            1,
            "docker-compose ps lists one web container: {ids:?}"
        );
        ids[0].clone()
    }

    fn state_file(&self) -> String {
        std::fs::read_to_string(self.work.path().join("state/rollout.json")).unwrap_or_default()
    }
}

/// The stack: a named volume, a user network with an alias, a port and an env var; the registry
/// comes from `.env`.
fn compose_file(tag: &str, port: u16, run: &str) -> String {
    let labels = label_yaml(run);
    format!(
        "services:
  web:
    image: ${{REGISTRY}}/deckhand-test/app:{tag}
    restart: unless-stopped
    environment:
      GREETING: hello-from-compose
    ports:
      - \"127.0.0.1:{port}:8080\"
    volumes:
      - data:/data
    networks:
      appnet:
        aliases: [webalias]
    labels: {labels}
networks:
  appnet:
    labels: {labels}
volumes:
  data:
    labels: {labels}
"
    )
}

fn inspect(id: &str, format: &str) -> String {
    docker_ok(&["inspect", "--format", format, id])
}

#[test]
fn api_rollout_updates_rolls_back_and_holds() {
    let mut f = Fixture::new("api", "api");
    let v1_id = f.web_id();
    docker_ok(&["exec", &v1_id, "sh", "-c", "echo kept > /data/marker"]);
    let bystander = f.stack.run_detached(&[
        "--name",
        &format!("{}-bystander", f.stack.run),
        &f.image("v1"),
    ]);

    // v1 → v2.
    f.set_tag("v2");
    let run = f.rollout();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("updated"), "{}", run.stderr);
    assert_eq!(f.version(), "v2");
    let v2_id = f.web_id();
    assert_ne!(v2_id, v1_id, "the container was recreated");
    assert_eq!(
        inspect(&v2_id, "{{.Name}}"),
        inspect(
            &v2_id,
            "/{{index .Config.Labels \"com.docker.compose.project\"}}_web_1"
        ),
        "the replacement carries the original name"
    );
    // The env var, the volume's data, the network alias and the port all survived.
    let greeting = http_get(
        &format!("http://127.0.0.1:{}/greeting", f.port),
        Duration::from_secs(5),
    );
    assert_eq!(greeting.as_deref(), Ok("hello-from-compose"));
    assert_eq!(docker_ok(&["exec", &v2_id, "cat", "/data/marker"]), "kept");
    let network = format!("{}_appnet", f.stack.project);
    let via_alias = f.stack.run_once(&[
        "--network",
        &network,
        &f.image("v1"),
        "wget",
        "-q",
        "-O-",
        "http://webalias:8080/version",
    ]);
    assert_eq!(via_alias.as_deref(), Ok("v2"), "reachable by its alias");
    assert_eq!(
        inspect(&v2_id, "{{.HostConfig.RestartPolicy.Name}}"),
        "unless-stopped"
    );
    // The image's own ENV comes from the new image, not copied from the old container.
    let env = inspect(&v2_id, "{{json .Config.Env}}");
    assert!(
        env.contains("APP_VERSION=v2") && !env.contains("APP_VERSION=v1"),
        "{env}"
    );
    // Nothing left behind, and the bystander without compose labels is untouched.
    assert_eq!(f.stack.containers().len(), 1, "{:?}", f.stack.containers());
    assert_eq!(
        inspect(&bystander, "{{.State.Running}} {{.Config.Image}}"),
        format!("true {}", f.image("v1"))
    );

    // Idempotent: a second run changes nothing.
    let run = f.rollout();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(f.web_id(), v2_id);

    // v2 → v3, whose healthcheck fails: rolled back to the very same v2 container.
    f.set_tag("v3");
    let run = f.rollout();
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("ROLLED BACK"), "{}", run.stderr);
    assert!(run.stderr.contains("unhealthy"), "{}", run.stderr);
    assert_eq!(f.web_id(), v2_id, "the original container runs again");
    assert_eq!(f.version(), "v2");
    assert_eq!(f.stack.containers().len(), 1, "{:?}", f.stack.containers());
    let state = f.state_file();
    assert!(
        state.contains(&f.image("v3")),
        "held image recorded: {state}"
    );

    // Held: not retried while the file names v3.
    let started = inspect(&v2_id, "{{.State.StartedAt}}");
    let run = f.rollout();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("held"), "{}", run.stderr);
    assert!(!run.stderr.contains("pulling"), "{}", run.stderr);
    assert_eq!(f.web_id(), v2_id);
    assert_eq!(
        inspect(&v2_id, "{{.State.StartedAt}}"),
        started,
        "not touched"
    );

    // Back to v2 in the file: the hold is released, nothing to do.
    f.set_tag("v2");
    let run = f.rollout();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        !f.state_file().contains(&f.image("v3")),
        "{}",
        f.state_file()
    );

    // Parity with compose (README): the replacement's config-hash is emptied, so compose never
    // takes it for the configuration the old container was made from. A file reverted to v1 and
    // `docker-compose up -d` really bring v1 back.
    assert_eq!(
        inspect(
            &v2_id,
            "{{index .Config.Labels \"com.docker.compose.config-hash\"}}"
        ),
        ""
    );
    f.set_tag("v1");
    f.stack.compose_ok(&["up", "-d"]);
    assert_eq!(f.version(), "v1");
    assert_eq!(f.stack.containers().len(), 1, "{:?}", f.stack.containers());
}

#[test]
fn a_failed_pull_stops_nothing() {
    let f = Fixture::new("pull", "api");
    let id = f.web_id();
    let started = inspect(&id, "{{.State.StartedAt}}");
    f.set_tag("v9-does-not-exist");
    let run = f.rollout();
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("cannot pull"), "{}", run.stderr);
    assert!(run.stderr.contains("v9-does-not-exist"), "{}", run.stderr);
    assert_eq!(f.web_id(), id);
    assert_eq!(
        inspect(&id, "{{.State.StartedAt}}"),
        started,
        "not restarted"
    );
    assert_eq!(f.version(), "v1");
    assert_eq!(f.stack.containers().len(), 1);
    // A pull failure is not a gate failure: nothing is held, the next run tries again.
    assert!(!f.state_file().contains("v9"), "{}", f.state_file());
}

#[test]
fn compose_mode_recreates_through_compose() {
    let f = Fixture::new("cmp", "compose");
    let v1_id = f.web_id();
    f.set_tag("v2");
    let run = f.rollout();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(f.version(), "v2");
    let v2_id = f.web_id();
    assert_ne!(v2_id, v1_id);
    // Compose made it, so compose agrees it is up to date: `up -d` leaves it alone.
    f.stack.compose_ok(&["up", "-d"]);
    assert_eq!(
        f.web_id(),
        v2_id,
        "docker-compose up -d is a no-op after mode: compose"
    );

    f.set_tag("v3");
    let run = f.rollout();
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("ROLLED BACK"), "{}", run.stderr);
    assert_eq!(f.version(), "v2");
    assert_eq!(
        inspect(&f.web_id(), "{{.Config.Image}}"),
        f.image("v2"),
        "compose put v2 back"
    );
    assert!(f.state_file().contains(&f.image("v3")));
}

#[test]
fn an_interrupted_recreate_is_undone_then_redone() {
    let f = Fixture::new("crash", "api");
    let old = f.web_id();
    let name = inspect(&old, "{{.Name}}")
        .trim_start_matches('/')
        .to_string();
    // What a crash right after "stop the old one, park it, name the new one" leaves behind.
    docker_ok(&["pull", "-q", &f.image("v2")]);
    let project_label = format!("com.docker.compose.project={}", f.stack.project);
    let replace_label = format!("com.docker.compose.replace={old}");
    let test_label = format!("deckhand.test={}", f.stack.run);
    docker_ok(&["stop", "-t", "1", &old]);
    docker_ok(&[
        "rename",
        &old,
        &format!("{name}_deckhand-previous-{}", &old[..12]),
    ]);
    docker_ok(&[
        "create",
        "--name",
        &name,
        "--label",
        &project_label,
        "--label",
        "com.docker.compose.service=web",
        "--label",
        &replace_label,
        "--label",
        &test_label,
        &f.image("v2"),
    ]);
    f.set_tag("v2");
    let run = f.rollout();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("interrupted recreate"),
        "{}",
        run.stderr
    );
    // Undone (the half-made container is gone), then done properly from the original's config.
    assert_eq!(f.version(), "v2");
    let containers = f.stack.containers();
    assert_eq!(containers.len(), 1, "{containers:?}");
    assert_eq!(containers[0].1, name);
    assert_eq!(
        docker_ok(&["exec", &containers[0].0, "cat", "/www/greeting"]),
        "hello-from-compose"
    );
}

#[test]
fn rollout_usage_errors_and_a_missing_compose_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("deckhand.yaml"), "namespace: x\n").unwrap();
    let run = deckhand(dir.path(), &["rollout"], "");
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("no `rollout:` section"),
        "{}",
        run.stderr
    );
    std::fs::write(
        dir.path().join("deckhand.yaml"),
        "rollout:\n  projects:\n    - { file: ./missing.yml, name: real }\n",
    )
    .unwrap();
    let run = deckhand(dir.path(), &["rollout", "--project", "other"], "");
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("no rollout project is named `other`"),
        "{}",
        run.stderr
    );
    // The project itself: its missing file is reported, exit 1.
    let run = deckhand(dir.path(), &["rollout", "--project", "real"], "");
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("missing.yml"), "{}", run.stderr);
}

/// `deckhand sync` picks the new tag, rewrites the marker, commits, then rolls the stack out;
/// `--no-rollout` leaves the containers alone.
#[test]
fn sync_commits_then_rolls_out() {
    use crate::support::git::Checkout;

    require_docker();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let registry = runtime.block_on(RegistryServer::start(Mode::NoAuth));
    let host = registry.host.clone();
    let run = run_id("sync");
    let mut images = Images::new(&run);
    for tag in ["1.0.0", "1.1.0"] {
        images.build_and_push(
            &format!("{host}/deckhand-test/app:{tag}"),
            ImageKind {
                version: tag,
                healthy: HEALTHY,
            },
        );
    }
    images.forget(&format!("{host}/deckhand-test/app:1.1.0"));
    let port = free_port();
    let compose = format!(
        "services:\n  web:\n    image: {host}/deckhand-test/app:1.0.0 # {{\"$imagepolicy\": \"flux-system:app\"}}\n    ports: [\"127.0.0.1:{port}:8080\"]\n    labels: {labels}\nnetworks:\n  default:\n    labels: {labels}\n",
        labels = label_yaml(&run)
    );
    let config = format!(
        "registries:\n  \"{host}\": {{ insecure: true }}\nrepositories:\n  app: {{ image: {host}/deckhand-test/app }}\npolicies:\n  app:\n    repository: app\n    policy: {{ semver: {{ range: '>=1.0.0' }} }}\nupdate: {{ path: ./deploy }}\ngit:\n  branch: main\nrollout:\n  projects:\n    - file: ./deploy/docker-compose.yml\n      name: {run}\n      healthTimeout: 30s\n"
    );
    let repo = Checkout::new(
        "main",
        &[
            ("deckhand.yaml", &config),
            ("deploy/docker-compose.yml", &compose),
        ],
    );
    let stack = Stack::at(&run, &repo.path("deploy"));
    stack.compose_ok(&["up", "-d"]);
    let url = format!("http://127.0.0.1:{port}/version");
    assert_eq!(
        http_get(&url, Duration::from_secs(20)).as_deref(),
        Ok("1.0.0")
    );
    let state = repo.path(".deckhand-test-state");
    let state = state.to_str().unwrap();

    let out = deckhand(
        &repo.root,
        &["sync", "--no-rollout", "--state-dir", state],
        "",
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        repo.read("deploy/docker-compose.yml")
            .contains("app:1.1.0 # {")
    );
    assert_eq!(
        http_get(&url, Duration::from_secs(5)).as_deref(),
        Ok("1.0.0"),
        "--no-rollout"
    );

    let out = deckhand(
        &repo.root,
        &["sync", "--output", "json", "--state-dir", state],
        "",
    );
    eprintln!("{}", out.stderr);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        http_get(&url, Duration::from_secs(20)).as_deref(),
        Ok("1.1.0")
    );
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let services = json["rollout"]["services"].as_array().unwrap();
    assert_eq!(services.len(), 1, "{json}");
    assert_eq!(services[0]["outcome"], "updated", "{json}");
    assert_eq!(stack.ps("web").len(), 1);
    drop(stack);
    drop(images);
    drop(registry);
}

/// The pull uses the credentials of deckhand's `registries:` entry (and without them it fails
/// before anything is stopped).
#[test]
fn pulls_with_the_configured_registry_credentials() {
    use crate::support::registry::{BASIC_PASSWORD, BASIC_USER};
    use std::process::{Command, Stdio};

    require_docker();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let registry = runtime.block_on(RegistryServer::start(Mode::Basic));
    let host = registry.host.clone();
    let run = run_id("auth");
    // Log in for the pushes only, in a config dir of our own.
    let login = tempfile::tempdir().unwrap();
    let mut child = Command::new("docker")
        .args([
            "--config",
            login.path().to_str().unwrap(),
            "login",
            "-u",
            BASIC_USER,
            "--password-stdin",
            &host,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), BASIC_PASSWORD.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "docker login: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut images = Images::new(&run);
    for tag in ["v1", "v2"] {
        images.build_and_push_as(
            &format!("{host}/deckhand-test/app:{tag}"),
            ImageKind {
                version: tag,
                healthy: HEALTHY,
            },
            Some(login.path()),
        );
    }
    images.forget(&format!("{host}/deckhand-test/app:v2"));
    let port = free_port();
    let stack = Stack::new(&run, &compose_file("v1", port, &run));
    std::fs::write(stack.dir().join(".env"), format!("REGISTRY={host}\n")).unwrap();
    stack.compose_ok(&["up", "-d"]);
    let id = stack.ps("web")[0].clone();
    stack.write_file(&compose_file("v2", port, &run));

    let work = tempfile::tempdir().unwrap();
    let empty_docker_config = tempfile::tempdir().unwrap();
    let rollout = |registries: &str| {
        std::fs::write(
            work.path().join("deckhand.yaml"),
            format!(
                "{registries}rollout:\n  projects:\n    - {{ file: {}, name: {}, healthTimeout: 30s, settle: 1s }}\n",
                stack.file().display(),
                stack.project
            ),
        )
        .unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_deckhand"))
            .args(["rollout", "--state-dir"])
            .arg(work.path().join("state"))
            .current_dir(work.path())
            .env("DOCKER_CONFIG", empty_docker_config.path())
            .env("DECKHAND_PASSWORD", BASIC_PASSWORD)
            .env("NO_COLOR", "1")
            .env_remove("DECKHAND_CONFIG")
            .env_remove("DECKHAND_LOG")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        eprintln!("--- deckhand rollout:\n{stderr}");
        (out.status.code(), stderr)
    };
    let url = format!("http://127.0.0.1:{port}/version");

    let (code, stderr) = rollout("");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("cannot pull"), "{stderr}");
    assert_eq!(
        stack.ps("web"),
        std::slice::from_ref(&id),
        "nothing was stopped"
    );
    assert_eq!(http_get(&url, Duration::from_secs(5)).as_deref(), Ok("v1"));

    let (code, stderr) = rollout(&format!(
        "registries:\n  \"{host}\": {{ insecure: true, username: {BASIC_USER}, passwordEnv: DECKHAND_PASSWORD }}\n"
    ));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        !stderr.contains(BASIC_PASSWORD),
        "the password never reaches the logs"
    );
    assert_eq!(http_get(&url, Duration::from_secs(20)).as_deref(), Ok("v2"));
    drop(stack);
    drop(images);
    drop(registry);
}

/// Two replicas are recreated one at a time and keep their names; a dependent service in the same
/// file that is already current is left alone.
#[test]
fn replicas_are_recreated_one_by_one() {
    require_docker();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let registry = runtime.block_on(RegistryServer::start(Mode::NoAuth));
    let host = registry.host.clone();
    let run = run_id("scale");
    let mut images = Images::new(&run);
    for tag in ["v1", "v2"] {
        images.build_and_push(
            &format!("{host}/deckhand-test/app:{tag}"),
            ImageKind {
                version: tag,
                healthy: None,
            },
        );
    }
    let labels = label_yaml(&run);
    let file = |tag: &str| {
        format!(
            "services:\n  web:\n    image: {host}/deckhand-test/app:{tag}\n    labels: {labels}\n  front:\n    image: {host}/deckhand-test/app:v1\n    depends_on: [web]\n    labels: {labels}\nnetworks:\n  default:\n    labels: {labels}\n"
        )
    };
    let stack = Stack::new(&run, &file("v1"));
    stack.compose_ok(&["up", "-d", "--scale", "web=2"]);
    let before = stack.ps("web");
    let front = stack.ps("front");
    assert_eq!(before.len(), 2);
    stack.write_file(&file("v2"));
    let work = tempfile::tempdir().unwrap();
    std::fs::write(
        work.path().join("deckhand.yaml"),
        format!(
            "rollout:\n  projects:\n    - {{ file: {}, name: {}, settle: 1s }}\n",
            stack.file().display(),
            stack.project
        ),
    )
    .unwrap();
    let out = deckhand(
        work.path(),
        &["rollout", "--output", "json", "--state-dir", "state"],
        "",
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let outcome = |service: &str| {
        json["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["service"] == service)
            .map(|s| s["outcome"].clone())
    };
    assert_eq!(outcome("web"), Some("updated".into()), "{json}");
    assert_eq!(outcome("front"), Some("up-to-date".into()), "{json}");
    assert_eq!(
        json["services"][0]["service"], "web",
        "depends_on order: {json}"
    );
    let after = stack.ps("web");
    assert_eq!(after.len(), 2);
    for id in &after {
        assert!(!before.contains(id), "every replica was recreated");
        assert_eq!(
            inspect(id, "{{.Config.Image}}"),
            format!("{host}/deckhand-test/app:v2")
        );
    }
    let mut names: Vec<String> = after.iter().map(|id| inspect(id, "{{.Name}}")).collect();
    names.sort();
    assert_eq!(
        names,
        [format!("/{run}_web_1"), format!("/{run}_web_2")],
        "the replicas keep their names"
    );
    assert_eq!(stack.ps("front"), front, "the current service is untouched");
    assert_eq!(stack.containers().len(), 3, "{:?}", stack.containers());
    drop(stack);
    drop(images);
    drop(registry);
}
