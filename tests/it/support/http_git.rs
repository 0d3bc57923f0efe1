//! Git's own smart-HTTP server (`git http-backend`, run as CGI per request) behind Basic
//! authentication with a user and a token — the shape of a Gitea/GitLab/GitHub remote, on
//! plain HTTP on loopback. Every `Authorization` header received is recorded, so a test can
//! check what the client sent. Aborted on drop.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use base64::Engine as _;

struct GitHttpState {
    root: PathBuf,
    expected: String,
    user: String,
    seen: Mutex<Vec<Option<String>>>,
}

/// A running server.
pub struct GitHttp {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    state: Arc<GitHttpState>,
    task: tokio::task::JoinHandle<()>,
}

impl GitHttp {
    /// Serves the repositories under `root` to `user` with password `token`.
    pub async fn start(root: PathBuf, user: &str, token: &str) -> Self {
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{token}"))
        );
        let state = Arc::new(GitHttpState {
            root,
            expected,
            user: user.to_string(),
            seen: Mutex::new(Vec::new()),
        });
        let app = Router::new().fallback(handle).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind git http");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { base, state, task }
    }

    /// The `Authorization` header of every request so far (`None` when absent).
    pub fn authorizations(&self) -> Vec<Option<String>> {
        self.state.seen.lock().expect("seen").clone()
    }
}

impl Drop for GitHttp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(State(state): State<Arc<GitHttpState>>, request: Request) -> Response {
    let auth = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    state.seen.lock().expect("seen").push(auth.clone());
    if auth.as_deref() != Some(state.expected.as_str()) {
        return Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .header(header::WWW_AUTHENTICATE, "Basic realm=\"git\"")
            .body(Body::from("authentication required\n"))
            .expect("response");
    }
    let method = request.method().to_string();
    let path = request.uri().path().to_string();
    let query = request.uri().query().unwrap_or("").to_string();
    let content_type = header_value(&request, header::CONTENT_TYPE);
    let encoding = header_value(&request, header::CONTENT_ENCODING);
    let body = axum::body::to_bytes(request.into_body(), 256 << 20)
        .await
        .expect("request body");
    let mut child = tokio::process::Command::new("git")
        .arg("http-backend")
        .env("GIT_PROJECT_ROOT", &state.root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REQUEST_METHOD", &method)
        .env("PATH_INFO", &path)
        .env("QUERY_STRING", &query)
        .env("CONTENT_TYPE", &content_type)
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("HTTP_CONTENT_ENCODING", &encoding)
        .env("REMOTE_USER", &state.user)
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("git http-backend");
    {
        use tokio::io::AsyncWriteExt as _;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(&body).await.expect("cgi stdin");
    }
    let out = child.wait_with_output().await.expect("cgi output");
    cgi_response(&out.stdout)
}

fn header_value(request: &Request, name: header::HeaderName) -> String {
    request
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// Turns CGI output (headers, blank line, body) into a response.
fn cgi_response(out: &[u8]) -> Response {
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| out.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)));
    let Some((at, gap)) = split else {
        return Response::builder()
            .status(StatusCode::INTERNAL_SERVER_ERROR)
            .body(Body::from(out.to_vec()))
            .expect("response");
    };
    let head = String::from_utf8_lossy(&out[..at]);
    let mut builder = Response::builder();
    for line in head.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value
                .split(' ')
                .next()
                .and_then(|c| c.parse().ok())
                .unwrap_or(500);
            builder = builder.status(code);
        } else {
            builder = builder.header(name.trim(), value);
        }
    }
    builder
        .body(Body::from(out[at + gap..].to_vec()))
        .expect("response")
}
