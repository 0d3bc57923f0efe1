//! Unit and property tests for the manifest module.

use std::collections::HashMap;

use proptest::prelude::*;
use saphyr_parser::{Event, Parser, ScalarStyle as SaphyrStyle};

use super::*;

// ---------------------------------------------------------------------------------------------
// helpers

/// The file's YAML data as a flat list of events (structure, values, plain-vs-quoted, anchors,
/// tags), for "same data except these values" comparisons.
fn data(bytes: &[u8]) -> Vec<String> {
    let text = std::str::from_utf8(bytes).expect("utf-8");
    Parser::new_from_str(text)
        .map(|r| {
            let (ev, _) = r.expect("parses");
            match ev {
                Event::Scalar(v, style, anchor, tag) => {
                    let kind = match style {
                        SaphyrStyle::Plain => "plain",
                        _ => "quoted",
                    };
                    format!("scalar {kind} &{anchor} {tag:?} {v:?}")
                }
                other => format!("{other:?}"),
            }
        })
        .collect()
}

/// Index (in `data` order) of every scalar event, paired with its value.
fn scalar_positions(bytes: &[u8]) -> Vec<(usize, String)> {
    let text = std::str::from_utf8(bytes).expect("utf-8");
    Parser::new_from_str(text)
        .enumerate()
        .filter_map(|(i, r)| match r.expect("parses").0 {
            Event::Scalar(v, ..) => Some((i, v.into_owned())),
            _ => None,
        })
        .collect()
}

fn pick(image: &str, tag: &str, digest: Option<&str>) -> Pick {
    Pick {
        image: image.into(),
        tag: tag.into(),
        digest: digest.map(Into::into),
    }
}

fn picks(table: &[(&str, Pick)]) -> impl Fn(&PolicyRef) -> Option<Pick> + use<> {
    let map: HashMap<String, Pick> = table
        .iter()
        .map(|(k, p)| ((*k).to_owned(), p.clone()))
        .collect();
    move |p: &PolicyRef| map.get(&p.to_string()).cloned()
}

/// Scans, plans with `table`, applies; returns the new bytes and the plan's warnings.
fn run(src: &str, table: &[(&str, Pick)]) -> (String, Vec<PlanWarning>) {
    let scan = scan(src.as_bytes()).expect("scan");
    let (edits, warnings) = plan(&scan.markers, &picks(table));
    let out = apply(src.as_bytes(), &edits);
    (String::from_utf8(out).expect("utf-8"), warnings)
}

const WEB: &str = "flux-system:web";

