//! Harbor's REST API extras: tags with their push times in one paged call.
//!
//! ```text
//! GET /api/v2.0/systeminfo                                   → is this a Harbor? (probed once)
//! GET /api/v2.0/projects/{project}/repositories/{repo}/artifacts?with_tag=true&page=N&page_size=100
//! ```
//!
//! The repository name is URL-encoded twice (`team/app` → `team%252Fapp`). Pages are built
//! from `page` and `X-Total-Count`, never from Harbor's `Link` header (its query is written
//! unescaped). A tag's push time is `tags[].push_time`: a re-tag moves a tag onto another
//! artifact, so the artifact's own `push_time` is not the tag's. Harbor takes Basic auth on its
//! API, robot accounts (`robot$project+name`) included.

use std::collections::HashMap;
use std::fmt::Write as _;

use reqwest::header::ACCEPT;
use reqwest::{Method, StatusCode};
use serde::Deserialize;

use super::client::{Credentials, RegistryClient};
use super::error::{RegistryError, error_detail};
use super::reference;
use crate::policy::{PushTimes, parse_rfc3339};

/// Harbor's maximum page size.
const PAGE_SIZE: usize = 100;
/// At most this many pages (100,000 artifacts).
const MAX_PAGES: usize = 1000;

/// A repository's tags, with push times when the registry gives them.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    /// Every tag, each once.
    pub tags: Vec<String>,
    /// Push time per tag (Harbor only).
    pub push_times: Option<PushTimes>,
    /// Why Harbor's API was not used although the host looked like a Harbor (`harbor: auto`).
    pub harbor_error: Option<String>,
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// `homelab/team/app` → (`homelab`, `team%252Fapp`): the project, and the repository name
/// within it encoded twice, as Harbor's API wants it. `None` for a name without a project.
#[must_use]
pub fn artifact_path(repository: &str) -> Option<(String, String)> {
    let (project, rest) = repository.split_once('/')?;
    Some((encode(project), encode(&encode(rest))))
}

#[derive(Deserialize)]
struct Artifact {
    #[serde(default)]
    tags: Option<Vec<Tag>>,
    #[serde(default)]
    push_time: Option<String>,
}

#[derive(Deserialize)]
struct Tag {
    name: String,
    #[serde(default)]
    push_time: Option<String>,
}

impl RegistryClient {
    /// Whether the host is a Harbor: `GET /api/v2.0/systeminfo` answers JSON with a
    /// `harbor_version`. Probed once per client; any failure means "no".
    pub async fn is_harbor(&self) -> bool {
        *self
            .harbor
            .get_or_init(|| async {
                let Ok(url) = self.base.join("api/v2.0/systeminfo") else {
                    return false;
                };
                let answer = self
                    .send_raw(&Method::GET, &url, |b| b.header(ACCEPT, "application/json"))
                    .await;
                let found = answer.is_ok_and(|a| {
                    a.status.is_success()
                        && serde_json::from_slice::<serde_json::Value>(&a.body)
                            .is_ok_and(|v| v.get("harbor_version").is_some())
                });
                tracing::debug!(registry = %self.host, harbor = found, "Harbor API probe");
                found
            })
            .await
    }

