//! The git remote side of `deckhand sync` over `file://` remotes: fetch and fast-forward before
//! editing, push after committing, a diverged branch, a blocked fast-forward, a separate push
//! branch, unpublished commits, and two instances racing with a person.

use crate::support::instance::{Instance, Tags, config, marker_file, marker_value};
use crate::support::remote::Remote;

const PUSH: &str = "  branch: main\n  author: { name: deckhand-bot, email: bot@example.org }\n  push: { remote: origin }\n";

fn remote_with_app() -> Remote {
    Remote::new(
        "main",
        &[
            ("deploy/app.yaml", &marker_file("app", 0)),
            ("notes.txt", "notes\n"),
        ],
    )
}

fn instance(remote: &Remote, tags: &Tags, name: &str, git: &str) -> Instance {
    let i = Instance::new(remote.clone_as(name));
    i.write_config(&config(tags.host(), &i.clone.path("deploy"), &["app"], git));
    i
}

#[test]
fn fetches_fast_forwards_commits_and_pushes() {
    let tags = Tags::start(&["app"], 1);
    let remote = remote_with_app();
    let a = instance(&remote, &tags, "host-a", PUSH);
    // Someone else's work lands on the remote after the clone.
    let person = remote.clone_as("A Person");
    person.commit_and_push("notes.txt", "edited by a person\n", "a person's change");
    // Local work the fast-forward does not touch stays as it was.
    a.clone.write("scratch.txt", "untracked\n");
    a.clone.write("README.local", "staged\n");
    a.clone.git(&["add", "README.local"]);

    let run = a.sync(&[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("pushed"), "{run:?}");
    assert_eq!(
        remote.subjects("main"),
        [
            "Update 1 image reference (flux-system:app)",
            "a person's change",
            "initial"
        ]
    );
    assert_eq!(marker_value(&remote.show("main", "deploy/app.yaml")), 1);
    assert_eq!(a.clone.head(), remote.tip("main"));
    assert_eq!(a.clone.read("notes.txt"), "edited by a person\n");
    let status = a.clone.status();
    assert!(status.contains("A  README.local"), "{status}");
    assert!(status.contains("?? scratch.txt"), "{status}");
    assert!(!status.contains("deploy/"), "{status}");

    // Nothing new: no commit, no push.
    let tip = remote.tip("main");
    let again = a.sync(&[]);
    assert_eq!(again.code, 0, "{again:?}");
    assert!(again.stderr.contains("no changes"), "{again:?}");
    assert!(!again.stderr.contains("pushed"), "{again:?}");
    assert_eq!(remote.tip("main"), tip);
    remote.assert_never_forced("main");
}

#[test]
fn json_output_reports_the_push() {
    let tags = Tags::start(&["app"], 1);
    let remote = remote_with_app();
    let a = instance(&remote, &tags, "host-a", PUSH);
    let run = a.sync(&["--output", "json"]);
    assert_eq!(run.code, 0, "{run:?}");
    let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(v["push"]["remote"], "origin");
    assert_eq!(v["push"]["branch"], "main");
    assert_eq!(v["push"]["commit"], remote.tip("main"));
    assert_eq!(v["push"]["attempts"], 1);
    assert_eq!(
        v["changes"][0]["image"],
        format!("{}/race/app", tags.host())
    );
}

#[test]
fn no_push_commits_locally_and_a_later_pass_remakes_the_commit_on_the_new_tip() {
    let tags = Tags::start(&["app"], 1);
    let remote = remote_with_app();
    let a = instance(&remote, &tags, "host-a", PUSH);
    let before = remote.tip("main");

    let run = a.sync(&["--no-push"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(remote.tip("main"), before, "--no-push pushes nothing");
    let local = a.clone.head();
    assert_ne!(local, before);

    // The remote moves on meanwhile: the unpublished commit is deckhand's own, so it is dropped
    // and its update made again on top of the person's commit — not a diverged branch.
    let person = remote.clone_as("A Person");
    person.commit_and_push("notes.txt", "moved on\n", "a person's change");
    let run = a.sync(&[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        remote.subjects("main"),
        [
            "Update 1 image reference (flux-system:app)",
            "a person's change",
            "initial"
        ]
    );
    assert_eq!(a.clone.head(), remote.tip("main"));
    assert_eq!(a.clone.status(), "");
    remote.assert_never_forced("main");
}

#[test]
fn a_diverged_local_branch_stops_the_pass_and_changes_nothing() {
    let tags = Tags::start(&["app"], 1);
    let remote = remote_with_app();
    let a = instance(&remote, &tags, "host-a", PUSH);
    // A person committed on the deckhand host without pushing, and the remote moved on.
    a.clone.write("local.txt", "local work\n");
    a.clone.git(&["add", "local.txt"]);
    a.clone.git(&["commit", "-qm", "local work"]);
    let person = remote.clone_as("A Person");
    person.commit_and_push("notes.txt", "remote work\n", "remote work");
    let (local_head, remote_tip) = (a.clone.head(), remote.tip("main"));

    let run = a.sync(&[]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .contains("local branch `main` has diverged from origin/main")
            && run.stderr.contains("1 local commit(s)"),
        "{run:?}"
    );
    assert_eq!(a.clone.head(), local_head);
    assert_eq!(remote.tip("main"), remote_tip);
    assert_eq!(marker_value(&a.clone.read("deploy/app.yaml")), 0);
    assert_eq!(a.clone.status(), "");
}

#[test]
fn a_fast_forward_over_uncommitted_changes_names_the_files() {
    let tags = Tags::start(&["app"], 1);
    let remote = remote_with_app();
    let a = instance(&remote, &tags, "host-a", PUSH);
    let person = remote.clone_as("A Person");
    person.commit_and_push("notes.txt", "remote edit\n", "remote edit");
    a.clone.write("notes.txt", "uncommitted local edit\n");
    let head = a.clone.head();

    let run = a.sync(&[]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains(
            "cannot move `main` to origin/main: it would overwrite uncommitted changes in notes.txt"
        ),
        "{run:?}"
    );
    assert_eq!(a.clone.head(), head);
    assert_eq!(a.clone.read("notes.txt"), "uncommitted local edit\n");
    assert_eq!(marker_value(&a.clone.read("deploy/app.yaml")), 0);
}

#[test]
fn a_separate_push_branch_is_built_on_the_checkout_branch_and_never_forced() {
    let tags = Tags::start(&["app"], 1);
    let remote = remote_with_app();
    let git = "  branch: main\n  author: { name: deckhand-bot, email: bot@example.org }\n  push: { remote: origin, branch: review }\n";
    let a = instance(&remote, &tags, "host-a", git);
    let main_before = remote.tip("main");

    let run = a.sync(&[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(remote.tip("main"), main_before, "main is not pushed to");
    assert_eq!(
        remote.subjects("review"),
        ["Update 1 image reference (flux-system:app)", "initial"]
    );

    // A second update goes on top of the first.
    tags.add("app", 2);
    let run = a.sync(&[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(remote.subjects("review").len(), 3);
    assert_eq!(marker_value(&remote.show("review", "deploy/app.yaml")), 2);

    // Someone adds a commit to the review branch: deckhand's next push is not a fast-forward,
    // and is reported instead of forced.
    let reviewer = remote.clone_as("A Reviewer");
    reviewer.git(&["fetch", "-q", "origin", "review"]);
    reviewer.git(&["checkout", "-q", "-b", "review", "FETCH_HEAD"]);
    reviewer.commit_and_push("notes.txt", "review note\n", "review note");
    let review_tip = remote.tip("review");
    tags.add("app", 3);
    let run = a.sync(&[]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .contains("origin/review has diverged from local `main`")
            && run.stderr.contains("never force-pushes"),
        "{run:?}"
    );
    assert_eq!(
        remote.tip("review"),
        review_tip,
        "the reviewer's commit is kept"
    );
    remote.assert_never_forced("review");
}

#[test]
fn a_missing_remote_is_named() {
    let tags = Tags::start(&["app"], 1);
    let remote = remote_with_app();
    let git = "  branch: main\n  push: { remote: upstream }\n";
    let a = instance(&remote, &tags, "host-a", git);
    let run = a.sync(&[]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("no remote named `upstream`"), "{run:?}");
    assert_eq!(marker_value(&a.clone.read("deploy/app.yaml")), 0);
}

#[test]
fn dry_run_and_no_commit_never_push() {
    let tags = Tags::start(&["app"], 1);
    let remote = remote_with_app();
    let a = instance(&remote, &tags, "host-a", PUSH);
    let before = remote.tip("main");
    let run = a.sync(&["--dry-run"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("+  tag: v1"), "{run:?}");
    let run = a.sync(&["--no-commit"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(remote.tip("main"), before);
    assert_eq!(a.clone.head(), before);
    assert!(a.clone.status().contains(" M deploy/app.yaml"));
}

/// Two deckhand hosts with their own clones of one remote — sharing one marker, each with one of
/// its own — run concurrently round after round, while a person pushes commits in between.
/// Every update must land exactly once, every foreign commit must survive, and the remote's
/// reflog must show only fast-forwards.
#[test]
fn two_instances_racing_with_a_person_converge_without_losing_a_commit() {
    const ROUNDS: u32 = 12;
    let names = ["shared", "only-a", "only-b"];
    let tags = Tags::start(&names, 0);
    let remote = Remote::new(
        "main",
        &[
            ("deploy/shared.yaml", &marker_file("shared", 0)),
            ("deploy/only-a.yaml", &marker_file("only-a", 0)),
            ("deploy/only-b.yaml", &marker_file("only-b", 0)),
            ("person.txt", ""),
        ],
    );
    let a = Instance::new(remote.clone_as("host-a"));
    a.write_config(&config(
        tags.host(),
        &a.clone.path("deploy"),
        &["shared", "only-a"],
        "  branch: main\n  author: { name: deckhand-a, email: a@example.org }\n  push: { remote: origin }\n",
    ));
    let b = Instance::new(remote.clone_as("host-b"));
    b.write_config(&config(
        tags.host(),
        &b.clone.path("deploy"),
        &["shared", "only-b"],
        "  branch: main\n  author: { name: deckhand-b, email: b@example.org }\n  push: { remote: origin }\n",
    ));
    let person = remote.clone_as("A Person");
    let mut person_text = String::new();

    let mut retries = 0;
    for round in 1..=ROUNDS {
        for n in names {
            tags.add(n, round);
        }
        person_text.push_str(&format!("foreign {round}\n"));
        let (ra, rb) = std::thread::scope(|s| {
            let ta = s.spawn(|| a.sync(&["--output", "json"]));
            let tb = s.spawn(|| b.sync(&["--output", "json"]));
            let (person, text) = (&person, person_text.clone());
            let tp = s.spawn(move || {
                person.commit_and_push("person.txt", &text, &format!("foreign commit {round}"));
            });
            tp.join().expect("person");
            (ta.join().expect("a"), tb.join().expect("b"))
        });
        for (who, run) in [("a", &ra), ("b", &rb)] {
            assert_eq!(run.code, 0, "round {round}, host {who}: {run:?}");
            let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
            if let Some(attempts) = v["push"]["attempts"].as_u64() {
                retries += attempts - 1;
            }
        }
        // After both passes every marker holds this round's tag on the remote.
        for n in names {
            assert_eq!(
                marker_value(&remote.show("main", &format!("deploy/{n}.yaml"))),
                round,
                "round {round}: {n}"
            );
        }
    }

    // Every foreign commit, once.
    let subjects = remote.subjects("main");
    for round in 1..=ROUNDS {
        let wanted = format!("foreign commit {round}");
        assert_eq!(
            subjects.iter().filter(|s| **s == wanted).count(),
            1,
            "{wanted}: {subjects:#?}"
        );
    }
    assert_eq!(remote.show("main", "person.txt"), person_text);
    // Every update exactly once: walking the history oldest first, each marker's value only ever
    // goes up by one, and each commit by deckhand changes something.
    let history = remote.git(&["rev-list", "--reverse", "--first-parent", "main"]);
    let mut last = [0u32; 3];
    let mut steps = [0u32; 3];
    for commit in history.lines() {
        let mut changed = false;
        for (i, n) in names.iter().enumerate() {
            let v = marker_value(&remote.show(commit, &format!("deploy/{n}.yaml")));
            if v != last[i] {
                assert_eq!(
                    v,
                    last[i] + 1,
                    "{n} jumped from v{} to v{v} in {commit}",
                    last[i]
                );
                last[i] = v;
                steps[i] += 1;
                changed = true;
            }
        }
        let author = remote.git(&["log", "-1", "--format=%an", commit]);
        if author.starts_with("deckhand") {
            assert!(changed, "deckhand commit {commit} changes no marker");
        }
    }
    assert_eq!(steps, [ROUNDS; 3], "each update landed exactly once");
    assert_eq!(
        remote.git(&["rev-list", "--merges", "main"]),
        "",
        "no merges"
    );
    remote.assert_never_forced("main");
    eprintln!("race: {ROUNDS} rounds, {retries} push retries");
}

#[test]
fn a_push_branch_deleted_on_the_remote_is_pushed_again() {
    let tags = Tags::start(&["app"], 1);
    let remote = remote_with_app();
    let git = "  branch: main\n  push: { remote: origin, branch: review }\n";
    let a = instance(&remote, &tags, "host-a", git);
    let run = a.sync(&[]);
    assert_eq!(run.code, 0, "{run:?}");
    let pushed = remote.tip("review");
    // Merged and deleted by a person; nothing new to commit, but the branch is missing.
    remote.git(&["update-ref", "-d", "refs/heads/review"]);
    let run = a.sync(&[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("pushed"), "{run:?}");
    assert_eq!(remote.tip("review"), pushed);
}
