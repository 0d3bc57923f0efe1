//! A stub of Harbor's REST API, written from Harbor's documented JSON (registry-protocol.md §6):
//! `GET /api/v2.0/systeminfo`, and `GET /api/v2.0/projects/{p}/repositories/{r}/artifacts`
//! with `page`/`page_size` (default 10, at most 100), `X-Total-Count`, an unescaped `Link`,
//! artifacts newest first, `tags[].push_time`, and the repository name decoded twice (a
//! single-encoded name is a 404, as in Harbor). Basic auth for a robot account, when set.
//! `/v2/` and `/v2/<name>/tags/list` are served too, for the fallback path.
//!
//! Harbor itself cannot run here; this is the one stubbed component.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;

/// One artifact: its digest, push time, and tags with their own push times.
#[derive(Debug, Clone)]
pub struct Artifact {
    pub digest: String,
    pub pushed: SystemTime,
    pub tags: Vec<(String, SystemTime)>,
}

impl Artifact {
    /// An artifact whose tags were all pushed with it.
    pub fn new(n: usize, pushed: SystemTime, tags: &[&str]) -> Artifact {
        Artifact {
            digest: format!("sha256:{n:064x}"),
            pushed,
            tags: tags.iter().map(|t| ((*t).to_owned(), pushed)).collect(),
        }
    }
}

/// A repository `project/name…` and its artifacts.
#[derive(Debug, Clone)]
pub struct HarborRepo {
    pub name: String,
    pub artifacts: Vec<Artifact>,
}

struct State {
    repos: Vec<HarborRepo>,
    robot: Option<(String, String)>,
    /// Status to answer artifact requests with instead (403 for a robot without artifact:list).
    artifact_status: Option<StatusCode>,
    requests: Vec<String>,
}

/// The running stub, aborted on drop.
pub struct HarborStub {
    pub host: String,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for HarborStub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// RFC 3339 with milliseconds, as Harbor writes times.
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).expect("after epoch");
    let secs = i64::try_from(d.as_secs()).expect("secs");
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil from days (Howard Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn json(status: StatusCode, body: String) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(body))
        .expect("response")
}

