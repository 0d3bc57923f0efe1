//! Image references (`host:port/namespace/name`) and the OCI name and tag grammar.

use std::fmt;

use super::error::RegistryError;

/// The registry host for Docker Hub images as users write them (`alpine`, `docker.io/x/y`).
pub const DOCKER_HUB: &str = "docker.io";
/// Docker Hub's API host: the host that answers `/v2/`.
pub const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// Hosts that all mean Docker Hub.
const DOCKER_HUB_ALIASES: [&str; 3] = [DOCKER_HUB, "index.docker.io", DOCKER_HUB_API];

/// An image without tag or digest: the registry API host and the repository path on it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageRef {
    /// The host (and port) that serves `/v2/`: `registry-1.docker.io` for Docker Hub.
    pub registry: String,
    /// The repository path, e.g. `library/alpine` or `homelab/web`.
    pub repository: String,
}

impl ImageRef {
    /// Parses an image name as written in a config file: `alpine`, `docker.io/x/y`,
    /// `host:5000/a/b`, `localhost/x`. Docker Hub names are normalised to the API host
    /// `registry-1.docker.io`, and single-component Hub names get the `library/` prefix.
    ///
    /// A scheme (`https://…`), a tag (`repo:tag`) or a digest (`repo@sha256:…`) is rejected:
    /// deckhand decides the tag itself.
    ///
    /// # Errors
    ///
    /// [`RegistryError::InvalidReference`] naming the image and what is wrong with it.
    pub fn parse(image: &str) -> Result<ImageRef, RegistryError> {
        let invalid = |reason: String| RegistryError::InvalidReference {
            image: image.to_owned(),
            reason,
        };
        if image.is_empty() {
            return Err(invalid("the image name is empty".into()));
        }
        if image.contains("://") {
            return Err(invalid(
                "write the image without a scheme (`host/repo`, not `https://host/repo`)".into(),
            ));
        }
        if image.contains('@') {
            return Err(invalid(
                "write the image without a digest: deckhand looks up tags and digests itself"
                    .into(),
            ));
        }

        // The first component is a registry host only when it looks like one (Docker's rule):
        // it has a dot or a port, or it is `localhost`. Otherwise the name is on Docker Hub.
        let (host, path) = match image.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first, rest)
            }
            _ => (DOCKER_HUB, image),
        };
        if path.contains(':') {
            return Err(invalid(
                "write the image without a tag (`repo`, not `repo:tag`): the policy picks the tag"
                    .into(),
            ));
        }
        if let Err(reason) = check_host(host) {
            return Err(invalid(reason));
        }
        let is_hub = DOCKER_HUB_ALIASES
            .iter()
            .any(|alias| host.eq_ignore_ascii_case(alias));
        let repository = if is_hub && !path.contains('/') {
            format!("library/{path}")
        } else {
            path.to_owned()
        };
        if let Err(reason) = check_repository(&repository) {
            return Err(invalid(reason));
        }
        let registry = if is_hub {
            DOCKER_HUB_API.to_owned()
        } else {
            host.to_ascii_lowercase()
        };
        Ok(ImageRef {
            registry,
            repository,
        })
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)
    }
}

/// Maps a Docker Hub alias (`docker.io`, `index.docker.io`) to the API host; other hosts are
/// returned lower-cased.
pub(crate) fn api_host(host: &str) -> String {
    if DOCKER_HUB_ALIASES
        .iter()
        .any(|alias| host.eq_ignore_ascii_case(alias))
    {
        DOCKER_HUB_API.to_owned()
    } else {
        host.to_ascii_lowercase()
    }
}

/// Checks `host[:port]` (or `[v6]:port`): letters, digits, dots and dashes, then digits.
pub(crate) fn check_host(host: &str) -> Result<(), String> {
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        let Some((addr, after)) = rest.split_once(']') else {
            return Err(format!("registry host `{host}` has an unclosed `[`"));
        };
        if addr.is_empty() || !addr.chars().all(|c| c.is_ascii_hexdigit() || c == ':') {
            return Err(format!(
                "registry host `{host}` is not a valid IPv6 address"
            ));
        }
        match after {
            "" => return Ok(()),
            _ => match after.strip_prefix(':') {
                Some(port) => (addr, Some(port)),
                None => return Err(format!("registry host `{host}` has junk after `]`")),
            },
        }
    } else {
        match host.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        }
    };
    if name.is_empty()
        || name.starts_with(['.', '-'])
        || name.ends_with(['.', '-'])
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == ':')
    {
        return Err(format!("registry host `{host}` is not a valid host name"));
    }
    if let Some(port) = port
        && port.parse::<u16>().map_or(true, |p| p == 0)
    {
        return Err(format!(
            "registry host `{host}` has an invalid port `{port}`"
        ));
    }
    Ok(())
}

