//! Registry client against the real Debian `docker-registry` (no auth, htpasswd, token service,
//! TLS) and against small axum registries that paginate by the spec or misbehave on purpose.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use deckhand::registry::{Credentials, RegistryClient, RegistryError, RegistryOptions};
use deckhand::secret::Secret;

use crate::support::registry::{
    BASIC_PASSWORD, BASIC_USER, Behaviour, FakeRegistry, Mode, PUBLIC_REPO, PushAuth,
    ROBOT_REFRESH_TOKEN, ROBOT_SECRET, ROBOT_USER, RegistryServer, fake_manifest_body, free_port,
    push_tag, retag, retag_many, sha256,
};

/// Plain HTTP, short timeout, the given credentials.
fn options(credentials: Option<Credentials>) -> RegistryOptions {
    RegistryOptions {
        insecure: true,
        ca_file: None,
        credentials,
        timeout: Duration::from_secs(10),
        max_concurrency: 4,
        ca_pem: None,
    }
}

fn basic(user: &str, password: &str) -> Credentials {
    Credentials::Basic {
        username: user.into(),
        password: Secret::new(password),
    }
}

fn client(host: &str, credentials: Option<Credentials>) -> RegistryClient {
    RegistryClient::new(host, options(credentials)).expect("client")
}

fn sorted(tags: Vec<String>) -> Vec<String> {
    let mut tags = tags;
    tags.sort();
    tags
}

fn tag_names(prefix: &str, count: usize) -> Vec<String> {
    (0..count).map(|i| format!("{prefix}{i:04}")).collect()
}

/// The error's message, checked to name `url_part` and everything in `wants`.
fn assert_error(err: &RegistryError, url_part: &str, wants: &[&str]) {
    let message = err.to_string();
    eprintln!("error: {message}");
    assert!(
        message.contains(url_part),
        "error should name {url_part}: {message}"
    );
    for want in wants {
        assert!(
            message.contains(want),
            "error should mention `{want}`: {message}"
        );
    }
}

#[tokio::test]
async fn no_auth_lists_tags_and_head_digests_match_the_push() {
    let registry = RegistryServer::start(Mode::NoAuth).await;
    let mut pushed = Vec::new();
    for tag in ["1.0.0", "1.10.0", "latest", "2.0.0-rc.1"] {
        pushed.push((tag, registry.push("team/app", tag).await));
    }
    let client = client(&registry.host, None);
    let tags = client.list_tags("team/app").await.expect("list tags");
    assert_eq!(sorted(tags), ["1.0.0", "1.10.0", "2.0.0-rc.1", "latest"]);
    for (tag, digest) in &pushed {
        assert_eq!(
            &client.digest("team/app", tag).await.expect("digest"),
            digest,
            "{tag}"
        );
    }
    // Every tag's image differs, so the digests do.
    let distinct: BTreeSet<_> = pushed.iter().map(|(_, d)| d).collect();
    assert_eq!(distinct.len(), pushed.len());
}

#[tokio::test]
async fn basic_auth_with_the_right_password_lists_and_digests() {
    let registry = RegistryServer::start(Mode::Basic).await;
    let digest = registry.push("team/app", "1.0.0").await;
    let client = client(&registry.host, Some(basic(BASIC_USER, BASIC_PASSWORD)));
    assert_eq!(client.list_tags("team/app").await.expect("list"), ["1.0.0"]);
    assert_eq!(
        client.digest("team/app", "1.0.0").await.expect("digest"),
        digest
    );
}

#[tokio::test]
async fn basic_auth_with_a_wrong_password_is_a_401_with_a_credentials_hint() {
    let registry = RegistryServer::start(Mode::Basic).await;
    registry.push("team/app", "1.0.0").await;
    let client = client(&registry.host, Some(basic(BASIC_USER, "wrong-password")));
    let err = client
        .list_tags("team/app")
        .await
        .expect_err("wrong password");
    let url = format!("http://{}/v2/team/app/tags/list", registry.host);
    assert_error(
        &err,
        &url,
        &[
            "401 Unauthorized",
            &format!("check the credentials for {}", registry.host),
            "`testuser`",
        ],
    );
    assert!(!err.to_string().contains("wrong-password"), "{err}");
    assert!(!format!("{err:?}").contains("wrong-password"), "{err:?}");
}

