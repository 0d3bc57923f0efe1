//! Registry test support: the real Debian `docker-registry` in three auth modes (plus TLS), the
//! Python token service, pushing and re-tagging images over the registry API, and a small axum
//! registry that paginates by the spec or misbehaves on purpose.
//!
//! Everything started here is stopped by its handle's `Drop` (child kill, task abort).

#![allow(dead_code)] // not every test binary uses every helper

use std::collections::{BTreeSet, VecDeque};
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use sha2::{Digest as _, Sha256};
use tempfile::TempDir;

/// User of the Basic-auth registry (fixture htpasswd line, bcrypt cost 5).
pub const BASIC_USER: &str = "testuser";
/// Password of [`BASIC_USER`].
pub const BASIC_PASSWORD: &str = "testpass";
const HTPASSWD: &str = "testuser:$2b$05$J6mY0fuq7axsBHqfHGLmKe4xXYmP1n3f/.VLRckOSGiCg/66jLjhy\n";
/// Harbor-style robot account known to the token service: every action.
pub const ROBOT_USER: &str = "robot$myorg+ci";
/// Secret of [`ROBOT_USER`].
pub const ROBOT_SECRET: &str = "robotsecret";
/// An identity (refresh) token the token service maps to [`ROBOT_USER`].
pub const ROBOT_REFRESH_TOKEN: &str = "robot-refresh-token";
/// The repository anonymous callers may pull in token mode.
pub const PUBLIC_REPO: &str = "myorg/app";

const TOKEN_SERVER_PY: &str = include_str!("token-server.py");

/// All manifest media types, as the product sends them.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json";

/// How the registry authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Anyone may push and pull.
    NoAuth,
    /// htpasswd: `testuser` / `testpass`.
    Basic,
    /// Bearer tokens from `token-server.py`.
    Token,
}

/// Options for [`RegistryServer::setup`].
#[derive(Debug, Clone)]
pub struct Setup {
    mode: Mode,
    tls: bool,
    token_ttl: u32,
    notify: Option<(String, String)>,
}

impl Setup {
    /// Serve HTTPS with a certificate from a test CA ([`RegistryServer::ca_file`]).
    pub fn tls(mut self) -> Self {
        self.tls = true;
        self
    }

    /// Token lifetime the token service announces (`expires_in`), seconds.
    pub fn token_ttl(mut self, secs: u32) -> Self {
        self.token_ttl = secs;
        self
    }

    /// Send the registry's notifications (manifest events) to `url` with this `Authorization`.
    pub fn notify(mut self, url: &str, authorization: &str) -> Self {
        self.notify = Some((url.to_string(), authorization.to_string()));
        self
    }

    /// Starts the registry (and the token service in token mode).
    pub async fn start(self) -> RegistryServer {
        RegistryServer::start_setup(self).await
    }
}

/// A running `docker-registry serve` on `127.0.0.1:<free port>`, killed on drop.
pub struct RegistryServer {
    /// `127.0.0.1:<port>`.
    pub host: String,
    /// The auth mode.
    pub mode: Mode,
    tls: bool,
    child: Child,
    token: Option<TokenServer>,
    dir: TempDir,
}

impl RegistryServer {
    /// Starts a plain-HTTP registry in `mode`.
    pub async fn start(mode: Mode) -> RegistryServer {
        Self::setup(mode).start().await
    }

    /// Options for a registry in `mode`.
    pub fn setup(mode: Mode) -> Setup {
        Setup {
            mode,
            tls: false,
            token_ttl: 60,
            notify: None,
        }
    }

