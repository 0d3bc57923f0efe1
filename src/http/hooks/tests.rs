//! Payloads as Harbor and the distribution registry document them (registry-protocol.md §6.3, §7).

use std::path::Path;

use super::*;

/// Harbor's Default payload for a push (Harbor docs, "Webhook payload format").
pub(crate) const HARBOR_DEFAULT_PUSH: &str = r#"{
  "type": "PUSH_ARTIFACT",
  "occur_at": 1795915790,
  "operator": "robot$homelab+ci",
  "event_data": {
    "resources": [{"digest": "sha256:9fce3b1a4e7a4c6e0b6f1f4fbb1d8c3a2e9a7f5d6c4b3a2918f7e6d5c4b3a291",
                   "tag": "main-1a2b3c4-1707400000",
                   "resource_url": "192.168.0.40:5000/homelab/web:main-1a2b3c4-1707400000"}],
    "repository": {"date_created": 1790000000, "name": "web", "namespace": "homelab",
                   "repo_full_name": "homelab/web", "repo_type": "private"}
  }
}"#;

/// The same push as a CloudEvent (Harbor ≥ 2.8, `payload_format: CloudEvents`).
pub(crate) const HARBOR_CLOUDEVENT_PUSH: &str = r#"{"specversion":"1.0","id":"6f1c2d4e-8a7b-4c3d-9e0f-1a2b3c4d5e6f","requestid":"a1b2c3","source":"/projects/3/webhook/policies/5",
 "type":"harbor.artifact.pushed","datacontenttype":"application/json","time":"2026-11-20T10:11:12Z",
 "operator":"robot$homelab+ci","data":{"resources":[{"digest":"sha256:9fce3b1a4e7a4c6e0b6f1f4fbb1d8c3a2e9a7f5d6c4b3a2918f7e6d5c4b3a291","tag":"main-1a2b3c4-1707400000","resource_url":"192.168.0.40:5000/homelab/web:main-1a2b3c4-1707400000"}],"repository":{"date_created":1790000000,"name":"web","namespace":"homelab","repo_full_name":"homelab/web","repo_type":"private"}}}"#;

/// A distribution notification envelope with a manifest push, a blob push and a pull.
const REGISTRY_ENVELOPE: &str = r#"{"events":[
 {"id":"112c0b81","timestamp":"2026-11-29T01:41:09.88Z","action":"push",
  "target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":406,"digest":"sha256:896f","repository":"homelab/web","url":"http://127.0.0.1:5310/v2/homelab/web/manifests/sha256:896f","tag":"1.0.0"},
  "request":{"method":"PUT","host":"127.0.0.1:5310","useragent":"curl/7.88.1"},"actor":{},"source":{"addr":"host:5310"}},
 {"id":"112c0b82","action":"push","target":{"mediaType":"application/octet-stream","repository":"homelab/api","digest":"sha256:1"},"request":{"host":"127.0.0.1:5310"}},
 {"id":"112c0b83","action":"pull","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","repository":"homelab/db","tag":"1"},"request":{"host":"127.0.0.1:5310"}}
]}"#;

fn config() -> Config {
    let text = r#"
registries:
  "192.168.0.40:5000": { insecure: true }
  "127.0.0.1:5310": { insecure: true, harbor: false }
repositories:
  web: { image: 192.168.0.40:5000/homelab/web }
  web-mirror: { image: 127.0.0.1:5310/homelab/web }
  api: { image: 192.168.0.40:5000/homelab/api }
"#;
    crate::config::load_str(Path::new("/etc/deckhand/deckhand.yaml"), text).expect("config")
}

#[test]
fn harbor_default_and_cloudevents_name_the_repository() {
    for body in [HARBOR_DEFAULT_PUSH, HARBOR_CLOUDEVENT_PUSH] {
        let event = parse_harbor(body.as_bytes()).expect("valid");
        let Event::Pushed(pushed) = &event else {
            panic!("{event:?}")
        };
        assert_eq!(
            pushed,
            &[Pushed {
                host: None,
                repository: "homelab/web".into()
            }]
        );
        // Matched by path on Harbor-capable registries only: the registry marked
        // `harbor: false` is not a Harbor, whatever the payload says.
        assert_eq!(match_pushed(&config(), Source::Harbor, pushed), ["web"]);
    }
}

#[test]
fn harbor_legacy_push_and_other_event_types() {
    let legacy = HARBOR_DEFAULT_PUSH.replace("PUSH_ARTIFACT", "pushImage");
    assert!(matches!(
        parse_harbor(legacy.as_bytes()),
        Ok(Event::Pushed(_))
    ));
    for other in ["DELETE_ARTIFACT", "PULL_ARTIFACT", "SCANNING_COMPLETED"] {
        let body = HARBOR_DEFAULT_PUSH.replace("PUSH_ARTIFACT", other);
        assert_eq!(
            parse_harbor(body.as_bytes()),
            Ok(Event::Ignored(format!("event type {other}")))
        );
    }
    let deleted =
        HARBOR_CLOUDEVENT_PUSH.replace("harbor.artifact.pushed", "harbor.artifact.deleted");
    assert!(matches!(
        parse_harbor(deleted.as_bytes()),
        Ok(Event::Ignored(_))
    ));
}