fn web(tag: &str) -> [(&'static str, Pick); 1] {
    [(WEB, pick("reg.example/web", tag, None))]
}

// ---------------------------------------------------------------------------------------------
// scan

#[test]
fn scan_finds_plain_marker_with_exact_span() {
    let src = "image: reg.example/web:1.0.0 # {\"$imagepolicy\": \"flux-system:web\"}\n";
    let s = scan(src.as_bytes()).unwrap();
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    let m = &s.markers[0];
    assert_eq!(m.line, 1);
    assert_eq!(&src[m.span.clone()], "reg.example/web:1.0.0");
    assert_eq!(m.value, "reg.example/web:1.0.0");
    assert_eq!(m.style, ScalarStyle::Plain);
    assert_eq!(m.policy.to_string(), "flux-system:web");
    assert_eq!(m.field, Field::Image);
    assert_eq!(m.marker, "flux-system:web");
}

#[test]
fn marker_grammar() {
    let cases = [
        ("ns:app", Some(Field::Image)),
        ("ns:app:tag", Some(Field::Tag)),
        ("ns:app:name", Some(Field::Name)),
        ("ns:app:digest", Some(Field::Digest)),
        ("app", None),
        ("ns:app:version", None),
        (":app", None),
        ("ns:", None),
        ("ns:app:tag:x", None),
        ("", None),
    ];
    for (raw, want) in cases {
        let src = format!("image: x # {{\"$imagepolicy\": \"{raw}\"}}\n");
        let s = scan(src.as_bytes()).unwrap();
        match want {
            Some(field) => {
                assert_eq!(s.markers.len(), 1, "{raw}");
                assert_eq!(s.markers[0].field, field, "{raw}");
                assert!(s.warnings.is_empty(), "{raw}");
            }
            None => {
                assert!(s.markers.is_empty(), "{raw}");
                assert_eq!(s.warnings.len(), 1, "{raw}");
                assert_eq!(s.warnings[0].line, 1);
                assert!(
                    s.warnings[0].message.contains(&format!("\"{raw}\"")),
                    "{raw}: {}",
                    s.warnings[0].message
                );
            }
        }
    }
    let s = scan(b"image: x # {\"$imagepolicy\": \"app\"}\n").unwrap();
    assert!(s.warnings[0].message.contains("no namespace"));
    let s = scan(b"image: x # {\"$imagepolicy\": \"ns:app:version\"}\n").unwrap();
    assert!(s.warnings[0].message.contains("unknown field \"version\""));
}

#[test]
fn comment_forms_that_are_not_markers() {
    // (source, expected warnings)
    let cases = [
        // an ordinary comment after a value
        ("image: x:1 # pinned until March\n", 0),
        // trailing text after the JSON
        ("image: x:1 # {\"$imagepolicy\": \"ns:app\"} keep\n", 1),
        // not JSON at all
        ("image: x:1 # $imagepolicy: ns:app\n", 1),
        // JSON, but a non-string value
        ("image: x:1 # {\"$imagepolicy\": \"ns:app\", \"n\": 1}\n", 1),
        // JSON without the key (it is only mentioned in a value)
        ("image: x:1 # {\"note\": \"$imagepolicy\"}\n", 1),
        // no blank before `#`: part of the plain scalar
        ("image: x:1#{\"$imagepolicy\":\"ns:app\"}\n", 0),
    ];
    for (src, warnings) in cases {
        let s = scan(src.as_bytes()).unwrap();
        assert!(s.markers.is_empty(), "{src}");
        assert_eq!(s.warnings.len(), warnings, "{src}: {:?}", s.warnings);
    }
}

#[test]
fn extra_json_keys_and_double_hash() {
    let src = "image: x:1 # {\"$imagepolicy\": \"ns:app:tag\", \"owner\": \"team-a\"}\n";
    let s = scan(src.as_bytes()).unwrap();
    assert_eq!(s.markers.len(), 1);
    assert_eq!(s.markers[0].field, Field::Tag);
    // Flux trims every leading `#`.
    let s = scan(b"image: x:1 ## {\"$imagepolicy\": \"ns:app\"}\n").unwrap();
    assert_eq!(s.markers.len(), 1);
}

#[test]
fn block_scalar_text_is_never_a_marker() {
    let src = "\
config: |
  image: a:1 # {\"$imagepolicy\": \"ns:app\"}
folded: >
  image: b:1 # {\"$imagepolicy\": \"ns:app\"}
nested:
  script: |-
      image: c:1 # {\"$imagepolicy\": \"ns:app\"}
  quoted: \"image: d:1 # {\\\"$imagepolicy\\\": \\\"ns:app\\\"}\"
image: e:1 # {\"$imagepolicy\": \"ns:app\"}
";
    let s = scan(src.as_bytes()).unwrap();
    assert_eq!(s.markers.len(), 1, "{:?}", s.markers);
    assert_eq!(s.markers[0].value, "e:1");
    assert_eq!(s.markers[0].line, 9);
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
}

#[test]
fn multi_line_quoted_text_is_not_a_marker() {
    let src = "a: \"x # {\\\"$imagepolicy\\\": \\\"ns:app\\\"}\n  y\"\nb: 'one\n  # {\"$imagepolicy\": \"ns:app\"}'\n";
    let s = scan(src.as_bytes()).unwrap();
    assert!(s.markers.is_empty());
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    // A marker after a multi-line scalar is reported, not used.
    let src = "a: \"x\n  y\" # {\"$imagepolicy\": \"ns:app\"}\n";
    let s = scan(src.as_bytes()).unwrap();
    assert!(s.markers.is_empty());
    assert_eq!(s.warnings.len(), 1);
    assert!(s.warnings[0].message.contains("multi-line"));
    assert_eq!(s.warnings[0].line, 2);
}

#[test]
fn unattached_marker_comments_warn() {
    let cases = [
        (
            "# {\"$imagepolicy\": \"ns:app\"}\nimage: a:1\n",
            "line of its own",
        ),
        (
            "x: &a v\nimage: *a # {\"$imagepolicy\": \"ns:app\"}\n",
            "does not follow",
        ),
        (
            "image: # {\"$imagepolicy\": \"ns:app\"}\n",
            "does not follow",
        ),
        (
            "s: | # {\"$imagepolicy\": \"ns:app\"}\n  text\n",
            "does not follow",
        ),
        (
            "l: [a, b] # {\"$imagepolicy\": \"ns:app\"}\n",
            "does not follow",
        ),
    ];
    for (src, needle) in cases {
        let s = scan(src.as_bytes()).unwrap();
        assert!(s.markers.is_empty(), "{src}");
        assert_eq!(s.warnings.len(), 1, "{src}: {:?}", s.warnings);
        assert!(
            s.warnings[0].message.contains(needle),
            "{src}: {:?}",
            s.warnings
        );
    }
}

#[test]
fn crlf_bom_and_no_final_newline() {
    let src =
        "\u{feff}a: 1\r\nimage: reg/web:1.0 # {\"$imagepolicy\": \"flux-system:web\"}\r\nb: 2";
    let (out, w) = run(src, &web("1.1"));
    assert!(w.is_empty());
    assert_eq!(
        out,
        "\u{feff}a: 1\r\nimage: reg.example/web:1.1 # {\"$imagepolicy\": \"flux-system:web\"}\r\nb: 2"
    );
    // Marker on the last line, no final newline, CRLF elsewhere.
    let src = "a: 1\r\nimage: reg/web:1.0 # {\"$imagepolicy\": \"flux-system:web:tag\"}";
    let s = scan(src.as_bytes()).unwrap();
    assert_eq!(s.markers[0].line, 2);
    let (out, _) = run(src, &web("1.1"));
    assert_eq!(
        out,
        "a: 1\r\nimage: 1.1 # {\"$imagepolicy\": \"flux-system:web:tag\"}"
            .replace("1.1", "\"1.1\"")
    );
}

#[test]
fn non_ascii_before_the_value_keeps_byte_offsets_right() {
    let src = "# café ☕ 🚀\nname: é\nimage: \"reg/wéb:1.0\" # {\"$imagepolicy\": \"flux-system:web\"} \n";
    let s = scan(src.as_bytes()).unwrap();
    assert_eq!(&src[s.markers[0].span.clone()], "\"reg/wéb:1.0\"");
    let (out, _) = run(src, &web("2.0"));
    assert_eq!(
        out,
        "# café ☕ 🚀\nname: é\nimage: \"reg.example/web:2.0\" # {\"$imagepolicy\": \"flux-system:web\"} \n"
    );
}

#[test]
fn anchors_aliases_and_merge_keys() {
    let src = "\
base: &base
  image: &img reg/web:1.0 # {\"$imagepolicy\": \"flux-system:web\"}
  pull: always
svc:
  <<: *base
  sidecar: *img
other: !!str reg/web:1.0 # {\"$imagepolicy\": \"flux-system:web\"}
";
    let s = scan(src.as_bytes()).unwrap();
    assert_eq!(s.markers.len(), 2);
    assert_eq!(&src[s.markers[0].span.clone()], "reg/web:1.0");
    assert_eq!(&src[s.markers[1].span.clone()], "reg/web:1.0");
    let (out, _) = run(src, &web("1.1"));
    assert_eq!(
        out,
        src.replace("reg/web:1.0", "reg.example/web:1.1"),
        "anchor, alias, tag and merge key untouched"
    );
}

#[test]
fn quoting_styles_are_kept() {
    let src = "\
a: 'reg/web:1.0' # {\"$imagepolicy\": \"flux-system:web\"}
b: \"reg/web:1.0\" # {\"$imagepolicy\": \"flux-system:web\"}
c: reg/web:1.0 # {\"$imagepolicy\": \"flux-system:web\"}
t1: '1.0' # {\"$imagepolicy\": \"flux-system:web:tag\"}
t2: \"1.0\" # {\"$imagepolicy\": \"flux-system:web:tag\"}
t3: v1.0 # {\"$imagepolicy\": \"flux-system:web:tag\"}
";
    let (out, _) = run(src, &web("1.10"));
    assert_eq!(
        out,
        "\
a: 'reg.example/web:1.10' # {\"$imagepolicy\": \"flux-system:web\"}
b: \"reg.example/web:1.10\" # {\"$imagepolicy\": \"flux-system:web\"}
c: reg.example/web:1.10 # {\"$imagepolicy\": \"flux-system:web\"}
t1: '1.10' # {\"$imagepolicy\": \"flux-system:web:tag\"}
t2: \"1.10\" # {\"$imagepolicy\": \"flux-system:web:tag\"}
t3: \"1.10\" # {\"$imagepolicy\": \"flux-system:web:tag\"}
"
    );
}

#[test]
fn multi_document_files() {
    let src = "\
--- # first
a: reg/web:1.0 # {\"$imagepolicy\": \"flux-system:web\"}

---
b: reg/web:1.0 # {\"$imagepolicy\": \"flux-system:web\"}
...
---
- c
";
    let s = scan(src.as_bytes()).unwrap();
    assert_eq!(s.markers.iter().map(|m| m.line).collect::<Vec<_>>(), [2, 5]);
    let (out, _) = run(src, &web("2"));
    assert_eq!(out, src.replace("reg/web:1.0", "reg.example/web:2"));
}

#[test]
fn root_sequence_and_sequence_items() {
    let src = "\
- image: reg/web:1.0 # {\"$imagepolicy\": \"flux-system:web\"}
  name: web
- reg/web:1.0 # {\"$imagepolicy\": \"flux-system:web\"}
- [reg/web:1.0] # {\"$imagepolicy\": \"flux-system:web\"}
";
    let s = scan(src.as_bytes()).unwrap();
    assert_eq!(s.markers.len(), 2);
    assert_eq!(s.warnings.len(), 1, "flow sequence: {:?}", s.warnings);
    let (out, _) = run(src, &web("1.1"));
    assert_eq!(out, src.replacen("reg/web:1.0", "reg.example/web:1.1", 2));
}

#[test]
fn kustomize_images() {
    let src = "\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
images:
  - name: web
    newName: reg/web # {\"$imagepolicy\": \"flux-system:web:name\"}
    newTag: 1.0.0 # {\"$imagepolicy\": \"flux-system:web:tag\"}
";
    let (out, w) = run(src, &web("1.1.0"));
    assert!(w.is_empty());
    assert_eq!(
        out,
        src.replace("reg/web #", "reg.example/web #")
            .replace("1.0.0", "1.1.0")
    );
}

#[test]
fn helm_values() {
    let src = "\
image:
  repository: reg/web # {\"$imagepolicy\": \"flux-system:web:name\"}
  tag: \"1.0.0\" # {\"$imagepolicy\": \"flux-system:web:tag\"}
  digest: \"\" # {\"$imagepolicy\": \"flux-system:web:digest\"}
";
    let d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let (out, w) = run(src, &[(WEB, pick("reg.example/web", "1.1.0", Some(d)))]);
    assert!(w.is_empty());
    assert_eq!(
        out,
        src.replace("reg/web #", "reg.example/web #")
            .replace("1.0.0", "1.1.0")
            .replace("\"\"", &format!("\"{d}\""))
    );
}

#[test]
fn digest_without_digest_is_refused() {
    let src = "d: sha256:aaaa # {\"$imagepolicy\": \"flux-system:web:digest\"}\n";
    let (out, w) = run(src, &web("1.0"));
    assert_eq!(out, src);
    assert_eq!(w.len(), 1);
    assert!(w[0].message.contains("no digest"), "{}", w[0]);
    assert_eq!(w[0].marker, "flux-system:web:digest");
}

#[test]
fn image_with_digest_and_bad_values() {
    let src = "image: reg/web:1.0 # {\"$imagepolicy\": \"flux-system:web\"}\n";
    let d = "sha256:abc";
    let (out, w) = run(src, &[(WEB, pick("reg/web", "1.1", Some(d)))]);
    assert!(w.is_empty());
    assert_eq!(out, src.replace("reg/web:1.0", "reg/web:1.1@sha256:abc"));

    for bad in [
        "",
        "-x",
        ".x",
        "a b",
        "x\n# {}",
        "a\"b",
        &"a".repeat(129),
        "ä",
    ] {
        let (out, w) = run(src, &web(bad));
        assert_eq!(out, src, "{bad:?}");
        assert_eq!(w.len(), 1, "{bad:?}");
        assert!(w[0].message.contains("not a valid OCI tag"), "{}", w[0]);
    }
    let (out, w) = run(src, &[(WEB, pick("reg/web", "1.1", Some("sha256:x y")))]);
    assert_eq!((out.as_str(), w.len()), (src, 1));
    let (out, w) = run(src, &[(WEB, pick("reg web", "1.1", None))]);
    assert_eq!((out.as_str(), w.len()), (src, 1));
}

#[test]
fn unknown_policy_and_unchanged_values() {
    let src = "\
a: reg.example/web:1.0 # {\"$imagepolicy\": \"flux-system:web\"}
b: reg.example/web:1.0 # {\"$imagepolicy\": \"flux-system:other\"}
";
    let s = scan(src.as_bytes()).unwrap();
    let (edits, w) = plan(&s.markers, &picks(&web("1.0")));
    assert!(edits.is_empty(), "new == old: no edit");
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].line, 2);
    assert!(w[0].message.contains("flux-system:other"));
}

