//! The digest of a tag: `HEAD /v2/<name>/manifests/<tag>`, with a GET fallback.

use reqwest::Method;
use reqwest::header::HeaderMap;
use sha2::{Digest as _, Sha256};

use super::client::{Call, RegistryClient};
use super::error::RegistryError;
use super::reference;

/// Every manifest type deckhand accepts. All four must be sent: distribution answers 404
/// `MANIFEST_UNKNOWN` for an OCI manifest when the OCI types are missing. Indexes come first
/// so a multi-arch tag yields its index digest, the one `docker pull` pins.
pub(crate) const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
     application/vnd.docker.distribution.manifest.list.v2+json, \
     application/vnd.oci.image.manifest.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json";

const DIGEST_HEADER: &str = "docker-content-digest";

impl RegistryClient {
    /// The manifest digest (`sha256:…`) of `repository:tag`: the index digest for multi-arch
    /// images. Uses `HEAD` (free on Docker Hub); only when the registry sends no
    /// `Docker-Content-Digest` is the manifest fetched and hashed.
    ///
    /// # Errors
    ///
    /// An invalid repository or tag, an HTTP error (with the URL, status and a hint), or a
    /// malformed digest header.
    pub async fn digest(&self, repository: &str, tag: &str) -> Result<String, RegistryError> {
        reference::check_repository(repository).map_err(|reason| {
            RegistryError::InvalidReference {
                image: format!("{}/{repository}", self.host),
                reason,
            }
        })?;
        if !reference::is_valid_tag(tag) {
            return Err(RegistryError::InvalidTag {
                repository: format!("{}/{repository}", self.host),
                tag: tag.to_owned(),
            });
        }
        let url = self.api_url(&format!("{repository}/manifests/{tag}"))?;
        let mut call = Call {
            method: &Method::HEAD,
            url: &url,
            accept: Some(MANIFEST_ACCEPT),
            repository: Some(repository),
            tag: Some(tag),
        };
        let head = self.execute(call).await?;
        if let Some(digest) = header_digest(&head.headers, &url)? {
            return Ok(digest);
        }
        tracing::debug!(%url, "no Docker-Content-Digest on HEAD; hashing the manifest");
        call.method = &Method::GET;
        let get = self.execute(call).await?;
        if let Some(digest) = header_digest(&get.headers, &url)? {
            return Ok(digest);
        }
        Ok(sha256_digest(&get.body))
    }
}

/// The `Docker-Content-Digest` header, checked for the `algorithm:hex` shape.
fn header_digest(headers: &HeaderMap, url: &url::Url) -> Result<Option<String>, RegistryError> {
    let Some(value) = headers.get(DIGEST_HEADER) else {
        return Ok(None);
    };
    let digest = value.to_str().unwrap_or("").trim();
    if is_digest(digest) {
        Ok(Some(digest.to_owned()))
    } else {
        Err(RegistryError::InvalidResponse {
            url: url.to_string(),
            reason: format!(
                "Docker-Content-Digest `{}` is not a digest",
                String::from_utf8_lossy(value.as_bytes())
            ),
        })
    }
}

/// `sha256:<64 hex>` or `sha512:<128 hex>` (lower-case hex).
pub(crate) fn is_digest(s: &str) -> bool {
    let hex = |h: &str, len: usize| {
        h.len() == len
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    match s.split_once(':') {
        Some(("sha256", h)) => hex(h, 64),
        Some(("sha512", h)) => hex(h, 128),
        _ => false,
    }
}

/// `sha256:<hex>` of the exact bytes.
pub(crate) fn sha256_digest(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let hash = Sha256::digest(bytes);
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for byte in hash {
        // Writing to a String cannot fail.
        let _ = write!(out, "{byte:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests() {
        assert_eq!(
            sha256_digest(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert!(is_digest(&sha256_digest(b"x")));
        assert!(is_digest(&format!("sha512:{}", "a".repeat(128))));
        for bad in [
            "",
            "sha256:",
            "sha256:ABC",
            "md5:abcd",
            &format!("sha256:{}", "g".repeat(64)),
        ] {
            assert!(!is_digest(bad), "{bad}");
        }
    }

    #[test]
    fn digest_header() {
        let url = url::Url::parse("http://r/v2/a/manifests/1").unwrap();
        let mut headers = HeaderMap::new();
        assert_eq!(header_digest(&headers, &url).unwrap(), None);
        let good = sha256_digest(b"m");
        headers.insert(DIGEST_HEADER, good.parse().unwrap());
        assert_eq!(header_digest(&headers, &url).unwrap(), Some(good));
        headers.insert(DIGEST_HEADER, "nope".parse().unwrap());
        let err = header_digest(&headers, &url).unwrap_err().to_string();
        assert!(
            err.contains("http://r/v2/a/manifests/1") && err.contains("`nope`"),
            "{err}"
        );
    }

    #[test]
    fn accept_lists_all_four_types() {
        for media_type in [
            "application/vnd.oci.image.index.v1+json",
            "application/vnd.docker.distribution.manifest.list.v2+json",
            "application/vnd.oci.image.manifest.v1+json",
            "application/vnd.docker.distribution.manifest.v2+json",
        ] {
            assert!(MANIFEST_ACCEPT.contains(media_type), "{media_type}");
        }
    }
}