    async fn start_setup(setup: Setup) -> RegistryServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let token = match setup.mode {
            Mode::Token => Some(TokenServer::start(dir.path(), setup.token_ttl).await),
            _ => None,
        };
        if setup.mode == Mode::Basic {
            std::fs::write(dir.path().join("htpasswd"), HTPASSWD).expect("write htpasswd");
        }
        if setup.tls {
            make_tls_cert(dir.path());
        }
        // A free port can be taken between probing and the registry's bind: retry then.
        for attempt in 1..=5 {
            let port = free_port();
            write_config(dir.path(), port, &setup, token.as_ref());
            let mut child = spawn_registry(dir.path());
            let scheme = if setup.tls { "https" } else { "http" };
            let url = format!("{scheme}://127.0.0.1:{port}/v2/");
            match wait_ready(&mut child, &url, dir.path()).await {
                Ok(()) => {
                    return RegistryServer {
                        host: format!("127.0.0.1:{port}"),
                        mode: setup.mode,
                        tls: setup.tls,
                        child,
                        token,
                        dir,
                    };
                }
                Err(log) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    assert!(
                        log.contains("address already in use") && attempt < 5,
                        "docker-registry did not come up:\n{log}"
                    );
                }
            }
        }
        unreachable!("the loop returns or panics")
    }

    /// `http://127.0.0.1:<port>` (`https://` with TLS).
    pub fn base_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.host)
    }

    /// The CA certificate that signed the TLS certificate (TLS setups only).
    pub fn ca_file(&self) -> PathBuf {
        assert!(self.tls, "ca_file: this registry runs without TLS");
        self.dir.path().join("ca.pem")
    }

    /// The token service (token mode only).
    pub fn token_server(&self) -> &TokenServer {
        self.token
            .as_ref()
            .expect("token_server: not a token-mode registry")
    }

    /// Authorization that may push to `repo` in this mode (a robot token in token mode).
    pub async fn push_auth(&self, repo: &str) -> PushAuth {
        match self.mode {
            Mode::NoAuth => PushAuth::None,
            Mode::Basic => PushAuth::Basic(BASIC_USER.into(), BASIC_PASSWORD.into()),
            Mode::Token => PushAuth::Bearer(self.token_server().robot_token(repo).await),
        }
    }

    /// Pushes a one-layer image as `repo:tag`; returns its manifest digest.
    pub async fn push(&self, repo: &str, tag: &str) -> String {
        let auth = self.push_auth(repo).await;
        push_tag(&self.base_url(), repo, tag, &auth).await
    }
}

impl Drop for RegistryServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free TCP port on 127.0.0.1 (free when probed).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