#[test]
fn edit_fields_are_reported() {
    let src = "image: reg/web:1.0 # {\"$imagepolicy\": \"flux-system:web\"}\n";
    let s = scan(src.as_bytes()).unwrap();
    let (edits, _) = plan(&s.markers, &picks(&web("1.1")));
    assert_eq!(
        edits,
        [Edit {
            line: 1,
            span: 7..18,
            policy: PolicyRef {
                namespace: "flux-system".into(),
                name: "web".into()
            },
            field: Field::Image,
            old: "reg/web:1.0".into(),
            new: "reg.example/web:1.1".into(),
            replacement: "reg.example/web:1.1".into(),
            setter: "flux-system:web".into(),
            object: ObjectId::default(),
        }]
    );
}

#[test]
fn markers_carry_the_kubernetes_object_of_their_document() {
    let src = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: prod
  labels: {name: not-this}
spec:
  template:
    metadata:
      name: nor-this
    spec:
      containers:
        - image: reg/web:1 # {\"$imagepolicy\": \"ns:web\"}
---
# a compose file's document has no identity
services:
  api:
    image: reg/api:1 # {\"$imagepolicy\": \"ns:api\"}
---
kind: Kustomization
apiVersion: kustomize.config.k8s.io/v1beta1
images:
  - newTag: '1' # {\"$imagepolicy\": \"ns:web:tag\"}
";
    let s = scan(src.as_bytes()).unwrap();
    let objects: Vec<&ObjectId> = s.markers.iter().map(|m| &m.object).collect();
    assert_eq!(
        objects,
        [
            &ObjectId {
                api_version: "apps/v1".into(),
                kind: "Deployment".into(),
                name: "web".into(),
                namespace: "prod".into(),
            },
            &ObjectId::default(),
            &ObjectId {
                api_version: "kustomize.config.k8s.io/v1beta1".into(),
                kind: "Kustomization".into(),
                ..ObjectId::default()
            },
        ]
    );
}

