//! Commit signatures, made by the same tools git uses: `ssh-keygen -Y sign` for SSH signatures
//! (git's `gpg.format=ssh`) and `gpg` for OpenPGP. The OpenPGP key is imported into a throw-away
//! keyring for the pass, whose gpg-agent is stopped when the signer is dropped.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::GitError;
use crate::config::{SigningFormat, SigningKey};

/// Signs commit contents with one key; reuse it for every commit of a pass.
pub struct Signer {
    format: SigningFormat,
    key_file: PathBuf,
    keyring: Option<Keyring>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("format", &self.format)
            .field("key_file", &self.key_file)
            .finish_non_exhaustive()
    }
}

/// A temporary GnuPG home holding the imported key.
struct Keyring {
    home: tempfile::TempDir,
    fingerprint: String,
}

impl Drop for Keyring {
    fn drop(&mut self) {
        // gpg started an agent for this home; stop exactly that one.
        let _ = Command::new("gpgconf")
            .arg("--homedir")
            .arg(self.home.path())
            .args(["--kill", "gpg-agent"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn sign_error(message: impl Into<String>) -> GitError {
    GitError::Sign {
        message: message.into(),
    }
}

/// Runs `program args`, feeding `input`; returns stdout, or an error naming the tool and its
/// complaint.
fn run(program: &str, args: &[&std::ffi::OsStr], input: &[u8]) -> Result<Vec<u8>, GitError> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            let package = if program == "gpg" {
                "gnupg"
            } else {
                "openssh-client"
            };
            sign_error(format!("cannot run {program} (install {package}): {e}"))
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input)
            .map_err(|e| sign_error(format!("cannot feed {program}: {e}")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| sign_error(format!("{program} failed: {e}")))?;
    if !out.status.success() {
        return Err(sign_error(format!(
            "{program} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(out.stdout)
}

impl Signer {
    /// A signer for `key`; nothing runs until the first signature.
    #[must_use]
    pub fn new(key: &SigningKey) -> Self {
        Self {
            format: key.format,
            key_file: key.key_file.clone(),
            keyring: None,
        }
    }

    /// The armored signature of `content` (a commit object without signature).
    pub fn sign(&mut self, content: &[u8]) -> Result<String, GitError> {
        let signature = match self.format {
            SigningFormat::Ssh => run(
                "ssh-keygen",
                &[
                    "-Y".as_ref(),
                    "sign".as_ref(),
                    "-n".as_ref(),
                    "git".as_ref(),
                    "-f".as_ref(),
                    self.key_file.as_os_str(),
                ],
                content,
            )
            .map_err(|e| self.name_key(e))?,
            SigningFormat::Openpgp => {
                let keyring = self.keyring()?;
                run(
                    "gpg",
                    &[
                        "--homedir".as_ref(),
                        keyring.home.path().as_os_str(),
                        "--batch".as_ref(),
                        "--no-tty".as_ref(),
                        "--pinentry-mode".as_ref(),
                        "loopback".as_ref(),
                        "--passphrase".as_ref(),
                        "".as_ref(),
                        "--armor".as_ref(),
                        "--detach-sign".as_ref(),
                        "--local-user".as_ref(),
                        keyring.fingerprint.as_ref(),
                    ],
                    content,
                )
                .map_err(|e| self.name_key(e))?
            }
        };
        String::from_utf8(signature).map_err(|_| sign_error("the signature is not text"))
    }

    fn name_key(&self, e: GitError) -> GitError {
        match e {
            GitError::Sign { message } => sign_error(format!(
                "{message} (git.signingKey.keyFile {})",
                self.key_file.display()
            )),
            other => other,
        }
    }

    fn keyring(&mut self) -> Result<&Keyring, GitError> {
        if self.keyring.is_none() {
            let keyring = import(&self.key_file).map_err(|e| self.name_key(e))?;
            self.keyring = Some(keyring);
        }
        self.keyring
            .as_ref()
            .ok_or_else(|| sign_error("no keyring"))
    }
}

fn import(key_file: &Path) -> Result<Keyring, GitError> {
    let home = tempfile::Builder::new()
        .prefix("deckhand-gpg-")
        .tempdir()
        .map_err(|e| sign_error(format!("cannot make a keyring directory: {e}")))?;
    // Owned by a Keyring from here on, so that its agent is stopped even when the import fails.
    let mut keyring = Keyring {
        home,
        fingerprint: String::new(),
    };
    let home_arg = keyring.home.path().as_os_str().to_owned();
    run(
        "gpg",
        &[
            "--homedir".as_ref(),
            &home_arg,
            "--batch".as_ref(),
            "--quiet".as_ref(),
            "--import".as_ref(),
            key_file.as_os_str(),
        ],
        b"",
    )?;
    let listing = run(
        "gpg",
        &[
            "--homedir".as_ref(),
            &home_arg,
            "--batch".as_ref(),
            "--with-colons".as_ref(),
            "--list-secret-keys".as_ref(),
        ],
        b"",
    )?;
    let listing = String::from_utf8_lossy(&listing);
    // The first `fpr` record after the first `sec` record is the primary key's fingerprint.
    keyring.fingerprint = listing
        .lines()
        .skip_while(|l| !l.starts_with("sec:"))
        .find(|l| l.starts_with("fpr:"))
        .and_then(|l| l.split(':').nth(9))
        .filter(|f| !f.is_empty())
        .map(str::to_string)
        .ok_or_else(|| sign_error("the file holds no OpenPGP secret key"))?;
    Ok(keyring)
}
