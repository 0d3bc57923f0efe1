//! Credentials and host-key checks for one connection to a remote.
//!
//! libgit2 calls the credentials callback again and again while a server rejects what it is
//! given; the callback here offers each credential once and then gives up with a reason. The
//! reason (not libgit2's generic message) is what the user sees, and it never holds a secret.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use git2::{CertificateCheckStatus, Cred, CredentialType, RemoteCallbacks};

use super::endpoint::{Endpoint, redact_url};
use super::known_hosts::{self, Verdict};
use crate::config::GitAuth;

/// More calls than this for one connection means the server keeps refusing.
const MAX_CREDENTIAL_CALLS: u32 = 6;

/// The user name offered when neither the URL nor `git.username` names one.
const DEFAULT_USER: &str = "git";

/// What to authenticate as, for one remote.
pub(crate) struct Auth<'a> {
    settings: &'a GitAuth,
    endpoint: Endpoint,
    url: String,
}

/// What happened during one connection, for the error message.
#[derive(Debug, Default)]
pub(crate) struct AuthState {
    calls: u32,
    ssh_keys_offered: usize,
    token_offered: bool,
    /// Why deckhand refused or gave up (host key, credentials), in words without secrets.
    pub failure: Option<String>,
}

#[derive(Debug, Clone)]
enum SshKey {
    Agent,
    File(PathBuf),
}

impl std::fmt::Display for SshKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Agent => f.write_str("the keys in ssh-agent"),
            Self::File(p) => write!(f, "the key {}", p.display()),
        }
    }
}

impl<'a> Auth<'a> {
    pub(crate) fn new(settings: &'a GitAuth, endpoint: Endpoint, url: &str) -> Self {
        Self {
            settings,
            endpoint,
            url: redact_url(url),
        }
    }

    /// The URL as it may be shown.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// The SSH keys to offer, in order: the configured file; else ssh-agent (when running), then
    /// the default key files in `~/.ssh`.
    fn ssh_keys(&self) -> Vec<SshKey> {
        if let Some(file) = &self.settings.ssh_key_file {
            return vec![SshKey::File(file.clone())];
        }
        let mut keys = Vec::new();
        if std::env::var_os("SSH_AUTH_SOCK").is_some() {
            keys.push(SshKey::Agent);
        }
        if let Some(home) = std::env::var_os("HOME") {
            for name in ["id_ed25519", "id_ecdsa", "id_rsa"] {
                let p = Path::new(&home).join(".ssh").join(name);
                if p.is_file() {
                    keys.push(SshKey::File(p));
                }
            }
        }
        keys
    }

    fn known_hosts_file(&self) -> Option<PathBuf> {
        self.settings.known_hosts.clone().or_else(|| {
            std::env::var_os("HOME").map(|h| Path::new(&h).join(".ssh").join("known_hosts"))
        })
    }

