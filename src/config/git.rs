//! The `git:` section: raw serde structs and their validation into [`GitSettings`] — branch,
//! author, remote, push target, SSH and HTTPS credentials, commit signing and the message template.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::ConfigError;
use crate::git::MessageTemplate;
use crate::secret::Secret;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawGit {
    pub branch: Option<String>,
    pub remote: Option<String>,
    pub author: Option<RawAuthor>,
    pub message_template: Option<String>,
    pub push: Option<RawPush>,
    pub ssh_key_file: Option<String>,
    pub known_hosts: Option<String>,
    pub username: Option<String>,
    pub token_file: Option<String>,
    pub token_env: Option<String>,
    pub signing_key: Option<RawSigningKey>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAuthor {
    pub name: Option<String>,
    pub email: String,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPush {
    pub remote: Option<String>,
    pub branch: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawSigningKey {
    pub format: Option<SigningFormat>,
    pub key_file: String,
}

/// Which kind of signature deckhand puts on its commits.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SigningFormat {
    /// An SSH signature made by `ssh-keygen -Y sign` (git's `gpg.format=ssh`).
    Ssh,
    /// An OpenPGP signature made by `gpg` (git's default).
    Openpgp,
}

/// The remote used when nothing names one.
pub const DEFAULT_REMOTE: &str = "origin";

/// Commit, fetch and push settings.
#[derive(Debug, Clone)]
pub struct GitSettings {
    /// Branch to work on; `None` means the checked-out one.
    pub branch: Option<String>,
    /// Author and committer of deckhand's commits.
    pub author: Author,
    /// Commit message template; `None` uses the default message.
    pub message_template: Option<MessageTemplate>,
    /// Where to push; `None` commits locally only.
    pub push: Option<PushSettings>,
    /// The remote whose copy of the branch is fetched and fast-forwarded to before editing;
    /// `None` when neither `git.remote` nor `git.push` is set (a purely local checkout).
    pub remote: Option<String>,
    /// Credentials and host-key checking for the remotes.
    pub auth: GitAuth,
    /// Sign commits with this key.
    pub signing_key: Option<SigningKey>,
    /// Name of the automation, for commit message templates (`deckhand` for `deckhand.yaml`).
    pub automation: String,
}

impl Default for GitSettings {
    fn default() -> Self {
        Self {
            branch: None,
            author: Author::default(),
            message_template: None,
            push: None,
            remote: None,
            auth: GitAuth::default(),
            signing_key: None,
            automation: "deckhand".into(),
        }
    }
}

/// Commit author.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    /// Name (may be empty, as in Flux).
    pub name: String,
    /// Email.
    pub email: String,
}

impl Default for Author {
    fn default() -> Self {
        Self {
            name: "deckhand".into(),
            email: "deckhand@localhost".into(),
        }
    }
}

/// Push target.
#[derive(Debug, Clone)]
pub struct PushSettings {
    /// Remote name (default: `git.remote`, else `origin`).
    pub remote: String,
    /// Remote branch (default: the working branch).
    pub branch: Option<String>,
}

/// How deckhand authenticates to remotes. The token is a [`Secret`]: it never shows in `Debug`.
#[derive(Debug, Clone, Default)]
pub struct GitAuth {
    /// Private key for SSH remotes (without a passphrase); `None` uses `ssh-agent`, then the
    /// default keys in `~/.ssh`.
    pub ssh_key_file: Option<PathBuf>,
    /// known_hosts file for SSH host keys; `None` means `~/.ssh/known_hosts`.
    pub known_hosts: Option<PathBuf>,
    /// User name for SSH (when the URL has none) and HTTPS.
    pub username: Option<String>,
    /// Token (password) for HTTPS remotes.
    pub token: Option<Secret>,
}

/// A key to sign commits with.
#[derive(Debug, Clone)]
pub struct SigningKey {
    /// SSH or OpenPGP.
    pub format: SigningFormat,
    /// SSH: the private key file. OpenPGP: an armored secret key file (as `gpg --export-secret-keys
    /// --armor` writes it), imported into a throw-away keyring for each pass.
    pub key_file: PathBuf,
}

struct Check<'a> {
    file: &'a Path,
    base: &'a Path,
    errors: &'a mut Vec<ConfigError>,
}