    /// Every tag of `repository` with its push time, from Harbor's artifact API.
    ///
    /// # Errors
    ///
    /// A repository without a project, an HTTP error (with a hint naming the robot account and
    /// the `artifact:list` permission on 401/403), or a body that is not an artifact list.
    pub async fn harbor_tags(
        &self,
        repository: &str,
    ) -> Result<(Vec<String>, PushTimes), RegistryError> {
        let (project, repo) =
            artifact_path(repository).ok_or_else(|| RegistryError::InvalidReference {
                image: format!("{}/{repository}", self.host),
                reason: "Harbor repositories are <project>/<name>".into(),
            })?;
        let credentials = self.credentials().await.cloned();
        let mut tags = Vec::new();
        let mut times: PushTimes = HashMap::new();
        let mut fetched = 0usize;
        for page in 1..=MAX_PAGES {
            let url = self
                .base
                .join(&format!(
                    "api/v2.0/projects/{project}/repositories/{repo}/artifacts?with_tag=true&page={page}&page_size={PAGE_SIZE}"
                ))
                .map_err(|e| RegistryError::InvalidHost {
                    host: self.host.clone(),
                    reason: format!("cannot build the Harbor API URL: {e}"),
                })?;
            let answer = self
                .send_raw(&Method::GET, &url, |b| {
                    let b = b.header(ACCEPT, "application/json");
                    match &credentials {
                        Some(Credentials::Basic { username, password }) => {
                            b.basic_auth(username, Some(password.expose()))
                        }
                        Some(Credentials::IdentityToken(token)) => b.bearer_auth(token.expose()),
                        None => b,
                    }
                })
                .await?;
            if !answer.status.is_success() {
                return Err(RegistryError::Status {
                    url: url.to_string(),
                    status: answer.status,
                    detail: error_detail(&answer.body),
                    hint: hint(answer.status, credentials.as_ref(), repository),
                });
            }
            let artifacts: Vec<Artifact> = serde_json::from_slice(&answer.body).map_err(|e| {
                RegistryError::InvalidResponse {
                    url: url.to_string(),
                    reason: format!("not a Harbor artifact list ({e})"),
                }
            })?;
            let total = answer
                .headers
                .get("x-total-count")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<usize>().ok());
            fetched += artifacts.len();
            let count = artifacts.len();
            for artifact in artifacts {
                for tag in artifact.tags.unwrap_or_default() {
                    let time = tag
                        .push_time
                        .as_deref()
                        .or(artifact.push_time.as_deref())
                        .and_then(parse_rfc3339);
                    if let Some(time) = time {
                        times.insert(tag.name.clone(), time);
                    }
                    if !tags.contains(&tag.name) {
                        tags.push(tag.name);
                    }
                }
            }
            let more = match total {
                Some(total) => fetched < total && count > 0,
                None => count == PAGE_SIZE,
            };
            if !more {
                return Ok((tags, times));
            }
        }
        Err(RegistryError::Pagination {
            url: format!(
                "{}api/v2.0/projects/{project}/repositories/{repo}/artifacts",
                self.base
            ),
            reason: format!("more than {MAX_PAGES} pages"),
        })
    }

    /// Tags (and push times where known). `harbor`: `Some(true)` always uses Harbor's API,
    /// `Some(false)` never, `None` when [`RegistryClient::is_harbor`] says so — falling back
    /// to `/v2/…/tags/list` (recording why) if the API call fails.
    ///
    /// # Errors
    ///
    /// As [`RegistryClient::list_tags`], or [`RegistryClient::harbor_tags`] with `Some(true)`.
    pub async fn list_tags_timed(
        &self,
        repository: &str,
        harbor: Option<bool>,
    ) -> Result<Listing, RegistryError> {
        reference::check_repository(repository).map_err(|reason| {
            RegistryError::InvalidReference {
                image: format!("{}/{repository}", self.host),
                reason,
            }
        })?;
        let use_harbor = match harbor {
            Some(b) => b,
            None => repository.contains('/') && self.is_harbor().await,
        };
        let mut harbor_error = None;
        if use_harbor {
            match self.harbor_tags(repository).await {
                Ok((tags, times)) => {
                    return Ok(Listing {
                        tags,
                        push_times: Some(times),
                        harbor_error: None,
                    });
                }
                Err(e) if harbor.is_none() => {
                    tracing::warn!(
                        registry = %self.host, repository, error = %e,
                        "Harbor's artifact API failed; listing tags without push times"
                    );
                    harbor_error = Some(e.to_string());
                }
                Err(e) => return Err(e),
            }
        }
        Ok(Listing {
            tags: self.list_tags(repository).await?,
            push_times: None,
            harbor_error,
        })
    }
}

fn hint(status: StatusCode, credentials: Option<&Credentials>, repository: &str) -> String {
    let who = credentials
        .and_then(Credentials::username)
        .map_or_else(|| "anonymous access".to_owned(), |u| format!("`{u}`"));
    match status.as_u16() {
        401 => format!(
            "Harbor rejected the credentials ({who}); check the robot account's name and secret"
        ),
        403 => format!(
            "{who} may not list artifacts of {repository}: give the robot account the \
             `artifact:list` (and `repository:pull`) permission on the project"
        ),
        404 => format!("Harbor has no repository {repository} (is the project name right?)"),
        _ => "Harbor's API failed".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_names_are_encoded_twice() {
        assert_eq!(
            artifact_path("homelab/web"),
            Some(("homelab".into(), "web".into()))
        );
        assert_eq!(
            artifact_path("homelab/team/app"),
            Some(("homelab".into(), "team%252Fapp".into()))
        );
        assert_eq!(artifact_path("web"), None);
        assert_eq!(encode("robot$x+y"), "robot%24x%2By");
    }
}
