//! The `daemon:` section (`deckhand run`): the raw serde struct and its validated settings.
//!
//! The webhook secret is only *located* here (file or environment variable) and read when the
//! daemon starts, so that `deckhand sync` run by a person who cannot read the service's secret
//! still works.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::duration::parse_go_duration;
use crate::secret::Secret;

/// Default listen address: loopback only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9090";
const DEFAULT_MAX_CONCURRENT_SCANS: usize = 4;
const DEFAULT_MAX_BODY_BYTES: usize = 1 << 20;
const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(600);
const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// `daemon:` exactly as written.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawDaemon {
    /// `ip:port`, or `off` for no listener.
    pub listen: Option<String>,
    pub webhook_secret_file: Option<String>,
    pub webhook_secret_env: Option<String>,
    pub state_dir: Option<String>,
    pub max_concurrent_scans: Option<usize>,
    pub max_body_bytes: Option<usize>,
    pub backoff_max: Option<String>,
    pub shutdown_timeout: Option<String>,
    pub watch: Option<bool>,
}

/// Where the webhook secret comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// A file whose content (without the final newline) is the secret.
    File(PathBuf),
    /// An environment variable.
    Env(String),
}

impl SecretSource {
    /// Reads the secret. The error names the config key and the file or variable.
    pub fn read(&self) -> Result<Secret, String> {
        let secret = match self {
            SecretSource::File(path) => std::fs::read_to_string(path)
                .map_err(|e| {
                    format!(
                        "daemon.webhookSecretFile: cannot read {}: {e}",
                        path.display()
                    )
                })?
                .trim_end_matches(['\r', '\n'])
                .to_string(),
            SecretSource::Env(name) => std::env::var(name).map_err(|_| {
                format!("daemon.webhookSecretEnv: environment variable `{name}` is not set")
            })?,
        };
        if secret.is_empty() {
            return Err(format!("{}: the webhook secret is empty", self.key()));
        }
        Ok(Secret::new(secret))
    }

    fn key(&self) -> &'static str {
        match self {
            SecretSource::File(_) => "daemon.webhookSecretFile",
            SecretSource::Env(_) => "daemon.webhookSecretEnv",
        }
    }
}

/// Validated `daemon:` settings.
#[derive(Debug, Clone)]
pub struct DaemonSettings {
    /// Address of the HTTP listener (webhooks, metrics, health); `None` when `listen: off`.
    pub listen: Option<SocketAddr>,
    /// Where the webhook secret is read from at start.
    pub webhook_secret: Option<SecretSource>,
    /// State directory (absolute); `None` means `$STATE_DIRECTORY`, else `./.deckhand-state`
    /// next to the config file.
    pub state_dir: Option<PathBuf>,
    /// Repository scans in flight at once.
    pub max_concurrent_scans: usize,
    /// Largest webhook body accepted (bytes); larger ones get 413.
    pub max_body_bytes: usize,
    /// Longest wait between retries of a failing repository.
    pub backoff_max: Duration,
    /// How long shutdown waits for an update pass in flight.
    pub shutdown_timeout: Duration,
    /// Watch `update.path` for changes.
    pub watch: bool,
}

impl Default for DaemonSettings {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN.parse().ok(),
            webhook_secret: None,
            state_dir: None,
            max_concurrent_scans: DEFAULT_MAX_CONCURRENT_SCANS,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            backoff_max: DEFAULT_BACKOFF_MAX,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            watch: true,
        }
    }
}