fn spawn_registry(dir: &Path) -> Child {
    let log = std::fs::File::create(dir.join("registry.log")).expect("log file");
    let spawned = Command::new("docker-registry")
        .arg("serve")
        .arg(dir.join("config.yml"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log file"))
        .stderr(log)
        .spawn();
    match spawned {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "`docker-registry` is not on PATH: the registry integration tests need the Debian \
             package docker-registry (`apt-get install docker-registry`)"
        ),
        Err(e) => panic!("cannot start docker-registry: {e}"),
    }
}

/// Polls `url` until it answers; on an early exit or a timeout returns the registry's log.
async fn wait_ready(child: &mut Child, url: &str, dir: &Path) -> Result<(), String> {
    let http = test_http_client();
    let log = || std::fs::read_to_string(dir.join("registry.log")).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            return Err(log());
        }
        if http.get(url).send().await.is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("timed out waiting for {url}\n{}", log()));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn write_config(dir: &Path, port: u16, setup: &Setup, token: Option<&TokenServer>) {
    let d = dir.display();
    let head = format!(
        "version: 0.1\n\
         log: {{level: warn}}\n\
         storage:\n  filesystem: {{rootdirectory: {d}/data}}\n  delete: {{enabled: true}}\n"
    );
    let http = if setup.tls {
        format!(
            "http:\n  addr: 127.0.0.1:{port}\n  tls:\n    certificate: {d}/tls.pem\n    key: {d}/tls-key.pem\n"
        )
    } else {
        format!("http:\n  addr: 127.0.0.1:{port}\n")
    };
    let auth = match setup.mode {
        Mode::NoAuth => String::new(),
        Mode::Basic => {
            format!("auth:\n  htpasswd:\n    realm: deckhand-test\n    path: {d}/htpasswd\n")
        }
        Mode::Token => {
            let realm = token.expect("token service").realm();
            format!(
                "auth:\n  token:\n    realm: {realm}\n    service: deckhand-test\n    \
                 issuer: deckhand-test-issuer\n    rootcertbundle: {d}/token-cert.pem\n"
            )
        }
    };
    let notifications = match &setup.notify {
        None => String::new(),
        Some((url, authorization)) => format!(
            "notifications:\n  endpoints:\n    - name: deckhand\n      url: {url}\n      \
             headers: {{Authorization: [\"{authorization}\"]}}\n      timeout: 2s\n      \
             threshold: 3\n      backoff: 500ms\n      \
             ignoredmediatypes: [application/octet-stream]\n"
        ),
    };
    std::fs::write(
        dir.join("config.yml"),
        format!("{head}{http}{auth}{notifications}"),
    )
    .expect("write config.yml");
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run openssl ({e}): `apt-get install openssl`"));
    assert!(
        out.status.success(),
        "openssl {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A test CA and a server certificate for 127.0.0.1 signed by it.
fn make_tls_cert(dir: &Path) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca-key.pem",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=deckhand-test-ca",
    ]);
    openssl(dir, &ca);
    let mut csr = vec!["req"];
    csr.extend(ec);
    csr.extend([
        "-keyout",
        "tls-key.pem",
        "-out",
        "tls.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    openssl(dir, &csr);
    std::fs::write(
        dir.join("tls-ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .expect("write tls-ext.cnf");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "tls.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca-key.pem",
            "-CAcreateserial",
            "-out",
            "tls.pem",
            "-days",
            "2",
            "-extfile",
            "tls-ext.cnf",
        ],
    );
}

/// `token-server.py` on 127.0.0.1 (it picks its own port and prints it), killed on drop.
pub struct TokenServer {
    port: u16,
    child: Child,
}

impl TokenServer {
    async fn start(dir: &Path, ttl: u32) -> TokenServer {
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "token-key.pem",
                "-out",
                "token-cert.pem",
                "-days",
                "2",
                "-subj",
                "/CN=deckhand-test-token",
            ],
        );
        let script = dir.join("token-server.py");
        std::fs::write(&script, TOKEN_SERVER_PY).expect("write token-server.py");
        let stderr_path = dir.join("token-server.log");
        let stderr = std::fs::File::create(&stderr_path).expect("token log");
        let spawned = Command::new("python3")
            .arg(&script)
            .arg(dir.join("token-key.pem"))
            .arg(dir.join("token-cert.pem"))
            .args(["--ttl", &ttl.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => panic!(
                "cannot run python3 for the token service ({e}): install the Debian packages \
                 python3 and python3-cryptography (`apt-get install python3-cryptography`)"
            ),
        };
        let stdout = child.stdout.take().expect("piped stdout");
        // Importing `cryptography` takes a moment; the port line comes after the bind.
        let line = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            line
        })
        .await
        .expect("read token service port");
        let Ok(port) = line.trim().parse::<u16>() else {
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(&stderr_path).unwrap_or_default();
            panic!(
                "the token service did not start; it needs python3 with the Debian package \
                 python3-cryptography (`apt-get install python3-cryptography`):\n{log}"
            );
        };
        TokenServer { port, child }
    }

    /// `http://127.0.0.1:<port>/token`.
    pub fn realm(&self) -> String {
        format!("http://127.0.0.1:{}/token", self.port)
    }

    /// How many tokens the service has issued.
    pub async fn issued(&self) -> u64 {
        let url = format!("http://127.0.0.1:{}/stats", self.port);
        let stats: serde_json::Value = test_http_client()
            .get(url)
            .send()
            .await
            .expect("token stats")
            .json()
            .await
            .expect("token stats JSON");
        stats["issued"].as_u64().expect("issued count")
    }

    /// The next `n` tokens are issued already expired, so the registry answers `invalid_token`.
    pub async fn expire_next(&self, n: u32) {
        let url = format!("http://127.0.0.1:{}/control?expire_next={n}", self.port);
        let response = test_http_client()
            .post(url)
            .send()
            .await
            .expect("token control");
        assert!(
            response.status().is_success(),
            "token control: {}",
            response.status()
        );
    }

    /// A robot token with pull and push on `repo`.
    pub async fn robot_token(&self, repo: &str) -> String {
        let response = test_http_client()
            .get(self.realm())
            .query(&[
                ("service", "deckhand-test"),
                ("scope", &format!("repository:{repo}:pull,push")),
            ])
            .basic_auth(ROBOT_USER, Some(ROBOT_SECRET))
            .send()
            .await
            .expect("robot token request");
        assert!(
            response.status().is_success(),
            "robot token: {}",
            response.status()
        );
        let body: serde_json::Value = response.json().await.expect("token JSON");
        body["token"].as_str().expect("token field").to_owned()
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn test_http_client() -> reqwest::Client {
    deckhand::registry::install_crypto_provider();
    reqwest::Client::builder()
        .tls_danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("test HTTP client")
}

/// How the push helpers authenticate.
#[derive(Debug, Clone)]
pub enum PushAuth {
    /// Nothing.
    None,
    /// Basic user and password.
    Basic(String, String),
    /// A bearer token.
    Bearer(String),
}

impl PushAuth {
    fn apply(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            PushAuth::None => request,
            PushAuth::Basic(user, password) => request.basic_auth(user, Some(password)),
            PushAuth::Bearer(token) => request.bearer_auth(token),
        }
    }
}

