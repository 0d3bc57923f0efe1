//! Commit message templates and signed commits: SSH signatures (`ssh-keygen -Y sign`) and
//! OpenPGP signatures (`gpg`), verified by `git verify-commit` — and refused by it with the
//! wrong allowed-signers file or keyring, so the check means something.

use std::path::Path;
use std::process::Command;

use crate::support::instance::{Instance, Tags, config, marker_file};
use crate::support::remote::Remote;

fn remote_with_app() -> Remote {
    Remote::new("main", &[("deploy/app.yaml", &marker_file("app", 0))])
}

fn instance(remote: &Remote, tags: &Tags, git: &str) -> Instance {
    let i = Instance::new(remote.clone_as("host-a"));
    i.write_config(&config(
        tags.host(),
        &i.clone.path("deploy"),
        &["app"],
        &format!(
            "  branch: main\n  author: {{ name: Deckhand Bot, email: bot@example.org }}\n  push: {{ remote: origin }}\n{git}"
        ),
    ));
    i
}

/// `git verify-commit HEAD` in `dir` with extra config and environment; whether it verified.
fn verify(dir: &Path, config: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir).env("GIT_CONFIG_NOSYSTEM", "1");
    for c in config {
        cmd.args(["-c", c]);
    }
    cmd.args(["verify-commit", "-v", "HEAD"]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("git verify-commit");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn keygen(path: &Path) -> String {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "bot", "-f"])
        .arg(path)
        .output()
        .expect("ssh-keygen (apt-get install openssh-client)");
    assert!(out.status.success(), "{out:?}");
    let public = std::fs::read_to_string(path.with_extension("pub")).expect("pub");
    public
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn ssh_signed_commits_verify_with_the_allowed_signers_file() {
    let tags = Tags::start(&["app"], 1);
    let remote = remote_with_app();
    let scratch = tempfile::tempdir().expect("tempdir");
    let key = scratch.path().join("signing");
    let public = keygen(&key);
    let a = instance(
        &remote,
        &tags,
        &format!(
            "  signingKey: {{ format: ssh, keyFile: {} }}\n",
            key.display()
        ),
    );
    let run = a.sync(&[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        a.clone.head(),
        remote.tip("main"),
        "the signed commit was pushed"
    );
    let raw = a.clone.git(&["cat-file", "commit", "HEAD"]);
    assert!(
        raw.contains("gpgsig -----BEGIN SSH SIGNATURE-----"),
        "{raw}"
    );

    let allowed = scratch.path().join("allowed_signers");
    std::fs::write(
        &allowed,
        format!("bot@example.org namespaces=\"git\" {public}\n"),
    )
    .expect("allowed signers");
    let allowed_cfg = format!("gpg.ssh.allowedSignersFile={}", allowed.display());
    let (ok, why) = verify(&a.clone.root, &["gpg.format=ssh", &allowed_cfg], &[]);
    assert!(ok, "verify-commit: {why}");
    assert!(
        why.contains("Good \"git\" signature for bot@example.org"),
        "{why}"
    );

    // Another key in the allowed-signers file: the same commit does not verify.
    let stranger = keygen(&scratch.path().join("stranger"));
    std::fs::write(
        &allowed,
        format!("bot@example.org namespaces=\"git\" {stranger}\n"),
    )
    .expect("allowed signers");
    let (ok, why) = verify(&a.clone.root, &["gpg.format=ssh", &allowed_cfg], &[]);
    assert!(!ok, "verified with the wrong key: {why}");
}

/// Throw-away GnuPG homes; the agents gpg starts for them are stopped on drop.
struct GnupgHomes(Vec<tempfile::TempDir>);

impl GnupgHomes {
    fn new(n: usize) -> Self {
        Self(
            (0..n)
                .map(|_| tempfile::tempdir().expect("gnupg home"))
                .collect(),
        )
    }

    fn gpg(&self, i: usize, args: &[&str]) -> Vec<u8> {
        let out = Command::new("gpg")
            .arg("--homedir")
            .arg(self.0[i].path())
            .args(["--batch", "--pinentry-mode", "loopback", "--passphrase", ""])
            .args(args)
            .output()
            .expect("gpg (apt-get install gnupg)");
        assert!(out.status.success(), "gpg {args:?}: {out:?}");
        out.stdout
    }

    fn path(&self, i: usize) -> String {
        self.0[i].path().display().to_string()
    }
}

impl Drop for GnupgHomes {
    fn drop(&mut self) {
        for home in &self.0 {
            let _ = Command::new("gpgconf")
                .arg("--homedir")
                .arg(home.path())
                .args(["--kill", "gpg-agent"])
                .status();
        }
    }
}

#[test]
fn openpgp_signed_commits_verify_with_the_public_key() {
    let tags = Tags::start(&["app"], 1);
    let remote = remote_with_app();
    // 0: where the key is made, 1: a keyring with only its public key, 2: an empty keyring.
    let homes = GnupgHomes::new(3);
    homes.gpg(
        0,
        &[
            "--quick-gen-key",
            "Deckhand Bot <bot@example.org>",
            "ed25519",
            "sign",
            "never",
        ],
    );
    let scratch = tempfile::tempdir().expect("tempdir");
    let secret = scratch.path().join("signing.asc");
    std::fs::write(
        &secret,
        homes.gpg(0, &["--armor", "--export-secret-keys", "bot@example.org"]),
    )
    .expect("secret key");
    let public = scratch.path().join("public.asc");
    std::fs::write(
        &public,
        homes.gpg(0, &["--armor", "--export", "bot@example.org"]),
    )
    .expect("public key");
    homes.gpg(1, &["--import", public.to_str().expect("utf-8")]);

    let a = instance(
        &remote,
        &tags,
        &format!(
            "  signingKey: {{ format: openpgp, keyFile: {} }}\n",
            secret.display()
        ),
    );
    let run = a.sync(&[]);
    assert_eq!(run.code, 0, "{run:?}");
    let raw = a.clone.git(&["cat-file", "commit", "HEAD"]);
    assert!(
        raw.contains("gpgsig -----BEGIN PGP SIGNATURE-----"),
        "{raw}"
    );

    let (ok, why) = verify(&a.clone.root, &[], &[("GNUPGHOME", &homes.path(1))]);
    assert!(ok, "verify-commit: {why}");
    assert!(
        why.contains("Good signature from \"Deckhand Bot <bot@example.org>\""),
        "{why}"
    );
    let (ok, why) = verify(&a.clone.root, &[], &[("GNUPGHOME", &homes.path(2))]);
    assert!(!ok, "verified without the key: {why}");
}

#[test]
fn a_signing_failure_is_reported_and_nothing_unsigned_is_committed() {
    let tags = Tags::start(&["app"], 1);
    let remote = remote_with_app();
    let scratch = tempfile::tempdir().expect("tempdir");
    let not_a_key = scratch.path().join("not-a-key");
    std::fs::write(&not_a_key, "this is not a key\n").expect("write");
    let a = instance(
        &remote,
        &tags,
        &format!(
            "  signingKey: {{ format: ssh, keyFile: {} }}\n",
            not_a_key.display()
        ),
    );
    let head = a.clone.head();
    let run = a.sync(&[]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("cannot sign the commit")
            && run.stderr.contains(&not_a_key.display().to_string()),
        "{run:?}"
    );
    assert_eq!(a.clone.head(), head);
    assert_eq!(remote.tip("main"), head);
    // The edit is undone, so the next pass (with a working key) makes it again.
    assert_eq!(a.clone.status(), "", "{run:?}");
    assert!(run.stderr.contains("put back as they were"), "{run:?}");
}

#[test]
fn the_message_template_renders_the_changes() {
    let tags = Tags::start(&["app"], 1);
    let remote = remote_with_app();
    let template = r#"  messageTemplate: |
    chore({{ automation }}): {{ images|join(", ") }}

    {% for c in changes -%}
    {{ c.file }}:{{ c.line }} {{ c.field }} of {{ c.image }}: {{ c.old }} → {{ c.new }} ({{ c.policy }})
    {% endfor %}
    branch {{ branch }}; files {{ files|join(",") }}; policies {{ policies|join(",") }}
"#;
    let a = instance(&remote, &tags, template);
    let run = a.sync(&[]);
    assert_eq!(run.code, 0, "{run:?}");
    let host = tags.host();
    assert_eq!(
        a.clone.git(&["log", "-1", "--format=%B"]),
        format!(
            "chore(deckhand): {host}/race/app:v1\n\n\
             deploy/app.yaml:3 tag of {host}/race/app: v0 → v1 (flux-system:app)\n\n\
             branch main; files deploy/app.yaml; policies flux-system:app\n\n"
        )
    );
}

#[test]
fn a_broken_message_template_is_a_config_error() {
    let tags = Tags::start(&["app"], 1);
    let remote = remote_with_app();
    let a = instance(
        &remote,
        &tags,
        "  messageTemplate: 'Update {{ chnages|length }}'\n",
    );
    let run = a.sync(&[]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains(&format!(
            "{}: git.messageTemplate: undefined value",
            a.config.display()
        )),
        "{run:?}"
    );
    assert_eq!(remote.subjects("main"), ["initial"]);
}
