use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use super::*;
use crate::rollout::compose::{ComposeProject, ComposeService};

fn project(services: &[(&str, Option<&str>)]) -> ComposeProject {
    ComposeProject {
        file: PathBuf::from("/srv/p/docker-compose.yml"),
        dir: PathBuf::from("/srv/p"),
        name: "p".into(),
        services: services
            .iter()
            .map(|(name, image)| ComposeService {
                name: (*name).into(),
                image: image.map(str::to_string),
                depends_on: Vec::new(),
            })
            .collect(),
        unset_variables: Vec::new(),
    }
}

fn c(id: &str, service: &str, image: &str, running: bool) -> Observed {
    Observed {
        id: id.into(),
        name: format!("p_{service}_{id}"),
        service: service.into(),
        image: image.into(),
        running,
        oneoff: false,
        replaces: None,
    }
}

fn decision(plans: &[ServicePlan], service: &str) -> (Decision, bool) {
    let p = plans.iter().find(|p| p.service == service).unwrap();
    (p.decision.clone(), p.release_hold)
}

fn update(to: &str, ids: &[&str]) -> Decision {
    Decision::Update {
        to: to.into(),
        containers: ids
            .iter()
            .map(|id| Target {
                id: (*id).into(),
                name: String::new(),
                from: String::new(),
            })
            .collect(),
    }
}

/// Compares decisions ignoring target names and `from` (checked separately).
fn same(a: &Decision, b: &Decision) -> bool {
    match (a, b) {
        (
            Decision::Update {
                to: t1,
                containers: c1,
            },
            Decision::Update {
                to: t2,
                containers: c2,
            },
        ) => t1 == t2 && c1.iter().map(|t| &t.id).eq(c2.iter().map(|t| &t.id)),
        _ => a == b,
    }
}

#[test]
fn decision_table() {
    let held_none: BTreeMap<String, String> = BTreeMap::new();
    let held = |s: &str, i: &str| BTreeMap::from([(s.to_string(), i.to_string())]);
    let only = |names: &[&str]| {
        names
            .iter()
            .map(|s| (*s).to_string())
            .collect::<BTreeSet<_>>()
    };
    struct Case {
        what: &'static str,
        file_image: Option<&'static str>,
        containers: Vec<Observed>,
        held: BTreeMap<String, String>,
        selected: Option<BTreeSet<String>>,
        want: Decision,
        release: bool,
    }
    let cases = vec![
        Case {
            what: "same image",
            file_image: Some("reg:5000/app:2"),
            containers: vec![c("a", "web", "reg:5000/app:2", true)],
            held: held_none.clone(),
            selected: None,
            want: Decision::UpToDate,
            release: false,
        },
        Case {
            what: "new tag",
            file_image: Some("reg:5000/app:2"),
            containers: vec![c("a", "web", "reg:5000/app:1", true)],
            held: held_none.clone(),
            selected: None,
            want: update("reg:5000/app:2", &["a"]),
            release: false,
        },
        Case {
            what: "docker hub short and long forms are equal",
            file_image: Some("nginx"),
            containers: vec![c("a", "web", "docker.io/library/nginx:latest", true)],
            held: held_none.clone(),
            selected: None,
            want: Decision::UpToDate,
            release: false,
        },
        Case {
            what: "only running, non-one-off containers count; only stale ones are recreated",
            file_image: Some("app:2"),
            containers: vec![
                c("a", "web", "app:1", true),
                c("b", "web", "app:2", true),
                c("c", "web", "app:1", false),
                Observed {
                    oneoff: true,
                    ..c("d", "web", "app:1", true)
                },
                c("e", "other", "app:1", true),
            ],
            held: held_none.clone(),
            selected: None,
            want: update("app:2", &["a"]),
            release: false,
        },
        Case {
            what: "nothing running",
            file_image: Some("app:2"),
            containers: vec![c("a", "web", "app:1", false)],
            held: held_none.clone(),
            selected: None,
            want: Decision::NotRunning,
            release: false,
        },
        Case {
            what: "build-only service",
            file_image: None,
            containers: vec![c("a", "web", "p_web", true)],
            held: held_none.clone(),
            selected: None,
            want: Decision::NoImage,
            release: false,
        },
        Case {
            what: "not in the allow-list",
            file_image: Some("app:2"),
            containers: vec![c("a", "web", "app:1", true)],
            held: held_none.clone(),
            selected: Some(only(&["api"])),
            want: Decision::NotSelected,
            release: false,
        },
        Case {
            what: "in the allow-list",
            file_image: Some("app:2"),
            containers: vec![c("a", "web", "app:1", true)],
            held: held_none.clone(),
            selected: Some(only(&["web"])),
            want: update("app:2", &["a"]),
            release: false,
        },
        Case {
            what: "held image is not retried",
            file_image: Some("app:3"),
            containers: vec![c("a", "web", "app:2", true)],
            held: held("web", "app:3"),
            selected: None,
            want: Decision::Held {
                image: "app:3".into(),
            },
            release: false,
        },
        Case {
            what: "held image matched after normalising",
            file_image: Some("docker.io/library/app:3"),
            containers: vec![c("a", "web", "app:2", true)],
            held: held("web", "app:3"),
            selected: None,
            want: Decision::Held {
                image: "docker.io/library/app:3".into(),
            },
            release: false,
        },
        Case {
            what: "the file names another image: the hold goes",
            file_image: Some("app:4"),
            containers: vec![c("a", "web", "app:2", true)],
            held: held("web", "app:3"),
            selected: None,
            want: update("app:4", &["a"]),
            release: true,
        },
        Case {
            what: "the file goes back to the running image: up to date, hold released",
            file_image: Some("app:2"),
            containers: vec![c("a", "web", "app:2", true)],
            held: held("web", "app:3"),
            selected: None,
            want: Decision::UpToDate,
            release: true,
        },
        Case {
            what: "the held image runs after all (someone fixed it by hand)",
            file_image: Some("app:3"),
            containers: vec![c("a", "web", "app:3", true)],
            held: held("web", "app:3"),
            selected: None,
            want: Decision::UpToDate,
            release: true,
        },
    ];
    for case in cases {
        let p = project(&[("web", case.file_image)]);
        let plans = plan(&p, case.selected.as_ref(), &case.containers, &case.held);
        let (got, release) = decision(&plans, "web");
        assert!(
            same(&got, &case.want),
            "{}: got {got:?}, want {:?}",
            case.what,
            case.want
        );
        assert_eq!(release, case.release, "{}: release_hold", case.what);
    }
}