#[test]
fn tabs_and_trailing_spaces_are_kept() {
    // (saphyr-parser rejects a tab directly after `:`; a blank then a tab is fine)
    let src = "a: \tb   \nimage: \treg/web:1.0\t \t# {\"$imagepolicy\": \"flux-system:web\"}\t  \nc: d\t# \tnote\t\n";
    let (out, _) = run(src, &web("3"));
    assert_eq!(out, src.replace("reg/web:1.0", "reg.example/web:3"));
}

#[test]
fn parse_errors_name_the_line() {
    let cases: [(&[u8], usize); 4] = [
        (b"a: b\nc: [d\ne: f\n", 3),
        (b"a: b\n  c: d\n", 2),
        // reported where the quoted scalar starts
        (b"ok: 1\nimage: \"unterminated\n", 2),
        (b"a: 1\nb: \xff\n", 2),
    ];
    for (src, line) in cases {
        let err = scan(src).unwrap_err();
        assert_eq!(err.line, line, "{err}");
        assert!(err.to_string().starts_with("yaml does not parse at line"));
        assert!(scalars(src).is_err());
    }
}

#[test]
fn scalars_lists_editable_values_with_keys() {
    let src = "\
k: v
l:
  - i1
  - 'i2'
m: |
  block
n:
o: &a \"x\"
p: *a
";
    let got: Vec<(Option<String>, String, usize)> = scalars(src.as_bytes())
        .unwrap()
        .into_iter()
        .map(|s| (s.key, s.value, s.line))
        .collect();
    assert_eq!(
        got,
        [
            (Some("k".into()), "v".into(), 1),
            (None, "i1".into(), 3),
            (None, "i2".into(), 4),
            (Some("o".into()), "x".into(), 8),
        ]
    );
    let all = scalars(src.as_bytes()).unwrap();
    let out = replace_scalar(src.as_bytes(), &all[2], "it's");
    assert_eq!(
        String::from_utf8(out).unwrap(),
        src.replace("'i2'", "'it''s'")
    );
}