impl Check<'_> {
    fn error(&mut self, key: &str, message: impl Into<String>) {
        self.errors.push(ConfigError::Invalid {
            file: self.file.to_path_buf(),
            key: key.to_string(),
            message: message.into(),
        });
    }

    fn resolve(&self, path: &str) -> PathBuf {
        let p = Path::new(path);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base.join(p)
        }
    }

    fn existing_file(&mut self, key: &str, value: &str) -> PathBuf {
        let path = self.resolve(value);
        if !path.is_file() {
            self.error(key, format!("{} is not a readable file", path.display()));
        }
        path
    }

    fn branch(&mut self, key: &str, branch: Option<&str>) {
        if let Some(b) = branch
            && git2::Branch::name_is_valid(b) != Ok(true)
        {
            self.error(key, format!("`{b}` is not a valid branch name"));
        }
    }

    fn remote(&mut self, key: &str, remote: Option<&str>) {
        if let Some(r) = remote
            && !git2::Remote::is_valid_name(r)
        {
            self.error(
                key,
                format!(
                    "`{r}` is not a valid remote name (name a remote of the checkout, e.g. origin)"
                ),
            );
        }
    }
}

/// Validates the `git:` section, pushing every problem onto `errors`.
pub(crate) fn validate(
    file: &Path,
    base: &Path,
    raw: Option<RawGit>,
    errors: &mut Vec<ConfigError>,
) -> GitSettings {
    let mut c = Check { file, base, errors };
    let raw = raw.unwrap_or_default();

    let author = match raw.author {
        None => Author::default(),
        Some(RawAuthor { name, email }) => {
            if email.trim().is_empty() {
                c.error("git.author.email", "must not be empty");
            }
            Author {
                name: name.unwrap_or_default(),
                email,
            }
        }
    };
    c.branch("git.branch", raw.branch.as_deref());
    c.remote("git.remote", raw.remote.as_deref());
    let push = raw.push.map(|p| {
        c.remote("git.push.remote", p.remote.as_deref());
        c.branch("git.push.branch", p.branch.as_deref());
        PushSettings {
            remote: p
                .remote
                .or_else(|| raw.remote.clone())
                .unwrap_or_else(|| DEFAULT_REMOTE.into()),
            branch: p.branch,
        }
    });
    // Fetch from the named remote, else from where the commits are pushed.
    let remote = raw
        .remote
        .clone()
        .or_else(|| push.as_ref().map(|p| p.remote.clone()));

    let ssh_key_file = raw
        .ssh_key_file
        .as_deref()
        .map(|f| c.existing_file("git.sshKeyFile", f));
    let known_hosts = raw
        .known_hosts
        .as_deref()
        .map(|f| c.existing_file("git.knownHosts", f));

    let token = match (raw.token_file, raw.token_env) {
        (Some(_), Some(_)) => {
            c.error("git", "give only one of `tokenFile`, `tokenEnv`");
            None
        }
        (Some(f), None) => {
            let path = c.resolve(&f);
            match std::fs::read_to_string(&path) {
                Ok(text) => Some(Secret::new(text.trim_end_matches(['\r', '\n']))),
                Err(e) => {
                    c.error(
                        "git.tokenFile",
                        format!("cannot read {}: {e}", path.display()),
                    );
                    None
                }
            }
        }
        (None, Some(var)) => match std::env::var(&var) {
            Ok(v) => Some(Secret::new(v)),
            Err(_) => {
                c.error(
                    "git.tokenEnv",
                    format!("environment variable `{var}` is not set"),
                );
                None
            }
        },
        (None, None) => None,
    };

    let signing_key = raw.signing_key.map(|k| SigningKey {
        format: k.format.unwrap_or(SigningFormat::Openpgp),
        key_file: c.existing_file("git.signingKey.keyFile", &k.key_file),
    });

    let message_template = raw.message_template.map(|source| {
        let template = MessageTemplate::Jinja(source);
        if let Err(e) = template.check() {
            c.error("git.messageTemplate", e.to_string());
        }
        template
    });

    GitSettings {
        branch: raw.branch,
        author,
        message_template,
        push,
        remote,
        auth: GitAuth {
            ssh_key_file,
            known_hosts,
            username: raw.username,
            token,
        },
        signing_key,
        automation: "deckhand".into(),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::SigningFormat;
    use crate::config::load_str;

    fn errors(file: &Path, text: &str) -> Vec<String> {
        match load_str(file, text) {
            Ok(c) => panic!("expected errors, got {c:#?}"),
            Err(e) => e.0.iter().map(ToString::to_string).collect(),
        }
    }

    fn assert_error(text: &str, key: &str, needle: &str) {
        let file = Path::new("/etc/deckhand/deckhand.yaml");
        let errs = errors(file, text);
        assert!(
            errs.iter()
                .any(|e| e.starts_with(&format!("{}: {key}: ", file.display()))
                    && e.contains(needle)),
            "no error for {key} containing {needle:?}: {errs:#?}"
        );
    }

    #[test]
    fn the_whole_git_section_loads() {
        let dir = tempfile::tempdir().expect("tempdir");
        for f in ["id_ed25519", "known_hosts", "signing.asc"] {
            std::fs::write(dir.path().join(f), "x").expect("write");
        }
        std::fs::write(dir.path().join("token"), "t0ken-value\n").expect("write");
        let c = load_str(
            &dir.path().join("deckhand.yaml"),
            "git:\n  branch: main\n  remote: upstream\n  push: { branch: review }\n  sshKeyFile: ./id_ed25519\n  knownHosts: ./known_hosts\n  username: bot\n  tokenFile: ./token\n  signingKey: { format: ssh, keyFile: ./signing.asc }\n  messageTemplate: 'Bump {{ images|join(\", \") }}'\n",
        )
        .expect("valid");
        let g = &c.git;
        assert_eq!(g.remote.as_deref(), Some("upstream"));
        let push = g.push.as_ref().expect("push");
        assert_eq!(
            push.remote, "upstream",
            "push.remote defaults to git.remote"
        );
        assert_eq!(push.branch.as_deref(), Some("review"));
        assert_eq!(
            g.auth.ssh_key_file.as_deref(),
            Some(dir.path().join("./id_ed25519").as_path())
        );
        assert_eq!(g.auth.username.as_deref(), Some("bot"));
        assert_eq!(
            g.auth.token.as_ref().map(|t| t.expose()),
            Some("t0ken-value")
        );
        let key = g.signing_key.as_ref().expect("signing key");
        assert_eq!(key.format, SigningFormat::Ssh);
        assert!(g.message_template.is_some());
        assert!(
            !format!("{c:?}").contains("t0ken-value"),
            "the token is redacted"
        );
    }

    #[test]
    fn remotes_default_sensibly() {
        let file = Path::new("/etc/deckhand/deckhand.yaml");
        let c = load_str(file, "git: { push: {} }\n").expect("valid");
        assert_eq!(c.git.remote.as_deref(), Some("origin"));
        assert_eq!(
            c.git.push.as_ref().map(|p| p.remote.as_str()),
            Some("origin")
        );
        let c = load_str(file, "git: { branch: main }\n").expect("valid");
        assert!(c.git.remote.is_none(), "no remote: a local checkout");
        let c = load_str(file, "git: { remote: origin }\n").expect("valid");
        assert_eq!(c.git.remote.as_deref(), Some("origin"));
        assert!(c.git.push.is_none(), "fetch only");
        let c = load_str(file, "git: { signingKey: { keyFile: /etc/hostname } }\n").expect("valid");
        assert_eq!(
            c.git.signing_key.map(|k| k.format),
            Some(SigningFormat::Openpgp)
        );
    }

    #[test]
    fn bad_values_name_their_key() {
        assert_error(
            "git: { push: { branch: 'a..b' } }\n",
            "git.push.branch",
            "a..b",
        );
        assert_error("git: { remote: 'bad name' }\n", "git.remote", "bad name");
        assert_error(
            "git: { push: { remote: 'x y' } }\n",
            "git.push.remote",
            "x y",
        );
        assert_error(
            "git: { sshKeyFile: ./missing-key }\n",
            "git.sshKeyFile",
            "/etc/deckhand/./missing-key",
        );
        assert_error(
            "git: { knownHosts: /nonexistent/kh }\n",
            "git.knownHosts",
            "/nonexistent/kh",
        );
        assert_error(
            "git: { tokenFile: /nonexistent/t, tokenEnv: T }\n",
            "git",
            "only one of `tokenFile`, `tokenEnv`",
        );
        assert_error(
            "git: { tokenEnv: DECKHAND_SURELY_UNSET_VARIABLE }\n",
            "git.tokenEnv",
            "DECKHAND_SURELY_UNSET_VARIABLE",
        );
        assert_error(
            "git: { signingKey: { format: x509, keyFile: /etc/hostname } }\n",
            "git.signingKey.format",
            "x509",
        );
        assert_error(
            "git: { sshkeyfile: x }\n",
            "git.sshkeyfile",
            "unknown field",
        );
        assert_error(
            "git: { messageTemplate: '{% for c in changes %}' }\n",
            "git.messageTemplate",
            "unexpected end of input",
        );
    }
}
