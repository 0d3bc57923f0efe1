//! Authentication pieces that do no I/O: `WWW-Authenticate` parsing, token responses, token
//! lifetimes, and the per-scope token cache.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use url::Url;

use crate::secret::Secret;

/// Lifetime assumed when the token response has no `expires_in` (distribution's token spec).
pub(crate) const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(60);
/// Tokens are refreshed at least this long before they expire.
const REFRESH_MARGIN: Duration = Duration::from_secs(30);

/// One challenge from a `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Challenge {
    /// `Basic realm="…"`: send the credentials directly.
    Basic,
    /// `Bearer realm="…",service="…",scope="…"`: fetch a token from the realm.
    Bearer(BearerChallenge),
    /// A scheme deckhand does not speak (the name, lower-cased).
    Other(String),
}

/// The parameters of a `Bearer` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BearerChallenge {
    /// The token service URL.
    pub realm: String,
    /// The `service` parameter to pass back, if any.
    pub service: Option<String>,
    /// The scopes the registry asks for (one `scope` may hold several, space-separated).
    pub scopes: Vec<String>,
    /// `invalid_token`, `insufficient_scope`, … when the registry rejected a token.
    pub error: Option<String>,
}

/// Parses the value of a `WWW-Authenticate` header (RFC 7235): one or more challenges, each a
/// scheme followed by comma-separated `name=value` auth-params with quoted or bare values.
pub(crate) fn parse_challenges(header: &str) -> Vec<Challenge> {
    let mut raw: Vec<(String, Vec<(String, String)>)> = Vec::new();
    let mut p = Cursor {
        chars: header.chars().collect(),
        pos: 0,
    };
    loop {
        p.skip(|c| c.is_whitespace() || c == ',');
        if p.done() {
            break;
        }
        let token = p.take(|c| !c.is_whitespace() && c != ',' && c != '=' && c != '"');
        if token.is_empty() {
            // A stray `=` or `"`: skip it rather than loop.
            p.pos += 1;
            continue;
        }
        p.skip(char::is_whitespace);
        if p.peek() == Some('=') {
            p.pos += 1;
            p.skip(char::is_whitespace);
            let value = if p.peek() == Some('"') {
                p.quoted()
            } else {
                p.take(|c| !c.is_whitespace() && c != ',')
            };
            if let Some((_, params)) = raw.last_mut() {
                params.push((token.to_ascii_lowercase(), value));
            }
        } else {
            raw.push((token.to_ascii_lowercase(), Vec::new()));
        }
    }
    raw.into_iter()
        .map(|(scheme, params)| {
            let get = |name: &str| {
                params
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
            };
            match scheme.as_str() {
                "basic" => Challenge::Basic,
                "bearer" => match get("realm") {
                    Some(realm) if !realm.is_empty() => Challenge::Bearer(BearerChallenge {
                        realm,
                        service: get("service").filter(|s| !s.is_empty()),
                        scopes: params
                            .iter()
                            .filter(|(k, _)| k == "scope")
                            .flat_map(|(_, v)| v.split_whitespace().map(str::to_owned))
                            .collect(),
                        error: get("error"),
                    }),
                    _ => Challenge::Other(scheme),
                },
                _ => Challenge::Other(scheme),
            }
        })
        .collect()
}

/// A tiny character cursor for the challenge parser.
struct Cursor {
    chars: Vec<char>,
    pos: usize,
}

impl Cursor {
    fn done(&self) -> bool {
        self.pos >= self.chars.len()
    }
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }
    fn skip(&mut self, pred: impl Fn(char) -> bool) {
        while self.peek().is_some_and(&pred) {
            self.pos += 1;
        }
    }
    fn take(&mut self, pred: impl Fn(char) -> bool) -> String {
        let start = self.pos;
        self.skip(pred);
        self.chars[start..self.pos].iter().collect()
    }
    /// A quoted-string starting at the opening quote; `\x` stands for `x`.
    fn quoted(&mut self) -> String {
        self.pos += 1;
        let mut out = String::new();
        while let Some(c) = self.peek() {
            self.pos += 1;
            match c {
                '"' => break,
                '\\' => {
                    if let Some(next) = self.peek() {
                        out.push(next);
                        self.pos += 1;
                    }
                }
                _ => out.push(c),
            }
        }
        out
    }
}

/// The scope that reading tags and manifests of `repository` needs.
pub(crate) fn pull_scope(repository: &str) -> String {
    format!("repository:{repository}:pull")
}

/// A token as the token service issued it.
pub(crate) struct IssuedToken {
    /// The bearer token.
    pub token: Secret,
    /// `expires_in`, or the 60 s default.
    pub ttl: Duration,
    /// `issued_at`, when present and parseable.
    pub issued_at: Option<SystemTime>,
}

