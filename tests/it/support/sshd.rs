//! A real OpenSSH server (Debian `openssh-server`) on a free loopback port, with its own config,
//! a throw-away host key and a throw-away user key in a temp dir. It serves git over SSH the
//! usual way (the client runs `git-upload-pack` / `git-receive-pack`). Killed on drop, by its own
//! child handle.
#![allow(dead_code)]

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::registry::free_port;

const SSHD: &str = "/usr/sbin/sshd";

/// A running sshd.
pub struct Sshd {
    child: Child,
    dir: tempfile::TempDir,
    /// The port on 127.0.0.1.
    pub port: u16,
    /// The user to log in as (the one running the tests).
    pub user: String,
    /// The host's public key line (`ssh-ed25519 AAAA…`).
    pub host_key: String,
}

fn keygen(path: &Path, comment: &str) {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
        .arg(path)
        .output()
        .unwrap_or_else(|e| panic!("ssh-keygen is needed (apt-get install openssh-client): {e}"));
    assert!(out.status.success(), "ssh-keygen: {out:?}");
}

impl Sshd {
    /// Starts sshd accepting the user key [`Sshd::user_key`].
    pub fn start() -> Self {
        assert!(
            Path::new(SSHD).exists(),
            "{SSHD} is needed for the SSH tests (apt-get install openssh-server)"
        );
        // sshd insists on its privilege separation directory, which only the package's service
        // would create.
        if !Path::new("/run/sshd").exists() {
            std::fs::create_dir_all("/run/sshd").unwrap_or_else(|e| {
                panic!("sshd needs /run/sshd (mkdir -p /run/sshd as root): {e}")
            });
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        keygen(&d.join("host_ed25519"), "deckhand-test-host");
        keygen(&d.join("user_ed25519"), "deckhand-test-user");
        std::fs::copy(d.join("user_ed25519.pub"), d.join("authorized_keys"))
            .expect("authorized_keys");
        let host_key = std::fs::read_to_string(d.join("host_ed25519.pub"))
            .expect("host key")
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ");
        let user = String::from_utf8(
            Command::new("id")
                .arg("-un")
                .output()
                .expect("id -un")
                .stdout,
        )
        .expect("user name")
        .trim()
        .to_string();
        for _ in 0..5 {
            let port = free_port();
            std::fs::write(
                d.join("sshd_config"),
                format!(
                    "Port {port}\nListenAddress 127.0.0.1\nHostKey {host}\nPidFile {pid}\n\
                     AuthorizedKeysFile {keys}\nStrictModes no\nPubkeyAuthentication yes\n\
                     PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n\
                     PermitRootLogin prohibit-password\nAllowUsers {user}\nLogLevel VERBOSE\n",
                    host = d.join("host_ed25519").display(),
                    pid = d.join("sshd.pid").display(),
                    keys = d.join("authorized_keys").display(),
                ),
            )
            .expect("sshd_config");
            let log = std::fs::File::create(d.join("sshd.log")).expect("log");
            let mut child = Command::new(SSHD)
                .args(["-D", "-e", "-f"])
                .arg(d.join("sshd_config"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {SSHD}: {e}"));
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Self {
                        child,
                        dir,
                        port,
                        user,
                        host_key,
                    };
                }
                if let Ok(Some(_)) = child.try_wait() {
                    break; // exited: most likely the port was taken; try another
                }
                assert!(
                    Instant::now() < deadline,
                    "sshd did not listen on {port}: {}",
                    std::fs::read_to_string(d.join("sshd.log")).unwrap_or_default()
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!(
            "sshd did not start: {}",
            std::fs::read_to_string(d.join("sshd.log")).unwrap_or_default()
        );
    }

    /// The private key sshd accepts.
    pub fn user_key(&self) -> PathBuf {
        self.dir.path().join("user_ed25519")
    }

    /// A known_hosts line for this server.
    pub fn known_hosts_line(&self) -> String {
        format!("[127.0.0.1]:{} {}\n", self.port, self.host_key)
    }

    /// `ssh://user@127.0.0.1:port/<path>`.
    pub fn url(&self, path: &Path) -> String {
        format!(
            "ssh://{}@127.0.0.1:{}{}",
            self.user,
            self.port,
            path.display()
        )
    }

    /// What sshd logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
