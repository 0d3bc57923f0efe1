//! The registry module's error type and the hints attached to HTTP statuses.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::StatusCode;

/// Everything that can go wrong talking to a registry. Each variant names the URL (or the image,
/// host or file) it is about; HTTP failures carry the status and a hint on what to check.
/// Passwords and tokens never appear in these messages.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The image name does not parse.
    #[error("invalid image `{image}`: {reason}")]
    InvalidReference {
        /// The image as written.
        image: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A tag that does not match the OCI tag grammar.
    #[error("invalid tag `{tag}` for {repository}: a tag is [A-Za-z0-9_][A-Za-z0-9._-]{{0,127}}")]
    InvalidTag {
        /// The repository the tag was asked for.
        repository: String,
        /// The tag.
        tag: String,
    },

    /// The registry host given to [`super::RegistryClient::new`] is not `host[:port]`.
    #[error("invalid registry host `{host}`: {reason}")]
    InvalidHost {
        /// The host as given.
        host: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The `ca_file` could not be read.
    #[error("cannot read the CA file {} for {host}", path.display())]
    CaFile {
        /// The registry host.
        host: String,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },

    /// The `ca_file` holds no usable PEM certificate.
    #[error("the CA file {} for {host} holds no usable PEM certificate", path.display())]
    CaCert {
        /// The registry host.
        host: String,
        /// The file.
        path: PathBuf,
        /// What the TLS layer said.
        #[source]
        source: reqwest::Error,
    },

    /// The HTTP client could not be built (TLS setup).
    #[error("cannot set up the HTTP client for {host}")]
    ClientSetup {
        /// The registry host.
        host: String,
        /// What reqwest said.
        #[source]
        source: reqwest::Error,
    },

    /// The registry answered with an error status (after any retries).
    #[error("registry {url} answered {status}{detail}: {hint}")]
    Status {
        /// The request URL.
        url: String,
        /// The final status.
        status: StatusCode,
        /// The registry's own error codes, e.g. ` (NAME_UNKNOWN: repository name not known)`,
        /// or empty.
        detail: String,
        /// What to check.
        hint: String,
    },

    /// The token service answered with an error status.
    #[error("token service {url} answered {status}{detail}: {hint}")]
    TokenStatus {
        /// The token request URL (realm, service and scopes; never credentials).
        url: String,
        /// The status.
        status: StatusCode,
        /// The body's error text, if any, e.g. ` (unauthorized)`, or empty.
        detail: String,
        /// What to check.
        hint: String,
    },

    /// No TCP/TLS connection could be made.
    #[error("cannot connect to {url}: {hint}")]
    Connect {
        /// The request URL.
        url: String,
        /// What to check.
        hint: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },

    /// The request ran into the per-request timeout (after any retries).
    #[error(
        "request to {url} timed out after {timeout:?} (the registry's per-request `timeout`); \
         gave up after {attempts} attempts"
    )]
    Timeout {
        /// The request URL.
        url: String,
        /// The per-request timeout in force.
        timeout: Duration,
        /// How many attempts were made.
        attempts: u32,
    },

    /// Any other transport failure (body read, protocol error).
    #[error("request to {url} failed")]
    Request {
        /// The request URL.
        url: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },

    /// The registry or token service answered 2xx with something unusable.
    #[error("{url} sent an unusable response: {reason}")]
    InvalidResponse {
        /// The request URL.
        url: String,
        /// What is wrong with the response.
        reason: String,
    },

    /// The token realm is plain HTTP but the registry is not marked `insecure`.
    #[error(
        "refusing to send the credentials for {host} over plain HTTP to the token service {url}: \
         mark the registry `insecure` if that is intended"
    )]
    InsecureRealm {
        /// The registry host.
        host: String,
        /// The realm.
        url: String,
    },

    /// The `Link` chain of a tag listing looped or ran past the page budget.
    #[error("tag listing {url} did not end: {reason}")]
    Pagination {
        /// The page URL where the problem showed.
        url: String,
        /// The loop or the budget.
        reason: String,
    },
}

/// What a status hint may mention about the request that failed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HintContext<'a> {
    /// The registry host (`host:port`).
    pub host: &'a str,
    /// The repository, unless this was the `/v2/` probe.
    pub repository: Option<&'a str>,
    /// The tag, for manifest requests.
    pub tag: Option<&'a str>,
    /// The user name in use, if any credentials are.
    pub user: Option<&'a str>,
    /// Whether credentials of any kind were configured.
    pub has_credentials: bool,
    /// Whether a bearer token was sent.
    pub bearer: bool,
    /// How many attempts were made.
    pub attempts: u32,
}

