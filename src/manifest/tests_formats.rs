//! `.env` and `.nix` markers: the grammar, refusals, and the byte-exact property tests.

use std::collections::HashMap;

use proptest::prelude::*;

use super::*;

fn pick(image: &str, tag: &str) -> Pick {
    Pick {
        image: image.into(),
        tag: tag.into(),
        digest: None,
    }
}

fn run(format: Format, src: &str, table: &[(&str, Pick)]) -> (String, Vec<String>) {
    let scan = scan_as(format, src.as_bytes()).expect("scan");
    let map: HashMap<String, Pick> = table
        .iter()
        .map(|(k, p)| ((*k).to_owned(), p.clone()))
        .collect();
    let (edits, warnings) = plan_as(format, &scan.markers, &|p: &PolicyRef| {
        map.get(&p.to_string()).cloned()
    });
    let mut messages: Vec<String> = scan.warnings.iter().map(|w| w.message.clone()).collect();
    messages.extend(warnings.iter().map(|w| w.message.clone()));
    let out = apply(src.as_bytes(), &edits);
    (String::from_utf8(out).expect("utf-8"), messages)
}

#[test]
fn dotenv_markers_in_every_quote_style() {
    let src = "\u{feff}# backend\r\n\
               BACKEND_TAG=main-1a2b3c4-1707300000 # {\"$imagepolicy\": \"flux-system:backend:tag\"}\r\n\
               export IMAGE='reg.lan/web:1.0.0'   # {\"$imagepolicy\": \"flux-system:web\"}\r\n\
               NAME = \"reg.lan/web\" # {\"$imagepolicy\": \"flux-system:web:name\"}\r\n\
               OTHER=keep # just a comment\r\n\
               \r\n\
               EMPTY= # {\"$imagepolicy\": \"flux-system:web:tag\"}";
    let s = scan_as(Format::Dotenv, src.as_bytes()).unwrap();
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    let fields: Vec<(usize, &str, Field, ScalarStyle)> = s
        .markers
        .iter()
        .map(|m| (m.line, m.value.as_str(), m.field, m.style))
        .collect();
    assert_eq!(
        fields,
        [
            (2, "main-1a2b3c4-1707300000", Field::Tag, ScalarStyle::Plain),
            (
                3,
                "reg.lan/web:1.0.0",
                Field::Image,
                ScalarStyle::SingleQuoted
            ),
            (4, "reg.lan/web", Field::Name, ScalarStyle::DoubleQuoted),
            (7, "", Field::Tag, ScalarStyle::Plain),
        ]
    );
    let (out, warnings) = run(
        Format::Dotenv,
        src,
        &[
            (
                "flux-system:backend",
                pick("reg.lan/backend", "main-0a1b2c3-1707400000"),
            ),
            ("flux-system:web", pick("reg.lan/web", "1.2.3")),
        ],
    );
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(
        out,
        "\u{feff}# backend\r\n\
         BACKEND_TAG=main-0a1b2c3-1707400000 # {\"$imagepolicy\": \"flux-system:backend:tag\"}\r\n\
         export IMAGE='reg.lan/web:1.2.3'   # {\"$imagepolicy\": \"flux-system:web\"}\r\n\
         NAME = \"reg.lan/web\" # {\"$imagepolicy\": \"flux-system:web:name\"}\r\n\
         OTHER=keep # just a comment\r\n\
         \r\n\
         EMPTY=1.2.3 # {\"$imagepolicy\": \"flux-system:web:tag\"}"
    );
}