#[test]
fn malformed_harbor_payloads_are_errors() {
    let cases = [
        ("{", "not JSON"),
        ("[]", "not a Harbor webhook payload"),
        (r#"{"type": "PUSH_ARTIFACT"}"#, "without `event_data`"),
        (
            r#"{"type": "PUSH_ARTIFACT", "event_data": {"repository": {"name": "web"}}}"#,
            "repo_full_name",
        ),
        (
            r#"{"specversion": "1.0", "type": "harbor.artifact.pushed"}"#,
            "without `data`",
        ),
        (
            r#"{"type": "PUSH_ARTIFACT", "event_data": {"repository": {"repo_full_name": ""}}}"#,
            "empty",
        ),
    ];
    for (body, needle) in cases {
        let err = parse_harbor(body.as_bytes()).expect_err(body);
        assert!(err.contains(needle), "{body}: {err}");
    }
}

#[test]
fn the_payload_tag_is_never_the_answer() {
    // Whatever the tag says — even YAML — the event only names the repository to re-scan.
    let evil = HARBOR_DEFAULT_PUSH.replace(
        "\"tag\": \"main-1a2b3c4-1707400000\"",
        "\"tag\": \"x\\n  injected: true\"",
    );
    let Ok(Event::Pushed(pushed)) = parse_harbor(evil.as_bytes()) else {
        panic!("a push")
    };
    assert_eq!(pushed[0].repository, "homelab/web");
}

#[test]
fn distribution_envelope_counts_manifest_pushes_only() {
    let event = parse_registry(REGISTRY_ENVELOPE.as_bytes()).expect("valid");
    let Event::Pushed(pushed) = &event else {
        panic!("{event:?}")
    };
    assert_eq!(
        pushed,
        &[Pushed {
            host: Some("127.0.0.1:5310".into()),
            repository: "homelab/web".into()
        }]
    );
    // The event's host picks the repository on that host.
    assert_eq!(
        match_pushed(&config(), Source::Registry, pushed),
        ["web-mirror"]
    );
    // An unknown host (a proxy's name) falls back to the path on every host.
    let elsewhere = [Pushed {
        host: Some("registry.lan".into()),
        repository: "homelab/web".into(),
    }];
    assert_eq!(
        match_pushed(&config(), Source::Registry, &elsewhere),
        ["web", "web-mirror"]
    );
    let pulls = r#"{"events":[{"action":"pull","target":{"repository":"homelab/web","tag":"1"}}]}"#;
    assert!(matches!(
        parse_registry(pulls.as_bytes()),
        Ok(Event::Ignored(_))
    ));
    for bad in [
        "",
        "{}",
        r#"{"events": [{"action": "push"}]}"#,
        "{\"events\": 1}",
    ] {
        assert!(parse_registry(bad.as_bytes()).is_err(), "{bad}");
    }
}

#[test]
fn generic_names_a_repository_or_an_image() {
    let c = config();
    let t = parse_generic(br#"{"repository": "api"}"#).unwrap();
    assert_eq!(match_generic(&c, &t), Ok(vec!["api".to_string()]));
    let t = parse_generic(br#"{"image": "192.168.0.40:5000/homelab/web"}"#).unwrap();
    assert_eq!(match_generic(&c, &t), Ok(vec!["web".to_string()]));
    let t = parse_generic(br#"{"repository": "nope"}"#).unwrap();
    assert!(match_generic(&c, &t).unwrap_err().contains("`nope`"));
    for bad in [
        "{}",
        r#"{"repository": "a", "image": "b"}"#,
        r#"{"repo": "a"}"#,
        r#"{"image": "reg/app:1.0"}"#,
        "nope",
    ] {
        assert!(parse_generic(bad.as_bytes()).is_err(), "{bad}");
    }
}

#[test]
fn secret_by_header_verbatim_bearer_or_query() {
    let s = Secret::new("s3cret");
    assert!(authorized(&s, Some(b"s3cret"), None));
    assert!(authorized(&s, Some(b"Bearer s3cret"), None));
    assert!(authorized(&s, None, Some("a=1&token=s3cret")));
    assert!(
        authorized(&s, None, Some("token=s3cr%65t")),
        "percent-decoded"
    );
    // A secret configured as the whole header value (Harbor's auth_header) works verbatim too.
    let header_secret = Secret::new("Bearer s3cret");
    assert!(authorized(&header_secret, Some(b"Bearer s3cret"), None));

    assert!(!authorized(&s, None, None));
    assert!(!authorized(&s, Some(b""), None));
    assert!(!authorized(&s, Some(b"s3cre"), None));
    assert!(!authorized(&s, Some(b"s3cret "), None));
    assert!(!authorized(&s, Some(b"Basic s3cret"), None));
    assert!(!authorized(&s, None, Some("token=S3CRET")));
    assert!(!authorized(&s, None, Some("secret=s3cret")));
}