#[tokio::test]
async fn basic_auth_registry_without_credentials_asks_for_them() {
    let registry = RegistryServer::start(Mode::Basic).await;
    let client = client(&registry.host, None);
    let err = client.list_tags("team/app").await.expect_err("anonymous");
    assert_error(
        &err,
        &format!("http://{}/v2/team/app/tags/list", registry.host),
        &[
            "401",
            &format!("configure credentials for {}", registry.host),
        ],
    );
}

#[tokio::test]
async fn token_auth_robot_reads_a_private_repository_with_one_cached_token() {
    let registry = RegistryServer::start(Mode::Token).await;
    let digest = registry.push("myorg/private", "1.0.0").await;
    registry.push("myorg/private", "1.1.0").await;
    let tokens = registry.token_server();
    let before = tokens.issued().await;

    let client = client(&registry.host, Some(basic(ROBOT_USER, ROBOT_SECRET)));
    assert_eq!(
        sorted(client.list_tags("myorg/private").await.expect("list")),
        ["1.0.0", "1.1.0"]
    );
    assert_eq!(
        client
            .digest("myorg/private", "1.0.0")
            .await
            .expect("digest"),
        digest
    );
    assert_eq!(
        client
            .list_tags("myorg/private")
            .await
            .expect("list again")
            .len(),
        2
    );
    // One token for the scope, reused: the realm is remembered, no 401 round trips.
    assert_eq!(tokens.issued().await - before, 1);
}

#[tokio::test]
async fn token_auth_anonymous_pulls_the_public_repository_only() {
    let registry = RegistryServer::start(Mode::Token).await;
    let digest = registry.push(PUBLIC_REPO, "1.0.0").await;
    registry.push("myorg/private", "1.0.0").await;
    let client = client(&registry.host, None);
    assert_eq!(
        client.list_tags(PUBLIC_REPO).await.expect("public list"),
        ["1.0.0"]
    );
    assert_eq!(
        client
            .digest(PUBLIC_REPO, "1.0.0")
            .await
            .expect("public digest"),
        digest
    );

    // The token service grants no actions on the private repository; the registry says
    // insufficient_scope for the very scope asked, so no retry can help.
    let err = client
        .list_tags("myorg/private")
        .await
        .expect_err("private list");
    assert_error(
        &err,
        &format!("http://{}/v2/myorg/private/tags/list", registry.host),
        &["401", "configure credentials"],
    );
}

#[tokio::test]
async fn token_auth_wrong_robot_secret_is_rejected_by_the_token_service() {
    let registry = RegistryServer::start(Mode::Token).await;
    registry.push("myorg/private", "1.0.0").await;
    let client = client(&registry.host, Some(basic(ROBOT_USER, "not-the-secret")));
    let err = client
        .list_tags("myorg/private")
        .await
        .expect_err("wrong secret");
    assert!(matches!(err, RegistryError::TokenStatus { .. }), "{err:?}");
    assert_error(
        &err,
        &registry.token_server().realm(),
        &["401", "rejected the credentials", "`robot$myorg+ci`"],
    );
    assert!(!format!("{err} {err:?}").contains("not-the-secret"));
}

#[tokio::test]
async fn token_auth_invalid_token_is_dropped_and_retried_once() {
    let registry = RegistryServer::start(Mode::Token).await;
    registry.push("myorg/private", "1.0.0").await;
    let tokens = registry.token_server();
    let client = client(&registry.host, Some(basic(ROBOT_USER, ROBOT_SECRET)));

    // The next token claims 60 s of life but expired two minutes ago: the registry answers
    // 401 invalid_token, the client drops it and fetches a good one.
    tokens.expire_next(1).await;
    let before = tokens.issued().await;
    assert_eq!(
        client
            .list_tags("myorg/private")
            .await
            .expect("list after retry"),
        ["1.0.0"]
    );
    assert_eq!(tokens.issued().await - before, 2);

    // Two bad tokens in a row: one retry only, then the 401 surfaces with the Harbor hint.
    let fresh = RegistryClient::new(
        &registry.host,
        options(Some(basic(ROBOT_USER, ROBOT_SECRET))),
    )
    .expect("client");
    tokens.expire_next(2).await;
    let err = fresh
        .list_tags("myorg/private")
        .await
        .expect_err("two bad tokens");
    assert_error(
        &err,
        "/v2/myorg/private/tags/list",
        &["401", "credentials rejected or lacking pull permission"],
    );
    tokens.expire_next(0).await;
}