#[test]
fn dotenv_refusals_and_content() {
    let cases: &[(&str, &str)] = &[
        (
            "TAG=${BASE}-1 # {\"$imagepolicy\": \"ns:a:tag\"}\n",
            "interpolates",
        ),
        (
            "TAG=\"a\\tb\" # {\"$imagepolicy\": \"ns:a:tag\"}\n",
            "escape",
        ),
        (
            "TAG=\"a$B\" # {\"$imagepolicy\": \"ns:a:tag\"}\n",
            "interpolates",
        ),
        (
            "TAG=\"one\ntwo\" # {\"$imagepolicy\": \"ns:a:tag\"}\n",
            "several lines",
        ),
        ("# {\"$imagepolicy\": \"ns:a:tag\"}\n", "line of its own"),
        (
            "TAG=1 # {\"$imagepolicy\": \"ns:a:tag\"} keep\n",
            "not a JSON object",
        ),
        (
            "not an assignment {\"$imagepolicy\": \"ns:a\"}\n",
            "not a KEY=value",
        ),
    ];
    for (src, needle) in cases {
        let s = scan_as(Format::Dotenv, src.as_bytes()).unwrap();
        assert!(s.markers.is_empty(), "{src}");
        assert_eq!(s.warnings.len(), 1, "{src}: {:?}", s.warnings);
        assert!(
            s.warnings[0].message.contains(needle),
            "{src}: {:?}",
            s.warnings
        );
    }
    // Marker text inside a multi-line quoted value is content, not a marker.
    let src = "A='x\n# {\"$imagepolicy\": \"ns:a\"}\ny'\nB=1 # {\"$imagepolicy\": \"ns:b:tag\"}\n";
    let s = scan_as(Format::Dotenv, src.as_bytes()).unwrap();
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    assert_eq!(s.markers.len(), 1);
    assert_eq!(s.markers[0].line, 4);
    // A `#` without a blank before it is part of an unquoted value.
    let s = scan_as(Format::Dotenv, b"A=x#{\"$imagepolicy\": \"ns:a\"}\n").unwrap();
    assert!(s.markers.is_empty());
    // A YAML-only quote rule does not apply: a numeric tag is written bare.
    let (out, _) = run(
        Format::Dotenv,
        "T=1 # {\"$imagepolicy\": \"ns:a:tag\"}\n",
        &[("ns:a", pick("r/a", "1707400000"))],
    );
    assert_eq!(out, "T=1707400000 # {\"$imagepolicy\": \"ns:a:tag\"}\n");
}

#[test]
fn nix_markers() {
    let src = "{ pkgs, ... }:\n\
               let\n  \
                 # a comment with \"quotes\"\n  \
                 web = \"harbor.lan/homelab/web:1.2.3\"; # {\"$imagepolicy\": \"flux-system:web\"}\n  \
                 note = ''\n    image = \"x:1\"; # {\"$imagepolicy\": \"flux-system:web\"}\n  '';\n  \
                 url = \"http://h/#frag\"; /* {\"$imagepolicy\": \"x:y\"} */\n  \
                 tag = \"1.2.3\"; # {\"$imagepolicy\": \"flux-system:web:tag\"}\n\
               in {\n  \
                 virtualisation.oci-containers.containers.web.image = web;\n\
               }\n";
    let s = scan_as(Format::Nix, src.as_bytes()).unwrap();
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    let got: Vec<(usize, &str)> = s
        .markers
        .iter()
        .map(|m| (m.line, m.value.as_str()))
        .collect();
    assert_eq!(got, [(4, "harbor.lan/homelab/web:1.2.3"), (9, "1.2.3")]);
    let (out, warnings) = run(
        Format::Nix,
        src,
        &[("flux-system:web", pick("harbor.lan/homelab/web", "1.3.0"))],
    );
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(
        out,
        src.replace("web:1.2.3\"", "web:1.3.0\"")
            .replace("tag = \"1.2.3\"", "tag = \"1.3.0\"")
    );
}

#[test]
fn nix_refusals() {
    let cases: &[(&str, &str)] = &[
        (
            "x = \"${reg}/web:1\"; # {\"$imagepolicy\": \"ns:a\"}\n",
            "interpolation",
        ),
        ("x = \"a\\\"b\"; # {\"$imagepolicy\": \"ns:a\"}\n", "escape"),
        (
            "x = web; # {\"$imagepolicy\": \"ns:a\"}\n",
            "no double-quoted string",
        ),
        (
            "x = [ \"a:1\" \"b:1\" ]; # {\"$imagepolicy\": \"ns:a\"}\n",
            "several string literals",
        ),
        (
            "x = ''a:1''; # {\"$imagepolicy\": \"ns:a\"}\n",
            "no double-quoted string",
        ),
    ];
    for (src, needle) in cases {
        let s = scan_as(Format::Nix, src.as_bytes()).unwrap();
        assert!(s.markers.is_empty(), "{src}");
        assert_eq!(s.warnings.len(), 1, "{src}: {:?}", s.warnings);
        assert!(
            s.warnings[0].message.contains(needle),
            "{src}: {:?}",
            s.warnings
        );
    }
    let e = scan_as(Format::Nix, b"x = \"open; # {\"$imagepolicy\": \"ns:a\"}\n").unwrap_err();
    assert_eq!(e.line, 1);
}

#[test]
fn formats_by_file_name() {
    use std::path::Path;
    assert_eq!(Format::of_path(Path::new("a/.env")), Format::Dotenv);
    assert_eq!(Format::of_path(Path::new("prod.env")), Format::Dotenv);
    assert_eq!(Format::of_path(Path::new("host.nix")), Format::Nix);
    assert_eq!(Format::of_path(Path::new("x.yml")), Format::Yaml);
    assert_eq!(Format::of_name(b"env"), None);
    assert_eq!(Format::of_name(b"README.md"), None);
    assert!(render_plain(ScalarStyle::Plain, "a b").is_err());
    assert!(render_plain(ScalarStyle::DoubleQuoted, "a\"b").is_err());
    assert_eq!(
        render_plain(ScalarStyle::SingleQuoted, "reg:5000/a@sha256:ab").unwrap(),
        "'reg:5000/a@sha256:ab'"
    );
}