// ---------------------------------------------------------------------------------------------
// quoting

#[test]
fn yaml11_quote_rule_table() {
    let non_strings = [
        "1707400000",
        "0",
        "-1",
        "+1",
        "0x1F",
        "0X1f",
        "0o17",
        "0b101",
        "-0b101",
        "0777",
        "08",
        "1_000",
        "1__0",
        "9223372036854775807",
        "18446744073709551615",
        "1_",
        "1.10",
        "1.",
        "1e3",
        "1E3",
        "-1.5e-3",
        ".5",
        ".5e3",
        "+.5",
        "99999999999999999999",
        ".inf",
        ".Inf",
        ".INF",
        "-.inf",
        "+.inf",
        ".nan",
        ".NaN",
        ".NAN",
        "y",
        "Y",
        "yes",
        "Yes",
        "YES",
        "n",
        "N",
        "no",
        "No",
        "NO",
        "true",
        "True",
        "TRUE",
        "false",
        "False",
        "FALSE",
        "on",
        "On",
        "ON",
        "off",
        "Off",
        "OFF",
        "~",
        "null",
        "Null",
        "NULL",
        "0b-1",
        "0b+1",
    ];
    for s in non_strings {
        assert!(yaml11_non_string(s), "{s} should read as a non-string");
        assert_eq!(render_scalar(ScalarStyle::Plain, s), format!("\"{s}\""));
    }
    let strings = [
        "",
        "v1.0",
        "1.0.0",
        "1.2.3-rc.1",
        "latest",
        "yES",
        "nO",
        "oN",
        "NUll",
        "tRUE",
        "1e",
        "1e999",
        "0x",
        "0xG",
        "0o8",
        "0b2",
        "_1",
        ".",
        "..",
        ".e5",
        "._5",
        "+",
        "-",
        "2001-12-14",
        "2001-12-14t21:59:43.10-05:00",
        "1:20",
        "0xFFFFFFFFFFFFFFFFFFFF",
        "sha256:abc",
        "reg/web:1.10",
        "main-0a1b2c3-1707400000",
        "1.0-beta",
        "Y2K",
        "nginx",
        "<<",
        "=",
        "one\ntwo",
    ];
    for s in strings {
        assert!(!yaml11_non_string(s), "{s:?} should stay a string");
    }
    for s in [
        "v1.0",
        "1.0.0",
        "reg/web:1.10",
        "main-0a1b2c3-1707400000",
        "sha256:abc",
    ] {
        assert_eq!(render_scalar(ScalarStyle::Plain, s), s);
    }
    // Not safe as plain text, whatever YAML 1.1 says: double-quoted.
    for s in [
        "", "-x", "a: b", "a #b", "x:", "[x]", "@x", "a,b", " x", "x ", "...", "%x",
    ] {
        assert!(
            render_scalar(ScalarStyle::Plain, s).starts_with('"'),
            "{s:?}"
        );
    }
    // Quotes kept, never added or removed for quoted styles.
    assert_eq!(render_scalar(ScalarStyle::SingleQuoted, "1.10"), "'1.10'");
    assert_eq!(render_scalar(ScalarStyle::SingleQuoted, "it's"), "'it''s'");
    assert_eq!(
        render_scalar(ScalarStyle::DoubleQuoted, "a\"b\\c"),
        "\"a\\\"b\\\\c\""
    );
    assert_eq!(
        render_scalar(ScalarStyle::DoubleQuoted, "a\nb"),
        "\"a\\nb\""
    );
    assert_eq!(
        render_scalar(ScalarStyle::SingleQuoted, "a\nb"),
        "\"a\\nb\""
    );
}

#[test]
fn tag_and_digest_grammar() {
    for ok in ["1", "_", "v1.2.3", "main-abc_1.2", &"a".repeat(128)] {
        assert!(is_valid_tag(ok), "{ok}");
    }
    for bad in [
        "",
        ".x",
        "-x",
        "a/b",
        "a:b",
        "a b",
        "é",
        &"a".repeat(129),
        "a\n",
    ] {
        assert!(!is_valid_tag(bad), "{bad:?}");
    }
    for ok in ["sha256:abc", "sha512:AbC=_-", "multihash+base58:QmRZ"] {
        assert!(is_valid_digest(ok), "{ok}");
    }
    for bad in [
        "",
        "sha256",
        "sha256:",
        ":abc",
        "SHA256:abc",
        "sha256:a b",
        "sha256:a/b",
    ] {
        assert!(!is_valid_digest(bad), "{bad:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Flux's own test data (in the shared corpus)

/// A corpus file, read at run time: `$DECKHAND_CORPUS`, else `<manifest dir>/../shared/corpus`.
fn corpus_file(rel: &str) -> String {
    let dir = std::env::var_os("DECKHAND_CORPUS").map_or_else(
        || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"),
        std::path::PathBuf::from,
    );
    let path = dir.join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "the YAML corpus file {} is missing ({e}): set DECKHAND_CORPUS",
            path.display()
        )
    })
}

