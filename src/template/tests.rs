//! The examples of Flux's ImageUpdateAutomation documentation, rendered as Flux renders them,
//! and each template feature on its own.

use std::collections::BTreeMap;

use super::*;

fn podinfo() -> ObjectId {
    ObjectId {
        api_version: "apps/v1".into(),
        kind: "Deployment".into(),
        name: "podinfo".into(),
        namespace: "default".into(),
    }
}

fn changes(new_tag: &str) -> Vec<FluxChange> {
    vec![
        FluxChange {
            file: "deploy/podinfo.yaml".into(),
            object: podinfo(),
            old_value: "ghcr.io/stefanprodan/podinfo:5.0.0".into(),
            new_value: format!("ghcr.io/stefanprodan/podinfo:{new_tag}"),
            setter: "flux-system:podinfo".into(),
        },
        FluxChange {
            file: "compose/docker-compose.yml".into(),
            object: ObjectId::default(),
            old_value: "5.0.0".into(),
            new_value: new_tag.into(),
            setter: "flux-system:podinfo:tag".into(),
        },
    ]
}

fn data(new_tag: &str) -> Value {
    flux_data(
        "flux-system",
        "podinfo-update",
        &changes(new_tag),
        &BTreeMap::new(),
    )
}

fn render(template: &str, data: &Value) -> String {
    GoTemplate::parse(template)
        .unwrap_or_else(|e| panic!("parse: {e}"))
        .render(data)
        .unwrap_or_else(|e| panic!("render: {e}"))
}

fn render_err(template: &str) -> String {
    match GoTemplate::parse(template) {
        Ok(t) => panic!("expected an error for {template:?}, parsed {t:?}"),
        Err(e) => e.0,
    }
}

/// Flux docs, "Message Template": the first example (a `|` block, so a final newline).
const DOC_EXAMPLE: &str = r#"Automated image update

Automation name: {{ .AutomationObject }}

Files:
{{ range $filename, $_ := .Changed.FileChanges -}}
- {{ $filename }}
{{ end -}}

Objects:
{{ range $resource, $changes := .Changed.Objects -}}
- {{ $resource.Kind }} {{ $resource.Name }}
  Changes:
{{- range $_, $change := $changes }}
    - {{ $change.OldValue }} -> {{ $change.NewValue }}
{{ end -}}
{{ end -}}
"#;

#[test]
fn flux_docs_example_with_changed_data() {
    // Files and objects iterate in sorted order; a compose file's object is empty, so its line
    // reads "-  " as in Flux.
    assert_eq!(
        render(DOC_EXAMPLE, &data("5.0.3")),
        "Automated image update\n\nAutomation name: flux-system/podinfo-update\n\nFiles:\n\
         - compose/docker-compose.yml\n- deploy/podinfo.yaml\nObjects:\n-  \n  Changes:\n    \
         - 5.0.0 -> 5.0.3\n- Deployment podinfo\n  Changes:\n    \
         - ghcr.io/stefanprodan/podinfo:5.0.0 -> ghcr.io/stefanprodan/podinfo:5.0.3\n"
    );
}

/// Flux docs: the example "with template functions" (`lower`, `contains`, `if`/`else`).
const DOC_FUNCTIONS_EXAMPLE: &str = r#"Automated image update

Automation name: {{ .AutomationObject }}

Files:
{{ range $filename, $_ := .Changed.FileChanges -}}
- {{ $filename }}
{{ end -}}

Objects:
{{ range $resource, $changes := .Changed.Objects -}}
- {{ $resource.Kind | lower }} {{ $resource.Name | lower }}
  Changes:
{{- range $_, $change := $changes }}
  {{ if contains "5.0.3" $change.NewValue -}}
    - {{ $change.OldValue }} -> {{ $change.NewValue }}
  {{ else -}}
    [skip ci] wrong image
  {{ end -}}
{{ end -}}
{{ end -}}
"#;

