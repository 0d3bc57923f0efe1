//! Docker test support: the real engine (Debian `docker.io`), images built `FROM scratch` with
//! Debian's `busybox-static` and pushed to a test registry, compose stacks brought up by Debian's
//! `docker-compose`. Everything created carries `deckhand.test=<run id>` (plus the owner pid), is
//! removed by its handle's `Drop`, and leftovers of dead test processes are swept at start.

#![allow(dead_code)] // not every test uses every helper

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Once;
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// The label on everything a test creates.
pub const TEST_LABEL: &str = "deckhand.test";
/// The pid of the test process that created it (for the sweep of dead runs).
pub const PID_LABEL: &str = "deckhand.test.pid";
/// Marks this suite's objects (other suites may share the daemon).
pub const OWNER_LABEL: &str = "deckhand.test.owner=rollout";

/// Runs `docker ARGS`, returning the output.
pub fn docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `docker` ({e}): install Debian package docker.io"))
}

/// Runs `docker ARGS` and returns trimmed stdout, panicking with stderr on failure.
pub fn docker_ok(args: &[&str]) -> String {
    let out = docker(args);
    assert!(
        out.status.success(),
        "docker {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Panics (naming the Debian packages) unless a Docker engine answers, `docker-compose` runs
/// and `/bin/busybox` is there; sweeps leftovers of dead test runs once.
pub fn require_docker() {
    let info = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output();
    match info {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!(
            "no Docker engine answers (`docker info`: {}). Install Debian package docker.io and \
             start dockerd (scripts/test.sh does both)",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => panic!("cannot run `docker` ({e}): install Debian package docker.io"),
    }
    let compose = Command::new("docker-compose").arg("version").output();
    assert!(
        compose.is_ok_and(|o| o.status.success()),
        "`docker-compose` does not run: install Debian package docker-compose"
    );
    assert!(
        Path::new("/bin/busybox").is_file(),
        "/bin/busybox is missing: install Debian package busybox-static"
    );
    static SWEEP: Once = Once::new();
    SWEEP.call_once(sweep_dead_runs);
}

fn pid_alive(pid: &str) -> bool {
    Path::new("/proc").join(pid).exists()
}

/// Removes this suite's containers, networks, volumes and images whose creating process is gone.
fn sweep_dead_runs() {
    let filter = format!("label={OWNER_LABEL}");
    let fmt = format!("{{{{.ID}}}} {{{{.Label \"{PID_LABEL}\"}}}}");
    for (kind, list, remove) in [
        ("container", vec!["ps", "-a"], vec!["rm", "-f", "-v"]),
        ("network", vec!["network", "ls"], vec!["network", "rm"]),
        ("volume", vec!["volume", "ls"], vec!["volume", "rm", "-f"]),
        ("image", vec!["image", "ls"], vec!["rmi", "-f"]),
    ] {
        let mut args = list.clone();
        args.extend(["--filter", &filter, "--format", &fmt]);
        let out = docker(&args);
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let mut parts = line.split_whitespace();
            let (Some(id), pid) = (parts.next(), parts.next().unwrap_or("")) else {
                continue;
            };
            if pid.is_empty() || !pid_alive(pid) {
                let mut args = remove.clone();
                args.push(id);
                let _ = docker(&args);
                eprintln!("swept leftover test {kind} {id}");
            }
        }
    }
}

/// A unique id for this test's objects.
pub fn run_id(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("dh{prefix}{}x{nanos:x}", std::process::id())
}

/// The labels every test object gets, as `--label` arguments.
pub fn label_args(run: &str) -> Vec<String> {
    vec![
        "--label".into(),
        format!("{TEST_LABEL}={run}"),
        "--label".into(),
        OWNER_LABEL.into(),
        "--label".into(),
        format!("{PID_LABEL}={}", std::process::id()),
    ]
}

/// The same labels as a YAML flow mapping, for compose files.
pub fn label_yaml(run: &str) -> String {
    format!(
        "{{ \"{TEST_LABEL}\": \"{run}\", \"{}\": \"rollout\", \"{PID_LABEL}\": \"{}\" }}",
        OWNER_LABEL.split('=').next().unwrap(),
        std::process::id()
    )
}

/// Test images `127.0.0.1:<port>/deckhand-test/<name>:<tag>`, built from busybox and pushed;
/// removed from the engine on drop (the registry goes with its own handle).
pub struct Images {
    dir: TempDir,
    pub run: String,
    built: Vec<String>,
}

/// What an image does.
#[derive(Debug, Clone, Copy)]
pub struct ImageKind {
    /// Written to `/www/version`.
    pub version: &'static str,
    /// Whether its healthcheck passes (`None`: no healthcheck at all).
    pub healthy: Option<bool>,
}

impl Images {
    pub fn new(run: &str) -> Images {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::copy("/bin/busybox", dir.path().join("busybox"))
            .expect("copy /bin/busybox (Debian package busybox-static)");
        Images {
            dir,
            run: run.to_string(),
            built: Vec::new(),
        }
    }

    /// Builds and pushes `reference` (a full `host/repo:tag`). The image serves `/www` on port
    /// 8080 with `version` (its version) and `greeting` (`$GREETING`), and writes both at start.
    pub fn build_and_push(&mut self, reference: &str, kind: ImageKind) {
        self.build_and_push_as(reference, kind, None);
    }

    /// [`Images::build_and_push`], pushing with `docker --config DIR` (a dir holding a
    /// `docker login`), so the engine's global docker config is never touched.
    pub fn build_and_push_as(&mut self, reference: &str, kind: ImageKind, config: Option<&Path>) {
        let healthcheck = match kind.healthy {
            None => "HEALTHCHECK NONE".to_string(),
            Some(ok) => format!(
                "HEALTHCHECK --interval=1s --timeout=1s --retries=2 CMD [\"/bin/sh\", \"-c\", \
                 \"test {} = yes && wget -q -O /dev/null http://127.0.0.1:8080/version\"]",
                if ok { "yes" } else { "no" }
            ),
        };
        // The run's labels come first so no build step is shared with another test's images
        // (removing those in their Drop must not pull layers from under this build), and so a
        // failed build's container is swept like everything else.
        let dockerfile = format!(
            "FROM scratch\n\
             LABEL {TEST_LABEL}={run} {OWNER_LABEL} {PID_LABEL}={pid}\n\
             COPY busybox /bin/busybox\n\
             RUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n\
             ENV APP_VERSION={version}\n\
             {healthcheck}\n\
             STOPSIGNAL SIGKILL\n\
             CMD [\"/bin/sh\", \"-c\", \"mkdir -p /www && echo \\\"$APP_VERSION\\\" > /www/version && \
             echo \\\"$GREETING\\\" > /www/greeting && exec httpd -f -p 8080 -h /www\"]\n",
            version = kind.version,
            run = self.run,
            pid = std::process::id(),
        );
        let file = self
            .dir
            .path()
            .join(format!("Dockerfile.{}", self.built.len()));
        std::fs::write(&file, dockerfile).unwrap();
        let mut args: Vec<String> = vec!["build".into(), "-q".into()];
        args.extend(label_args(&self.run));
        args.extend([
            "-f".into(),
            file.display().to_string(),
            "-t".into(),
            reference.into(),
            self.dir.path().display().to_string(),
        ]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        docker_ok(&args);
        match config {
            Some(dir) => docker_ok(&["--config", dir.to_str().unwrap(), "push", "-q", reference]),
            None => docker_ok(&["push", "-q", reference]),
        };
        self.built.push(reference.to_string());
    }

    /// Removes the local copy of `reference`, so a rollout must pull it.
    pub fn forget(&self, reference: &str) {
        let _ = docker(&["rmi", "-f", reference]);
    }
}

impl Drop for Images {
    fn drop(&mut self) {
        for r in &self.built {
            let _ = docker(&["rmi", "-f", r]);
        }
    }
}

/// A compose stack in its own directory and project, torn down (containers, networks, volumes)
/// on drop, plus any extra containers the test started.
pub struct Stack {
    dir: PathBuf,
    _tmp: Option<TempDir>,
    pub project: String,
    pub run: String,
    extra: Vec<String>,
}

impl Stack {
    /// Writes `compose` as `docker-compose.yml` in a fresh directory.
    pub fn new(run: &str, compose: &str) -> Stack {
        let tmp = tempfile::tempdir().expect("temp dir");
        std::fs::write(tmp.path().join("docker-compose.yml"), compose).unwrap();
        Stack {
            dir: tmp.path().to_path_buf(),
            _tmp: Some(tmp),
            project: run.to_string(),
            run: run.to_string(),
            extra: Vec::new(),
        }
    }

    /// A stack whose `docker-compose.yml` is already in `dir` (a git checkout, say).
    pub fn at(run: &str, dir: &Path) -> Stack {
        Stack {
            dir: dir.to_path_buf(),
            _tmp: None,
            project: run.to_string(),
            run: run.to_string(),
            extra: Vec::new(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn file(&self) -> PathBuf {
        self.dir.join("docker-compose.yml")
    }

    pub fn write_file(&self, compose: &str) {
        std::fs::write(self.file(), compose).unwrap();
    }

    /// Runs `docker-compose -p <project> ARGS` in the stack's directory.
    pub fn compose(&self, args: &[&str]) -> Output {
        Command::new("docker-compose")
            .args(["-p", &self.project])
            .args(args)
            .current_dir(&self.dir)
            .output()
            .expect("run docker-compose (Debian package docker-compose)")
    }

    pub fn compose_ok(&self, args: &[&str]) -> String {
        let out = self.compose(args);
        assert!(
            out.status.success(),
            "docker-compose {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Ids of the service's containers as `docker-compose ps -q` lists them.
    pub fn ps(&self, service: &str) -> Vec<String> {
        self.compose_ok(&["ps", "-q", service])
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Starts a labelled container outside compose (`docker run -d ARGS`); removed on drop.
    pub fn run_detached(&mut self, args: &[&str]) -> String {
        let mut all: Vec<String> = vec!["run".into(), "-d".into()];
        all.extend(label_args(&self.run));
        all.extend(args.iter().map(|s| (*s).to_string()));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        let id = docker_ok(&all);
        self.extra.push(id.clone());
        id
    }

    /// `docker run --rm` a labelled one-off container and returns its stdout (or the error).
    pub fn run_once(&self, args: &[&str]) -> Result<String, String> {
        let mut all: Vec<String> = vec!["run".into(), "--rm".into()];
        all.extend(label_args(&self.run));
        all.extend(args.iter().map(|s| (*s).to_string()));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        let out = docker(&all);
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
        }
    }

    /// Every container of the project (any state): `(id, name, image, running)`.
    pub fn containers(&self) -> Vec<(String, String, String, bool)> {
        let filter = format!("label=com.docker.compose.project={}", self.project);
        let ids = docker_ok(&["ps", "-aq", "--no-trunc", "--filter", &filter]);
        ids.lines()
            .map(|id| {
                let info = docker_ok(&[
                    "inspect",
                    "--format",
                    "{{.Name}}|{{.Config.Image}}|{{.State.Running}}",
                    id,
                ]);
                let mut parts = info.split('|');
                (
                    id.to_string(),
                    parts.next().unwrap().trim_start_matches('/').to_string(),
                    parts.next().unwrap().to_string(),
                    parts.next() == Some("true"),
                )
            })
            .collect()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        for id in &self.extra {
            let _ = docker(&["rm", "-f", "-v", id]);
        }
        let _ = self.compose(&["down", "-v", "--remove-orphans", "-t", "1"]);
        // Anything of this run compose did not know about (a replacement left by a failure).
        let filter = format!("label={TEST_LABEL}={}", self.run);
        let ids = docker(&["ps", "-aq", "--filter", &filter]);
        for id in String::from_utf8_lossy(&ids.stdout).lines() {
            let _ = docker(&["rm", "-f", "-v", id]);
        }
        for kind in ["network", "volume"] {
            let ids = docker(&[kind, "ls", "-q", "--filter", &filter]);
            for id in String::from_utf8_lossy(&ids.stdout).lines() {
                let _ = docker(&[kind, "rm", id]);
            }
        }
    }
}

/// GET `url`, with retries until `deadline` for a container that is starting.
pub fn http_get(url: &str, deadline: Duration) -> Result<String, String> {
    let start = Instant::now();
    loop {
        let out = Command::new("curl")
            .args(["-sf", "--max-time", "2", url])
            .output()
            .map_err(|e| format!("cannot run curl: {e}"))?;
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).trim().to_string());
        }
        if start.elapsed() > deadline {
            return Err(format!("GET {url} failed for {deadline:?}"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