/// Reads a token response: `token` or `access_token`, `expires_in`, `issued_at`.
pub(crate) fn parse_token_response(body: &[u8]) -> Result<IssuedToken, String> {
    #[derive(Deserialize)]
    struct Body {
        token: Option<String>,
        access_token: Option<String>,
        expires_in: Option<f64>,
        issued_at: Option<String>,
    }
    let body: Body = serde_json::from_slice(body)
        // serde's message can quote values from the body; name only the position.
        .map_err(|e| {
            format!(
                "the token response is not the expected JSON (at line {}, column {})",
                e.line(),
                e.column()
            )
        })?;
    let token = body
        .token
        .filter(|t| !t.is_empty())
        .or(body.access_token.filter(|t| !t.is_empty()))
        .ok_or("the token response has neither `token` nor `access_token`")?;
    let ttl = match body.expires_in {
        Some(secs) if secs.is_finite() && secs >= 1.0 => Duration::from_secs_f64(secs.min(1e9)),
        _ => DEFAULT_TOKEN_TTL,
    };
    Ok(IssuedToken {
        token: Secret::new(token),
        ttl,
        issued_at: body.issued_at.as_deref().and_then(parse_rfc3339),
    })
}

/// How long a token received at `now` may be used before it is refreshed: until
/// `min(0.9 × ttl, ttl − 30 s)` after issue (half the ttl for very short ttls), counted from
/// `issued_at`. When `issued_at` is missing, in the future, or already makes the token look
/// stale, the clocks disagree, and the lifetime counts from receipt instead.
pub(crate) fn fresh_for(ttl: Duration, issued_at: Option<SystemTime>, now: SystemTime) -> Duration {
    let lead = match ttl.checked_sub(REFRESH_MARGIN) {
        Some(minus_margin) if !minus_margin.is_zero() => minus_margin.min(ttl.mul_f64(0.9)),
        _ => ttl / 2,
    };
    let elapsed = issued_at.and_then(|t| now.duration_since(t).ok());
    match elapsed.and_then(|elapsed| lead.checked_sub(elapsed)) {
        Some(left) if !left.is_zero() => left,
        _ => lead,
    }
}