#[test]
fn flux_docs_example_with_functions() {
    let head = "Automated image update\n\nAutomation name: flux-system/podinfo-update\n\n\
                Files:\n- compose/docker-compose.yml\n- deploy/podinfo.yaml\nObjects:\n";
    assert_eq!(
        render(DOC_FUNCTIONS_EXAMPLE, &data("5.0.3")),
        format!(
            "{head}-  \n  Changes:\n  - 5.0.0 -> 5.0.3\n  - deployment podinfo\n  Changes:\n  \
             - ghcr.io/stefanprodan/podinfo:5.0.0 -> ghcr.io/stefanprodan/podinfo:5.0.3\n  "
        )
    );
    assert_eq!(
        render(DOC_FUNCTIONS_EXAMPLE, &data("6.0.0")),
        format!(
            "{head}-  \n  Changes:\n  [skip ci] wrong image\n  - deployment podinfo\n  \
             Changes:\n  [skip ci] wrong image\n  "
        )
    );
}

#[test]
fn flux_docs_example_with_values() {
    let values = BTreeMap::from([("cluster".to_owned(), "prod".to_owned())]);
    let d = flux_data("flux-system", "podinfo-update", &changes("5.0.3"), &values);
    assert_eq!(
        render(
            "Automated image update by Flux for cluster {{ .Values.cluster }}.",
            &d
        ),
        "Automated image update by Flux for cluster prod."
    );
    // A missing key prints Go's "<no value>", as in Flux.
    assert_eq!(render("{{ .Values.region }}", &d), "<no value>");
}

#[test]
fn the_usual_bump_images_template() {
    let t = "Bump images ({{ .AutomationObject }})\n\n\
             {{ range $file, $objects := .Changed.FileChanges -}}\n\
             {{ $file }}\n\
             {{- range $id, $changes := $objects }}{{ range $changes }}\n  \
             {{ .Setter }}: {{ .OldValue }} -> {{ .NewValue }}\n\
             {{- end }}{{ end }}\n\
             {{ end -}}\n";
    assert_eq!(
        render(t, &data("5.0.3")),
        "Bump images (flux-system/podinfo-update)\n\ncompose/docker-compose.yml\n  \
         flux-system:podinfo:tag: 5.0.0 -> 5.0.3\ndeploy/podinfo.yaml\n  flux-system:podinfo: \
         ghcr.io/stefanprodan/podinfo:5.0.0 -> ghcr.io/stefanprodan/podinfo:5.0.3\n"
    );
}

#[test]
fn changes_objects_and_printing() {
    let d = data("5.0.3");
    assert_eq!(
        render(
            "{{ range .Changed.Changes }}{{ .Setter }}={{ .NewValue }};{{ end }}",
            &d
        ),
        "flux-system:podinfo:tag=5.0.3;flux-system:podinfo=ghcr.io/stefanprodan/podinfo:5.0.3;"
    );
    assert_eq!(render("{{ len .Changed.Changes }}", &d), "2");
    // Go's %v of the structs.
    assert_eq!(
        render("{{ index .Changed.Changes 0 }}", &d),
        "{5.0.0 5.0.3 flux-system:podinfo:tag}"
    );
    assert_eq!(
        render(
            "{{ range $id, $_ := .Changed.Objects }}{{ $id }};{{ end }}",
            &d
        ),
        "{{{ } { }}};{{{apps/v1 Deployment} {podinfo default}}};"
    );
    assert_eq!(
        render(
            "{{ .AutomationObject.Namespace }}|{{ .AutomationObject.Name }}",
            &d
        ),
        "flux-system|podinfo-update"
    );
    // Duplicate changes collapse in .Changed.Changes.
    let mut twice = changes("5.0.3");
    let mut again = twice[0].clone();
    again.file = "other.yaml".into();
    twice.push(again);
    let d = flux_data("ns", "a", &twice, &BTreeMap::new());
    assert_eq!(render("{{ len .Changed.Changes }}", &d), "2");
    assert_eq!(render("{{ len .Changed.FileChanges }}", &d), "3");
}

