use std::collections::BTreeMap;
use std::path::Path;

use super::*;

fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect();
    move |name: &str| map.get(name).cloned()
}

#[test]
fn interpolation_table() {
    let env = vars(&[("TAG", "1.2.3"), ("EMPTY", ""), ("REG", "reg.lan:5000")]);
    #[rustfmt::skip]
    let cases: &[(&str, &str, &[&str])] = &[
        // (input, output, unset variables)
        ("app:${TAG}",                "app:1.2.3",            &[]),
        ("app:$TAG",                  "app:1.2.3",            &[]),
        ("$REG/app:$TAG",             "reg.lan:5000/app:1.2.3", &[]),
        ("app:$TAG-x",                "app:1.2.3-x",          &[]),
        ("app:${MISSING}",            "app:",                 &["MISSING"]),
        ("app:$MISSING",              "app:",                 &["MISSING"]),
        ("app:${MISSING:-1.0}",       "app:1.0",              &[]),
        ("app:${MISSING-1.0}",        "app:1.0",              &[]),
        ("app:${EMPTY:-1.0}",         "app:1.0",              &[]),
        ("app:${EMPTY-1.0}",          "app:",                 &[]),
        ("app:${TAG:-1.0}",           "app:1.2.3",            &[]),
        ("app:${TAG:+set}",           "app:set",              &[]),
        ("app:${EMPTY:+set}",         "app:",                 &[]),
        ("app:${EMPTY+set}",          "app:set",              &[]),
        ("app:${MISSING+set}",        "app:",                 &[]),
        ("$${TAG}",                   "${TAG}",               &[]),
        ("a$$b",                      "a$b",                  &[]),
        ("app:${MISSING:-${TAG}}",    "app:1.2.3",            &[]),
        ("app:${MISSING:-${NOPE:-x}}", "app:x",               &[]),
        ("${REG:-x}/${MISSING:-lib}/app", "reg.lan:5000/lib/app", &[]),
        ("no variables",              "no variables",         &[]),
        ("app:${TAG:?tag needed}",    "app:1.2.3",            &[]),
    ];
    for (input, want, unset) in cases {
        let got = interpolate(input, &env).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(got.text, *want, "{input}");
        let unset: Vec<String> = unset.iter().map(|s| (*s).to_string()).collect();
        assert_eq!(got.unset, unset, "{input}");
    }
}

#[test]
fn interpolation_errors() {
    let env = vars(&[("EMPTY", "")]);
    #[rustfmt::skip]
    let cases = [
        ("app:${TAG:?the tag is required}", "required variable TAG is unset or empty: the tag is required"),
        ("app:${EMPTY:?}",                  "required variable EMPTY is unset or empty"),
        ("app:${TAG?}",                     "required variable TAG is unset"),
        ("app:${TAG",                       "without a closing"),
        ("app:${}",                         "invalid interpolation format"),
        ("app:${1X}",                       "invalid interpolation format"),
        ("app:${TAG%%x}",                   "invalid interpolation format"),
        ("app:$-x",                         "invalid interpolation format"),
        ("price $5",                        "invalid interpolation format"),
    ];
    for (input, needle) in cases {
        match interpolate(input, &env) {
            Ok(v) => panic!("{input}: expected an error, got {v:?}"),
            Err(e) => assert!(e.contains(needle), "{input}: {e}"),
        }
    }
    // `${EMPTY?}` is fine: the variable is set, if empty.
    assert_eq!(interpolate("a${EMPTY?}b", &env).unwrap().text, "ab");
}

#[test]
fn dotenv_table() {
    let text = "\
# a comment
TAG=1.2.3
export REG=reg.lan:5000
QUOTED=\"two words\"  
SINGLE='${TAG} stays'
DOUBLE=\"${TAG} expands\\n\"
INLINE=value # comment
HASH=a#b
EMPTY=
SPACED = spaced
REF=${REG}/app:${TAG}
OVERRIDDEN=from-file
";
    let env = vars(&[("OVERRIDDEN", "from-env")]);
    let got = parse_dotenv(Path::new("/p/.env"), text, &env).unwrap();
    #[rustfmt::skip]
    let want = [
        ("TAG", "1.2.3"),
        ("REG", "reg.lan:5000"),
        ("QUOTED", "two words"),
        ("SINGLE", "${TAG} stays"),
        ("DOUBLE", "1.2.3 expands\n"),
        ("INLINE", "value"),
        ("HASH", "a#b"),
        ("EMPTY", ""),
        ("SPACED", "spaced"),
        ("REF", "reg.lan:5000/app:1.2.3"),
        ("OVERRIDDEN", "from-file"),
    ];
    for (k, v) in want {
        assert_eq!(got.get(k).map(String::as_str), Some(v), "{k}");
    }
    assert_eq!(got.len(), want.len());

    for (bad, line) in [
        ("A=1\nno equals sign\n", 2),
        ("1X=2\n", 1),
        ("A='open\n", 1),
    ] {
        match parse_dotenv(Path::new("/p/.env"), bad, &env) {
            Err(ComposeError::EnvFile { line: l, .. }) => assert_eq!(l, line, "{bad:?}"),
            other => panic!("{bad:?}: {other:?}"),
        }
    }
}

