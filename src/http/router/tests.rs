//! Every webhook failure and success over real HTTP on loopback.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::mpsc;

use super::{AppState, router};
use crate::daemon::scheduler::Trigger;
use crate::http::hooks::tests::{HARBOR_CLOUDEVENT_PUSH, HARBOR_DEFAULT_PUSH};
use crate::http::metrics::Metrics;
use crate::secret::Secret;

struct Server {
    base: String,
    rx: mpsc::Receiver<Trigger>,
    state: Arc<AppState>,
    http: reqwest::Client,
}

async fn serve(channel: usize) -> Server {
    let config = crate::config::load_str(
        Path::new("/etc/deckhand/deckhand.yaml"),
        "repositories:\n  web: { image: 192.168.0.40:5000/homelab/web }\n  \
         api: { image: 192.168.0.40:5000/homelab/api }\n",
    )
    .expect("config");
    let (tx, rx) = mpsc::channel(channel);
    let state = Arc::new(AppState {
        config: Arc::new(config),
        secret: Secret::new("s3cret"),
        triggers: tx,
        metrics: Arc::new(Metrics::new()),
        ready: Arc::new(AtomicBool::new(false)),
        stopping: Arc::new(AtomicBool::new(false)),
        max_body_bytes: 4096,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = router(Arc::clone(&state));
    tokio::spawn(async move { axum::serve(listener, app).await });
    Server {
        base,
        rx,
        state,
        http: {
            crate::registry::install_crypto_provider();
            reqwest::Client::new()
        },
    }
}

impl Server {
    async fn post(&self, path: &str, auth: Option<&str>, body: impl Into<String>) -> (u16, String) {
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body.into());
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let res = req.send().await.unwrap();
        (res.status().as_u16(), res.text().await.unwrap())
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let res = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), res.text().await.unwrap())
    }

    fn drain(&mut self) -> Vec<Trigger> {
        let mut out = Vec::new();
        while let Ok(t) = self.rx.try_recv() {
            out.push(t);
        }
        out
    }
}

const AUTH: Option<&str> = Some("Bearer s3cret");

#[tokio::test]
async fn secret_missing_or_wrong_is_401_and_triggers_nothing() {
    let mut s = serve(8).await;
    for auth in [
        None,
        Some("Bearer wrong"),
        Some("s3cre"),
        Some("Basic czNjcmV0"),
    ] {
        let (status, body) = s.post("/hooks/harbor", auth, HARBOR_DEFAULT_PUSH).await;
        assert_eq!(status, 401, "{auth:?}: {body}");
    }
    // 401 comes before the body is even looked at.
    let (status, _) = s.post("/hooks/harbor", None, "x".repeat(100_000)).await;
    assert_eq!(status, 401);
    let (status, _) = s.post("/hooks/registry?token=nope", None, "{}").await;
    assert_eq!(status, 401);
    assert!(s.drain().is_empty());
    let metrics = s.state.metrics.encode().unwrap();
    assert!(
        metrics
            .contains("deckhand_webhook_events_total{source=\"harbor\",result=\"unauthorized\"} 5"),
        "{metrics}"
    );
}

#[tokio::test]
async fn valid_harbor_events_answer_202_and_rescan_the_repository() {
    let mut s = serve(8).await;
    for (auth, path) in [
        (AUTH, "/hooks/harbor"),
        (Some("s3cret"), "/hooks/harbor"),
        (None, "/hooks/harbor?token=s3cret"),
    ] {
        let (status, body) = s.post(path, auth, HARBOR_DEFAULT_PUSH).await;
        assert_eq!(status, 202, "{body}");
        assert_eq!(s.drain(), [Trigger::Scan("web".into())]);
    }
    let (status, _) = s.post("/hooks/harbor", AUTH, HARBOR_CLOUDEVENT_PUSH).await;
    assert_eq!(status, 202);
    assert_eq!(s.drain(), [Trigger::Scan("web".into())]);

    // Not a push, or a repository deckhand does not follow: 202, nothing to do.
    let deleted = HARBOR_DEFAULT_PUSH.replace("PUSH_ARTIFACT", "DELETE_ARTIFACT");
    assert_eq!(s.post("/hooks/harbor", AUTH, deleted).await.0, 202);
    let other = HARBOR_DEFAULT_PUSH.replace("homelab/web", "homelab/other");
    assert_eq!(s.post("/hooks/harbor", AUTH, other).await.0, 202);
    assert!(s.drain().is_empty());
}

#[tokio::test]
async fn oversized_and_malformed_bodies() {
    let mut s = serve(8).await;
    let big = format!("{{\"pad\": \"{}\"}}", "x".repeat(5000));
    let (status, body) = s.post("/hooks/harbor", AUTH, big).await;
    assert_eq!(status, 413, "{body}");
    for (path, body) in [
        ("/hooks/harbor", "{"),
        ("/hooks/harbor", "[1, 2]"),
        ("/hooks/harbor", r#"{"type": "PUSH_ARTIFACT"}"#),
        ("/hooks/registry", r#"{"events": "no"}"#),
        ("/hooks/generic", r#"{"repository": "unknown"}"#),
        ("/hooks/generic", r#"{"whatever": 1}"#),
    ] {
        let (status, text) = s.post(path, AUTH, body).await;
        assert_eq!(status, 400, "{path} {body}: {text}");
    }
    assert!(s.drain().is_empty());
    let (status, _) = s.post("/hooks/gitlab", AUTH, "{}").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn registry_and_generic_hooks() {
    let mut s = serve(8).await;
    let envelope = r#"{"events":[{"action":"push","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","repository":"homelab/api","tag":"2"},"request":{"host":"192.168.0.40:5000"}}]}"#;
    assert_eq!(s.post("/hooks/registry", AUTH, envelope).await.0, 202);
    assert_eq!(s.drain(), [Trigger::Scan("api".into())]);
    assert_eq!(
        s.post("/hooks/generic", AUTH, r#"{"repository": "web"}"#)
            .await
            .0,
        202
    );
    assert_eq!(s.drain(), [Trigger::Scan("web".into())]);
}

#[tokio::test]
async fn a_full_intake_is_503_with_retry_after() {
    let s = serve(1).await;
    assert_eq!(
        s.post("/hooks/generic", AUTH, r#"{"repository": "web"}"#)
            .await
            .0,
        202
    );
    let res = s
        .http
        .post(format!("{}/hooks/generic", s.base))
        .header("authorization", "Bearer s3cret")
        .body(r#"{"repository": "api"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 503);
    assert_eq!(res.headers()["retry-after"], "1");
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let s = serve(1).await;
    assert_eq!(s.get("/healthz").await, (200, "ok\n".into()));
    assert_eq!(s.get("/readyz").await.0, 503);
    s.state.ready.store(true, Ordering::Relaxed);
    assert_eq!(s.get("/readyz").await, (200, "ready\n".into()));
    s.state.stopping.store(true, Ordering::Relaxed);
    assert_eq!(s.get("/readyz").await.0, 503);
    let (status, body) = s.get("/metrics").await;
    assert_eq!(status, 200);
    assert!(body.contains("# TYPE deckhand_commits counter"), "{body}");
    assert!(body.ends_with("# EOF\n"), "{body}");
}