#[tokio::test]
async fn token_auth_refreshes_tokens_before_they_expire() {
    // expires_in 2 s: used for 1 s (half, as the 30 s margin does not fit), then refetched.
    let registry = RegistryServer::setup(Mode::Token)
        .token_ttl(2)
        .start()
        .await;
    registry.push("myorg/private", "1.0.0").await;
    let tokens = registry.token_server();
    let client = client(&registry.host, Some(basic(ROBOT_USER, ROBOT_SECRET)));
    let before = tokens.issued().await;
    client.list_tags("myorg/private").await.expect("first");
    client
        .list_tags("myorg/private")
        .await
        .expect("second, cached");
    assert_eq!(tokens.issued().await - before, 1);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    client
        .list_tags("myorg/private")
        .await
        .expect("third, refreshed");
    assert_eq!(tokens.issued().await - before, 2);
}

#[tokio::test]
async fn token_auth_identity_token_uses_the_refresh_token_flow() {
    let registry = RegistryServer::start(Mode::Token).await;
    registry.push("myorg/private", "1.0.0").await;
    let good = client(
        &registry.host,
        Some(Credentials::IdentityToken(Secret::new(ROBOT_REFRESH_TOKEN))),
    );
    assert_eq!(
        good.list_tags("myorg/private").await.expect("list"),
        ["1.0.0"]
    );

    let bad = client(
        &registry.host,
        Some(Credentials::IdentityToken(Secret::new("stale-refresh"))),
    );
    let err = bad
        .list_tags("myorg/private")
        .await
        .expect_err("bad identity token");
    assert_error(
        &err,
        &registry.token_server().realm(),
        &["401", "rejected the credentials"],
    );
    assert!(!format!("{err} {err:?}").contains("stale-refresh"));
}

#[tokio::test]
async fn debian_registry_ignores_n_and_all_tags_still_arrive() {
    // distribution 2.8 returns every tag, unsorted, without Link, whatever `n` says.
    let registry = RegistryServer::start(Mode::NoAuth).await;
    let base = registry.base_url();
    push_tag(&base, "big/app", "seed", &PushAuth::None).await;
    let more = tag_names("1.0.", 1199);
    retag_many(&base, "big/app", "seed", &more, &PushAuth::None).await;

    let client = client(&registry.host, None);
    let tags = client.list_tags("big/app").await.expect("list");
    assert_eq!(tags.len(), 1200);
    let unique: BTreeSet<&String> = tags.iter().collect();
    assert_eq!(unique.len(), 1200);
    assert!(unique.contains(&"seed".to_owned()) && unique.contains(&"1.0.1198".to_owned()));
}

#[tokio::test]
async fn retag_points_a_new_tag_at_the_same_digest() {
    let registry = RegistryServer::start(Mode::Basic).await;
    let auth = registry.push_auth("team/app").await;
    let digest = push_tag(&registry.base_url(), "team/app", "1.0.0", &auth).await;
    assert_eq!(
        retag(&registry.base_url(), "team/app", "1.0.0", "stable", &auth).await,
        digest
    );
    let client = client(&registry.host, Some(basic(BASIC_USER, BASIC_PASSWORD)));
    assert_eq!(
        client.digest("team/app", "stable").await.expect("digest"),
        digest
    );
}

#[tokio::test]
async fn missing_repository_is_a_404_naming_the_url() {
    let registry = RegistryServer::start(Mode::NoAuth).await;
    let client = client(&registry.host, None);
    let err = client
        .list_tags("nope/missing")
        .await
        .expect_err("missing repo");
    assert_error(
        &err,
        &format!("http://{}/v2/nope/missing/tags/list?n=1000", registry.host),
        &[
            "404 Not Found",
            "NAME_UNKNOWN",
            "check the repository name `nope/missing`",
        ],
    );
}