// ---------------------------------------------------------------------------------------------
// property tests: only the marked values change, and a second pass changes nothing

#[derive(Debug, Clone)]
enum EnvLine {
    Marked {
        key: String,
        style: u8,
        value: String,
        field: u8,
        pad: String,
        export: bool,
    },
    Plain {
        key: String,
        value: String,
    },
    Multi {
        key: String,
        text: String,
    },
    Comment(String),
    Blank,
}

fn env_line() -> impl Strategy<Value = EnvLine> {
    let key = "[A-Z][A-Z0-9_]{0,8}";
    let value = "[a-z0-9][a-z0-9./:_-]{0,20}";
    prop_oneof![
        4 => (key, 0u8..3, value, 0u8..3, "[ \t]{1,3}", any::<bool>()).prop_map(|(key, style, value, field, pad, export)| {
            EnvLine::Marked { key, style, value, field, pad, export }
        }),
        2 => (key, "[a-z0-9 ]{0,10}").prop_map(|(key, value)| EnvLine::Plain { key, value }),
        1 => (key, "[ -~é]{0,20}").prop_map(|(key, text)| EnvLine::Multi { key, text: text.replace('\'', "") }),
        1 => "[ -~é]{0,20}".prop_map(EnvLine::Comment),
        1 => Just(EnvLine::Blank),
    ]
}

fn render_env(lines: &[EnvLine], nl: &str) -> String {
    let parts: Vec<String> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| match l {
            EnvLine::Marked {
                key,
                style,
                value,
                field,
                pad,
                export,
            } => {
                let v = match style {
                    0 => value.clone(),
                    1 => format!("'{value}'"),
                    _ => format!("\"{value}\""),
                };
                let f = ["", ":tag", ":name"][usize::from(*field)];
                format!(
                    "{}{key}={v}{pad}# {{\"$imagepolicy\": \"ns:p{}{f}\"}}",
                    if *export { "export " } else { "" },
                    i % 3
                )
            }
            EnvLine::Plain { key, value } => format!("{key}={value}"),
            EnvLine::Multi { key, text } => {
                format!("{key}='x{nl}{text} # {{\"$imagepolicy\": \"ns:p0\"}}{nl}y'")
            }
            EnvLine::Comment(c) => format!("# {c}").replace("$imagepolicy", ""),
            EnvLine::Blank => String::new(),
        })
        .collect();
    parts.join(nl)
}

#[derive(Debug, Clone)]
enum NixLine {
    Marked {
        attr: String,
        value: String,
        field: u8,
        pad: String,
    },
    Plain {
        attr: String,
        value: String,
    },
    Indented {
        attr: String,
        text: String,
    },
    Block(String),
    Comment(String),
}

fn nix_line() -> impl Strategy<Value = NixLine> {
    let attr = "[a-z][a-zA-Z0-9]{0,8}";
    let value = "[a-z0-9][a-z0-9./:_-]{0,20}";
    prop_oneof![
        4 => (attr, value, 0u8..3, "[ \t]{1,3}").prop_map(|(attr, value, field, pad)| NixLine::Marked { attr, value, field, pad }),
        2 => (attr, "[a-z0-9 #]{0,10}").prop_map(|(attr, value)| NixLine::Plain { attr, value }),
        1 => (attr, "[ -~é]{0,20}").prop_map(|(attr, text)| NixLine::Indented { attr, text: text.replace("''", "").replace("${", "") }),
        1 => "[ -~]{0,20}".prop_map(|t| NixLine::Block(t.replace("*/", ""))),
        1 => "[ -~é]{0,20}".prop_map(NixLine::Comment),
    ]
}

fn render_nix(lines: &[NixLine], nl: &str) -> String {
    let mut parts = vec!["{".to_owned()];
    for (i, l) in lines.iter().enumerate() {
        parts.push(match l {
            NixLine::Marked { attr, value, field, pad } => {
                let f = ["", ":tag", ":name"][usize::from(*field)];
                format!("  {attr}{i} = \"{value}\";{pad}# {{\"$imagepolicy\": \"ns:p{}{f}\"}}", i % 3)
            }
            NixLine::Plain { attr, value } => format!("  {attr}{i} = \"{value}\";"),
            NixLine::Indented { attr, text } => {
                format!("  {attr}{i} = ''{nl}    {text} \"a\"; # {{\"$imagepolicy\": \"ns:p0\"}}{nl}  '';")
            }
            NixLine::Block(t) => format!("  /* {t} # {{\"$imagepolicy\": \"ns:p1\"}} */"),
            NixLine::Comment(c) => format!("  # {c}").replace("$imagepolicy", ""),
        });
    }
    parts.push("}".to_owned());
    parts.join(nl)
}