/// Validates `daemon:`; paths resolve against `base`. Errors are `(key, message)` pairs.
pub(crate) fn settings(
    raw: Option<RawDaemon>,
    base: &Path,
) -> Result<DaemonSettings, Vec<(String, String)>> {
    let Some(raw) = raw else {
        return Ok(DaemonSettings::default());
    };
    let mut errors = Vec::new();
    let mut out = DaemonSettings::default();
    let resolve = |p: &str| {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            base.join(p)
        }
    };

    match raw.listen.as_deref() {
        None => {}
        Some("off") => out.listen = None,
        Some(text) => match text.parse::<SocketAddr>() {
            Ok(addr) => out.listen = Some(addr),
            Err(_) => errors.push((
                "daemon.listen".into(),
                format!("`{text}` is not `ip:port` (e.g. 127.0.0.1:9090) or `off`"),
            )),
        },
    }
    out.webhook_secret = match (raw.webhook_secret_file, raw.webhook_secret_env) {
        (Some(_), Some(_)) => {
            errors.push((
                "daemon".into(),
                "give only one of `webhookSecretFile`, `webhookSecretEnv`".into(),
            ));
            None
        }
        (Some(file), None) => Some(SecretSource::File(resolve(&file))),
        (None, Some(var)) => Some(SecretSource::Env(var)),
        (None, None) => None,
    };
    out.state_dir = raw.state_dir.as_deref().map(resolve);
    match raw.max_concurrent_scans {
        Some(0) => errors.push((
            "daemon.maxConcurrentScans".into(),
            "must be at least 1".into(),
        )),
        Some(n) => out.max_concurrent_scans = n,
        None => {}
    }
    match raw.max_body_bytes {
        Some(n) if n < 1024 => errors.push((
            "daemon.maxBodyBytes".into(),
            "must be at least 1024 (a Harbor event is about 1 KiB)".into(),
        )),
        Some(n) => out.max_body_bytes = n,
        None => {}
    }
    for (key, value, slot) in [
        ("daemon.backoffMax", raw.backoff_max, &mut out.backoff_max),
        (
            "daemon.shutdownTimeout",
            raw.shutdown_timeout,
            &mut out.shutdown_timeout,
        ),
    ] {
        if let Some(text) = value {
            match parse_go_duration(&text) {
                Ok(d) if d.is_zero() => errors.push((key.into(), "must be more than 0".into())),
                Ok(d) => *slot = d,
                Err(reason) => errors.push((key.into(), reason)),
            }
        }
    }
    if let Some(watch) = raw.watch {
        out.watch = watch;
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(yaml: &str) -> RawDaemon {
        serde_saphyr::from_str(yaml).expect("raw daemon section")
    }

    #[test]
    fn defaults_bind_loopback() {
        let s = settings(None, Path::new("/etc/deckhand")).expect("defaults");
        assert_eq!(s.listen, Some("127.0.0.1:9090".parse().expect("addr")));
        assert!(s.webhook_secret.is_none());
        assert_eq!(s.max_concurrent_scans, 4);
        assert!(s.watch);
    }

    #[test]
    fn values_and_relative_paths() {
        let s = settings(
            Some(raw(
                "listen: '[::1]:9999'\nwebhookSecretFile: secret\nstateDir: state\n\
                 maxConcurrentScans: 2\nbackoffMax: 1m\nshutdownTimeout: 5s\nwatch: false\n",
            )),
            Path::new("/etc/deckhand"),
        )
        .expect("valid");
        assert_eq!(s.listen, Some("[::1]:9999".parse().expect("addr")));
        assert_eq!(
            s.webhook_secret,
            Some(SecretSource::File("/etc/deckhand/secret".into()))
        );
        assert_eq!(s.state_dir, Some("/etc/deckhand/state".into()));
        assert_eq!(s.max_concurrent_scans, 2);
        assert_eq!(s.backoff_max, Duration::from_secs(60));
        assert_eq!(s.shutdown_timeout, Duration::from_secs(5));
        assert!(!s.watch);
        let off = settings(Some(raw("listen: off\n")), Path::new("/")).expect("valid");
        assert_eq!(off.listen, None);
    }

    #[test]
    fn errors_name_the_key() {
        let errs = settings(
            Some(raw(
                "listen: localhost\nwebhookSecretFile: a\nwebhookSecretEnv: B\n\
                 maxConcurrentScans: 0\nbackoffMax: soon\nmaxBodyBytes: 10\n",
            )),
            Path::new("/"),
        )
        .expect_err("invalid");
        let keys: Vec<&str> = errs.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "daemon.listen",
                "daemon",
                "daemon.maxConcurrentScans",
                "daemon.maxBodyBytes",
                "daemon.backoffMax"
            ]
        );
    }

    #[test]
    fn secret_sources() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("secret");
        std::fs::write(&file, "s3cret\n").expect("write");
        let secret = SecretSource::File(file.clone()).read().expect("read");
        assert_eq!(secret.expose(), "s3cret");
        std::fs::write(&file, "\n").expect("write");
        let empty = SecretSource::File(file).read().expect_err("empty");
        assert!(empty.contains("empty"), "{empty}");
        let missing = SecretSource::File(dir.path().join("nope"))
            .read()
            .expect_err("missing");
        assert!(
            missing.starts_with("daemon.webhookSecretFile: cannot read"),
            "{missing}"
        );
        let unset = SecretSource::Env("DECKHAND_TEST_SURELY_UNSET_VAR".into())
            .read()
            .expect_err("unset");
        assert!(unset.contains("DECKHAND_TEST_SURELY_UNSET_VAR"), "{unset}");
    }
}