/// `sha256:<hex>`.
pub fn sha256(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    Sha256::digest(bytes)
        .iter()
        .fold(String::from("sha256:"), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

/// A one-file ustar archive (uncompressed), deterministic.
fn tar_one_file(name: &str, content: &[u8]) -> Vec<u8> {
    let mut header = [0u8; 512];
    header[..name.len()].copy_from_slice(name.as_bytes());
    header[100..108].copy_from_slice(b"0000644\0");
    header[108..116].copy_from_slice(b"0000000\0");
    header[116..124].copy_from_slice(b"0000000\0");
    header[124..136].copy_from_slice(format!("{:011o}\0", content.len()).as_bytes());
    header[136..148].copy_from_slice(b"00000000000\0");
    header[148..156].copy_from_slice(b"        ");
    header[156] = b'0';
    header[257..263].copy_from_slice(b"ustar\0");
    header[263..265].copy_from_slice(b"00");
    let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
    header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let mut out = header.to_vec();
    out.extend_from_slice(content);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out.extend_from_slice(&[0u8; 1024]);
    out
}

async fn put_blob(http: &reqwest::Client, base: &str, repo: &str, blob: &[u8], auth: &PushAuth) {
    let digest = sha256(blob);
    let exists = auth
        .apply(http.head(format!("{base}/v2/{repo}/blobs/{digest}")))
        .send()
        .await
        .expect("HEAD blob");
    if exists.status() == StatusCode::OK {
        return;
    }
    // Two steps: POST opens an upload session, PUT with the digest closes it.
    let opened = auth
        .apply(http.post(format!("{base}/v2/{repo}/blobs/uploads/")))
        .send()
        .await
        .expect("POST blob upload");
    assert_eq!(
        opened.status(),
        StatusCode::ACCEPTED,
        "open upload for {repo}"
    );
    let location = opened
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .expect("upload Location")
        .to_owned();
    let mut url = reqwest::Url::parse(base)
        .expect("base URL")
        .join(&location)
        .expect("upload URL");
    url.query_pairs_mut().append_pair("digest", &digest);
    let closed = auth
        .apply(http.put(url))
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .body(blob.to_vec())
        .send()
        .await
        .expect("PUT blob");
    assert_eq!(
        closed.status(),
        StatusCode::CREATED,
        "close upload for {repo}"
    );
}

/// Pushes a one-layer OCI image whose content differs per tag; returns the manifest digest.
pub async fn push_tag(base: &str, repo: &str, tag: &str, auth: &PushAuth) -> String {
    let http = test_http_client();
    let layer = tar_one_file("payload.txt", format!("built for tag {tag}\n").as_bytes());
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{}},"rootfs":{{"type":"layers","diff_ids":["{}"]}}}}"#,
        sha256(&layer)
    );
    put_blob(&http, base, repo, &layer, auth).await;
    put_blob(&http, base, repo, config.as_bytes(), auth).await;
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{}","size":{}}}]}}"#,
        sha256(config.as_bytes()),
        config.len(),
        sha256(&layer),
        layer.len()
    );
    put_manifest(
        &http,
        base,
        repo,
        tag,
        manifest.into_bytes(),
        "application/vnd.oci.image.manifest.v1+json",
        auth,
    )
    .await
}