fn picks_strategy() -> impl Strategy<Value = Vec<Pick>> {
    proptest::collection::vec(
        (
            "[a-z0-9][a-z0-9./-]{0,15}",
            "[A-Za-z0-9_][A-Za-z0-9._-]{0,10}",
        )
            .prop_map(|(image, tag)| pick(&image, &tag)),
        3,
    )
}

/// The shared property: marker count, edits local to their spans, the new values read back,
/// everything else byte-identical, and a second plan empty.
fn check_format(
    format: Format,
    src: &str,
    marked: usize,
    chosen: &[Pick],
) -> Result<(), TestCaseError> {
    let s = scan_as(format, src.as_bytes()).expect("generated file scans");
    prop_assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    prop_assert_eq!(s.markers.len(), marked);
    let pick_fn = |p: &PolicyRef| {
        let i: usize = p.name.trim_start_matches('p').parse().ok()?;
        chosen.get(i).cloned()
    };
    let (edits, warnings) = plan_as(format, &s.markers, &pick_fn);
    prop_assert!(warnings.is_empty(), "{:?}", warnings);
    for e in &edits {
        let one = apply(src.as_bytes(), std::slice::from_ref(e));
        let tail = src.len() - e.span.end;
        prop_assert_eq!(&one[..e.span.start], &src.as_bytes()[..e.span.start]);
        prop_assert_eq!(&one[one.len() - tail..], &src.as_bytes()[e.span.end..]);
    }
    let out = apply(src.as_bytes(), &edits);
    let rescan = scan_as(format, &out).expect("edited file scans");
    let mut want: Vec<String> = s.markers.iter().map(|m| m.value.clone()).collect();
    for e in &edits {
        let i = s.markers.iter().position(|m| m.span == e.span).unwrap();
        want[i] = e.new.clone();
    }
    prop_assert_eq!(
        rescan
            .markers
            .iter()
            .map(|m| m.value.clone())
            .collect::<Vec<_>>(),
        want
    );
    // Lines without a marker are byte-identical.
    let before: Vec<&str> = src.split('\n').collect();
    let after: Vec<&str> = std::str::from_utf8(&out).unwrap().split('\n').collect();
    prop_assert_eq!(before.len(), after.len());
    let marked_lines: Vec<usize> = s.markers.iter().map(|m| m.line).collect();
    for (i, (b, a)) in before.iter().zip(&after).enumerate() {
        if !marked_lines.contains(&(i + 1)) {
            prop_assert_eq!(b, a, "line {}", i + 1);
        }
    }
    let (again, _) = plan_as(format, &rescan.markers, &pick_fn);
    prop_assert!(again.is_empty(), "{:?}", again);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn dotenv_edits_are_byte_exact(
        lines in proptest::collection::vec(env_line(), 1..20),
        crlf in any::<bool>(), bom in any::<bool>(), final_newline in any::<bool>(),
        chosen in picks_strategy(),
    ) {
        let nl = if crlf { "\r\n" } else { "\n" };
        let mut src = String::new();
        if bom {
            src.push('\u{feff}');
        }
        src.push_str(&render_env(&lines, nl));
        if final_newline {
            src.push_str(nl);
        }
        let marked = lines.iter().filter(|l| matches!(l, EnvLine::Marked { .. })).count();
        check_format(Format::Dotenv, &src, marked, &chosen)?;
    }

    #[test]
    fn nix_edits_are_byte_exact(
        lines in proptest::collection::vec(nix_line(), 1..20),
        crlf in any::<bool>(), final_newline in any::<bool>(),
        chosen in picks_strategy(),
    ) {
        let nl = if crlf { "\r\n" } else { "\n" };
        let mut src = render_nix(&lines, nl);
        if final_newline {
            src.push_str(nl);
        }
        let marked = lines.iter().filter(|l| matches!(l, NixLine::Marked { .. })).count();
        check_format(Format::Nix, &src, marked, &chosen)?;
    }

    #[test]
    fn scanning_never_panics(text in "[ -~\\n\\t\"'#=${}/*é]{0,200}") {
        let _ = scan_as(Format::Dotenv, text.as_bytes());
        let _ = scan_as(Format::Nix, text.as_bytes());
        let with_marker = format!("{text} # {{\"$imagepolicy\": \"a:b\"}}\n{text}");
        let _ = scan_as(Format::Dotenv, with_marker.as_bytes());
        let _ = scan_as(Format::Nix, with_marker.as_bytes());
    }
}