fn harbor_error(status: StatusCode, code: &str, message: &str) -> Response {
    json(
        status,
        format!(r#"{{"errors":[{{"code":"{code}","message":"{message}"}}]}}"#),
    )
}

impl HarborStub {
    /// Starts the stub on a free loopback port.
    pub async fn start(repos: Vec<HarborRepo>, robot: Option<(&str, &str)>) -> HarborStub {
        let state = Arc::new(Mutex::new(State {
            repos,
            robot: robot.map(|(u, p)| (u.to_owned(), p.to_owned())),
            artifact_status: None,
            requests: Vec::new(),
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the Harbor stub");
        let host = listener.local_addr().expect("addr").to_string();
        let shared = state.clone();
        let app = Router::new().fallback(move |uri: Uri, headers: HeaderMap| {
            let state = shared.clone();
            async move { handle(&state, &uri, &headers) }
        });
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        HarborStub { host, state, task }
    }

    /// Requests so far (path and query, as sent).
    pub fn requests(&self) -> Vec<String> {
        self.state.lock().expect("lock").requests.clone()
    }

    /// Answers artifact requests with `status` from now on.
    pub fn fail_artifacts(&self, status: StatusCode) {
        self.state.lock().expect("lock").artifact_status = Some(status);
    }
}

fn handle(state: &Mutex<State>, uri: &Uri, headers: &HeaderMap) -> Response {
    let mut s = state.lock().expect("lock");
    let raw = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_owned(), |p| p.as_str().to_owned());
    s.requests.push(raw);
    let path = uri.path();
    if path == "/api/v2.0/systeminfo" {
        return json(
            StatusCode::OK,
            r#"{"auth_mode":"db_auth","harbor_version":"v2.11.1-6b7ecba1","self_registration":false,"has_ca_root":false,"registry_url":"harbor.lan"}"#.into(),
        );
    }
    if path == "/v2/" {
        return json(StatusCode::OK, "{}".into());
    }
    if let Some(name) = path
        .strip_prefix("/v2/")
        .and_then(|p| p.strip_suffix("/tags/list"))
    {
        let Some(repo) = s.repos.iter().find(|r| r.name == name) else {
            return harbor_error(
                StatusCode::NOT_FOUND,
                "NAME_UNKNOWN",
                "repository name not known to registry",
            );
        };
        let tags: Vec<String> = repo
            .artifacts
            .iter()
            .flat_map(|a| a.tags.iter().map(|(t, _)| format!("\"{t}\"")))
            .collect();
        return json(
            StatusCode::OK,
            format!(r#"{{"name":"{name}","tags":[{}]}}"#, tags.join(",")),
        );
    }
    let segments: Vec<&str> = path.split('/').collect();
    // ["", "api", "v2.0", "projects", p, "repositories", r, "artifacts"]
    if let [
        "",
        "api",
        "v2.0",
        "projects",
        project,
        "repositories",
        repo,
        "artifacts",
    ] = segments.as_slice()
    {
        if let Some((user, pass)) = &s.robot {
            let want = format!(
                "Basic {}",
                base64_encode(format!("{user}:{pass}").as_bytes())
            );
            if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(want.as_str()) {
                return harbor_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "unauthorized");
            }
        }
        if let Some(status) = s.artifact_status {
            return harbor_error(status, "FORBIDDEN", "forbidden");
        }
        // Decoded once by the router, once more by Harbor: a single-encoded name has a `/`
        // after the first decoding and matches no repository.
        let Some(once) = percent_decode(repo) else {
            return harbor_error(StatusCode::BAD_REQUEST, "BAD_REQUEST", "bad encoding");
        };
        if once.contains('/') {
            return harbor_error(StatusCode::NOT_FOUND, "NOT_FOUND", "repository not found");
        }
        let Some(name) = percent_decode(&once) else {
            return harbor_error(StatusCode::BAD_REQUEST, "BAD_REQUEST", "bad encoding");
        };
        let full = format!("{project}/{name}");
        let Some(r) = s.repos.iter().find(|r| r.name == full) else {
            return harbor_error(StatusCode::NOT_FOUND, "NOT_FOUND", "repository not found");
        };
        let query: Vec<(String, String)> = uri
            .query()
            .unwrap_or("")
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let get = |k: &str| query.iter().find(|(q, _)| q == k).map(|(_, v)| v.as_str());
        let page: usize = get("page").and_then(|v| v.parse().ok()).unwrap_or(1).max(1);
        let size: usize = get("page_size").and_then(|v| v.parse().ok()).unwrap_or(10);
        if size > 100 {
            return harbor_error(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                "page_size must be <= 100",
            );
        }
        let mut artifacts = r.artifacts.clone();
        // Default sort: push_time descending.
        artifacts.sort_by_key(|a| std::cmp::Reverse(a.pushed));
        let total = artifacts.len();
        let body: Vec<String> = artifacts
            .iter()
            .skip((page - 1) * size)
            .take(size)
            .enumerate()
            .map(|(i, a)| artifact_json(i, &full, a))
            .collect();
        let mut response = json(StatusCode::OK, format!("[{}]", body.join(",")));
        let h = response.headers_mut();
        h.insert("x-total-count", total.to_string().parse().expect("header"));
        if page * size < total {
            // Harbor writes the query unescaped.
            let link = format!(
                "</api/v2.0/projects/{project}/repositories/{repo}/artifacts?page={}&page_size={size}&q=tags=*>; rel=\"next\"",
                page + 1
            );
            h.insert("link", link.parse().expect("header"));
        }
        return response;
    }
    harbor_error(StatusCode::NOT_FOUND, "NOT_FOUND", "not found")
}

fn artifact_json(i: usize, repo: &str, a: &Artifact) -> String {
    let tags: Vec<String> = a
        .tags
        .iter()
        .enumerate()
        .map(|(j, (t, pushed))| {
            format!(
                r#"{{"id":{},"artifact_id":{i},"name":"{t}","push_time":"{}","pull_time":"0001-01-01T00:00:00.000Z","immutable":false}}"#,
                i * 100 + j,
                rfc3339(*pushed)
            )
        })
        .collect();
    let tags = if tags.is_empty() {
        "null".to_owned()
    } else {
        format!("[{}]", tags.join(","))
    };
    format!(
        r#"{{"id":{i},"digest":"{}","manifest_media_type":"application/vnd.oci.image.manifest.v1+json","repository_name":"{repo}","push_time":"{}","extra_attrs":{{"architecture":"amd64","os":"linux"}},"references":null,"tags":{tags}}}"#,
        a.digest,
        rfc3339(a.pushed)
    )
}

fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * k)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `now - secs`.
pub fn ago(secs: u64) -> SystemTime {
    SystemTime::now() - Duration::from_secs(secs)
}