/// A hint for an error status from the registry.
pub(crate) fn status_hint(status: StatusCode, cx: &HintContext<'_>) -> String {
    let host = cx.host;
    let who = match cx.user {
        Some(user) => format!(" (user `{user}`)"),
        None => String::new(),
    };
    let repo = cx.repository.unwrap_or("");
    match status.as_u16() {
        401 if !cx.has_credentials => {
            format!("the registry requires authentication: configure credentials for {host}")
        }
        401 if cx.bearer => format!(
            "credentials rejected or lacking pull permission: check the credentials for \
             {host}{who}; Harbor's token service issues a token without scopes even for wrong \
             credentials, so a rejection shows only here"
        ),
        401 => format!("check the credentials for {host}{who}"),
        403 if cx.user.is_some() || cx.has_credentials => format!(
            "the account{who} needs pull and list permissions on the repository `{repo}` on {host}"
        ),
        403 => format!("anonymous access to `{repo}` is denied: configure credentials for {host}"),
        404 => match (cx.repository, cx.tag) {
            (None, _) => format!("no registry API (/v2/) at {host}: check the registry host"),
            (Some(repo), Some(tag)) => {
                format!("check the repository name `{repo}` and that the tag `{tag}` exists")
            }
            (Some(repo), None) => format!("check the repository name `{repo}`"),
        },
        429 => format!(
            "rate limited by {host}; gave up after {} attempts",
            cx.attempts
        ),
        500..=599 => format!(
            "the registry failed; gave up after {} attempts",
            cx.attempts
        ),
        _ => "unexpected answer from the registry".to_owned(),
    }
}

/// Formats the codes and messages of a registry error body
/// (`{"errors":[{"code":…,"message":…}]}`) as ` (CODE: message; …)`, or empty.
pub(crate) fn error_detail(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Body {
        #[serde(default)]
        errors: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    let Ok(body) = serde_json::from_slice::<Body>(body) else {
        return String::new();
    };
    let parts: Vec<String> = body
        .errors
        .iter()
        .take(3)
        .map(|e| match (e.code.is_empty(), e.message.is_empty()) {
            (false, false) => format!("{}: {}", e.code, e.message),
            (false, true) => e.code.clone(),
            _ => e.message.clone(),
        })
        .filter(|s| !s.is_empty())
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cx<'a>() -> HintContext<'a> {
        HintContext {
            host: "127.0.0.1:5000",
            repository: Some("myorg/app"),
            tag: None,
            user: None,
            has_credentials: false,
            bearer: false,
            attempts: 1,
        }
    }

    #[test]
    fn hints_name_host_user_and_repository() {
        let anon = cx();
        let basic = HintContext {
            user: Some("testuser"),
            has_credentials: true,
            ..cx()
        };
        let robot = HintContext {
            user: Some("robot$myorg+ci"),
            has_credentials: true,
            bearer: true,
            ..cx()
        };
        #[rustfmt::skip]
        let cases = [
            (401, anon,  "configure credentials for 127.0.0.1:5000"),
            (401, basic, "check the credentials for 127.0.0.1:5000 (user `testuser`)"),
            (401, robot, "credentials rejected or lacking pull permission"),
            (403, robot, "`robot$myorg+ci`) needs pull and list permissions on the repository `myorg/app`"),
            (403, anon,  "anonymous access to `myorg/app` is denied"),
            (404, anon,  "check the repository name `myorg/app`"),
            (404, HintContext { tag: Some("1.0"), ..anon }, "that the tag `1.0` exists"),
            (404, HintContext { repository: None, ..anon }, "no registry API"),
            (429, HintContext { attempts: 4, ..anon }, "rate limited by 127.0.0.1:5000; gave up after 4 attempts"),
            (502, anon,  "the registry failed"),
        ];
        for (status, context, want) in cases {
            let hint = status_hint(StatusCode::from_u16(status).unwrap(), &context);
            assert!(hint.contains(want), "{status}: {hint}");
        }
    }

    #[test]
    fn error_body_detail() {
        let body = br#"{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry","detail":{"name":"x"}}]}"#;
        assert_eq!(
            error_detail(body),
            " (NAME_UNKNOWN: repository name not known to registry)"
        );
        assert_eq!(error_detail(b"not json"), "");
        assert_eq!(error_detail(br#"{"errors":[]}"#), "");
        assert_eq!(
            error_detail(br#"{"errors":[{"code":"DENIED"}]}"#),
            " (DENIED)"
        );
    }
}