#[test]
fn control_flow_variables_and_trimming() {
    let d = data("5.0.3");
    let cases: &[(&str, &str)] = &[
        ("a {{- \" b \" -}} c", "a b c"),
        ("a  {{- /* a comment */ -}}  b", "ab"),
        ("{{/* only a comment */}}x", "x"),
        (
            "{{ if false }}1{{ else if true }}2{{ else }}3{{ end }}",
            "2",
        ),
        ("{{ if .Values.nothing }}yes{{ else }}no{{ end }}", "no"),
        (
            "{{ with .AutomationObject }}{{ .Name }}{{ end }}",
            "podinfo-update",
        ),
        ("{{ with .Values.x }}{{ . }}{{ else }}none{{ end }}", "none"),
        (
            "{{ $x := \"one\" }}{{ $x }}{{ $x = \"two\" }} {{ $x }}",
            "one two",
        ),
        ("{{ range .Values }}x{{ else }}empty{{ end }}", "empty"),
        (
            "{{ range $i, $c := .Changed.Changes }}{{ if eq $i 1 }}{{ break }}{{ end }}{{ $i }}{{ end }}",
            "0",
        ),
        (
            "{{ range $i, $c := .Changed.Changes }}{{ if eq $i 0 }}{{ continue }}{{ end }}{{ $i }}{{ end }}",
            "1",
        ),
        (
            "{{ range $c := .Changed.Changes }}{{ $.AutomationObject.Name }}{{ end }}",
            "podinfo-updatepodinfo-update",
        ),
        ("{{ and 1 0 }} {{ or 0 \"x\" }} {{ not true }}", "0 x false"),
        (
            "{{ printf \"%s-%d-%q-%5s|%-3s|\" \"a\" 7 \"q\" \"r\" \"l\" }}",
            "a-7-\"q\"-    r|l  |",
        ),
        ("{{ print \"a\" 1 2 \"b\" }}", "a1 2b"),
        ("{{ \"x\" | printf \"%s!\" }}", "x!"),
        ("{{ (len .Changed.Changes) | printf \"%03d\" }}", "002"),
        (
            "{{ (index .Changed.Changes 1).Setter }}",
            "flux-system:podinfo",
        ),
        (
            "{{ lt 1 2 }} {{ ge \"b\" \"a\" }} {{ ne 1 1 }} {{ eq \"a\" \"b\" \"a\" }}",
            "true true false true",
        ),
        ("{{ 1.5 }} {{ 0x10 }} {{ 'a' }} {{ -3 }}", "1.5 16 97 -3"),
        ("{{ `raw\\n` }}", "raw\\n"),
    ];
    for (t, want) in cases {
        assert_eq!(render(t, &d), *want, "{t}");
    }
}