#[tokio::test]
async fn missing_tag_is_a_404_naming_the_manifest_url() {
    let registry = RegistryServer::start(Mode::NoAuth).await;
    registry.push("team/app", "1.0.0").await;
    let client = client(&registry.host, None);
    let err = client
        .digest("team/app", "9.9.9")
        .await
        .expect_err("missing tag");
    assert_error(
        &err,
        &format!("http://{}/v2/team/app/manifests/9.9.9", registry.host),
        &["404", "the tag `9.9.9` exists"],
    );
    let err = client
        .digest("team/app", "not:a:tag")
        .await
        .expect_err("bad tag");
    assert!(matches!(err, RegistryError::InvalidTag { .. }), "{err:?}");
}

#[tokio::test]
async fn unreachable_registry_is_a_connect_error_naming_the_url() {
    let host = format!("127.0.0.1:{}", free_port());
    let client = client(&host, None);
    let err = client
        .list_tags("team/app")
        .await
        .expect_err("nothing listens");
    assert!(matches!(err, RegistryError::Connect { .. }), "{err:?}");
    assert_error(
        &err,
        &format!("http://{host}/v2/"),
        &["is the registry up", "gave up after 4 attempts"],
    );
}

#[tokio::test]
async fn tls_registry_needs_its_ca_file() {
    let registry = RegistryServer::setup(Mode::NoAuth).tls().start().await;
    registry.push("team/app", "1.0.0").await;

    let trusted = RegistryOptions {
        insecure: false,
        ca_file: Some(registry.ca_file()),
        ..options(None)
    };
    let client = RegistryClient::new(&registry.host, trusted).expect("client");
    assert_eq!(
        client.list_tags("team/app").await.expect("list over TLS"),
        ["1.0.0"]
    );

    let untrusted = RegistryOptions {
        insecure: false,
        ..options(None)
    };
    let client = RegistryClient::new(&registry.host, untrusted).expect("client");
    let err = client.list_tags("team/app").await.expect_err("unknown CA");
    assert_error(&err, &format!("https://{}/v2/", registry.host), &["caFile"]);
}

#[tokio::test]
async fn plain_http_registry_without_insecure_hints_at_insecure() {
    let registry = RegistryServer::start(Mode::NoAuth).await;
    let https = RegistryOptions {
        insecure: false,
        ..options(None)
    };
    let client = RegistryClient::new(&registry.host, https).expect("client");
    let err = client
        .list_tags("team/app")
        .await
        .expect_err("TLS to a plain-HTTP server");
    assert_error(
        &err,
        &format!("https://{}/v2/", registry.host),
        &["`insecure`"],
    );
}

/// The docker config path reads `$DOCKER_CONFIG`, which is process-global: the test re-runs
/// itself in a child process with the variable set, so no other test ever sees it.
#[tokio::test]
async fn docker_config_json_credentials_are_used() {
    const CHILD_HOST: &str = "DECKHAND_TEST_DOCKER_CONFIG_HOST";
    if let Ok(host) = std::env::var(CHILD_HOST) {
        let client = client(&host, None);
        assert_eq!(
            client
                .list_tags("team/app")
                .await
                .expect("list with config.json"),
            ["1.0.0"]
        );
        return;
    }
    let registry = RegistryServer::start(Mode::Basic).await;
    registry.push("team/app", "1.0.0").await;
    let dir = tempfile::tempdir().expect("temp dir");
    // base64("testuser:testpass")
    let config = format!(
        r#"{{"auths":{{"{}":{{"auth":"dGVzdHVzZXI6dGVzdHBhc3M="}}}}}}"#,
        registry.host
    );
    std::fs::write(dir.path().join("config.json"), config).expect("write config.json");

    let name = module_path!()
        .split_once("::")
        .map_or(module_path!(), |(_, rest)| rest);
    let test = format!("{name}::docker_config_json_credentials_are_used");
    let output = tokio::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([test.as_str(), "--exact", "--test-threads=1"])
        .env("DOCKER_CONFIG", dir.path())
        .env(CHILD_HOST, &registry.host)
        .output()
        .await
        .expect("run the child test");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "child test failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn spec_pagination_follows_relative_links_over_several_pages() {
    let tags = tag_names("v", 130);
    let fake = FakeRegistry::start(
        tags.clone(),
        Behaviour {
            page_cap: Some(50),
            ..Behaviour::default()
        },
    )
    .await;
    let client = client(&fake.host, None);
    let listed = client.list_tags("team/app").await.expect("list");
    assert_eq!(listed, tags, "every tag once, in the server's order");
    let pages: Vec<String> = fake
        .requests()
        .into_iter()
        .filter(|r| r.contains("/tags/list"))
        .collect();
    assert_eq!(
        pages,
        [
            "GET /v2/team/app/tags/list?n=1000",
            "GET /v2/team/app/tags/list?n=1000&last=v0049",
            "GET /v2/team/app/tags/list?n=1000&last=v0099",
        ]
    );
}

