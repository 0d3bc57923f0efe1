//! The per-host client: one connection pool, one `/v2/` probe, the auth flow and retries.

use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER, WARNING, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};
use tokio::sync::{OnceCell, Semaphore};
use url::Url;

use super::auth::{self, Challenge, IssuedToken, Scheme, TokenCache};
use super::error::{HintContext, RegistryError, error_detail, status_hint};
use super::reference;
use crate::secret::Secret;

/// Attempts per request, the first included, for 429/503/5xx and connect or timeout errors.
const MAX_ATTEMPTS: u32 = 4;
/// No single wait between attempts is longer than this, whatever `Retry-After` says.
const MAX_WAIT: Duration = Duration::from_secs(30);
/// First backoff step after a transport error or a 5xx.
const ERROR_BACKOFF: Duration = Duration::from_millis(250);
/// First backoff step after a 429/503 that names no `Retry-After`.
const RATE_BACKOFF: Duration = Duration::from_secs(1);

/// Credentials for one registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// User name and password (or a Harbor robot's name and secret). Sent as `Basic` after a
    /// `Basic` challenge, and to the token service after a `Bearer` challenge.
    Basic {
        /// The user name, e.g. `robot$homelab+deckhand`.
        username: String,
        /// The password or robot secret.
        password: Secret,
    },
    /// A docker `identitytoken` (an `OAuth2` refresh token). Exchanged at the token service with
    /// `grant_type=refresh_token`; sent directly as a bearer token to a registry that
    /// challenges with `Basic`.
    IdentityToken(Secret),
}

impl Credentials {
    pub(crate) fn username(&self) -> Option<&str> {
        match self {
            Credentials::Basic { username, .. } => Some(username),
            Credentials::IdentityToken(_) => None,
        }
    }
}

/// How to reach one registry host.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// Plain HTTP instead of HTTPS, and no TLS certificate verification (for a redirect or a
    /// token service on HTTPS).
    pub insecure: bool,
    /// An extra PEM CA certificate (bundle) to trust for this registry.
    pub ca_file: Option<PathBuf>,
    /// Credentials. `None` → the docker config (`$DOCKER_CONFIG/config.json`, else
    /// `~/.docker/config.json`, credential helpers included), else anonymous.
    pub credentials: Option<Credentials>,
    /// Timeout of each HTTP request (connect included).
    pub timeout: Duration,
    /// Requests in flight to this host at once (at least 1).
    pub max_concurrency: usize,
    /// Extra PEM CA certificates given inline (a Flux `certSecretRef` Secret's `ca.crt`).
    pub ca_pem: Option<Vec<u8>>,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            insecure: false,
            ca_file: None,
            credentials: None,
            timeout: Duration::from_secs(30),
            max_concurrency: 4,
            ca_pem: None,
        }
    }
}

/// One client per registry host: one connection pool, one `/v2/` probe, shared token cache,
/// and a cap on requests in flight. Cheap to share behind an `Arc`.
pub struct RegistryClient {
    /// `host[:port]` as used in hints and docker config lookups.
    pub(crate) host: String,
    /// `http(s)://host[:port]/`.
    pub(crate) base: Url,
    http: reqwest::Client,
    timeout: Duration,
    insecure: bool,
    configured: Option<Credentials>,
    credentials: OnceCell<Option<Credentials>>,
    ping: OnceCell<()>,
    /// Whether the host is a Harbor (probed once, see `harbor.rs`).
    pub(crate) harbor: OnceCell<bool>,
    scheme: Mutex<Scheme>,
    tokens: TokenCache,
    limit: Semaphore,
}

impl fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryClient")
            .field("base", &self.base.as_str())
            .field("timeout", &self.timeout)
            .field("credentials", &self.configured)
            .field("tokens", &self.tokens)
            .finish_non_exhaustive()
    }
}

/// One request as the auth and retry layers see it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Call<'a> {
    pub method: &'a Method,
    pub url: &'a Url,
    pub accept: Option<&'a str>,
    /// The repository, for the token scope and hints (`None` for `/v2/`).
    pub repository: Option<&'a str>,
    /// The tag, for hints.
    pub tag: Option<&'a str>,
}

