//! Authenticating to remotes: SSH to a real sshd with a key file or ssh-agent and host keys
//! checked against known_hosts (unknown and changed keys refused), and smart HTTP (git's own
//! `http-backend`) with a user and a token — which never shows in the output.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use base64::Engine as _;

use crate::support::bin::Run;
use crate::support::http_git::GitHttp;
use crate::support::instance::{Instance, Tags, config, marker_file, marker_value};
use crate::support::remote::Remote;
use crate::support::sshd::Sshd;

fn remote_with_app() -> Remote {
    Remote::new(
        "main",
        &[
            ("deploy/app.yaml", &marker_file("app", 0)),
            ("notes.txt", "notes\n"),
        ],
    )
}

/// An instance whose `origin` is `url`, with `git` settings after the push target.
fn instance(remote: &Remote, tags: &Tags, url: &str, git: &str) -> Instance {
    let i = Instance::new(remote.clone_as("host-a"));
    i.clone.git(&["remote", "set-url", "origin", url]);
    i.write_config(&config(
        tags.host(),
        &i.clone.path("deploy"),
        &["app"],
        &format!("  branch: main\n  author: {{ name: deckhand-bot, email: bot@example.org }}\n  push: {{ remote: origin }}\n{git}"),
    ));
    i
}

fn output(run: &Run) -> String {
    format!("{}\n{}", run.stdout, run.stderr)
}