async fn put_manifest(
    http: &reqwest::Client,
    base: &str,
    repo: &str,
    tag: &str,
    body: Vec<u8>,
    content_type: &str,
    auth: &PushAuth,
) -> String {
    let digest = sha256(&body);
    let response = auth
        .apply(http.put(format!("{base}/v2/{repo}/manifests/{tag}")))
        .header(header::CONTENT_TYPE, content_type)
        .body(body)
        .send()
        .await
        .expect("PUT manifest");
    assert_eq!(
        response.status(),
        StatusCode::CREATED,
        "PUT manifest {repo}:{tag}"
    );
    let answered = response
        .headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok());
    assert_eq!(answered, Some(digest.as_str()), "digest of {repo}:{tag}");
    digest
}

async fn get_manifest(
    http: &reqwest::Client,
    base: &str,
    repo: &str,
    tag: &str,
    auth: &PushAuth,
) -> (Vec<u8>, String) {
    let response = auth
        .apply(http.get(format!("{base}/v2/{repo}/manifests/{tag}")))
        .header(header::ACCEPT, MANIFEST_ACCEPT)
        .send()
        .await
        .expect("GET manifest");
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "GET manifest {repo}:{tag}"
    );
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .expect("manifest Content-Type")
        .to_owned();
    (
        response.bytes().await.expect("manifest body").to_vec(),
        content_type,
    )
}

/// Points `to` at the manifest of `from` (GET, then PUT the same bytes): no blob traffic.
pub async fn retag(base: &str, repo: &str, from: &str, to: &str, auth: &PushAuth) -> String {
    let http = test_http_client();
    let (body, content_type) = get_manifest(&http, base, repo, from, auth).await;
    put_manifest(&http, base, repo, to, body, &content_type, auth).await
}

