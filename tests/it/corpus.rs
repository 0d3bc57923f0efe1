//! Byte-exact edits over the real-world YAML corpus (`../shared/corpus`, see its README.md).
//!
//! For every file outside `invalid/` and every `image:` value written on its key's line (plus Helm
//! `tag:` and kustomize `newName` / `newTag`), change only that value through the editor's
//! scalar-replacement path and check that every other byte is identical and that the re-parsed data
//! equals the original except for that one value. Files in `invalid/` must be refused cleanly or
//! yield no markers, never panic.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use deckhand::manifest;
use saphyr_parser::{Event, Parser, ScalarStyle};

/// The corpus: `$DECKHAND_CORPUS`, else `<CARGO_MANIFEST_DIR>/../shared/corpus`. Missing → fail.
fn corpus_dir() -> PathBuf {
    let dir = std::env::var_os("DECKHAND_CORPUS").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"),
        PathBuf::from,
    );
    assert!(
        dir.join("README.md").is_file(),
        "the YAML corpus is missing at {}: set DECKHAND_CORPUS to the shared/corpus folder",
        dir.display()
    );
    dir
}

/// `*.yaml` / `*.yml` files under `dir`, sorted.
fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("corpus folder is readable") {
            let path = entry.expect("corpus entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The file's data as a flat event list: structure, values, plain-vs-quoted, anchors and tags.
fn data(bytes: &[u8], file: &Path) -> Vec<(String, Option<String>)> {
    let text = std::str::from_utf8(bytes).expect("utf-8");
    Parser::new_from_str(text)
        .map(|r| {
            let (ev, _) = r.unwrap_or_else(|e| panic!("{} no longer parses: {e}", file.display()));
            match ev {
                Event::Scalar(v, style, anchor, tag) => {
                    let kind = if style == ScalarStyle::Plain {
                        "plain"
                    } else {
                        "quoted"
                    };
                    (
                        format!("scalar {kind} &{anchor} {tag:?}"),
                        Some(v.into_owned()),
                    )
                }
                other => (format!("{other:?}"), None),
            }
        })
        .collect()
}

/// Which keys are edited, and the README's stable counts of values written on their key's line.
const KEYS: [&str; 4] = ["image", "tag", "newName", "newTag"];

#[test]
fn every_image_and_tag_value_edits_byte_exactly() {
    let root = corpus_dir();
    let mut files = 0;
    // (folder, key) → values edited
    let mut edited: BTreeMap<(String, &str), usize> = BTreeMap::new();
    // Same, counting only values that were not empty (`tag: ""` is common in Helm values).
    let mut edited_nonempty: BTreeMap<(String, &str), usize> = BTreeMap::new();
    let mut markers = 0;
    for file in yaml_files(&root) {
        let rel = file.strip_prefix(&root).expect("under the corpus");
        let folder = rel
            .components()
            .next()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .unwrap_or_default();
        if folder == "invalid" {
            continue;
        }
        files += 1;
        let bytes = std::fs::read(&file).expect("corpus file is readable");
        let scan = manifest::scan(&bytes).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        markers += scan.markers.len();
        let scalars =
            manifest::scalars(&bytes).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let before = data(&bytes, &file);
        for s in &scalars {
            let Some(key) = KEYS.iter().find(|k| s.key.as_deref() == Some(**k)) else {
                continue;
            };
            if s.key_line != Some(s.line) {
                continue;
            }
            let new = format!("{}-deckhand", s.value);
            let out = manifest::replace_scalar(&bytes, s, &new);
            let at = format!("{}:{} ({key}: {:?})", rel.display(), s.line, s.value);

            // Every byte outside the token is the same.
            let tail = bytes.len() - s.span.end;
            assert_eq!(
                out[..s.span.start],
                bytes[..s.span.start],
                "{at}: prefix changed"
            );
            assert_eq!(
                out[out.len() - tail..],
                bytes[s.span.end..],
                "{at}: suffix changed"
            );
            assert_eq!(
                std::str::from_utf8(&out[s.span.start..out.len() - tail]).expect("utf-8"),
                manifest::render_scalar(s.style, &new),
                "{at}: token"
            );

            // The data is the same except for this one value.
            let after = data(&out, &file);
            assert_eq!(before.len(), after.len(), "{at}: structure changed");
            let diffs: Vec<usize> = (0..before.len())
                .filter(|&i| before[i] != after[i])
                .collect();
            assert_eq!(diffs.len(), 1, "{at}: {} events differ", diffs.len());
            let i = diffs[0];
            assert_eq!(
                before[i].1.as_deref(),
                Some(s.value.as_str()),
                "{at}: wrong event changed"
            );
            assert_eq!(
                after[i].1.as_deref(),
                Some(new.as_str()),
                "{at}: new value reads back wrong"
            );

            // And the editor finds the new value in the same place.
            let again = manifest::scalars(&out).expect("edited file parses");
            assert_eq!(again.len(), scalars.len(), "{at}");
            let idx = scalars
                .iter()
                .position(|x| x == s)
                .expect("scalar is listed");
            assert_eq!(again[idx].value, new, "{at}");
            *edited.entry((folder.clone(), *key)).or_default() += 1;
            if !s.value.is_empty() {
                *edited_nonempty.entry((folder.clone(), *key)).or_default() += 1;
            }
        }
    }

    let count_in = |map: &BTreeMap<(String, &str), usize>, folder: &str, key: &str| {
        map.iter()
            .filter(|((f, k), _)| (folder == "*" || f == folder) && *k == key)
            .map(|(_, n)| *n)
            .sum::<usize>()
    };
    let count = |folder: &str, key: &str| count_in(&edited, folder, key);
    let total: usize = edited.values().sum();
    let nonempty: usize = edited_nonempty.values().sum();
    println!(
        "corpus: {files} files outside invalid/, {total} values edited ({nonempty} non-empty), \
         {markers} markers"
    );
    for ((folder, key), n) in &edited {
        println!("  {folder:<10} {key:<8} {n}");
    }
    // The README's figures.
    assert_eq!(files, 339, "files outside invalid/");
    assert_eq!(
        count("*", "image"),
        384,
        "image: values on their key's line"
    );
    assert_eq!(count("compose", "image"), 234);
    assert_eq!(count("k8s", "image"), 143);
    assert_eq!(count("kustomize", "image"), 2);
    assert_eq!(count("helm", "image"), 5);
    // The README counts the 89 non-empty Helm `tag:` values; 19 more are `tag: ""`, edited too.
    assert_eq!(
        count_in(&edited_nonempty, "helm", "tag"),
        89,
        "non-empty Helm tag: values"
    );
    assert_eq!(
        count("helm", "tag"),
        108,
        "Helm tag: values, empty ones included"
    );
    assert_eq!(count("k8s", "tag"), 1);
    assert_eq!(count("kustomize", "newName"), 20);
    assert_eq!(count("kustomize", "newTag"), 18);
}

#[test]
fn corpus_markers_are_found() {
    let root = corpus_dir();
    let mut found = Vec::new();
    for file in yaml_files(&root) {
        let bytes = std::fs::read(&file).expect("readable");
        if !manifest::mentions_marker(&bytes) {
            continue;
        }
        let scan = manifest::scan(&bytes).expect("marker files parse");
        assert!(
            scan.warnings.is_empty(),
            "{}: {:?}",
            file.display(),
            scan.warnings
        );
        found.push((
            file.file_name().unwrap().to_string_lossy().into_owned(),
            scan.markers.len(),
        ));
    }
    println!("marker files: {found:?}");
    // "Flux image-policy markers on image and tag lines (4 files)".
    assert_eq!(found.len(), 4, "{found:?}");
    assert!(found.iter().all(|(_, n)| *n >= 2), "{found:?}");
}

#[test]
fn invalid_files_are_refused_cleanly() {
    let root = corpus_dir();
    let files = yaml_files(&root.join("invalid"));
    assert_eq!(files.len(), 10, "invalid/ holds 10 files");
    let (mut refused, mut parsed) = (0, 0);
    for file in &files {
        let bytes = std::fs::read(file).expect("readable");
        match manifest::scan(&bytes) {
            Err(e) => {
                assert!(e.line >= 1 && e.column >= 1, "{}: {e:?}", file.display());
                assert!(!e.message.is_empty());
                refused += 1;
            }
            Ok(scan) => {
                assert!(scan.markers.is_empty(), "{}", file.display());
                parsed += 1;
            }
        }
        // The listing agrees with the scan on whether the file parses.
        assert_eq!(
            manifest::scalars(&bytes).is_err(),
            manifest::scan(&bytes).is_err()
        );
    }
    println!(
        "invalid/: {refused} refused with a parse error, {parsed} parse (YAML 1.2) with no markers"
    );
}
