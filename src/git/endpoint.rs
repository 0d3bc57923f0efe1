//! What a remote URL points at — a local repository, an SSH host, an HTTP(S) server — and how to
//! show a URL without its password. Pure functions.

use std::path::{Path, PathBuf};

/// Where a remote lives, as far as transport and authentication are concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// A repository on this machine (`file://…` or a path).
    Local(PathBuf),
    /// `ssh://[user@]host[:port]/path` or scp-like `[user@]host:path`.
    Ssh {
        /// Host name or address, without brackets.
        host: String,
        /// Port (22 by default).
        port: u16,
        /// User from the URL.
        user: Option<String>,
    },
    /// `http://` or `https://`.
    Http {
        /// User from the URL.
        user: Option<String>,
    },
    /// Anything else (`git://`, …): no credentials are offered.
    Other,
}

/// Classifies `url`; a relative path is taken relative to `base` (the work tree).
pub(crate) fn classify(url: &str, base: &Path) -> Endpoint {
    if let Some((scheme, _)) = url.split_once("://") {
        let Ok(parsed) = url::Url::parse(url) else {
            return Endpoint::Other;
        };
        let user = Some(parsed.username())
            .filter(|u| !u.is_empty())
            .map(percent_decode);
        return match scheme.to_ascii_lowercase().as_str() {
            "file" => parsed
                .to_file_path()
                .map_or(Endpoint::Other, Endpoint::Local),
            "ssh" | "git+ssh" | "ssh+git" => match parsed.host() {
                Some(host) => Endpoint::Ssh {
                    host: match host {
                        url::Host::Domain(d) => d.to_string(),
                        url::Host::Ipv4(a) => a.to_string(),
                        url::Host::Ipv6(a) => a.to_string(),
                    },
                    port: parsed.port().unwrap_or(22),
                    user,
                },
                None => Endpoint::Other,
            },
            "http" | "https" => Endpoint::Http { user },
            _ => Endpoint::Other,
        };
    }
    // scp-like syntax: a colon before any slash (`git@host:org/repo.git`, `[::1]:repo`).
    if let Some(colon) = scp_colon(url) {
        let (authority, _) = url.split_at(colon);
        let (user, host) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u.to_string()), h),
            None => (None, authority),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        return Endpoint::Ssh {
            host: host.to_string(),
            port: 22,
            user,
        };
    }
    let path = Path::new(url);
    Endpoint::Local(if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    })
}

fn scp_colon(url: &str) -> Option<usize> {
    // A bracketed IPv6 host may contain colons of its own.
    let search_from = if url.starts_with('[') || url.contains("@[") {
        url.find(']')?
    } else {
        0
    };
    let colon = search_from + url[search_from..].find(':')?;
    let slash = url.find('/').unwrap_or(usize::MAX);
    (colon < slash && colon > 0).then_some(colon)
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("u={s}").as_bytes())
        .next()
        .map_or_else(|| s.to_string(), |(_, v)| v.into_owned())
}

/// `url` without a password in it (`https://user:secret@host/x` → `https://user@host/x`).
#[must_use]
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(None);
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ssh(host: &str, port: u16, user: Option<&str>) -> Endpoint {
        Endpoint::Ssh {
            host: host.into(),
            port,
            user: user.map(str::to_string),
        }
    }

    #[test]
    fn urls_are_classified() {
        let base = Path::new("/work/checkout");
        let cases = [
            (
                "file:///srv/git/app.git",
                Endpoint::Local("/srv/git/app.git".into()),
            ),
            (
                "/srv/git/app.git",
                Endpoint::Local("/srv/git/app.git".into()),
            ),
            (
                "../remote.git",
                Endpoint::Local("/work/checkout/../remote.git".into()),
            ),
            (
                "/srv/a:b/app.git",
                Endpoint::Local("/srv/a:b/app.git".into()),
            ),
            (
                "ssh://git@127.0.0.1:2222/srv/app.git",
                ssh("127.0.0.1", 2222, Some("git")),
            ),
            ("ssh://host.lan/app.git", ssh("host.lan", 22, None)),
            ("git+ssh://u@h/x", ssh("h", 22, Some("u"))),
            ("ssh://git@[::1]:2200/x", ssh("::1", 2200, Some("git"))),
            (
                "git@github.com:org/repo.git",
                ssh("github.com", 22, Some("git")),
            ),
            ("host:repo.git", ssh("host", 22, None)),
            ("git@[::1]:repo.git", ssh("::1", 22, Some("git"))),
            (
                "https://gitlab.lan/org/repo.git",
                Endpoint::Http { user: None },
            ),
            (
                "https://bot@gitlab.lan/x",
                Endpoint::Http {
                    user: Some("bot".into()),
                },
            ),
            ("git://host/x", Endpoint::Other),
        ];
        for (url, want) in cases {
            assert_eq!(classify(url, base), want, "{url}");
        }
    }

    #[test]
    fn passwords_are_taken_out_of_urls() {
        assert_eq!(
            redact_url("https://bot:tok3n@gitlab.lan/x.git"),
            "https://bot@gitlab.lan/x.git"
        );
        assert_eq!(redact_url("git@host:x.git"), "git@host:x.git");
        assert_eq!(redact_url("https://host/x"), "https://host/x");
    }
}