#[test]
fn flux_setters_marked_testdata() {
    let original = corpus_file(
        "k8s/fluxcd_image-automation-controller__internal__update__testdata__setters__original__marked.yaml",
    );
    let expected = corpus_file(
        "k8s/fluxcd_image-automation-controller__internal__update__testdata__setters__expected__marked.yaml",
    );
    let (out, w) = run(
        &original,
        &[
            (
                "automation-ns:policy",
                pick("index.repo.fake/updated", "v1.0.1", None),
            ),
            ("automation-ns:unchanged", pick("image", "v1.0.0", None)),
        ],
    );
    assert!(w.is_empty());
    assert_eq!(out, expected);
}

#[test]
fn flux_setters_kustomization_testdata() {
    let original = corpus_file(
        "kustomize/fluxcd_image-automation-controller__internal__update__testdata__setters__original__kustomization.yml",
    );
    let expected = corpus_file(
        "kustomize/fluxcd_image-automation-controller__internal__update__testdata__setters__expected__kustomization.yml",
    );
    let d = "sha256:6745aaad46d795c9836632e1fb62f24b7e7f4c843144da8e47a5465c411a14be";
    let (out, w) = run(
        &original,
        &[
            (
                "automation-ns:policy",
                pick("index.repo.fake/updated", "v1.0.1", None),
            ),
            (
                "automation-ns:policy-with-digest",
                pick("image", "v1.0.0", Some(d)),
            ),
        ],
    );
    assert!(w.is_empty(), "{w:?}");
    // Flux's expected file is byte-for-byte what a splice gives: the `patch: |` block (flux2#3284)
    // is untouched.
    assert_eq!(out, expected);
}

// ---------------------------------------------------------------------------------------------
// files

#[test]
fn mentions_marker_screen() {
    assert!(mentions_marker(b"x # {\"$imagepolicy\": \"a:b\"}"));
    assert!(!mentions_marker(b"x # $imagepolicy: a:b"));
}

#[cfg(unix)]
#[test]
fn write_atomic_keeps_mode_and_cleans_up() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.yaml");
    std::fs::write(&path, "old").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    write_atomic(&path, b"new").unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"new");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o640);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temp file left"
    );

    // Through a symlink: the target is replaced, the link stays a link.
    let link = dir.path().join("link.yaml");
    std::os::unix::fs::symlink(&path, &link).unwrap();
    write_atomic(&link, b"newer").unwrap();
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read(&path).unwrap(), b"newer");

    // Failure (the rename target is a non-empty directory): original untouched, no temp file.
    let blocker = dir.path().join("sub");
    std::fs::create_dir(&blocker).unwrap();
    std::fs::write(blocker.join("keep"), "k").unwrap();
    let err = write_atomic(&blocker, b"x").unwrap_err();
    assert!(err.to_string().contains("sub"), "{err}");
    assert_eq!(std::fs::read(blocker.join("keep")).unwrap(), b"k");
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        names.iter().all(|n| !n.starts_with(".deckhand-")),
        "{names:?}"
    );

    // Missing directory: an error naming it.
    let err = write_atomic(&dir.path().join("nope/a.yaml"), b"x").unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
}

#[cfg(unix)]
#[test]
fn discover_walks_screens_and_guards_symlinks() {
    use std::os::unix::fs::symlink;
    let outside = tempfile::tempdir().unwrap();
    let repo = tempfile::tempdir().unwrap();
    let root = repo.path();
    let marked = "image: a:1 # {\"$imagepolicy\": \"ns:a\"}\n";
    let w = |rel: &str, text: &str| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    w("apps/a.yaml", marked);
    w("apps/b.yml", marked);
    w("apps/c.yaml", "image: a:1\n");
    w("apps/d.txt", marked);
    w("apps/deep/e/f.yaml", marked);
    w(".git/x.yaml", marked);
    w("other/o.yaml", marked);
    std::fs::write(outside.path().join("evil.yaml"), marked).unwrap();
    std::fs::create_dir_all(outside.path().join("dir")).unwrap();
    std::fs::write(outside.path().join("dir/x.yaml"), marked).unwrap();
    symlink(
        outside.path().join("evil.yaml"),
        root.join("apps/evil.yaml"),
    )
    .unwrap();
    symlink(outside.path().join("dir"), root.join("apps/linkdir")).unwrap();
    symlink(root.join("other/o.yaml"), root.join("apps/inside.yaml")).unwrap();
    symlink(root.join("apps/a.yaml"), root.join("apps/dup.yaml")).unwrap();
    symlink(root.join("missing.yaml"), root.join("apps/dangling.yaml")).unwrap();

    let d = discover(root, std::path::Path::new("apps"));
    let rel: Vec<String> = d
        .files
        .iter()
        .map(|p| p.strip_prefix(root).unwrap().display().to_string())
        .collect();
    // `dup.yaml` and `a.yaml` are one file: listed once.
    assert_eq!(
        rel,
        [
            "apps/a.yaml",
            "apps/b.yml",
            "apps/deep/e/f.yaml",
            "apps/inside.yaml"
        ]
    );
    assert!(d.files.iter().all(|p| p.is_absolute()));
    assert_eq!(d.errors.len(), 1, "{:?}", d.errors);
    assert!(matches!(
        &d.errors[0],
        DiscoverError::SymlinkOutsideRoot { path, .. } if path.ends_with("evil.yaml")
    ));

    let d = discover(root, outside.path());
    assert!(d.files.is_empty());
    assert!(matches!(d.errors[0], DiscoverError::DirOutsideRoot { .. }));
    let d = discover(root, std::path::Path::new("nope"));
    assert!(matches!(d.errors[0], DiscoverError::Dir { .. }));
}

