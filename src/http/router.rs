//! The daemon's HTTP endpoints: `POST /hooks/{harbor,registry,generic}`, `GET /metrics`,
//! `GET /healthz`, `GET /readyz`.
//!
//! A webhook is checked in this order: secret (401), body size (413), payload (400); a valid one
//! is answered 202 at once — Harbor gives up after 3 s — and the matching repositories are handed
//! to the scheduler over its bounded channel. When that channel is full the answer is 503 with
//! `Retry-After`, and the sender (Harbor, the registry) retries.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::mpsc;

use super::hooks::{self, Event, Source};
use super::metrics::Metrics;
use crate::config::Config;
use crate::daemon::scheduler::Trigger;
use crate::secret::Secret;

/// What the handlers share.
#[derive(Debug)]
pub struct AppState {
    /// The configuration (repositories to match events against).
    pub config: Arc<Config>,
    /// The webhook secret.
    pub secret: Secret,
    /// The scheduler's intake.
    pub triggers: mpsc::Sender<Trigger>,
    /// The metrics.
    pub metrics: Arc<Metrics>,
    /// Every repository has been scanned once.
    pub ready: Arc<AtomicBool>,
    /// Shutdown has begun.
    pub stopping: Arc<AtomicBool>,
    /// Largest webhook body accepted.
    pub max_body_bytes: usize,
}

/// The router.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/hooks/{source}", post(hook))
        .with_state(state)
}

fn text(status: StatusCode, body: impl Into<String>) -> Response {
    let mut body = body.into();
    body.push('\n');
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

async fn healthz() -> Response {
    text(StatusCode::OK, "ok")
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if state.stopping.load(Ordering::Relaxed) {
        text(StatusCode::SERVICE_UNAVAILABLE, "shutting down")
    } else if state.ready.load(Ordering::Relaxed) {
        text(StatusCode::OK, "ready")
    } else {
        text(
            StatusCode::SERVICE_UNAVAILABLE,
            "first scan of the repositories not finished",
        )
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    match state.metrics.encode() {
        Ok(body) => {
            let mut response = (StatusCode::OK, body).into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            );
            response
        }
        Err(_) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot encode the metrics",
        ),
    }
}

async fn hook(
    State(state): State<Arc<AppState>>,
    Path(segment): Path<String>,
    request: Request,
) -> Response {
    let Some(source) = Source::from_path(&segment) else {
        return text(
            StatusCode::NOT_FOUND,
            format!("no webhook /hooks/{segment}; use harbor, registry or generic"),
        );
    };
    let label = source.label();
    let outcome = |result: &str| state.metrics.hook(label, result);

    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes);
    if !hooks::authorized(&state.secret, authorization, request.uri().query()) {
        outcome("unauthorized");
        tracing::warn!(source = label, "webhook without the right secret refused");
        return text(StatusCode::UNAUTHORIZED, "missing or wrong webhook secret");
    }

    let limit = state.max_body_bytes;
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let too_large = || {
        outcome("too_large");
        text(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("body larger than {limit} bytes"),
        )
    };
    if declared.is_some_and(|n| n > limit as u64) {
        return too_large();
    }
    let body = match axum::body::to_bytes(request.into_body(), limit).await {
        Ok(b) => b,
        Err(e) if is_length_limit(&e) => return too_large(),
        Err(e) => {
            outcome("malformed");
            return text(
                StatusCode::BAD_REQUEST,
                format!("cannot read the body: {e}"),
            );
        }
    };

    let names = match matching(&state.config, source, &body) {
        Ok(Some(names)) => names,
        Ok(None) => {
            outcome("ignored");
            return text(StatusCode::ACCEPTED, "accepted; not a push, nothing to do");
        }
        Err(message) => {
            outcome("malformed");
            tracing::warn!(source = label, "malformed webhook: {message}");
            return text(StatusCode::BAD_REQUEST, message);
        }
    };
    if names.is_empty() {
        outcome("ignored");
        return text(
            StatusCode::ACCEPTED,
            "accepted; no configured repository matches",
        );
    }
    for name in &names {
        if state
            .triggers
            .try_send(Trigger::Scan(name.clone()))
            .is_err()
        {
            outcome("busy");
            let mut response = text(StatusCode::SERVICE_UNAVAILABLE, "busy; retry");
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            return response;
        }
    }
    outcome("accepted");
    tracing::info!(source = label, repositories = ?names, "webhook: re-scanning");
    text(
        StatusCode::ACCEPTED,
        format!("accepted; re-scanning {}", names.join(", ")),
    )
}

/// The repositories the event concerns; `None` for an event that is not a push; `Err` for a
/// malformed payload (or a generic hook naming something unknown).
fn matching(config: &Config, source: Source, body: &[u8]) -> Result<Option<Vec<String>>, String> {
    let event = match source {
        Source::Harbor => hooks::parse_harbor(body)?,
        Source::Registry => hooks::parse_registry(body)?,
        Source::Generic => {
            let target = hooks::parse_generic(body)?;
            return hooks::match_generic(config, &target).map(Some);
        }
    };
    Ok(match event {
        Event::Pushed(pushed) => Some(hooks::match_pushed(config, source, &pushed)),
        Event::Ignored(why) => {
            tracing::debug!(source = source.label(), "webhook ignored: {why}");
            None
        }
    })
}

fn is_length_limit(e: &axum::Error) -> bool {
    let mut source: Option<&dyn std::error::Error> = Some(e);
    while let Some(s) = source {
        if s.to_string().contains("length limit exceeded") {
            return true;
        }
        source = s.source();
    }
    false
}

#[cfg(test)]
mod tests;