#[tokio::test]
async fn pagination_stops_when_the_server_ignored_n() {
    // Ignores n (1,200 tags for n=1000) yet sends a Link: that page was everything.
    let tags = tag_names("t", 1200);
    let behaviour = Behaviour {
        ignore_n: true,
        link_anyway: true,
        ..Behaviour::default()
    };
    let fake = FakeRegistry::start(tags.clone(), behaviour).await;
    let listed = client(&fake.host, None)
        .list_tags("team/app")
        .await
        .expect("list");
    assert_eq!(listed.len(), 1200);
    assert_eq!(fake.count("/tags/list"), 1);
}

#[tokio::test]
async fn pagination_loop_is_an_error() {
    let behaviour = Behaviour {
        page_cap: Some(2),
        loop_link: true,
        ..Behaviour::default()
    };
    let fake = FakeRegistry::start(tag_names("t", 10), behaviour).await;
    let err = client(&fake.host, None)
        .list_tags("team/app")
        .await
        .expect_err("loop");
    assert!(matches!(err, RegistryError::Pagination { .. }), "{err:?}");
    assert_error(
        &err,
        &format!("http://{}/v2/team/app/tags/list", fake.host),
        &["already fetched"],
    );
}

#[tokio::test]
async fn quay_style_page_limit_falls_back_to_100() {
    let tags = tag_names("q", 250);
    let behaviour = Behaviour {
        reject_n_over: Some(100),
        ..Behaviour::default()
    };
    let fake = FakeRegistry::start(tags.clone(), behaviour).await;
    let listed = client(&fake.host, None)
        .list_tags("team/app")
        .await
        .expect("list");
    assert_eq!(listed, tags);
    let pages: Vec<String> = fake
        .requests()
        .into_iter()
        .filter(|r| r.contains("/tags/list"))
        .collect();
    assert_eq!(
        pages,
        [
            "GET /v2/team/app/tags/list?n=1000",
            "GET /v2/team/app/tags/list?n=100",
            "GET /v2/team/app/tags/list?n=100&last=q0099",
            "GET /v2/team/app/tags/list?n=100&last=q0199",
        ]
    );
}

#[tokio::test]
async fn null_tags_are_an_empty_list() {
    let behaviour = Behaviour {
        null_tags: true,
        ..Behaviour::default()
    };
    let fake = FakeRegistry::start(vec![], behaviour).await;
    assert!(
        client(&fake.host, None)
            .list_tags("team/app")
            .await
            .expect("list")
            .is_empty()
    );
}

#[tokio::test]
async fn a_429_with_retry_after_is_waited_out() {
    let behaviour = Behaviour {
        fail_first: vec![(429, Some("1".into()))],
        ..Behaviour::default()
    };
    let fake = FakeRegistry::start(vec!["a".into()], behaviour).await;
    let started = std::time::Instant::now();
    assert_eq!(
        client(&fake.host, None)
            .list_tags("team/app")
            .await
            .expect("list"),
        ["a"]
    );
    assert_eq!(fake.count("/tags/list"), 2);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "Retry-After was honoured"
    );
}

