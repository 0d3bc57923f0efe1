//! The container deployment end to end, on the real dockerd: `scripts/build-image.sh` builds
//! `compose/Dockerfile` (FROM scratch) around the static binary, then `deckhand sync` runs in that
//! image — alone, and as the service of `compose/docker-compose.yml` with its volumes, user and
//! secrets — against the real registry (on loopback, reached with host networking) and a git
//! checkout mounted from the host.
//!
//! Every image, container, volume and network made here carries `deckhand.test=<run id>` and is
//! removed by that label; the Docker daemon itself is left alone (another test may use it).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

use crate::support::git::Checkout;
use crate::support::registry::{BASIC_PASSWORD, BASIC_USER, Mode, RegistryServer};

/// The image's own user (compose/Dockerfile, compose/image/passwd).
const IMAGE_UID: u32 = 65532;
const TAGS: &[&str] = &[
    "main-1a2b3c4-1707300000",
    "main-0a1b2c3-1707400000",
    "main-f00ba47-1707350000",
    "latest",
];
const NEWEST: &str = "main-0a1b2c3-1707400000";

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn output(cmd: &mut Command, what: &str) -> Output {
    cmd.output().unwrap_or_else(|e| {
        panic!("cannot run {what} ({e}): these tests need the Debian packages docker.io and docker-compose")
    })
}