/// Parses an RFC 3339 timestamp (`2026-11-20T10:11:12Z`, fractions, `±hh:mm` offsets).
pub(crate) fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(range)?;
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    if second > 60 {
        return None;
    }
    let mut i = 19;
    let mut nanos: u32 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let digits = s.get(start..i.min(start + 9))?;
        if digits.is_empty() {
            return None;
        }
        let scale = 10u32.pow(9 - u32::try_from(digits.len()).ok()?);
        nanos = digits.parse::<u32>().ok()? * scale;
    }
    let offset_secs: i64 = match s.get(i..)? {
        "Z" | "z" => 0,
        rest if rest.len() == 6 && matches!(&rest[..1], "+" | "-") && &rest[3..4] == ":" => {
            let sign = if rest.starts_with('-') { -1 } else { 1 };
            sign * (num(i + 1..i + 3)? * 3600 + num(i + 4..i + 6)? * 60)
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_secs;
    let secs = u64::try_from(secs).ok()?;
    Some(UNIX_EPOCH + Duration::new(secs, nanos))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A cached token and when to stop using it.
struct CachedToken {
    token: Secret,
    refresh_at: Instant,
}

type Slot = Arc<tokio::sync::Mutex<Option<CachedToken>>>;

/// Tokens per scope set. One async lock per scope set, so concurrent requests for the same
/// scopes wait for one token fetch instead of each fetching their own.
#[derive(Default)]
pub(crate) struct TokenCache {
    slots: Mutex<HashMap<String, Slot>>,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("TokenCache")
            .field("scope_sets", &slots.len())
            .finish()
    }
}

/// The cache key of a scope set: sorted, deduplicated, space-joined.
pub(crate) fn scope_key(scopes: &[String]) -> String {
    let mut sorted: Vec<&str> = scopes.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    sorted.dedup();
    sorted.join(" ")
}

impl TokenCache {
    fn slot(&self, scopes: &[String]) -> Slot {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        slots.entry(scope_key(scopes)).or_default().clone()
    }

    /// A token for `scopes`: the cached one while it is fresh, otherwise the result of `fetch`
    /// (which is then cached).
    pub(crate) async fn get_or_fetch<F, Fut, E>(
        &self,
        scopes: &[String],
        fetch: F,
    ) -> Result<Secret, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<IssuedToken, E>>,
    {
        let slot = self.slot(scopes);
        let mut cached = slot.lock().await;
        if let Some(entry) = cached.as_ref()
            && Instant::now() < entry.refresh_at
        {
            return Ok(entry.token.clone());
        }
        let issued = fetch().await?;
        let fresh = fresh_for(issued.ttl, issued.issued_at, SystemTime::now());
        *cached = Some(CachedToken {
            token: issued.token.clone(),
            refresh_at: Instant::now() + fresh,
        });
        Ok(issued.token)
    }

    /// Drops the cached token for `scopes` if it is still `token` (another request may have
    /// replaced it already).
    pub(crate) async fn invalidate(&self, scopes: &[String], token: &Secret) {
        let slot = self.slot(scopes);
        let mut cached = slot.lock().await;
        if cached.as_ref().is_some_and(|entry| entry.token == *token) {
            *cached = None;
        }
    }
}

/// How this registry wants to be authenticated, as learned from its challenges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Scheme {
    /// No challenge seen: send nothing.
    Anonymous,
    /// `Basic`: send the credentials on every request.
    Basic,
    /// `Bearer`: fetch tokens from `realm` for `service`.
    Bearer {
        /// The token service.
        realm: Url,
        /// The `service` parameter.
        service: Option<String>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer(
        realm: &str,
        service: Option<&str>,
        scopes: &[&str],
        error: Option<&str>,
    ) -> Challenge {
        Challenge::Bearer(BearerChallenge {
            realm: realm.into(),
            service: service.map(Into::into),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            error: error.map(Into::into),
        })
    }

    #[test]
    fn parses_challenges() {
        #[rustfmt::skip]
        let cases: Vec<(&str, Vec<Challenge>)> = vec![
            (r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:team/app:pull""#,
             vec![bearer("https://auth.example/token", Some("registry.example"), &["repository:team/app:pull"], None)]),
            // Harbor: several scopes in one parameter, space-separated.
            (r#"Bearer realm="https://h/service/token",service="harbor-registry",scope="repository:a/b:pull repository:a/c:pull,push""#,
             vec![bearer("https://h/service/token", Some("harbor-registry"), &["repository:a/b:pull", "repository:a/c:pull,push"], None)]),
            // Bare values, odd spacing, mixed-case scheme and parameter names.
            ("bearer  Realm = http://127.0.0.1:9/token , service=svc,scope=registry:catalog:*",
             vec![bearer("http://127.0.0.1:9/token", Some("svc"), &["registry:catalog:*"], None)]),
            (r#"Bearer realm="http://t/token",service="s",scope="repository:x:pull",error="insufficient_scope""#,
             vec![bearer("http://t/token", Some("s"), &["repository:x:pull"], Some("insufficient_scope"))]),
            (r#"Bearer realm="http://t/token",error="invalid_token""#,
             vec![bearer("http://t/token", None, &[], Some("invalid_token"))]),
            // Escapes inside a quoted string.
            (r#"Bearer realm="http://t/tok\"en",service="a\\b""#,
             vec![bearer(r#"http://t/tok"en"#, Some(r"a\b"), &[], None)]),
            (r#"Basic realm="deckhand-test""#, vec![Challenge::Basic]),
            // Two challenges in one header.
            (r#"Basic realm="r", Bearer realm="http://t/token",service="s""#,
             vec![Challenge::Basic, bearer("http://t/token", Some("s"), &[], None)]),
            (r#"Negotiate, Bearer realm="http://t""#,
             vec![Challenge::Other("negotiate".into()), bearer("http://t", None, &[], None)]),
            // A Bearer challenge without a realm is useless.
            (r#"Bearer service="s""#, vec![Challenge::Other("bearer".into())]),
            ("", vec![]),
            (r#"=",,""#, vec![]),
        ];
        for (header, want) in cases {
            assert_eq!(parse_challenges(header), want, "{header}");
        }
    }

    #[test]
    fn token_response_fields() {
        let t = parse_token_response(
            br#"{"token":"abc","expires_in":300,"issued_at":"2026-11-20T10:11:12Z"}"#,
        )
        .unwrap();
        assert_eq!(t.token.expose(), "abc");
        assert_eq!(t.ttl, Duration::from_secs(300));
        assert_eq!(
            t.issued_at,
            Some(UNIX_EPOCH + Duration::from_secs(1_795_169_472))
        );

        let t = parse_token_response(br#"{"access_token":"xyz"}"#).unwrap();
        assert_eq!(t.token.expose(), "xyz");
        assert_eq!(t.ttl, DEFAULT_TOKEN_TTL);
        assert_eq!(t.issued_at, None);

        let t =
            parse_token_response(br#"{"token":"","access_token":"xyz","expires_in":0}"#).unwrap();
        assert_eq!(t.token.expose(), "xyz");
        assert_eq!(t.ttl, DEFAULT_TOKEN_TTL);

        assert!(parse_token_response(br#"{"expires_in":300}"#).is_err());
        assert!(parse_token_response(b"<html>").is_err());
    }

    #[test]
    fn token_errors_do_not_echo_the_body() {
        let err = parse_token_response(br#"{"token":12345678}"#)
            .err()
            .unwrap();
        assert!(!err.contains("12345678"), "{err}");
    }

    #[test]
    fn refresh_arithmetic() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let secs = Duration::from_secs;
        #[rustfmt::skip]
        let cases = [
            // ttl   issued_at (seconds before now; None = absent; negative = future)   fresh for
            (60,     None,        30),   // min(54, 30)
            (300,    None,        270),  // min(270, 270)
            (1800,   None,        1620), // min(1620, 1770)
            (20,     None,        10),   // shorter than the margin: half
            (300,    Some(100),   170),  // counted from issued_at
            (300,    Some(269),   1),
            (300,    Some(270),   270),  // looks stale already: clocks disagree, count from receipt
            (300,    Some(5000),  270),
            (300,    Some(-50),   270),  // issued in the future: count from receipt
        ];
        for (ttl, ago, want) in cases {
            let issued = ago.map(|a: i64| {
                if a >= 0 {
                    now - secs(a.unsigned_abs())
                } else {
                    now + secs(a.unsigned_abs())
                }
            });
            assert_eq!(
                fresh_for(secs(ttl), issued, now),
                secs(want),
                "ttl {ttl} ago {ago:?}"
            );
        }
    }

    #[test]
    fn rfc3339() {
        let at = |s| parse_rfc3339(s).map(|t| t.duration_since(UNIX_EPOCH).unwrap());
        assert_eq!(at("1970-01-01T00:00:00Z"), Some(Duration::ZERO));
        assert_eq!(
            at("2000-03-01T00:00:00Z"),
            Some(Duration::from_secs(951_868_800))
        );
        assert_eq!(
            at("2026-11-20T10:11:12.5Z"),
            Some(Duration::new(1_795_169_472, 500_000_000))
        );
        assert_eq!(
            at("2026-11-20T11:11:12+01:00"),
            Some(Duration::from_secs(1_795_169_472))
        );
        assert_eq!(
            at("2026-11-20T09:11:12-01:00"),
            Some(Duration::from_secs(1_795_169_472))
        );
        for bad in [
            "",
            "2026-11-20",
            "2026-13-01T00:00:00Z",
            "2026-11-20T10:11:12",
            "2026-11-20T10:11:12.Z",
            "x026-11-20T10:11:12Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn scope_keys_ignore_order_and_duplicates() {
        let a = vec![
            "repository:b:pull".to_owned(),
            "repository:a:pull".to_owned(),
        ];
        let b = vec![
            "repository:a:pull".to_owned(),
            "repository:b:pull".to_owned(),
            "repository:a:pull".to_owned(),
        ];
        assert_eq!(scope_key(&a), scope_key(&b));
    }

    #[tokio::test]
    async fn cache_reuses_until_refresh_and_invalidates_by_value() {
        let cache = TokenCache::default();
        let scopes = vec![pull_scope("a/b")];
        let issue = |value: &str| {
            let token = Secret::new(value);
            move || async move {
                Ok::<_, ()>(IssuedToken {
                    token,
                    ttl: Duration::from_secs(300),
                    issued_at: None,
                })
            }
        };
        assert_eq!(
            cache
                .get_or_fetch(&scopes, issue("one"))
                .await
                .unwrap()
                .expose(),
            "one"
        );
        assert_eq!(
            cache
                .get_or_fetch(&scopes, issue("two"))
                .await
                .unwrap()
                .expose(),
            "one"
        );
        // Invalidating a token that is no longer cached leaves the cache alone.
        cache.invalidate(&scopes, &Secret::new("other")).await;
        assert_eq!(
            cache
                .get_or_fetch(&scopes, issue("two"))
                .await
                .unwrap()
                .expose(),
            "one"
        );
        cache.invalidate(&scopes, &Secret::new("one")).await;
        assert_eq!(
            cache
                .get_or_fetch(&scopes, issue("two"))
                .await
                .unwrap()
                .expose(),
            "two"
        );
        // A token past its refresh time is replaced.
        let stale = || async {
            Ok::<_, ()>(IssuedToken {
                token: Secret::new("stale"),
                ttl: Duration::from_secs(60),
                issued_at: None,
            })
        };
        let other = vec![pull_scope("c/d")];
        assert_eq!(
            cache.get_or_fetch(&other, stale).await.unwrap().expose(),
            "stale"
        );
        assert!(format!("{cache:?}").contains("scope_sets: 2"));
    }
}