#[test]
fn plans_follow_the_file_order_and_name_targets() {
    let p = project(&[
        ("db", Some("pg:16")),
        ("api", Some("api:2")),
        ("web", Some("web:2")),
    ]);
    let containers = vec![
        c("w1", "web", "web:1", true),
        c("a1", "api", "api:1", true),
        c("a2", "api", "api:1", true),
        c("d1", "db", "pg:16", true),
    ];
    let plans = plan(&p, None, &containers, &BTreeMap::new());
    let order: Vec<&str> = plans.iter().map(|p| p.service.as_str()).collect();
    assert_eq!(order, ["db", "api", "web"]);
    match &plans[1].decision {
        Decision::Update { to, containers } => {
            assert_eq!(to, "api:2");
            let names: Vec<(&str, &str)> = containers
                .iter()
                .map(|t| (t.name.as_str(), t.from.as_str()))
                .collect();
            assert_eq!(names, [("p_api_a1", "api:1"), ("p_api_a2", "api:1")]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn normalize_table() {
    #[rustfmt::skip]
    let cases = [
        ("nginx",                         "docker.io/library/nginx:latest"),
        ("nginx:1.25",                    "docker.io/library/nginx:1.25"),
        ("library/nginx:1.25",            "docker.io/library/nginx:1.25"),
        ("index.docker.io/library/nginx", "docker.io/library/nginx:latest"),
        ("bitnami/redis:7",               "docker.io/bitnami/redis:7"),
        ("127.0.0.1:5000/app",            "127.0.0.1:5000/app:latest"),
        ("127.0.0.1:5000/a/b:v1",         "127.0.0.1:5000/a/b:v1"),
        ("localhost/app:1",               "localhost/app:1"),
        ("reg.lan/app@sha256:abc",        "reg.lan/app@sha256:abc"),
        ("reg.lan/app:1@sha256:abc",      "reg.lan/app:1@sha256:abc"),
        (" app:1 ",                       "docker.io/library/app:1"),
    ];
    for (input, want) in cases {
        assert_eq!(normalize(input), want, "{input}");
    }
}

#[test]
fn interrupted_recreates_are_found_before_and_after_the_swap() {
    let old_id = "0123456789abcdef0123";
    let old = Observed {
        name: parked_name(old_id, "p_web_1"),
        ..c(old_id, "web", "app:1", false)
    };
    // After the swap: the replacement carries the original name.
    let swapped = Observed {
        name: "p_web_1".into(),
        replaces: Some(old_id.into()),
        ..c("new1", "web", "app:2", true)
    };
    let found = interrupted(&[old.clone(), swapped]);
    assert_eq!(
        found,
        [Interrupted {
            service: "web".into(),
            new_id: "new1".into(),
            old_id: old_id.into(),
            old_running: false,
            name: "p_web_1".into(),
        }]
    );
    // Before the swap: the replacement has the temporary name, the original still runs.
    let old_running = Observed {
        name: "p_web_1".into(),
        ..c(old_id, "web", "app:1", true)
    };
    let created = Observed {
        name: temporary_name(old_id, "p_web_1"),
        replaces: Some(old_id.into()),
        ..c("new2", "web", "app:2", false)
    };
    assert_eq!(temporary_name(old_id, "p_web_1"), "0123456789ab_p_web_1");
    let found = interrupted(&[old_running, created]);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].name, "p_web_1");
    assert!(found[0].old_running);
    // A finished recreate (compose v2 leaves the label behind): nothing to undo.
    let done = Observed {
        replaces: Some("gone".into()),
        ..c("new3", "web", "app:2", true)
    };
    assert!(interrupted(&[done]).is_empty());
}
