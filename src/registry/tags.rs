//! Tag listing: `GET /v2/<name>/tags/list` and `Link` pagination.

use std::collections::HashSet;

use reqwest::Method;
use reqwest::header::{HeaderMap, LINK};
use serde::Deserialize;
use url::Url;

use super::client::{Call, RegistryClient};
use super::error::RegistryError;
use super::reference;

/// Page size asked for first.
const PAGE: usize = 1000;
/// Page size after a 4xx on the first page: Quay rejects more than 100 (IRC#585).
const SMALL_PAGE: usize = 100;
/// At most this many pages per listing (a million tags at the large page size).
const MAX_PAGES: usize = 1000;

impl RegistryClient {
    /// Every tag of `repository`, following `Link: <…>; rel="next"` pages. Duplicates are
    /// dropped; the order is the registry's (never assume it is sorted).
    ///
    /// # Errors
    ///
    /// An invalid repository name, an HTTP error (with the URL, status and a hint), a body that
    /// is not a tag list, or a `Link` chain that loops or runs past the page budget.
    pub async fn list_tags(&self, repository: &str) -> Result<Vec<String>, RegistryError> {
        reference::check_repository(repository).map_err(|reason| {
            RegistryError::InvalidReference {
                image: format!("{}/{repository}", self.host),
                reason,
            }
        })?;
        let first = self.tags_url(repository, PAGE)?;
        match self.list_pages(repository, first, PAGE).await {
            Err(RegistryError::Status { status, url, .. })
                if status.is_client_error()
                    && !matches!(status.as_u16(), 401 | 403 | 404 | 429) =>
            {
                tracing::debug!(%url, %status, "first tag page refused; retrying with n={SMALL_PAGE}");
                let first = self.tags_url(repository, SMALL_PAGE)?;
                self.list_pages(repository, first, SMALL_PAGE).await
            }
            other => other,
        }
    }

    fn tags_url(&self, repository: &str, page: usize) -> Result<Url, RegistryError> {
        let mut url = self.api_url(&format!("{repository}/tags/list"))?;
        url.query_pairs_mut().append_pair("n", &page.to_string());
        Ok(url)
    }

    async fn list_pages(
        &self,
        repository: &str,
        first: Url,
        page: usize,
    ) -> Result<Vec<String>, RegistryError> {
        let mut tags = Vec::new();
        let mut known = HashSet::new();
        let mut seen = HashSet::new();
        let mut url = first;
        for _ in 0..MAX_PAGES {
            seen.insert(url.clone());
            let answer = self
                .execute(Call {
                    method: &Method::GET,
                    url: &url,
                    accept: Some("application/json"),
                    repository: Some(repository),
                    tag: None,
                })
                .await?;
            let body: TagList = serde_json::from_slice(&answer.body).map_err(|e| {
                RegistryError::InvalidResponse {
                    url: url.to_string(),
                    reason: format!("not a tag list ({e})"),
                }
            })?;
            let count = body.tags.as_ref().map_or(0, Vec::len);
            for tag in body.tags.unwrap_or_default() {
                if known.insert(tag.clone()) {
                    tags.push(tag);
                }
            }
            let Some(next) = next_link(&answer.headers) else {
                return Ok(tags);
            };
            if count > page {
                // The server ignored `n`, so that page was everything.
                tracing::debug!(%url, count, page, "server ignored the page size; not following Link");
                return Ok(tags);
            }
            let next = resolve_link(&self.base, &url, &next).map_err(|reason| {
                RegistryError::InvalidResponse {
                    url: url.to_string(),
                    reason,
                }
            })?;
            if seen.contains(&next) {
                return Err(RegistryError::Pagination {
                    url: url.to_string(),
                    reason: format!("the next page {next} was already fetched"),
                });
            }
            url = next;
        }
        Err(RegistryError::Pagination {
            url: url.to_string(),
            reason: format!("more than {MAX_PAGES} pages"),
        })
    }
}

/// The tag list body. `tags` may be missing or `null` for an empty repository.
#[derive(Deserialize)]
struct TagList {
    #[serde(default)]
    tags: Option<Vec<String>>,
}

/// The target of the first `rel="next"` link over all `Link` headers.
pub(crate) fn next_link(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(parse_next_link)
}