#[test]
fn screen_finds_a_marker_across_chunk_boundaries() {
    let dir = tempfile::tempdir().unwrap();
    for pad in [
        0,
        1,
        7,
        256 * 1024 - 14,
        256 * 1024 - 7,
        256 * 1024,
        600_000,
    ] {
        let p = dir.path().join(format!("f{pad}.yaml"));
        let mut text = "#".repeat(pad);
        text.push_str("\"$imagepolicy\"");
        std::fs::write(&p, text).unwrap();
    }
    let d = discover(dir.path(), dir.path());
    assert_eq!(d.files.len(), 7, "{:?}", d.errors);
}

#[test]
fn discover_screens_many_files_on_several_threads() {
    let dir = tempfile::tempdir().unwrap();
    let mut want = Vec::new();
    for i in 0..700 {
        let sub = dir.path().join(format!("d{}", i % 7));
        std::fs::create_dir_all(&sub).unwrap();
        let p = sub.join(format!("f{i}.yaml"));
        if i % 3 == 0 {
            std::fs::write(&p, "image: a:1 # {\"$imagepolicy\": \"ns:a\"}\n").unwrap();
            want.push(p);
        } else {
            std::fs::write(&p, "image: a:1\n").unwrap();
        }
    }
    want.sort();
    let d = discover(dir.path(), std::path::Path::new("."));
    assert!(d.errors.is_empty(), "{:?}", d.errors);
    let got: Vec<_> = d
        .files
        .iter()
        .map(|p| std::fs::canonicalize(p).unwrap())
        .collect();
    let want: Vec<_> = want
        .iter()
        .map(|p| std::fs::canonicalize(p).unwrap())
        .collect();
    assert_eq!(got.len(), 234);
    let mut got_sorted = got.clone();
    got_sorted.sort();
    assert_eq!(got_sorted, want);
}

// ---------------------------------------------------------------------------------------------
// properties

/// Pieces of a generated file: lines of several kinds, joined with LF or CRLF.
#[derive(Debug, Clone)]
enum Line {
    Marked {
        key: String,
        style: u8,
        value: String,
        field: u8,
        pad: String,
    },
    Plain {
        key: String,
        value: String,
        comment: bool,
    },
    Block {
        key: String,
        text: String,
    },
    Blank,
    Comment(String),
    DocSep,
}

fn line_strategy() -> impl Strategy<Value = Line> {
    let key = "[a-z][a-zA-Z0-9_]{0,8}";
    let value = "[a-z0-9][a-z0-9./:_-]{0,20}[a-z0-9]|[a-z0-9]";
    prop_oneof![
        4 => (key, 0u8..3, value, 0u8..3, "[ \t]{1,3}").prop_map(|(key, style, value, field, pad)| {
            Line::Marked { key, style, value, field, pad }
        }),
        3 => (key, value, any::<bool>()).prop_map(|(key, value, comment)| Line::Plain { key, value, comment }),
        1 => (key, "[ -~é☕]{0,30}").prop_map(|(key, text)| Line::Block { key, text }),
        1 => Just(Line::Blank),
        1 => "[ -~é]{0,20}".prop_map(Line::Comment),
        1 => Just(Line::DocSep),
    ]
}

fn render_file(lines: &[Line], crlf: bool, bom: bool, final_newline: bool) -> String {
    let nl = if crlf { "\r\n" } else { "\n" };
    let mut out = String::new();
    if bom {
        out.push('\u{feff}');
    }
    let mut parts = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        // Unique keys per document keep the file valid YAML whatever the generator picks.
        let uniq = |k: &str| format!("{k}{i}");
        let s = match l {
            Line::Marked {
                key,
                style,
                value,
                field,
                pad,
            } => {
                let v = match style {
                    0 => value.clone(),
                    1 => format!("'{value}'"),
                    _ => format!("\"{value}\""),
                };
                let f = ["", ":tag", ":name"][usize::from(*field)];
                format!(
                    "{}: {v}{pad}# {{\"$imagepolicy\": \"ns:p{}{f}\"}}",
                    uniq(key),
                    i % 3
                )
            }
            Line::Plain {
                key,
                value,
                comment,
            } => {
                format!(
                    "{}: \"{value}\"{}",
                    uniq(key),
                    if *comment { " # note" } else { "" }
                )
            }
            Line::Block { key, text } => format!("{}: |{nl}  x{text}", uniq(key)),
            Line::Blank => String::new(),
            Line::Comment(c) => format!("# {c}"),
            Line::DocSep => "---".to_owned(),
        };
        parts.push(s);
    }
    out.push_str(&parts.join(nl));
    if final_newline {
        out.push_str(nl);
    }
    out
}