#[test]
fn sprig_functions() {
    let d = data("5.0.3");
    let cases: &[(&str, &str)] = &[
        (
            "{{ \"Hello World\" | upper }} {{ \"ABC\" | lower }} {{ \"hello world\" | title }}",
            "HELLO WORLD abc Hello World",
        ),
        (
            "{{ trim \"  x  \" }}|{{ trimPrefix \"v\" \"v1.2\" }}|{{ trimSuffix \".yaml\" \"a.yaml\" }}",
            "x|1.2|a",
        ),
        (
            "{{ replace \"a\" \"b\" \"banana\" }} {{ contains \"an\" \"banana\" }} {{ hasPrefix \"ba\" \"banana\" }} {{ hasSuffix \"na\" \"banana\" }}",
            "bbnbnb true true true",
        ),
        (
            "{{ list \"b\" \"a\" \"b\" | uniq | sortAlpha | join \", \" }}",
            "a, b",
        ),
        (
            "{{ splitList \":\" \"a:b:c\" | last }} {{ (split \":\" \"a:b\")._1 }}",
            "c b",
        ),
        (
            "{{ default \"none\" .Values.x }} {{ default \"none\" \"set\" }} {{ empty \"\" }}",
            "none set true",
        ),
        (
            "{{ coalesce .Values.x \"\" \"z\" }} {{ ternary \"y\" \"n\" true }}",
            "z y",
        ),
        (
            "{{ quote \"a\" }} {{ squote \"b\" }} {{ cat \"a\" \"b\" }}",
            "\"a\" 'b' a b",
        ),
        (
            "{{ \"x\" | indent 2 }}|{{ \"x\" | nindent 2 }}",
            "  x|\n  x",
        ),
        (
            "{{ trunc 3 \"abcdef\" }} {{ abbrev 5 \"abcdefgh\" }} {{ substr 1 3 \"abcdef\" }} {{ repeat 2 \"ab\" }}",
            "abc ab... bc abab",
        ),
        (
            "{{ add 1 2 3 }} {{ sub 5 2 }} {{ mul 2 3 }} {{ div 7 2 }} {{ mod 7 2 }} {{ max 1 9 3 }} {{ add1 1 }}",
            "6 3 6 3 1 9 2",
        ),
        (
            "{{ base \"a/b/c.yaml\" }} {{ dir \"a/b/c.yaml\" }} {{ ext \"c.yaml\" }}",
            "c.yaml a/b .yaml",
        ),
        (
            "{{ regexReplaceAll \"[0-9]+\" \"v12\" \"N\" }} {{ regexMatch \"^v\" \"v1\" }} {{ regexFind \"[0-9]\" \"ab3\" }}",
            "vN true 3",
        ),
        (
            "{{ dict \"a\" 1 \"b\" 2 | keys | join \",\" }} {{ get (dict \"k\" \"v\") \"k\" }} {{ hasKey (dict \"k\" 1) \"x\" }}",
            "a,b v false",
        ),
        (
            "{{ toJson (list 1 \"a\") }} {{ b64enc \"hi\" }} {{ b64dec \"aGk=\" }}",
            "[1,\"a\"] aGk= hi",
        ),
        (
            "{{ range until 3 }}{{ . }}{{ end }} {{ seq 3 }}",
            "012 1 2 3",
        ),
        (
            "{{ first .Changed.Changes | toString | len | gt 5 }}",
            "false",
        ),
    ];
    for (t, want) in cases {
        assert_eq!(render(t, &d), *want, "{t}");
    }
}

#[test]
fn removed_and_unknown_things_are_named() {
    let e = render_err("{{ range .Updated }}{{ . }}{{ end }}");
    assert!(e.contains("removed '.Updated' field"), "{e}");
    let e = render_err("{{ .Changed.ImageResult }}");
    assert!(e.contains("removed '.Changed.ImageResult' field"), "{e}");
    let e = render_err("{{ range $x := .Changed.Changes }}{{ $.Updated }}{{ end }}");
    assert!(e.contains("'.Updated'"), "{e}");
    let e = render_err("{{ now }}");
    assert!(e.contains("function \"now\" not defined"), "{e}");
    let e = render_err("x\n{{ .Values.a | snakecase }}");
    assert!(
        e.contains("line 2") && e.contains("\"snakecase\"") && e.contains("not supported"),
        "{e}"
    );
    let e = render_err("{{ .Changed.Files }}");
    assert!(
        e.contains("can't evaluate field Files in type update.Result"),
        "{e}"
    );
    let e = render_err("{{ define \"x\" }}y{{ end }}");
    assert!(e.contains("{{define}} is not supported"), "{e}");
    for bad in [
        "{{ if true }}x",
        "{{ end }}",
        "{{ .A",
        "{{ \"x }}",
        "{{ 1 | }}",
        "{{ break }}",
    ] {
        let e = render_err(bad);
        assert!(e.starts_with("line 1:"), "{bad}: {e}");
    }
    // A field that exists only on some data still fails at render time, naming it.
    let t = GoTemplate::parse("{{ range .Changed.Changes }}{{ .Kind }}{{ end }}");
    let e = t.expect_err("Change has no Kind");
    assert!(
        e.0.contains("can't evaluate field Kind in type update.Change"),
        "{e}"
    );
}