fn parse_text(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ComposeProject, ComposeError> {
    parse(
        Path::new("/srv/My Stack/docker-compose.yml"),
        Path::new("/srv/My Stack"),
        text,
        None,
        env,
    )
}

#[test]
fn services_images_and_dependency_order() {
    let text = r#"
x-common: &common
  restart: unless-stopped
services:
  web:
    <<: *common
    image: ${REG:-127.0.0.1:5000}/web:${WEB_TAG}
    depends_on: [api, cache]
  api:
    image: "reg/api:1.0 "
    depends_on:
      db: { condition: service_healthy }
  db:
    image: postgres:16
  cache:
    image: redis
  builder:
    build: .
  empty:
"#;
    let env = vars(&[("WEB_TAG", "2.0")]);
    let p = parse_text(text, &env).unwrap();
    let names: Vec<&str> = p.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["builder", "cache", "db", "empty", "api", "web"]);
    let image = |n: &str| {
        p.services
            .iter()
            .find(|s| s.name == n)
            .unwrap()
            .image
            .clone()
    };
    assert_eq!(image("web").as_deref(), Some("127.0.0.1:5000/web:2.0"));
    assert_eq!(image("api").as_deref(), Some("reg/api:1.0 "));
    assert_eq!(image("builder"), None);
    assert_eq!(image("empty"), None);
    assert_eq!(p.name, "mystack");
    assert!(p.unset_variables.is_empty());
}

#[test]
fn dependency_errors_name_the_file() {
    let env = vars(&[]);
    let cycle = "services:\n  a: {image: x, depends_on: [b]}\n  b: {image: y, depends_on: [a]}\n  c: {image: z}\n";
    match parse_text(cycle, &env) {
        Err(e @ ComposeError::Cycle { .. }) => {
            let s = e.to_string();
            assert!(s.starts_with("/srv/My Stack/docker-compose.yml"), "{s}");
            assert!(s.ends_with("cycle among a, b"), "{s}");
        }
        other => panic!("{other:?}"),
    }
    let unknown = "services:\n  a: {image: x, depends_on: [nope]}\n";
    match parse_text(unknown, &env) {
        Err(e @ ComposeError::UnknownDependency { .. }) => {
            assert!(
                e.to_string()
                    .contains("services.a.depends_on: no service `nope`"),
                "{e}"
            );
        }
        other => panic!("{other:?}"),
    }
    match parse_text("services:\n  a: {image: 'x:${T:?set T}'}\n", &env) {
        Err(e @ ComposeError::Interpolation { .. }) => {
            assert!(
                e.to_string()
                    .contains("services.a.image: required variable T"),
                "{e}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        parse_text("services: [a, b]\n", &env),
        Err(ComposeError::Yaml { .. })
    ));
}

#[test]
fn project_name_rules() {
    let dir = Path::new("/srv/Back.End_2");
    let none = vars(&[]);
    assert_eq!(project_name(dir, None, &none), "backend_2");
    assert_eq!(project_name(dir, Some("FromFile"), &none), "fromfile");
    let env = vars(&[("COMPOSE_PROJECT_NAME", "fromenv")]);
    assert_eq!(project_name(dir, Some("fromfile"), &env), "fromenv");
    assert_eq!(project_name(Path::new("/srv/__"), None, &none), "default");
    assert_eq!(project_name(Path::new("/srv/-x"), None, &none), "x");
}

#[test]
fn load_reads_dotenv_and_environment_wins() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".env"),
        "TAG=from-dotenv\nREG=127.0.0.1:5000\nCOMPOSE_PROJECT_NAME=dotenvname\n",
    )
    .unwrap();
    let file = dir.path().join("compose.yaml");
    std::fs::write(
        &file,
        "name: ignored\nservices:\n  web:\n    image: $REG/web:${TAG}\n",
    )
    .unwrap();
    let p = load(&file, None, &vars(&[])).unwrap();
    assert_eq!(
        p.services[0].image.as_deref(),
        Some("127.0.0.1:5000/web:from-dotenv")
    );
    assert_eq!(p.name, "dotenvname");
    let p = load(&file, Some("given"), &vars(&[("TAG", "from-env")])).unwrap();
    assert_eq!(
        p.services[0].image.as_deref(),
        Some("127.0.0.1:5000/web:from-env")
    );
    assert_eq!(p.name, "given");
    match load(&dir.path().join("missing.yml"), None, &vars(&[])) {
        Err(e @ ComposeError::Read { .. }) => assert!(e.to_string().contains("missing.yml")),
        other => panic!("{other:?}"),
    }
}
