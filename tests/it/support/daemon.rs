//! Runs the real `deckhand run` binary in the background and talks HTTP to it (a tiny HTTP/1.1
//! client over `TcpStream`, so the tests share nothing with the server's code).

#![allow(dead_code)] // not every test uses every helper

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// A `deckhand run` process, killed on drop.
pub struct Daemon {
    child: Child,
    /// Its listen port.
    pub port: u16,
    log: PathBuf,
    _dir: TempDir,
}

impl Daemon {
    /// Starts `deckhand run ARGS` in `dir` (whose `deckhand.yaml` must listen on `port`).
    pub fn start(dir: &Path, port: u16, args: &[&str]) -> Daemon {
        let logdir = tempfile::tempdir().expect("tempdir");
        let log = logdir.path().join("daemon.log");
        let file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_deckhand"))
            .arg("run")
            .args(args)
            .current_dir(dir)
            .env_remove("DECKHAND_CONFIG")
            .env_remove("STATE_DIRECTORY")
            .env("DECKHAND_LOG", "info,deckhand=debug")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("spawn deckhand run");
        Daemon {
            child,
            port,
            log,
            _dir: logdir,
        }
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until `/readyz` answers 200 (every repository scanned once).
    pub fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("deckhand run exited with {status}:\n{}", self.log());
            }
            if let Ok((200, _)) = self.try_request("GET", "/readyz", &[], "") {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "deckhand run not ready after 30 s:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// An HTTP request; panics when the daemon does not answer.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, String) {
        self.try_request(method, path, headers, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}\n{}", self.log()))
    }

    fn try_request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> std::io::Result<(u16, String)> {
        http(self.port, method, path, headers, body)
    }

    /// `POST /hooks/…` with `Authorization: Bearer <secret>` (unless `secret` is `None`).
    pub fn hook(&self, path: &str, secret: Option<&str>, body: &str) -> (u16, String) {
        let auth = secret.map(|s| format!("Bearer {s}"));
        let mut headers = vec![("Content-Type", "application/json")];
        if let Some(a) = &auth {
            headers.push(("Authorization", a));
        }
        self.request("POST", path, &headers, body)
    }

    /// Sends SIGTERM and waits for the exit (at most `within`).
    pub fn terminate(&mut self, within: Duration) -> ExitStatus {
        signal(self.child.id(), "TERM");
        self.wait(within)
    }

    /// Waits for the process to exit.
    pub fn wait(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "deckhand run did not exit within {within:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, and reap.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `SIG<name>` to `pid` with the shell's `kill` builtin (no procps needed).
pub fn signal(pid: u32, name: &str) {
    let status = Command::new("sh")
        .args(["-c", &format!("kill -{name} {pid}")])
        .status()
        .expect("run sh -c kill");
    assert!(status.success(), "kill -{name} {pid}");
}

/// A minimal HTTP/1.1 exchange on 127.0.0.1:`port` (`Connection: close`).
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;
    // A server may answer (413, 401) before reading a large body and close: that is fine.
    let _ = stream.write_all(body.as_bytes());
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no HTTP status in {text:?}")))?;
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    Ok((status, body))
}

/// Polls `check` every 50 ms until it is true, for at most `within`; panics with `what` and the
/// daemon's log otherwise.
pub fn eventually(daemon: &Daemon, within: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(
            Instant::now() < deadline,
            "{what}: not within {within:?}\n--- daemon log ---\n{}",
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