/// A response read in full.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// How many attempts it took.
    pub attempts: u32,
}

/// What to put into the `Authorization` header.
#[derive(Clone)]
enum Authorization {
    None,
    Basic(String, Secret),
    Bearer(Secret),
}

impl RegistryClient {
    /// Builds the client for `host` (`host[:port]`; `docker.io` means Docker Hub's API host).
    /// No network traffic happens here; the `/v2/` probe runs on first use.
    ///
    /// # Errors
    ///
    /// An invalid host, an unreadable or unusable `ca_file`, or a TLS setup failure.
    pub fn new(host: &str, options: RegistryOptions) -> Result<RegistryClient, RegistryError> {
        let host = reference::api_host(host);
        reference::check_host(&host).map_err(|reason| RegistryError::InvalidHost {
            host: host.clone(),
            reason,
        })?;
        let scheme = if options.insecure { "http" } else { "https" };
        let base =
            Url::parse(&format!("{scheme}://{host}/")).map_err(|e| RegistryError::InvalidHost {
                host: host.clone(),
                reason: e.to_string(),
            })?;
        install_crypto_provider();
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("deckhand/", env!("CARGO_PKG_VERSION")))
            .timeout(options.timeout)
            .connect_timeout(options.timeout);
        if options.insecure {
            builder = builder.tls_danger_accept_invalid_certs(true);
        }
        if let Some(path) = &options.ca_file {
            let pem = std::fs::read(path).map_err(|source| RegistryError::CaFile {
                host: host.clone(),
                path: path.clone(),
                source,
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|source| {
                RegistryError::CaCert {
                    host: host.clone(),
                    path: path.clone(),
                    source,
                }
            })?;
            builder = builder.tls_certs_merge(certs);
        }
        if let Some(pem) = &options.ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem).map_err(|source| {
                RegistryError::CaCert {
                    host: host.clone(),
                    path: PathBuf::from("<certSecretRef ca.crt>"),
                    source,
                }
            })?;
            builder = builder.tls_certs_merge(certs);
        }
        let http = builder
            .build()
            .map_err(|source| RegistryError::ClientSetup {
                host: host.clone(),
                source,
            })?;
        Ok(RegistryClient {
            host,
            base,
            http,
            timeout: options.timeout,
            insecure: options.insecure,
            configured: options.credentials,
            credentials: OnceCell::new(),
            ping: OnceCell::new(),
            harbor: OnceCell::new(),
            scheme: Mutex::new(Scheme::Anonymous),
            tokens: TokenCache::default(),
            limit: Semaphore::new(options.max_concurrency.max(1)),
        })
    }

    /// `<base>v2/<path>`.
    pub(crate) fn api_url(&self, path: &str) -> Result<Url, RegistryError> {
        self.base
            .join(&format!("v2/{path}"))
            .map_err(|e| RegistryError::InvalidHost {
                host: self.host.clone(),
                reason: format!("cannot build a URL for `{path}`: {e}"),
            })
    }

    /// Sends `call` with authentication and retries; returns the answer when it is 2xx, and
    /// an error with a hint otherwise.
    pub(crate) async fn execute(&self, call: Call<'_>) -> Result<Answer, RegistryError> {
        self.ensure_ping().await?;
        let mut scopes: Vec<String> = call.repository.map(auth::pull_scope).into_iter().collect();
        let mut auth_retries = 0;
        let mut dropped_token = false;
        loop {
            let authorization = self.authorization(&scopes).await?;
            let answer = self.send(call, &authorization).await?;
            if answer.status == StatusCode::UNAUTHORIZED && auth_retries < 2 {
                let challenges = challenges(&answer.headers);
                if self
                    .should_retry_after_401(
                        &challenges,
                        &authorization,
                        &mut scopes,
                        &mut dropped_token,
                    )
                    .await?
                {
                    auth_retries += 1;
                    continue;
                }
            }
            if answer.status.is_success() {
                return Ok(answer);
            }
            let bearer = matches!(authorization, Authorization::Bearer(_));
            return Err(self.status_error(call, &answer, bearer).await);
        }
    }

    /// The error for a non-2xx answer.
    async fn status_error(&self, call: Call<'_>, answer: &Answer, bearer: bool) -> RegistryError {
        let credentials = self.credentials().await;
        let cx = HintContext {
            host: &self.host,
            repository: call.repository,
            tag: call.tag,
            user: credentials.and_then(Credentials::username),
            has_credentials: credentials.is_some(),
            bearer,
            attempts: answer.attempts,
        };
        RegistryError::Status {
            url: call.url.to_string(),
            status: answer.status,
            detail: error_detail(&answer.body),
            hint: status_hint(answer.status, &cx),
        }
    }

    /// Probes `GET /v2/` once per client (concurrent callers wait for the same probe) and
    /// learns the auth scheme from its challenge. A failed probe is retried by the next call.
    async fn ensure_ping(&self) -> Result<(), RegistryError> {
        self.ping
            .get_or_try_init(|| async {
                let url = self.api_url("")?;
                let call = Call {
                    method: &Method::GET,
                    url: &url,
                    accept: None,
                    repository: None,
                    tag: None,
                };
                let answer = self.send(call, &Authorization::None).await?;
                if answer.status == StatusCode::UNAUTHORIZED {
                    let challenges = challenges(&answer.headers);
                    if !self.learn(&challenges, &url)? {
                        tracing::warn!(
                            registry = %self.host,
                            "the /v2/ probe answered 401 without a usable challenge"
                        );
                    }
                    Ok(())
                } else if answer.status.is_success() {
                    Ok(())
                } else {
                    Err(self.status_error(call, &answer, false).await)
                }
            })
            .await
            .copied()
    }

    /// Records the scheme of the first usable challenge. Returns whether there was one.
    fn learn(&self, challenges: &[Challenge], url: &Url) -> Result<bool, RegistryError> {
        let learned = challenges.iter().find_map(|c| match c {
            Challenge::Bearer(b) => Some(b),
            _ => None,
        });
        let scheme = match learned {
            Some(bearer) => {
                let realm =
                    Url::parse(&bearer.realm).map_err(|e| RegistryError::InvalidResponse {
                        url: url.to_string(),
                        reason: format!("the token realm `{}` is not a URL ({e})", bearer.realm),
                    })?;
                Scheme::Bearer {
                    realm,
                    service: bearer.service.clone(),
                }
            }
            _ if challenges.contains(&Challenge::Basic) => Scheme::Basic,
            _ => return Ok(false),
        };
        let mut current = self.scheme.lock().unwrap_or_else(PoisonError::into_inner);
        if *current != scheme {
            if let Scheme::Bearer { realm, service } = &scheme {
                // Harbor's realm follows its external URL, which may differ from the address
                // deckhand uses: worth seeing when token fetches fail.
                tracing::debug!(
                    registry = %self.host,
                    realm = %realm,
                    service = service.as_deref().unwrap_or(""),
                    "registry uses a token service"
                );
            }
            *current = scheme;
        }
        Ok(true)
    }

    /// Decides whether a 401 is worth one more try, and prepares it.
    async fn should_retry_after_401(
        &self,
        challenges: &[Challenge],
        sent: &Authorization,
        scopes: &mut Vec<String>,
        dropped_token: &mut bool,
    ) -> Result<bool, RegistryError> {
        let scheme_before = self.current_scheme();
        if !self.learn(challenges, &self.base)? {
            return Ok(false);
        }
        let bearer = challenges.iter().find_map(|c| match c {
            Challenge::Bearer(b) => Some(b),
            _ => None,
        });
        match (bearer, sent) {
            (Some(challenge), Authorization::Bearer(token)) => {
                match challenge.error.as_deref() {
                    Some("insufficient_scope") => {
                        // Only a different scope can help; the same scope again means the
                        // account lacks the permission.
                        if challenge.scopes.is_empty()
                            || auth::scope_key(&challenge.scopes) == auth::scope_key(scopes)
                        {
                            return Ok(false);
                        }
                        scopes.clone_from(&challenge.scopes);
                        Ok(true)
                    }
                    // `invalid_token` (expired or revoked) or no reason at all: drop the
                    // token and fetch a fresh one, once.
                    _ if !*dropped_token => {
                        self.tokens.invalidate(scopes, token).await;
                        *dropped_token = true;
                        Ok(true)
                    }
                    _ => Ok(false),
                }
            }
            (Some(challenge), _) => {
                if scopes.is_empty() && !challenge.scopes.is_empty() {
                    scopes.clone_from(&challenge.scopes);
                }
                Ok(true)
            }
            (None, Authorization::None) => {
                // A Basic challenge: retry only if there is something to send now.
                let has_credentials = self.credentials().await.is_some();
                Ok(has_credentials && scheme_before != Scheme::Basic)
            }
            (None, _) => Ok(false),
        }
    }

    fn current_scheme(&self) -> Scheme {
        self.scheme
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The `Authorization` to send for `scopes` under the scheme learned so far.
    async fn authorization(&self, scopes: &[String]) -> Result<Authorization, RegistryError> {
        match self.current_scheme() {
            Scheme::Anonymous => Ok(Authorization::None),
            Scheme::Basic => Ok(match self.credentials().await {
                Some(Credentials::Basic { username, password }) => {
                    Authorization::Basic(username.clone(), password.clone())
                }
                Some(Credentials::IdentityToken(token)) => Authorization::Bearer(token.clone()),
                None => Authorization::None,
            }),
            Scheme::Bearer { realm, service } => {
                let token = self
                    .tokens
                    .get_or_fetch(scopes, || {
                        self.fetch_token(&realm, service.as_deref(), scopes)
                    })
                    .await?;
                Ok(Authorization::Bearer(token))
            }
        }
    }

    /// Asks the token service for a token: `GET realm?service=…&scope=…` (Basic credentials
    /// when configured), or the `OAuth2` refresh-token `POST` for an identity token.
    async fn fetch_token(
        &self,
        realm: &Url,
        service: Option<&str>,
        scopes: &[String],
    ) -> Result<IssuedToken, RegistryError> {
        let credentials = self.credentials().await;
        if credentials.is_some() && realm.scheme() != "https" && !self.insecure {
            return Err(RegistryError::InsecureRealm {
                host: self.host.clone(),
                url: realm.to_string(),
            });
        }
        let mut url = realm.clone();
        let answer = if let Some(Credentials::IdentityToken(refresh)) = credentials {
            // The serializer is not Send: finish it before any await.
            let body = {
                let mut form = url::form_urlencoded::Serializer::new(String::new());
                form.append_pair("grant_type", "refresh_token")
                    .append_pair("client_id", "deckhand")
                    .append_pair("refresh_token", refresh.expose());
                if let Some(service) = service {
                    form.append_pair("service", service);
                }
                if !scopes.is_empty() {
                    form.append_pair("scope", &scopes.join(" "));
                }
                form.finish()
            };
            self.send_raw(&Method::POST, &url, |b| {
                b.header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(body.clone())
            })
            .await?
        } else {
            {
                let mut query = url.query_pairs_mut();
                if let Some(service) = service {
                    query.append_pair("service", service);
                }
                for scope in scopes {
                    query.append_pair("scope", scope);
                }
                if let Some(user) = credentials.and_then(Credentials::username) {
                    query.append_pair("account", user);
                }
            }
            let basic = match credentials {
                Some(Credentials::Basic { username, password }) => {
                    Some((username.clone(), password.clone()))
                }
                _ => None,
            };
            self.send_raw(&Method::GET, &url, |b| match &basic {
                Some((user, password)) => b.basic_auth(user, Some(password.expose())),
                None => b,
            })
            .await?
        };
        if !answer.status.is_success() {
            let who = credentials
                .and_then(Credentials::username)
                .map_or_else(String::new, |u| format!(" (user `{u}`)"));
            let host = &self.host;
            let hint = match answer.status.as_u16() {
                401 | 403 if credentials.is_some() => {
                    format!("the token service rejected the credentials for {host}{who}")
                }
                401 | 403 => format!(
                    "the token service refuses anonymous tokens: configure credentials for {host}"
                ),
                404 | 405 => format!(
                    "the registry {host} named this token service; check that it is reachable \
                     from here (Harbor's realm follows its configured external URL)"
                ),
                _ => "the token service failed".to_owned(),
            };
            return Err(RegistryError::TokenStatus {
                url: url.to_string(),
                status: answer.status,
                detail: error_detail(&answer.body),
                hint,
            });
        }
        auth::parse_token_response(&answer.body).map_err(|reason| RegistryError::InvalidResponse {
            url: url.to_string(),
            reason,
        })
    }

    /// The credentials in force: the configured ones, else the docker config's, else none.
    /// The docker config is read once, off the async threads (helpers may run).
    pub(crate) async fn credentials(&self) -> Option<&Credentials> {
        self.credentials
            .get_or_init(|| async {
                match &self.configured {
                    Some(credentials) => Some(credentials.clone()),
                    None => docker_config_credentials(&self.host).await,
                }
            })
            .await
            .as_ref()
    }

    /// Sends a registry request with `authorization`, with retries.
    async fn send(
        &self,
        call: Call<'_>,
        authorization: &Authorization,
    ) -> Result<Answer, RegistryError> {
        self.send_raw(call.method, call.url, |mut b| {
            if let Some(accept) = call.accept {
                b = b.header(reqwest::header::ACCEPT, accept);
            }
            match authorization {
                Authorization::None => b,
                Authorization::Basic(user, password) => b.basic_auth(user, Some(password.expose())),
                Authorization::Bearer(token) => b.bearer_auth(token.expose()),
            }
        })
        .await
    }

    /// Sends one request, retrying 429/503 (after `Retry-After`), other 5xx, and connect or
    /// timeout errors with a bounded exponential backoff; never other 4xx. Each attempt holds a
    /// concurrency permit until its body is read.
    pub(crate) async fn send_raw(
        &self,
        method: &Method,
        url: &Url,
        build: impl Fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> Result<Answer, RegistryError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt >= MAX_ATTEMPTS;
            let permit = self.limit.acquire().await.ok();
            tracing::trace!(%method, %url, attempt, "registry request");
            let result = build(self.http.request(method.clone(), url.clone()))
                .send()
                .await;
            let wait = match result {
                Ok(response) => {
                    let status = response.status();
                    let headers = response.headers().clone();
                    log_advisories(url, &headers);
                    let retry = status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
                    if retry && !last {
                        drop(permit);
                        let wait = if matches!(status.as_u16(), 429 | 503) {
                            retry_after(&headers, SystemTime::now())
                                .unwrap_or_else(|| backoff(RATE_BACKOFF, attempt))
                        } else {
                            backoff(ERROR_BACKOFF, attempt)
                        };
                        tracing::debug!(%url, %status, ?wait, attempt, "registry asked to retry");
                        wait.min(MAX_WAIT)
                    } else {
                        let body = response.bytes().await;
                        drop(permit);
                        match body {
                            Ok(body) => {
                                return Ok(Answer {
                                    status,
                                    headers,
                                    body: body.to_vec(),
                                    attempts: attempt,
                                });
                            }
                            Err(e) if e.is_timeout() && !last => backoff(ERROR_BACKOFF, attempt),
                            Err(e) => return Err(self.transport_error(url, e, attempt)),
                        }
                    }
                }
                Err(e) if (e.is_connect() || e.is_timeout()) && !last => {
                    drop(permit);
                    tracing::debug!(%url, error = %e, attempt, "registry request failed; retrying");
                    backoff(ERROR_BACKOFF, attempt)
                }
                Err(e) => return Err(self.transport_error(url, e, attempt)),
            };
            tokio::time::sleep(wait).await;
        }
    }

    fn transport_error(&self, url: &Url, error: reqwest::Error, attempts: u32) -> RegistryError {
        let url = error.url().cloned().unwrap_or_else(|| url.clone());
        if error.is_timeout() {
            RegistryError::Timeout {
                url: url.to_string(),
                timeout: self.timeout,
                attempts,
            }
        } else if error.is_connect() {
            let host = match (url.host_str(), url.port()) {
                (Some(name), Some(port)) => format!("{name}:{port}"),
                (Some(name), None) => name.to_owned(),
                (None, _) => self.host.clone(),
            };
            let hint = if url.scheme() == "https" {
                format!(
                    "is the registry up at {host}, and does it speak HTTPS with a trusted \
                     certificate? mark the registry `insecure` for plain HTTP, or give a `caFile` \
                     for a private CA (gave up after {attempts} attempts)"
                )
            } else {
                format!(
                    "is the registry up at {host}? (plain HTTP, as the registry is marked \
                     `insecure`; gave up after {attempts} attempts)"
                )
            };
            RegistryError::Connect {
                url: url.to_string(),
                hint,
                source: error,
            }
        } else {
            RegistryError::Request {
                url: url.to_string(),
                source: error,
            }
        }
    }
}