#[test]
fn pushes_over_ssh_with_a_key_file_checked_against_known_hosts() {
    let sshd = Sshd::start();
    let tags = Tags::start(&["app"], 1);
    let remote = remote_with_app();
    let scratch = tempfile::tempdir().expect("tempdir");
    let known_hosts = scratch.path().join("known_hosts");
    std::fs::write(&known_hosts, sshd.known_hosts_line()).expect("known_hosts");
    let a = instance(
        &remote,
        &tags,
        &sshd.url(&remote.bare),
        &format!(
            "  sshKeyFile: {}\n  knownHosts: {}\n",
            sshd.user_key().display(),
            known_hosts.display()
        ),
    );
    remote
        .clone_as("A Person")
        .commit_and_push("notes.txt", "by a person\n", "a person's change");

    let run = a.sync(&["-vv"]);
    assert_eq!(run.code, 0, "{run:?}\nsshd: {}", sshd.log());
    assert_eq!(
        remote.subjects("main"),
        [
            "Update 1 image reference (flux-system:app)",
            "a person's change",
            "initial"
        ]
    );
    assert_eq!(a.clone.head(), remote.tip("main"));
    assert!(
        sshd.log().contains("Accepted publickey"),
        "sshd saw the key: {}",
        sshd.log()
    );
    let key = std::fs::read_to_string(sshd.user_key()).expect("key");
    let key_body = key.lines().nth(1).expect("key body");
    assert!(!output(&run).contains(key_body));

    // Hashed host names (`HashKnownHosts yes`) are matched too.
    let hashed = Command::new("ssh-keygen")
        .arg("-H")
        .arg("-f")
        .arg(&known_hosts)
        .output()
        .expect("ssh-keygen -H");
    assert!(hashed.status.success(), "{hashed:?}");
    let text = std::fs::read_to_string(&known_hosts).expect("known_hosts");
    assert!(text.starts_with("|1|"), "{text}");
    tags.add("app", 2);
    let run = a.sync(&[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(marker_value(&remote.show("main", "deploy/app.yaml")), 2);
    remote.assert_never_forced("main");
}

/// `ssh-agent -D` on a socket in `dir`, stopped on drop by its own handle.
struct Agent {
    child: Child,
    socket: String,
}

impl Agent {
    fn start(dir: &Path, key: &Path) -> Self {
        let socket = dir.join("agent.sock").display().to_string();
        let child = Command::new("ssh-agent")
            .args(["-D", "-a", &socket])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ssh-agent (apt-get install openssh-client)");
        for _ in 0..200 {
            if Path::new(&socket).exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let added = Command::new("ssh-add")
            .arg(key)
            .env("SSH_AUTH_SOCK", &socket)
            .output()
            .expect("ssh-add");
        assert!(added.status.success(), "{added:?}");
        Self { child, socket }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn ssh_agent_keys_are_offered_when_no_key_file_is_set() {
    let sshd = Sshd::start();
    let tags = Tags::start(&["app"], 1);
    let remote = remote_with_app();
    let scratch = tempfile::tempdir().expect("tempdir");
    let known_hosts = scratch.path().join("known_hosts");
    std::fs::write(&known_hosts, sshd.known_hosts_line()).expect("known_hosts");
    let agent = Agent::start(scratch.path(), &sshd.user_key());
    let a = instance(
        &remote,
        &tags,
        &sshd.url(&remote.bare),
        &format!("  knownHosts: {}\n", known_hosts.display()),
    );
    let run = a.sync_env(&[], &[("SSH_AUTH_SOCK", &agent.socket)]);
    assert_eq!(run.code, 0, "{run:?}\nsshd: {}", sshd.log());
    assert_eq!(marker_value(&remote.show("main", "deploy/app.yaml")), 1);
}

#[test]
fn unknown_and_changed_host_keys_are_refused() {
    let sshd = Sshd::start();
    let tags = Tags::start(&["app"], 1);
    let remote = remote_with_app();
    let scratch = tempfile::tempdir().expect("tempdir");
    let known_hosts = scratch.path().join("known_hosts");
    let settings = format!(
        "  sshKeyFile: {}\n  knownHosts: {}\n",
        sshd.user_key().display(),
        known_hosts.display()
    );
    let a = instance(&remote, &tags, &sshd.url(&remote.bare), &settings);
    let tip = remote.tip("main");

    // Unknown: the file lists another host only.
    std::fs::write(&known_hosts, format!("elsewhere.lan {}\n", sshd.host_key))
        .expect("known_hosts");
    let run = a.sync(&[]);
    assert_eq!(run.code, 1, "{run:?}");
    let name = format!("[127.0.0.1]:{}", sshd.port);
    assert!(
        run.stderr
            .contains(&format!("the host key of {name} (ssh-ed25519 SHA256:"))
            && run
                .stderr
                .contains(&format!("is not in {}", known_hosts.display()))
            && run
                .stderr
                .contains(&format!("ssh-keyscan -p {} 127.0.0.1", sshd.port)),
        "{run:?}"
    );
    assert!(!sshd.log().contains("Accepted publickey"), "{}", sshd.log());

    // Changed: the file lists a different key for this very host.
    let other = scratch.path().join("other");
    let made = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&other)
        .output()
        .expect("ssh-keygen");
    assert!(made.status.success());
    let other_key = std::fs::read_to_string(other.with_extension("pub")).expect("pub");
    let other_key: Vec<&str> = other_key.split_whitespace().take(2).collect();
    std::fs::write(&known_hosts, format!("{name} {}\n", other_key.join(" "))).expect("write");
    let run = a.sync(&[]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .contains(&format!("HOST KEY MISMATCH for {name}")),
        "{run:?}"
    );

    // No knownHosts setting and no ~/.ssh/known_hosts: unknown, not accepted.
    a.write_config(
        &std::fs::read_to_string(&a.config)
            .expect("config")
            .replace(&format!("  knownHosts: {}\n", known_hosts.display()), ""),
    );
    let run = a.sync(&[]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains(".ssh/known_hosts") && run.stderr.contains("is not in"),
        "{run:?}"
    );

    assert_eq!(remote.tip("main"), tip);
    assert_eq!(marker_value(&a.clone.read("deploy/app.yaml")), 0);
}

#[test]
fn a_refused_key_gives_up_after_a_bounded_number_of_attempts() {
    let sshd = Sshd::start();
    let tags = Tags::start(&["app"], 1);
    let remote = remote_with_app();
    let scratch = tempfile::tempdir().expect("tempdir");
    let known_hosts = scratch.path().join("known_hosts");
    std::fs::write(&known_hosts, sshd.known_hosts_line()).expect("known_hosts");
    let stranger = scratch.path().join("stranger");
    let made = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&stranger)
        .output()
        .expect("ssh-keygen");
    assert!(made.status.success());
    let a = instance(
        &remote,
        &tags,
        &sshd.url(&remote.bare),
        &format!(
            "  sshKeyFile: {}\n  knownHosts: {}\n",
            stranger.display(),
            known_hosts.display()
        ),
    );
    // The runner's deadline turns an endless credential loop into a failure.
    let run = a.sync(&[]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains(&format!(
            "the server refused the key {} for user `{}`",
            stranger.display(),
            sshd.user
        )),
        "{run:?}"
    );
}

const TOKEN: &str = "tok-3f9a-Secret-7c1e";

struct HttpWorld {
    server: GitHttp,
    runtime: tokio::runtime::Runtime,
}

fn http_world(remote: &Remote, token: &str) -> HttpWorld {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let root = remote.bare.parent().expect("parent").to_path_buf();
    let server = runtime.block_on(GitHttp::start(root, "bot", token));
    HttpWorld { server, runtime }
}

fn assert_no_secret(run: &Run, secret: &str) {
    let text = output(run);
    assert!(!text.contains(secret), "the secret leaked: {text}");
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("bot:{secret}"));
    assert!(!text.contains(&b64), "the encoded secret leaked: {text}");
}

#[test]
fn pushes_over_http_with_a_token_that_never_reaches_the_output() {
    let tags = Tags::start(&["app"], 1);
    let remote = remote_with_app();
    let world = http_world(&remote, TOKEN);
    let scratch = tempfile::tempdir().expect("tempdir");
    let token_file = scratch.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).expect("token");
    let url = format!("{}/remote.git", world.server.base);
    let a = instance(
        &remote,
        &tags,
        &url,
        &format!("  username: bot\n  tokenFile: {}\n", token_file.display()),
    );

    let run = a.sync(&["-vv", "--output", "json"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(marker_value(&remote.show("main", "deploy/app.yaml")), 1);
    assert_eq!(a.clone.head(), remote.tip("main"));
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("bot:{TOKEN}"))
    );
    assert!(
        world
            .server
            .authorizations()
            .contains(&Some(expected.clone())),
        "the token was sent"
    );
    assert_no_secret(&run, TOKEN);

    // The same token from an environment variable.
    a.write_config(
        &std::fs::read_to_string(&a.config).expect("config").replace(
            &format!("tokenFile: {}", token_file.display()),
            "tokenEnv: DECKHAND_TEST_GIT_TOKEN",
        ),
    );
    tags.add("app", 2);
    let run = a.sync_env(&["-vv"], &[("DECKHAND_TEST_GIT_TOKEN", TOKEN)]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(marker_value(&remote.show("main", "deploy/app.yaml")), 2);
    assert_no_secret(&run, TOKEN);
    remote.assert_never_forced("main");
    drop(world.runtime);
}

#[test]
fn a_wrong_token_is_refused_once_and_never_shown() {
    let tags = Tags::start(&["app"], 1);
    let remote = remote_with_app();
    let world = http_world(&remote, TOKEN);
    let wrong = "wrong-Secret-0000";
    let url = format!("{}/remote.git", world.server.base);
    let a = instance(
        &remote,
        &tags,
        &url,
        "  username: bot\n  tokenEnv: WRONG_TOKEN\n",
    );
    let tip = remote.tip("main");

    let run = a.sync_env(&["-vv"], &[("WRONG_TOKEN", wrong)]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .contains("the server refused the token for user `bot`"),
        "{run:?}"
    );
    assert_no_secret(&run, wrong);
    let tries = world
        .server
        .authorizations()
        .iter()
        .filter(|a| a.is_some())
        .count();
    assert!(
        (1..=2).contains(&tries),
        "bounded: {tries} authenticated tries"
    );
    assert_eq!(remote.tip("main"), tip);
    assert_eq!(marker_value(&a.clone.read("deploy/app.yaml")), 0);
    drop(world.runtime);
}

#[test]
fn a_password_in_the_remote_url_is_never_shown() {
    let tags = Tags::start(&["app"], 1);
    let remote = remote_with_app();
    let world = http_world(&remote, TOKEN);
    let in_url = "url-Secret-4242";
    let url = world
        .server
        .base
        .replace("http://", &format!("http://bot:{in_url}@"));
    let a = instance(&remote, &tags, &format!("{url}/remote.git"), "");
    let run = a.sync(&["-vv"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains(&format!(
            "{}/remote.git",
            world.server.base.replace("http://", "http://bot@")
        )),
        "the URL is named, without its password: {run:?}"
    );
    assert!(
        run.stderr.contains("set git.username and git.tokenFile"),
        "{run:?}"
    );
    assert_no_secret(&run, in_url);
    drop(world.runtime);
}