/// [`retag`] for many tags: one GET, then the PUTs, eight at a time.
pub async fn retag_many(base: &str, repo: &str, from: &str, tags: &[String], auth: &PushAuth) {
    let http = test_http_client();
    let (body, content_type) = get_manifest(&http, base, repo, from, auth).await;
    let limit = Arc::new(tokio::sync::Semaphore::new(8));
    let mut tasks = tokio::task::JoinSet::new();
    for tag in tags {
        let permit = limit.clone().acquire_owned().await.expect("semaphore");
        let (http, base, repo, tag) = (http.clone(), base.to_owned(), repo.to_owned(), tag.clone());
        let (body, content_type, auth) = (body.clone(), content_type.clone(), auth.clone());
        tasks.spawn(async move {
            put_manifest(&http, &base, &repo, &tag, body, &content_type, &auth).await;
            drop(permit);
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("retag task");
    }
}

/// How [`FakeRegistry`] behaves.
#[derive(Debug, Clone, Default)]
#[allow(clippy::struct_excessive_bools)] // independent switches, set by name in each test
pub struct Behaviour {
    /// Honour `n`, but never return more than this many tags per page.
    pub page_cap: Option<usize>,
    /// Ignore `n` and `last`: return every tag in the given (unsorted) order.
    pub ignore_n: bool,
    /// With `ignore_n`: send a `Link` anyway (a broken server).
    pub link_anyway: bool,
    /// Answer 400 when `n` is larger than this (Quay).
    pub reject_n_over: Option<usize>,
    /// Always send the same `Link` (a loop).
    pub loop_link: bool,
    /// Answer `{"tags": null}`.
    pub null_tags: bool,
    /// Statuses (with `Retry-After`) to answer tag requests with first, in order.
    pub fail_first: Vec<(u16, Option<String>)>,
    /// Send `Docker-Content-Digest` on manifests.
    pub digest_header: bool,
    /// Answer tag requests only after this long.
    pub delay: Option<Duration>,
}

struct FakeState {
    tags: Vec<String>,
    behaviour: Behaviour,
    failures: Mutex<VecDeque<(u16, Option<String>)>>,
    requests: Mutex<Vec<String>>,
}

/// An axum registry on `127.0.0.1:0`, aborted on drop. Serves `/v2/`, tag lists by the spec
/// (sorted, `n`, exclusive `last`, relative `Link`) or per [`Behaviour`], and manifests
/// (404 unless the `Accept` lists all four manifest types).
pub struct FakeRegistry {
    /// `127.0.0.1:<port>`.
    pub host: String,
    state: Arc<FakeState>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeRegistry {
    /// Serves `tags` (sorted, unless `ignore_n`).
    pub async fn start(tags: Vec<String>, behaviour: Behaviour) -> FakeRegistry {
        let mut tags = tags;
        if !behaviour.ignore_n {
            tags.sort();
        }
        let state = Arc::new(FakeState {
            tags,
            failures: Mutex::new(behaviour.fail_first.iter().cloned().collect()),
            behaviour,
            requests: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .fallback(fake_handler)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake registry");
        let host = listener.local_addr().expect("local addr").to_string();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeRegistry { host, state, task }
    }

    /// Every request so far as `METHOD path?query`.
    pub fn requests(&self) -> Vec<String> {
        self.state.requests.lock().expect("requests").clone()
    }

    /// How many requests went to a path containing `fragment`.
    pub fn count(&self, fragment: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.contains(fragment))
            .count()
    }
}

impl Drop for FakeRegistry {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn json(status: StatusCode, body: String) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .expect("response")
}

fn registry_error(status: StatusCode, code: &str, message: &str) -> Response {
    json(
        status,
        format!(r#"{{"errors":[{{"code":"{code}","message":"{message}","detail":{{}}}}]}}"#),
    )
}

async fn fake_handler(
    axum::extract::State(state): axum::extract::State<Arc<FakeState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let path = uri.path().to_owned();
    let query = uri.query().unwrap_or("").to_owned();
    state
        .requests
        .lock()
        .expect("requests")
        .push(format!("{method} {path}?{query}"));
    if path == "/v2/" {
        return json(StatusCode::OK, "{}".into());
    }
    let Some(rest) = path.strip_prefix("/v2/") else {
        return registry_error(StatusCode::NOT_FOUND, "NOT_FOUND", "not found");
    };
    if let Some(name) = rest.strip_suffix("/tags/list") {
        if let Some(delay) = state.behaviour.delay {
            tokio::time::sleep(delay).await;
        }
        return fake_tags(&state, name, &query);
    }
    if let Some((name, reference)) = rest.split_once("/manifests/") {
        return fake_manifest(&state, name, reference, &headers);
    }
    registry_error(StatusCode::NOT_FOUND, "NOT_FOUND", "not found")
}

fn fake_tags(state: &FakeState, name: &str, query: &str) -> Response {
    if let Some((status, retry_after)) = state.failures.lock().expect("failures").pop_front() {
        let code = match status {
            429 => "TOOMANYREQUESTS",
            403 => "DENIED",
            401 => "UNAUTHORIZED",
            _ => "UNAVAILABLE",
        };
        let mut response = registry_error(
            StatusCode::from_u16(status).expect("status"),
            code,
            "as configured",
        );
        if let Some(value) = retry_after {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_str(&value).expect("Retry-After"),
            );
        }
        return response;
    }
    let params: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let param = |k: &str| {
        params
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    let n: Option<usize> = param("n").and_then(|v| v.parse().ok());
    let last = param("last");
    let b = &state.behaviour;
    if let (Some(limit), Some(n)) = (b.reject_n_over, n)
        && n > limit
    {
        return registry_error(
            StatusCode::BAD_REQUEST,
            "PAGINATION_NUMBER_INVALID",
            "n too large",
        );
    }
    let body_for = |tags: &[String]| {
        if b.null_tags {
            format!(r#"{{"name":"{name}","tags":null}}"#)
        } else {
            serde_json::json!({"name": name, "tags": tags}).to_string()
        }
    };
    if b.ignore_n {
        let mut response = json(StatusCode::OK, body_for(&state.tags));
        if b.link_anyway {
            let link = format!(
                "</v2/{name}/tags/list?n={}&last=zzz>; rel=\"next\"",
                n.unwrap_or(100)
            );
            response
                .headers_mut()
                .insert(header::LINK, HeaderValue::from_str(&link).expect("Link"));
        }
        return response;
    }
    let after: Vec<String> = state
        .tags
        .iter()
        .filter(|t| last.as_ref().is_none_or(|l| t.as_str() > l.as_str()))
        .cloned()
        .collect();
    let size = n
        .unwrap_or(after.len())
        .min(b.page_cap.unwrap_or(usize::MAX));
    let page: Vec<String> = after.iter().take(size).cloned().collect();
    let mut response = json(StatusCode::OK, body_for(&page));
    let more = size > 0 && after.len() > page.len();
    let link = if b.loop_link {
        Some(format!(
            "</v2/{name}/tags/list?n={}&last=loop>; rel=\"next\"",
            n.unwrap_or(0)
        ))
    } else if more {
        let last = page.last().expect("non-empty page");
        Some(format!(
            "</v2/{name}/tags/list?n={}&last={last}>; rel=\"next\"",
            n.unwrap_or(size)
        ))
    } else {
        None
    };
    if let Some(link) = link {
        response
            .headers_mut()
            .insert(header::LINK, HeaderValue::from_str(&link).expect("Link"));
    }
    response
}

/// The manifest body the fake serves for `tag`.
pub fn fake_manifest_body(tag: &str) -> String {
    format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","annotations":{{"tag":"{tag}"}}}}"#
    )
}

fn fake_manifest(state: &FakeState, _name: &str, reference: &str, headers: &HeaderMap) -> Response {
    let accept = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    let wanted: BTreeSet<&str> = MANIFEST_ACCEPT.split(", ").collect();
    let offered: BTreeSet<&str> = accept.split(',').map(str::trim).collect();
    if !wanted.is_subset(&offered) || !state.tags.iter().any(|t| t == reference) {
        return registry_error(
            StatusCode::NOT_FOUND,
            "MANIFEST_UNKNOWN",
            "manifest unknown",
        );
    }
    let body = fake_manifest_body(reference);
    let mut response = Response::builder()
        .status(StatusCode::OK)
        .header(
            header::CONTENT_TYPE,
            "application/vnd.oci.image.manifest.v1+json",
        )
        .header(header::CONTENT_LENGTH, body.len());
    if state.behaviour.digest_header {
        response = response.header("docker-content-digest", sha256(body.as_bytes()));
    }
    response.body(Body::from(body)).expect("response")
}