/// All challenges of all `WWW-Authenticate` headers.
/// Makes rustls use the ring provider for every TLS client of this process (reqwest is built
/// without a provider of its own). Idempotent; call before building a `reqwest::Client`.
pub fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Fails only when a provider is installed already, which is just as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

fn challenges(headers: &HeaderMap) -> Vec<Challenge> {
    headers
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(auth::parse_challenges)
        .collect()
}

/// Logs `Warning` headers (spec: log, don't act) and Docker Hub's remaining pull budget.
fn log_advisories(url: &Url, headers: &HeaderMap) {
    for warning in headers.get_all(WARNING) {
        tracing::debug!(%url, warning = %String::from_utf8_lossy(warning.as_bytes()), "registry warning");
    }
    if let Some(remaining) = headers
        .get("ratelimit-remaining")
        .and_then(|v| v.to_str().ok())
    {
        tracing::debug!(%url, remaining, "registry rate limit");
    }
}

/// Reads `Retry-After`: delta-seconds or an HTTP-date (a date in the past means now).
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    parse_retry_after(headers.get(RETRY_AFTER)?, now)
}

fn parse_retry_after(value: &HeaderValue, now: SystemTime) -> Option<Duration> {
    let text = value.to_str().ok()?.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(text).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// `base × 2^(attempt−1)` plus up to 50 % jitter, capped at [`MAX_WAIT`].
fn backoff(base: Duration, attempt: u32) -> Duration {
    let step = base.saturating_mul(1 << attempt.saturating_sub(1).min(16));
    // RandomState is seeded randomly per instance: enough jitter without a rand dependency.
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    #[allow(clippy::cast_precision_loss)]
    let fraction = (random % 1000) as f64 / 2000.0;
    (step + step.mul_f64(fraction)).min(MAX_WAIT)
}

/// Credentials for `host` from the docker config; `None` when there are none (or they cannot
/// be read, which is logged).
pub(crate) async fn docker_config_credentials(host: &str) -> Option<Credentials> {
    use docker_credential::{CredentialRetrievalError as E, DockerCredential};
    let server = host.to_owned();
    let lookup =
        tokio::task::spawn_blocking(move || docker_credential::get_credential(&server)).await;
    match lookup {
        Ok(Ok(DockerCredential::UsernamePassword(username, password))) => {
            tracing::debug!(registry = host, %username, "using credentials from the docker config");
            Some(Credentials::Basic {
                username,
                password: Secret::new(password),
            })
        }
        Ok(Ok(DockerCredential::IdentityToken(token))) => {
            tracing::debug!(
                registry = host,
                "using an identity token from the docker config"
            );
            Some(Credentials::IdentityToken(Secret::new(token)))
        }
        Ok(Err(E::NoCredentialConfigured | E::ConfigNotFound)) => None,
        Ok(Err(E::ConfigReadError)) => {
            // The crate says this both for a missing file and for an unreadable one.
            if docker_config_path().is_some_and(|p| p.exists()) {
                tracing::warn!(
                    registry = host,
                    "cannot read the docker config; going anonymous"
                );
            }
            None
        }
        Ok(Err(error)) => {
            // Never log the helper's output: it may hold the secret.
            let what = match error {
                E::HelperFailure { helper, .. } => format!("credential helper `{helper}` failed"),
                E::HelperCommunicationError => "cannot run the credential helper".to_owned(),
                E::MalformedHelperResponse => "the credential helper answered nonsense".to_owned(),
                E::CredentialDecodingError => {
                    "the `auth` entry is not base64 of user:password".to_owned()
                }
                E::CredentialMismatchError => {
                    "`auth` disagrees with `username`/`password`".to_owned()
                }
                _ => "lookup failed".to_owned(),
            };
            tracing::warn!(
                registry = host,
                "docker config credentials: {what}; going anonymous"
            );
            None
        }
        Err(join) => {
            tracing::warn!(registry = host, error = %join, "docker config lookup panicked; going anonymous");
            None
        }
    }
}

/// Where `docker_credential` looks: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
fn docker_config_path() -> Option<PathBuf> {
    std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")))
        .map(|dir| dir.join("config.json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2026 07:28:00 GMT").unwrap();
        #[rustfmt::skip]
        let cases = [
            ("120",                           Some(120)),
            (" 0 ",                           Some(0)),
            ("Wed, 21 Oct 2026 07:28:30 GMT", Some(30)),
            ("Wed, 21 Oct 2026 07:27:00 GMT", Some(0)),   // in the past: now
            ("Wednesday, 21-Oct-26 07:28:10 GMT", Some(10)), // RFC 850 form
            ("-5",                            None),
            ("soon",                          None),
            ("1.5",                           None),
        ];
        for (value, want) in cases {
            let got = parse_retry_after(&HeaderValue::from_static(value), now);
            assert_eq!(got, want.map(Duration::from_secs), "{value}");
        }
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        for attempt in 1..=3 {
            let base = ERROR_BACKOFF * (1 << (attempt - 1));
            let got = backoff(ERROR_BACKOFF, attempt);
            assert!(got >= base && got <= base + base / 2, "{attempt}: {got:?}");
        }
        assert_eq!(backoff(Duration::from_secs(20), 5), MAX_WAIT);
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let client = RegistryClient::new(
            "127.0.0.1:5000",
            RegistryOptions {
                insecure: true,
                credentials: Some(Credentials::Basic {
                    username: "robot$x+y".into(),
                    password: Secret::new("hunter2"),
                }),
                ..RegistryOptions::default()
            },
        )
        .unwrap();
        let debug = format!("{client:?}");
        assert!(
            debug.contains("robot$x+y") && !debug.contains("hunter2"),
            "{debug}"
        );
        let token = Credentials::IdentityToken(Secret::new("refresh-me"));
        assert!(!format!("{token:?}").contains("refresh-me"));
    }

    #[test]
    fn new_validates_host_and_ca_file() {
        assert_eq!(
            RegistryClient::new("docker.io", RegistryOptions::default())
                .unwrap()
                .base
                .as_str(),
            "https://registry-1.docker.io/"
        );
        let plain = RegistryOptions {
            insecure: true,
            ..RegistryOptions::default()
        };
        assert_eq!(
            RegistryClient::new("Harbor.lan:5000", plain)
                .unwrap()
                .base
                .as_str(),
            "http://harbor.lan:5000/"
        );
        let err = RegistryClient::new("bad host", RegistryOptions::default()).unwrap_err();
        assert!(err.to_string().contains("`bad host`"), "{err}");
        let missing = RegistryOptions {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..RegistryOptions::default()
        };
        let err = RegistryClient::new("harbor.lan", missing).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    }
}
