//! The command line of `deckhand policy eval` and the exit-code contract.

use crate::support::bin::deckhand;

fn eval(args: &[&str], tags: &str) -> crate::support::bin::Run {
    let dir = std::env::temp_dir();
    let mut all = vec!["policy", "eval"];
    all.extend_from_slice(args);
    deckhand(&dir, &all, tags)
}

const SEED_TAGS: &str =
    "main-f00ba47-1707300000\nmain-0a1b2c3-1707400000\nlatest\nsha256-abc.sig\n";

#[test]
fn alphabetical_on_whole_tags_picks_the_largest_sha_not_the_newest_build() {
    let run = eval(
        &[
            "--alphabetical",
            "asc",
            "--pattern",
            "^main-[a-f0-9]{7}-[0-9]{10}$",
        ],
        SEED_TAGS,
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, "main-f00ba47-1707300000\n");
}

#[test]
fn numerical_on_the_extracted_timestamp_picks_the_newest_build() {
    let run = eval(
        &[
            "--numerical",
            "asc",
            "--pattern",
            "^main-[a-f0-9]+-(?P<ts>[0-9]{10})$",
            "--extract",
            "$ts",
        ],
        SEED_TAGS,
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, "main-0a1b2c3-1707400000\n");
}

#[test]
fn semver_range_from_a_tags_file_and_default_exclusion() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("tags.txt");
    std::fs::write(&file, "1.2.3\nv1.4.0\n2.0.0\n1.5.0-rc.1\n1.9.9.sig\n").expect("write");
    let run = eval(
        &[
            "--semver",
            ">=1.0.0 <2.0.0",
            "--tags-file",
            file.to_str().expect("utf-8"),
        ],
        "",
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, "v1.4.0\n");
    // An explicit exclusion list replaces the default, as in Flux.
    let run = eval(&["--semver", "*", "--exclude", "^v"], "1.2.3\nv1.4.0\n");
    assert_eq!(run.stdout, "1.2.3\n", "{run:?}");
}

#[test]
fn no_candidate_is_exit_1_with_the_reason_on_stderr() {
    let run = eval(&["--semver", ">=5.0.0"], "1.0.0\n2.0.0\n");
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.is_empty());
    assert!(run.stderr.contains("error:"), "{run:?}");

    let run = eval(&["--numerical", "asc"], "1\n2\nlatest\n");
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("latest"),
        "the error names the tag: {run:?}"
    );
}

#[test]
fn invalid_range_regex_or_order_is_exit_2() {
    for args in [
        vec!["--semver", "1.0.0p"],
        vec!["--alphabetical", "asc", "--pattern", "(unclosed"],
        vec!["--alphabetical", "upwards"],
        vec!["--alphabetical", "asc", "--exclude", "["],
        vec![],
    ] {
        let run = eval(&args, "1.0.0\n");
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(run.stdout.is_empty(), "{args:?}: {run:?}");
    }
}

#[test]
fn a_bad_config_is_exit_2_naming_file_and_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("deckhand.yaml"),
        "repositories: {web: {image: nginx}}\npolicies: {web: {repository: nope, policy: {semver: {range: '*'}}}}\n",
    )
    .expect("write");
    let run = deckhand(dir.path(), &["sync"], "");
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("deckhand.yaml"), "{run:?}");
    assert!(run.stderr.contains("policies.web.repository"), "{run:?}");

    let run = deckhand(dir.path(), &["-c", "missing.yaml", "sync"], "");
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("missing.yaml"), "{run:?}");
}