    /// Callbacks for one connection; `state` records why it failed, if it does.
    pub(crate) fn callbacks<'cb>(
        &'cb self,
        state: &'cb RefCell<AuthState>,
    ) -> RemoteCallbacks<'cb> {
        let mut cb = RemoteCallbacks::new();
        cb.credentials(move |_url, user_from_url, allowed| {
            let mut st = state.borrow_mut();
            self.credential(&mut st, user_from_url, allowed)
                .map_err(|reason| {
                    st.failure.get_or_insert(reason.clone());
                    git2::Error::from_str(&reason)
                })
        });
        cb.certificate_check(move |cert, _host| {
            let Some(hostkey) = cert.as_hostkey() else {
                // TLS: libgit2's own verification against the system's CAs decides.
                return Ok(CertificateCheckStatus::CertificatePassthrough);
            };
            match self.check_host_key(hostkey) {
                Ok(()) => Ok(CertificateCheckStatus::CertificateOk),
                Err(reason) => {
                    state.borrow_mut().failure = Some(reason.clone());
                    Err(git2::Error::from_str(&reason))
                }
            }
        });
        cb
    }

    fn user<'u>(&'u self, from_url: Option<&'u str>) -> &'u str {
        from_url
            .filter(|u| !u.is_empty())
            .or(self.settings.username.as_deref())
            .unwrap_or(DEFAULT_USER)
    }

    fn credential(
        &self,
        st: &mut AuthState,
        user_from_url: Option<&str>,
        allowed: CredentialType,
    ) -> Result<Cred, String> {
        st.calls += 1;
        if st.calls > MAX_CREDENTIAL_CALLS {
            return Err(format!(
                "authentication failed after {MAX_CREDENTIAL_CALLS} attempts"
            ));
        }
        let user = self.user(user_from_url);
        if allowed.contains(CredentialType::USERNAME) {
            return Cred::username(user).map_err(|e| e.message().to_string());
        }
        if allowed.contains(CredentialType::SSH_KEY) {
            let keys = self.ssh_keys();
            let Some(key) = keys.get(st.ssh_keys_offered).cloned() else {
                return Err(if keys.is_empty() {
                    "no SSH key to offer: set git.sshKeyFile, or run ssh-agent with a key".into()
                } else {
                    let tried: Vec<String> = keys.iter().map(ToString::to_string).collect();
                    format!(
                        "the server refused {} for user `{user}` (a key with a passphrase must be loaded into ssh-agent)",
                        tried.join(", ")
                    )
                });
            };
            st.ssh_keys_offered += 1;
            tracing::debug!(url = %self.url, %user, "offering {key}");
            return match &key {
                SshKey::Agent => Cred::ssh_key_from_agent(user),
                SshKey::File(path) => Cred::ssh_key(user, None, path, None),
            }
            .map_err(|e| format!("cannot use {key}: {}", e.message()));
        }
        if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
            let Some(token) = &self.settings.token else {
                return Err(
                    "the server asks for credentials: set git.username and git.tokenFile (or git.tokenEnv)"
                        .into(),
                );
            };
            if st.token_offered {
                return Err(format!("the server refused the token for user `{user}`"));
            }
            st.token_offered = true;
            return Cred::userpass_plaintext(user, token.expose())
                .map_err(|e| e.message().to_string());
        }
        Err(format!(
            "the server asks for a kind of authentication deckhand does not offer ({allowed:?})"
        ))
    }

    fn check_host_key(&self, hostkey: &git2::cert::CertHostkey<'_>) -> Result<(), String> {
        let Endpoint::Ssh { host, port, .. } = &self.endpoint else {
            return Err("an SSH host key from a remote that is not an SSH URL".into());
        };
        let name = known_hosts::host_entry_name(host, *port);
        let Some(key) = hostkey.hostkey() else {
            return Err(format!("{name} presented no host key"));
        };
        let kind = known_hosts::blob_key_type(key).unwrap_or("unknown-type");
        let fp = hostkey
            .hash_sha256()
            .map_or_else(String::new, |h| known_hosts::fingerprint(h));
        let Some(file) = self.known_hosts_file() else {
            return Err(format!(
                "cannot check the host key of {name} ({kind} {fp}): HOME is not set; set git.knownHosts"
            ));
        };
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(format!("cannot read {}: {e}", file.display())),
        };
        let shown = file.display();
        match known_hosts::check(&text, host, *port, key) {
            Verdict::Known => Ok(()),
            Verdict::Unknown(types) => Err(format!(
                "the host key of {name} ({kind} {fp}) is not in {shown}{}; deckhand does not trust unknown hosts — check the fingerprint, then add it (e.g. `ssh-keyscan -p {port} {host} >> {shown}`)",
                if types.is_empty() {
                    String::new()
                } else {
                    format!(" (it lists only {} keys for this host)", types.join(", "))
                }
            )),
            Verdict::Mismatch(lines) => Err(format!(
                "HOST KEY MISMATCH for {name}: the server presented {kind} {fp}, but {shown} (line {}) lists a different key; someone may be intercepting the connection, or the host key changed — deckhand refuses to connect",
                lines
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            Verdict::Revoked(line) => Err(format!(
                "the host key of {name} ({kind} {fp}) is marked @revoked in {shown} (line {line})"
            )),
        }
    }

    /// The message for a failed operation: deckhand's own reason when it has one, else libgit2's
    /// with any secret taken out.
    pub(crate) fn describe(&self, state: &RefCell<AuthState>, error: &git2::Error) -> String {
        if let Some(reason) = &state.borrow().failure {
            return reason.clone();
        }
        self.scrub(error.message())
    }

    /// Removes the token and URL passwords from text that came from elsewhere.
    pub(crate) fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        if let Some(token) = &self.settings.token
            && !token.expose().is_empty()
        {
            out = out.replace(token.expose(), "<redacted>");
        }
        out.split(' ')
            .map(|word| {
                if word.contains("://") {
                    redact_url(word)
                } else {
                    word.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}