/// Parses an RFC 8288 `Link` value (`<url>; rel="next", <url>; rel=prev`) and returns the
/// target whose `rel` includes `next`.
pub(crate) fn parse_next_link(value: &str) -> Option<String> {
    let mut rest = value;
    loop {
        let start = rest.find('<')?;
        let end = start + rest[start..].find('>')?;
        let target = &rest[start + 1..end];
        rest = &rest[end + 1..];
        // The parameters run to the next `,` outside quotes.
        let mut in_quotes = false;
        let params_end = rest
            .char_indices()
            .find(|&(_, c)| {
                if c == '"' {
                    in_quotes = !in_quotes;
                }
                c == ',' && !in_quotes
            })
            .map_or(rest.len(), |(i, _)| i);
        let params = &rest[..params_end];
        let is_next = params.split(';').any(|param| {
            let Some((name, value)) = param.split_once('=') else {
                return false;
            };
            name.trim().eq_ignore_ascii_case("rel")
                && value
                    .trim()
                    .trim_matches('"')
                    .split_whitespace()
                    .any(|rel| rel.eq_ignore_ascii_case("next"))
        });
        if is_next {
            return Some(target.trim().to_owned());
        }
        rest = &rest[params_end..];
    }
}

/// Resolves a `Link` target against the page it came from, then puts it on the registry's
/// own scheme, host and port: registries behind proxies send absolute links with the wrong
/// port or scheme (Nexus lost the port), and credentials must not follow a link elsewhere.
pub(crate) fn resolve_link(base: &Url, page: &Url, link: &str) -> Result<Url, String> {
    let joined = page
        .join(link)
        .map_err(|e| format!("the Link target `{link}` is not a URL ({e})"))?;
    let mut out = base.clone();
    out.set_path(joined.path());
    out.set_query(joined.query());
    if joined.origin() != base.origin() {
        tracing::debug!(%link, %out, "Link points to another origin; keeping the registry's");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_next_link() {
        #[rustfmt::skip]
        let cases = [
            (r#"</v2/a/tags/list?last=x&n=100>; rel="next""#,                 Some("/v2/a/tags/list?last=x&n=100")),
            ("</v2/a/tags/list?n=1&last=b>;rel=next",                          Some("/v2/a/tags/list?n=1&last=b")),
            (r#"<https://h/p?page=1>; rel="prev" , <https://h/p?page=3>; rel="next""#, Some("https://h/p?page=3")),
            (r#"<https://h/p?page=3>; title="a, b"; rel="next""#,             Some("https://h/p?page=3")),
            (r#"<x>; rel="prev next""#,                                        Some("x")),
            (r#"<x>; REL="Next""#,                                             Some("x")),
            (r#"<x>; rel="prev""#,                                             None),
            (r#"<x>; rel="nextpage""#,                                         None),
            ("",                                                               None),
            ("garbage",                                                        None),
        ];
        for (value, want) in cases {
            assert_eq!(parse_next_link(value).as_deref(), want, "{value}");
        }
    }

    #[test]
    fn next_link_over_several_headers() {
        let mut headers = HeaderMap::new();
        headers.append(LINK, r#"<a>; rel="prev""#.parse().unwrap());
        headers.append(LINK, r#"<b>; rel="next""#.parse().unwrap());
        assert_eq!(next_link(&headers).as_deref(), Some("b"));
        assert_eq!(next_link(&HeaderMap::new()), None);
    }

    #[test]
    fn resolves_links_on_the_registry_origin() {
        let base = Url::parse("http://127.0.0.1:5000/").unwrap();
        let page = Url::parse("http://127.0.0.1:5000/v2/a/b/tags/list?n=100").unwrap();
        #[rustfmt::skip]
        let cases = [
            ("/v2/a/b/tags/list?n=100&last=x",                       "http://127.0.0.1:5000/v2/a/b/tags/list?n=100&last=x"),
            ("?n=100&last=y",                                        "http://127.0.0.1:5000/v2/a/b/tags/list?n=100&last=y"),
            ("list?last=z",                                          "http://127.0.0.1:5000/v2/a/b/tags/list?last=z"),
            // Absolute links that lost the port or changed the scheme or host keep ours.
            ("http://127.0.0.1/v2/a/b/tags/list?last=x",             "http://127.0.0.1:5000/v2/a/b/tags/list?last=x"),
            ("https://127.0.0.1:5000/v2/a/b/tags/list?last=x",       "http://127.0.0.1:5000/v2/a/b/tags/list?last=x"),
            ("http://elsewhere.example/v2/a/b/tags/list?last=x",     "http://127.0.0.1:5000/v2/a/b/tags/list?last=x"),
        ];
        for (link, want) in cases {
            assert_eq!(
                resolve_link(&base, &page, link).unwrap().as_str(),
                want,
                "{link}"
            );
        }
        assert!(resolve_link(&base, &page, "http://[bad/").is_err());
    }

    #[test]
    fn tag_list_bodies() {
        let parse = |s: &str| serde_json::from_str::<TagList>(s).unwrap().tags;
        assert_eq!(
            parse(r#"{"name":"a","tags":["1","2"]}"#),
            Some(vec!["1".into(), "2".into()])
        );
        assert_eq!(parse(r#"{"name":"a","tags":null}"#), None);
        assert_eq!(parse(r#"{"name":"a"}"#), None);
    }
}