/// Checks a repository path against the distribution-spec grammar
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`.
pub(crate) fn check_repository(repository: &str) -> Result<(), String> {
    if repository.len() > 255 {
        return Err(format!(
            "repository `{repository}` is longer than 255 characters"
        ));
    }
    for component in repository.split('/') {
        if !is_path_component(component) {
            return Err(format!(
                "repository `{repository}` is not a valid name: components are lower-case \
                 letters and digits, separated by `.`, `_`, `__` or dashes"
            ));
        }
    }
    Ok(())
}

/// One path component: alphanumeric runs joined by `.`, `_`, `__` or `-+`.
fn is_path_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let mut i = 0;
    loop {
        // An alphanumeric run.
        let start = i;
        while i < bytes.len() && alnum(bytes[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == bytes.len() {
            return true;
        }
        // A separator.
        match bytes[i] {
            b'.' => i += 1,
            b'_' => {
                i += if bytes.get(i + 1) == Some(&b'_') {
                    2
                } else {
                    1
                }
            }
            b'-' => {
                while i < bytes.len() && bytes[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
    }
}

/// Checks a tag against `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
pub(crate) fn is_valid_tag(tag: &str) -> bool {
    let bytes = tag.as_bytes();
    match bytes.split_first() {
        Some((first, rest)) => {
            (first.is_ascii_alphanumeric() || *first == b'_')
                && rest.len() <= 127
                && rest
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_normalises() {
        #[rustfmt::skip]
        let cases = [
            // input                                  registry                repository
            ("alpine",                               "registry-1.docker.io", "library/alpine"),
            ("library/alpine",                       "registry-1.docker.io", "library/alpine"),
            ("bitnami/redis",                        "registry-1.docker.io", "bitnami/redis"),
            ("docker.io/alpine",                     "registry-1.docker.io", "library/alpine"),
            ("docker.io/x/y",                        "registry-1.docker.io", "x/y"),
            ("index.docker.io/x/y",                  "registry-1.docker.io", "x/y"),
            ("registry-1.docker.io/x/y",             "registry-1.docker.io", "x/y"),
            ("ghcr.io/owner/app",                    "ghcr.io",              "owner/app"),
            ("192.168.0.40:5000/homelab/web",        "192.168.0.40:5000",    "homelab/web"),
            ("harbor.lan:8443/a/b/c",                "harbor.lan:8443",      "a/b/c"),
            ("Harbor.LAN/team/app",                  "harbor.lan",           "team/app"),
            ("localhost/x",                          "localhost",            "x"),
            ("localhost:5000/x",                     "localhost:5000",       "x"),
            ("127.0.0.1:5000/myorg/app",             "127.0.0.1:5000",       "myorg/app"),
            ("[::1]:5000/x",                         "[::1]:5000",           "x"),
            ("quay.io/a/b__c.d-e---f",               "quay.io",              "a/b__c.d-e---f"),
        ];
        for (input, registry, repository) in cases {
            let got = ImageRef::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(
                (got.registry.as_str(), got.repository.as_str()),
                (registry, repository),
                "{input}"
            );
        }
    }

    #[test]
    fn rejects_with_a_reason_naming_the_image() {
        #[rustfmt::skip]
        let cases = [
            // input                          reason contains
            ("",                              "empty"),
            ("https://harbor.lan/a/b",        "scheme"),
            ("alpine:3.20",                   "tag"),
            ("harbor.lan:5000/a/b:1.0",       "tag"),
            ("alpine@sha256:abcd",            "digest"),
            ("harbor.lan/Team/App",           "not a valid name"),
            ("harbor.lan/a//b",               "not a valid name"),
            ("harbor.lan/a/b/",               "not a valid name"),
            ("harbor.lan/-a",                 "not a valid name"),
            ("harbor.lan/a___b",              "not a valid name"),
            ("harbor.lan/a..b",               "not a valid name"),
            ("harbor.lan:0/a",                "invalid port"),
            ("harbor.lan:http/a",             "invalid port"),
            ("bad_host.lan/a",                "not a valid host"),
        ];
        for (input, reason) in cases {
            let err = ImageRef::parse(input).expect_err(input).to_string();
            assert!(err.contains(reason), "{input}: {err}");
            assert!(err.contains(&format!("`{input}`")), "{input}: {err}");
        }
    }

    #[test]
    fn displays_as_host_and_path() {
        let image = ImageRef::parse("alpine").unwrap();
        assert_eq!(image.to_string(), "registry-1.docker.io/library/alpine");
    }

    #[test]
    fn tag_grammar() {
        for tag in [
            "1.0.0",
            "latest",
            "_x",
            "main-1a2b3c4-1707300000",
            "A.b_c-D",
        ] {
            assert!(is_valid_tag(tag), "{tag}");
        }
        let long = "a".repeat(129);
        for tag in ["", ".x", "-x", "a:b", "a/b", "sha256:abc", long.as_str()] {
            assert!(!is_valid_tag(tag), "{tag}");
        }
        assert!(is_valid_tag(&"a".repeat(128)));
    }

    #[test]
    fn api_host_maps_hub_aliases() {
        assert_eq!(api_host("docker.io"), DOCKER_HUB_API);
        assert_eq!(api_host("Index.Docker.IO"), DOCKER_HUB_API);
        assert_eq!(api_host("Harbor.lan:5000"), "harbor.lan:5000");
    }
}