fn pick_strategy() -> impl Strategy<Value = Vec<Pick>> {
    proptest::collection::vec(
        (
            "[a-z0-9][a-z0-9./-]{0,15}",
            "[A-Za-z0-9_][A-Za-z0-9._-]{0,10}",
        )
            .prop_map(|(image, tag)| Pick {
                image,
                tag,
                digest: None,
            }),
        3,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Only the target spans change; a second plan is empty; the data differs only in the targets.
    #[test]
    fn edits_are_local_idempotent_and_data_preserving(
        lines in proptest::collection::vec(line_strategy(), 1..25),
        crlf in any::<bool>(), bom in any::<bool>(), final_newline in any::<bool>(),
        chosen in pick_strategy(),
    ) {
        let src = render_file(&lines, crlf, bom, final_newline);
        let s = scan(src.as_bytes()).expect("generated YAML parses");
        let marked = lines.iter().filter(|l| matches!(l, Line::Marked { .. })).count();
        prop_assert_eq!(s.markers.len(), marked);
        prop_assert!(s.warnings.is_empty(), "{:?}", s.warnings);
        let pick_fn = |p: &PolicyRef| {
            let i: usize = p.name.trim_start_matches('p').parse().ok()?;
            chosen.get(i).cloned()
        };
        let (edits, warnings) = plan(&s.markers, &pick_fn);
        prop_assert!(warnings.is_empty());

        // Each edit on its own changes only its span.
        for e in &edits {
            let one = apply(src.as_bytes(), std::slice::from_ref(e));
            let tail = src.len() - e.span.end;
            prop_assert_eq!(&one[..e.span.start], &src.as_bytes()[..e.span.start]);
            prop_assert_eq!(&one[one.len() - tail..], &src.as_bytes()[e.span.end..]);
            prop_assert_eq!(&one[e.span.start..one.len() - tail], e.replacement.as_bytes());
        }

        // All together: the same data except the targets, which now hold the new values.
        let out = apply(src.as_bytes(), &edits);
        let before = data(src.as_bytes());
        let after = data(&out);
        prop_assert_eq!(before.len(), after.len());
        let edited: HashMap<usize, &str> = edits
            .iter()
            .map(|e| (scalar_event_index(src.as_bytes(), e.span.start), e.new.as_str()))
            .collect();
        let values_after: HashMap<usize, String> = scalar_positions(&out).into_iter().collect();
        for (i, (b, a)) in before.iter().zip(&after).enumerate() {
            match edited.get(&i) {
                Some(new) => prop_assert_eq!(values_after.get(&i).map(String::as_str), Some(*new)),
                None => prop_assert_eq!(b, a, "event {} differs", i),
            }
        }
        let rescan = scan(&out).expect("edited file parses");
        let mut want: Vec<String> = s.markers.iter().map(|m| m.value.clone()).collect();
        for e in &edits {
            let i = s.markers.iter().position(|m| m.span == e.span).unwrap();
            want[i] = e.new.clone();
        }
        prop_assert_eq!(
            rescan.markers.iter().map(|m| m.value.clone()).collect::<Vec<_>>(),
            want
        );

        // Idempotent: planning again on the edited file finds nothing to do.
        let (again, _) = plan(&rescan.markers, &pick_fn);
        prop_assert!(again.is_empty(), "{:?}", again);
    }

    /// Whatever the text, each style renders to a token that reads back as that text.
    #[test]
    fn rendered_scalars_read_back(value in "\\PC{0,12}|[ -~]{0,12}|[\\x00-\\x20\"'\\\\#:, -]{0,8}") {
        for style in [ScalarStyle::Plain, ScalarStyle::SingleQuoted, ScalarStyle::DoubleQuoted] {
            let token = render_scalar(style, &value);
            for doc in [format!("k: {token}\n"), format!("- {token} # c\n"), format!("[{token}, x]\n")] {
                let got = scalar_positions(doc.as_bytes());
                prop_assert_eq!(&got[usize::from(doc.starts_with('k'))].1, &value, "{:?} in {:?}", style, doc);
            }
            if style == ScalarStyle::Plain && !token.starts_with('"') {
                prop_assert!(!yaml11_non_string(&value));
            }
        }
    }

    /// Scanning never panics, whatever the bytes.
    #[test]
    fn scan_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200), text in "[ -~\\n\\t\"'#:{}\\[\\]|>&*!-]{0,200}") {
        let _ = scan(&bytes);
        let _ = scan(text.as_bytes());
        let _ = scalars(text.as_bytes());
        let with_marker = format!("{text} # {{\"$imagepolicy\": \"a:b\"}}\n{text}");
        let _ = scan(with_marker.as_bytes());
    }
}

/// Index, in `data` order, of the scalar event whose token starts at byte `start`.
fn scalar_event_index(bytes: &[u8], start: usize) -> usize {
    let text = std::str::from_utf8(bytes).unwrap();
    // Character offset of `start`, as the parser counts.
    let char_start = text[..start].chars().count();
    Parser::new_from_str(text)
        .enumerate()
        .find_map(|(i, r)| {
            let (ev, span) = r.unwrap();
            (matches!(ev, Event::Scalar(..))
                && span.start.index() <= char_start
                && char_start < span.end.index().max(span.start.index() + 1))
            .then_some(i)
        })
        .expect("marker scalar has an event")
}