/// Runs `cmd`, panics with its output unless it succeeds; returns stdout.
fn ok(cmd: &mut Command, what: &str) -> String {
    let out = output(cmd, what);
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn docker(args: &[&str]) -> Command {
    let mut cmd = Command::new("docker");
    cmd.args(args);
    cmd
}

/// Panics, naming the package, unless a Docker daemon answers.
fn require_daemon() {
    let out = output(
        &mut docker(&["info", "--format", "{{.ServerVersion}}"]),
        "docker info",
    );
    assert!(
        out.status.success(),
        "no Docker daemon reachable: these tests need dockerd (Debian package docker.io; \
         scripts/test.sh starts one):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A Docker Compose command line: `docker-compose` (v1, Debian's package), else `docker compose`.
fn compose_command() -> Command {
    let v1 = Command::new("docker-compose").arg("version").output();
    if v1.is_ok_and(|o| o.status.success()) {
        return Command::new("docker-compose");
    }
    let v2 = docker(&["compose", "version"]).output();
    assert!(
        v2.is_ok_and(|o| o.status.success()),
        "neither docker-compose nor `docker compose` works: install the Debian package docker-compose"
    );
    docker(&["compose"])
}

/// What one test made in Docker, all labelled `deckhand.test=<run id>`; removed on drop.
struct Labelled {
    run_id: String,
    image: String,
}

impl Labelled {
    fn new(test: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let run_id = format!("{}-{test}-{nanos}", std::process::id());
        let image = format!("deckhand-test:{run_id}");
        Self { run_id, image }
    }

    fn label(&self) -> String {
        format!("deckhand.test={}", self.run_id)
    }

    fn filter(&self) -> String {
        format!("label={}", self.label())
    }

    /// Builds the image with `scripts/build-image.sh` (the static binary first, incrementally).
    fn build_image(&self) {
        // One cargo build and docker build at a time: the tests of this module run in parallel.
        static BUILD: Mutex<()> = Mutex::new(());
        let _one = BUILD
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        ok(
            Command::new(manifest_dir().join("scripts/build-image.sh"))
                .env("DECKHAND_IMAGE", &self.image)
                .env("DECKHAND_IMAGE_LABEL", self.label()),
            "scripts/build-image.sh",
        );
    }

    fn ids(&self, kind: &str) -> Vec<String> {
        let filter = self.filter();
        let mut args = vec![kind, "ls", "-q", "--filter", &filter];
        if kind == "container" {
            args.push("--all");
        }
        let out = docker(&args).output().map(|o| o.stdout).unwrap_or_default();
        String::from_utf8_lossy(&out)
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for Labelled {
    fn drop(&mut self) {
        for (kind, force) in [
            ("container", true),
            ("volume", true),
            ("network", false),
            ("image", true),
        ] {
            let ids = self.ids(kind);
            if ids.is_empty() {
                continue;
            }
            let mut cmd = docker(&[kind, "rm"]);
            if force {
                cmd.arg("--force");
            }
            let _ = cmd.args(&ids).output();
        }
    }
}

/// A checkout with deckhand.yaml (`registry_extra` under the registry's entry) and a marked
/// compose file at the oldest tag.
fn checkout(host: &str, registry_extra: &str, author: &str) -> Checkout {
    let config = format!(
        r#"registries:
  "{host}": {{ insecure: true{registry_extra} }}
repositories:
  backend: {{ image: {host}/homelab/backend, timeout: 10s }}
policies:
  backend:
    repository: backend
    filterTags: {{ pattern: '^main-[a-f0-9]+-(?P<ts>[0-9]{{10}})$', extract: '$ts' }}
    policy: {{ numerical: {{ order: asc }} }}
update: {{ path: ./deploy }}
git:
  branch: main
  author: {{ name: {author}, email: {author}@example.org }}
"#
    );
    Checkout::new(
        "main",
        &[
            ("deckhand.yaml", &config),
            ("deploy/backend/docker-compose.yml", &stack(host, TAGS[0])),
        ],
    )
}

fn stack(host: &str, tag: &str) -> String {
    format!(
        "services:\n  api:\n    image: {host}/homelab/backend:{tag} # {{\"$imagepolicy\": \"flux-system:backend\"}}\n"
    )
}

fn registry(rt: &tokio::runtime::Runtime, mode: Mode) -> RegistryServer {
    rt.block_on(async {
        let registry = RegistryServer::start(mode).await;
        for tag in TAGS {
            registry.push("homelab/backend", tag).await;
        }
        registry
    })
}

fn chown_tree(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid)).expect("chown");
    if path.is_dir() && !path.is_symlink() {
        for entry in std::fs::read_dir(path).expect("read_dir") {
            chown_tree(&entry.expect("dir entry").path(), uid, gid);
        }
    }
}

/// The checkout, handed to the image's user while a container works on it (when the tests run as
/// root, as in CI; otherwise the container runs as the checkout's owner). Owner restored on drop.
struct Handover {
    root: PathBuf,
    owner: (u32, u32),
    /// `uid:gid` for the container.
    user: String,
}

impl Handover {
    fn new(repo: &Checkout) -> Self {
        let meta = std::fs::metadata(&repo.root).expect("checkout metadata");
        let owner = (meta.uid(), meta.gid());
        let user = if owner.0 == 0 {
            chown_tree(&repo.root, IMAGE_UID, IMAGE_UID);
            format!("{IMAGE_UID}:{IMAGE_UID}")
        } else {
            format!("{}:{}", owner.0, owner.1)
        };
        Self {
            root: repo.root.clone(),
            owner,
            user,
        }
    }

    fn restore(&self) {
        chown_tree(&self.root, self.owner.0, self.owner.1);
    }
}

impl Drop for Handover {
    fn drop(&mut self) {
        self.restore();
    }
}

fn assert_synced(repo: &Checkout, host: &str, author: &str) {
    assert_eq!(
        repo.read("deploy/backend/docker-compose.yml"),
        stack(host, NEWEST)
    );
    assert_eq!(repo.commits(), 2);
    assert_eq!(repo.status(), "", "the work tree is clean after the commit");
    let last = repo.git(&["log", "-1", "--format=%an <%ae>"]);
    assert_eq!(last.trim(), format!("{author} <{author}@example.org>"));
    let files = repo.git(&["show", "--name-only", "--format=", "HEAD"]);
    assert_eq!(files.trim(), "deploy/backend/docker-compose.yml");
}

#[test]
fn image_from_scratch_runs_sync_against_the_registry() {
    require_daemon();
    let docker_things = Labelled::new("image");
    docker_things.build_image();
    let image = &docker_things.image;

    // FROM scratch: the static binary, passwd/group, the CA bundle, the state directory — no
    // shell, no shared libraries. Listed from an exported (never started) container.
    let created = ok(
        &mut docker(&["create", "--label", &docker_things.label(), image]),
        "docker create",
    );
    let listing = ok(
        Command::new("sh").arg("-c").arg(format!(
            "docker export {} | tar --numeric-owner -tvf -",
            created.trim()
        )),
        "docker export | tar -t",
    );
    let mut files: Vec<&str> = listing
        .lines()
        .filter(|l| l.starts_with('-'))
        .filter_map(|l| l.split_whitespace().last())
        .collect();
    files.sort_unstable();
    // `.dockerenv`, dev/console and the etc files Docker mounts over are empty placeholders of
    // every container.
    assert_eq!(
        files,
        [
            ".dockerenv",
            "dev/console",
            "etc/group",
            "etc/hostname",
            "etc/hosts",
            "etc/passwd",
            "etc/resolv.conf",
            "etc/ssl/certs/ca-certificates.crt",
            "usr/local/bin/deckhand",
        ],
        "{listing}"
    );
    let state_dir = listing
        .lines()
        .find(|l| l.ends_with(" var/lib/deckhand/"))
        .unwrap_or_else(|| panic!("no var/lib/deckhand/ in the image:\n{listing}"));
    assert!(
        state_dir.contains(&format!(" {IMAGE_UID}/{IMAGE_UID} ")),
        "the state directory belongs to the image's user: {state_dir}"
    );
    let config = ok(
        &mut docker(&[
            "image",
            "inspect",
            "--format",
            "{{.Config.User}}|{{json .Config.Entrypoint}}|{{index .Config.Labels \"org.opencontainers.image.version\"}}",
            image,
        ]),
        "docker image inspect",
    );
    assert_eq!(
        config.trim(),
        format!(
            "{IMAGE_UID}:{IMAGE_UID}|[\"/usr/local/bin/deckhand\"]|{}",
            env!("CARGO_PKG_VERSION")
        )
    );

    let version = ok(
        &mut docker(&[
            "run",
            "--rm",
            "--label",
            &docker_things.label(),
            image,
            "--version",
        ]),
        "deckhand --version in the image",
    );
    assert_eq!(
        version.trim(),
        format!("deckhand {}", env!("CARGO_PKG_VERSION"))
    );

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let registry = registry(&rt, Mode::NoAuth);
    // By name: the static (musl) binary resolves it from the /etc/hosts Docker gives the container.
    let host = registry.host.replace("127.0.0.1", "localhost");
    let repo = checkout(&host, "", "deckhand-in-a-container");
    let root = repo.root.to_str().expect("utf-8 temp path");
    let handover = Handover::new(&repo);
    let volume = format!("{root}:{root}");
    let config = format!("{root}/deckhand.yaml");
    let run = output(
        &mut docker(&[
            "run",
            "--rm",
            "--label",
            &docker_things.label(),
            "--network",
            "host",
            "--user",
            &handover.user,
            "--volume",
            &volume,
            "--env",
            "NO_COLOR=1",
            image,
            "--config",
            &config,
            "sync",
        ]),
        "docker run",
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "deckhand sync in the image: {stderr}");
    assert!(stderr.contains("1 change(s), commit"), "{stderr}");
    // Written by the container's user, not root.
    let written = std::fs::metadata(repo.path("deploy/backend/docker-compose.yml")).expect("stat");
    assert_eq!(
        format!("{}:{}", written.uid(), written.gid()),
        handover.user
    );
    handover.restore();
    assert_synced(&repo, &host, "deckhand-in-a-container");
    drop(registry);
}

#[test]
fn compose_deployment_runs_sync_with_a_secret_from_compose() {
    require_daemon();
    let docker_things = Labelled::new("compose");
    docker_things.build_image();

    // Basic auth: the password reaches deckhand only as the compose secret registry-password.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let registry = registry(&rt, Mode::Basic);
    let repo = checkout(
        &registry.host,
        &format!(", username: {BASIC_USER}, passwordFile: /run/secrets/registry-password"),
        "deckhand-compose",
    );
    let root = repo.root.to_str().expect("utf-8 temp path").to_owned();
    // The config is mounted from outside the checkout, so its paths are absolute (as in
    // compose/deckhand.yaml); the checkout is mounted at the same path.
    let outside = tempfile::tempdir().expect("tempdir");
    let config = repo.read("deckhand.yaml").replace(
        "update: { path: ./deploy }",
        &format!("update: {{ path: {root}/deploy }}"),
    );
    std::fs::write(outside.path().join("deckhand.yaml"), config).expect("write config");
    let secrets = outside.path().join("secrets");
    std::fs::create_dir(&secrets).expect("mkdir secrets");
    // Compose without Swarm bind-mounts secret files as they are: readable by the service's user.
    std::fs::write(secrets.join("registry-password"), BASIC_PASSWORD).expect("write secret");
    std::fs::write(secrets.join("webhook-secret"), "not used by sync").expect("write secret");
    for name in ["registry-password", "webhook-secret"] {
        let path = secrets.join(name);
        let mut mode = std::fs::metadata(&path).expect("stat").permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut mode, 0o644);
        std::fs::set_permissions(&path, mode).expect("chmod");
    }
    // Host networking reaches the registry on loopback; labels on everything compose creates.
    let label = docker_things.run_id.clone();
    let override_file = outside.path().join("test-override.yml");
    std::fs::write(
        &override_file,
        format!(
            "services:\n  deckhand:\n    network_mode: host\n    labels:\n      deckhand.test: \"{label}\"\n\
             volumes:\n  state:\n    labels:\n      deckhand.test: \"{label}\"\n"
        ),
    )
    .expect("write override");

    let handover = Handover::new(&repo);
    let (uid, gid) = handover.user.split_once(':').expect("uid:gid");
    let socket_gid = std::fs::metadata("/var/run/docker.sock")
        .map(|m| m.gid().to_string())
        .expect("stat /var/run/docker.sock");
    let project = format!(
        "deckhand-test-{}",
        label.replace(|c: char| !c.is_ascii_alphanumeric(), "-")
    );
    let compose = |args: &[&str]| {
        let mut cmd = compose_command();
        cmd.arg("--file")
            .arg(manifest_dir().join("compose/docker-compose.yml"))
            .arg("--file")
            .arg(&override_file)
            .args(args)
            .env("COMPOSE_PROJECT_NAME", &project)
            .env("DECKHAND_IMAGE", &docker_things.image)
            .env("DECKHAND_REPOSITORY", &root)
            .env("DECKHAND_UID", uid)
            .env("DECKHAND_GID", gid)
            .env("DOCKER_GID", &socket_gid)
            .env("DECKHAND_CONFIG_FILE", outside.path().join("deckhand.yaml"))
            .env("DECKHAND_SECRETS", &secrets)
            .env("DECKHAND_LOG", "info");
        cmd
    };
    let run = output(
        &mut compose(&[
            "run",
            "--rm",
            "-T",
            "deckhand",
            "--config",
            "/etc/deckhand/deckhand.yaml",
            "sync",
        ]),
        "docker-compose run",
    );
    let _ = compose(&["down", "--volumes"]).output();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        run.status.success(),
        "deckhand sync as the compose service: {stderr}"
    );
    assert!(stderr.contains("1 change(s), commit"), "{stderr}");
    let written = std::fs::metadata(repo.path("deploy/backend/docker-compose.yml")).expect("stat");
    assert_eq!(
        format!("{}:{}", written.uid(), written.gid()),
        handover.user
    );
    handover.restore();
    assert_synced(&repo, &registry.host, "deckhand-compose");
    drop(registry);
}

/// compose/deckhand.yaml, the config the compose deployment ships with, stays valid: loaded with
/// its secrets (under /run/secrets in the container) pointed at files that exist here.
#[test]
fn the_compose_config_is_valid() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("registry-password"), "secret").expect("write secret");
    std::fs::write(dir.path().join("webhook-secret"), "secret").expect("write secret");
    let text = std::fs::read_to_string(manifest_dir().join("compose/deckhand.yaml"))
        .expect("compose/deckhand.yaml")
        .replace("/run/secrets/", &format!("{}/", dir.path().display()));
    let config = deckhand::config::load_str(&manifest_dir().join("compose/deckhand.yaml"), &text)
        .unwrap_or_else(|e| panic!("compose/deckhand.yaml does not load:\n{e}"));
    assert_eq!(
        config.update_path,
        Path::new("/srv/gitops/clusters/production")
    );
}