#[tokio::test]
async fn a_503_with_an_http_date_retry_after_then_success() {
    let at = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(1));
    let behaviour = Behaviour {
        fail_first: vec![(503, Some(at))],
        ..Behaviour::default()
    };
    let fake = FakeRegistry::start(vec!["a".into()], behaviour).await;
    assert_eq!(
        client(&fake.host, None)
            .list_tags("team/app")
            .await
            .expect("list"),
        ["a"]
    );
    assert_eq!(fake.count("/tags/list"), 2);
}

#[tokio::test]
async fn persistent_5xx_gives_up_after_four_attempts() {
    let behaviour = Behaviour {
        fail_first: vec![(500, None); 10],
        ..Behaviour::default()
    };
    let fake = FakeRegistry::start(vec!["a".into()], behaviour).await;
    let err = client(&fake.host, None)
        .list_tags("team/app")
        .await
        .expect_err("500s");
    assert_error(
        &err,
        "/v2/team/app/tags/list",
        &["500 Internal Server Error", "gave up after 4 attempts"],
    );
    assert_eq!(fake.count("/tags/list"), 4);
}

#[tokio::test]
async fn other_4xx_are_not_retried() {
    let behaviour = Behaviour {
        fail_first: vec![(403, None)],
        ..Behaviour::default()
    };
    let fake = FakeRegistry::start(vec!["a".into()], behaviour).await;
    let err = client(&fake.host, Some(basic("robot$team+ci", "s3cret")))
        .list_tags("team/app")
        .await
        .expect_err("403");
    assert_error(
        &err,
        "/v2/team/app/tags/list",
        &[
            "403 Forbidden",
            "`robot$team+ci`) needs pull and list permissions",
        ],
    );
    assert_eq!(fake.count("/tags/list"), 1);
}

#[tokio::test]
async fn a_slow_registry_is_a_timeout_naming_the_url_and_the_timeout() {
    let behaviour = Behaviour {
        delay: Some(Duration::from_secs(5)),
        ..Behaviour::default()
    };
    let fake = FakeRegistry::start(vec!["a".into()], behaviour).await;
    let quick = RegistryOptions {
        timeout: Duration::from_millis(200),
        ..options(None)
    };
    let client = RegistryClient::new(&fake.host, quick).expect("client");
    let err = client.list_tags("team/app").await.expect_err("too slow");
    assert!(matches!(err, RegistryError::Timeout { .. }), "{err:?}");
    assert_error(
        &err,
        &format!("http://{}/v2/team/app/tags/list?n=1000", fake.host),
        &[
            "timed out after 200ms",
            "per-request `timeout`",
            "gave up after 4 attempts",
        ],
    );
    assert_eq!(fake.count("/tags/list"), 4);
}

#[tokio::test]
async fn concurrent_callers_share_one_ping() {
    let fake = FakeRegistry::start(vec!["a".into(), "b".into()], Behaviour::default()).await;
    let client = Arc::new(client(&fake.host, None));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let client = client.clone();
        tasks.spawn(async move { client.list_tags("team/app").await });
    }
    while let Some(done) = tasks.join_next().await {
        assert_eq!(done.expect("task").expect("list"), ["a", "b"]);
    }
    assert_eq!(fake.count("GET /v2/?"), 1);
    assert_eq!(fake.count("/tags/list"), 8);
}

#[tokio::test]
async fn digest_uses_head_and_falls_back_to_hashing_the_manifest() {
    let with_header = FakeRegistry::start(
        vec!["1.0".into()],
        Behaviour {
            digest_header: true,
            ..Behaviour::default()
        },
    )
    .await;
    let want = sha256(fake_manifest_body("1.0").as_bytes());
    assert_eq!(
        client(&with_header.host, None)
            .digest("team/app", "1.0")
            .await
            .expect("digest"),
        want
    );
    assert_eq!(with_header.count("HEAD /v2/team/app/manifests/1.0"), 1);
    assert_eq!(with_header.count("GET /v2/team/app/manifests/1.0"), 0);

    let without = FakeRegistry::start(vec!["1.0".into()], Behaviour::default()).await;
    assert_eq!(
        client(&without.host, None)
            .digest("team/app", "1.0")
            .await
            .expect("digest"),
        want
    );
    assert_eq!(without.count("HEAD /v2/team/app/manifests/1.0"), 1);
    assert_eq!(without.count("GET /v2/team/app/manifests/1.0"), 1);
}
