//! `deckhand lint`'s exit codes and output forms, offline.

use crate::support::bin::deckhand;
use crate::support::git::Checkout;

const CLEAN: &str = "repositories: {web: {image: 'reg.lan:5000/a/web'}}\npolicies: {web: {repository: web, policy: {semver: {range: '*'}}}}\nupdate: {path: ./deploy}\n";
const MARKED: &str = "image: reg.lan:5000/a/web:1.0.0 # {\"$imagepolicy\": \"flux-system:web\"}\n";

#[test]
fn exit_codes_follow_the_worst_finding() {
    let ok = Checkout::new(
        "main",
        &[("deckhand.yaml", CLEAN), ("deploy/c.yml", MARKED)],
    );
    let run = deckhand(&ok.root, &["lint", "--offline"], "");
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, "");
    assert!(run.stderr.contains("0 error(s), 0 warning(s)"), "{run:?}");

    // A warning: exit 0, or 1 under --strict.
    let warn = Checkout::new(
        "main",
        &[
            ("deckhand.yaml", CLEAN),
            (
                "deploy/c.yml",
                &format!("{MARKED}b: x:1 # {{\"$imagepolicy\": \"flux-system:nope\"}}\n"),
            ),
        ],
    );
    let run = deckhand(&warn.root, &["lint", "--offline"], "");
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout
            .starts_with("warning: deploy/c.yml:2: marker flux-system:nope:"),
        "{run:?}"
    );
    assert_eq!(
        deckhand(&warn.root, &["lint", "--offline", "--strict"], "").code,
        1
    );
    let json = deckhand(&warn.root, &["lint", "--offline", "--output", "json"], "");
    let v: serde_json::Value = serde_json::from_str(&json.stdout).expect("json");
    assert_eq!(v[0]["line"], 2);
    assert_eq!(v[0]["severity"], "warning");

    // An error: exit 1.
    let err = Checkout::new("main", &[("deckhand.yaml", CLEAN)]);
    let run = deckhand(&err.root, &["lint", "--offline"], "");
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout.contains("error: ") && run.stdout.contains("update.path"),
        "{run:?}"
    );

    // A config that does not load: exit 2, the errors on stdout.
    let bad = Checkout::new("main", &[("deckhand.yaml", "polices: {}\n")]);
    let run = deckhand(&bad.root, &["lint"], "");
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stdout.contains("polices"), "{run:?}");
}
