//! Scan driver for `benches/scan.sh`: discover + scan + plan over the tree named by
//! `DECKHAND_SCAN_TREE`, printing counts (no files are written). Timing and peak RSS are measured
//! by the script around this binary, side by side with `grep -rlF '$imagepolicy'`.
//!
//! `DECKHAND_SCAN_VALIDATE=1` also parses every YAML file in the tree (a check of the generated
//! tree, not part of the timed run).

use std::path::Path;
use std::process::ExitCode;

use deckhand::manifest::{self, Pick, PolicyRef};

fn main() -> ExitCode {
    let Some(tree) = std::env::var_os("DECKHAND_SCAN_TREE") else {
        eprintln!(
            "scan_tree: set DECKHAND_SCAN_TREE to a directory (benches/scan.sh does); skipped"
        );
        return ExitCode::SUCCESS;
    };
    let root = Path::new(&tree);
    let found = manifest::discover(root, root);
    for e in &found.errors {
        eprintln!("discover: {e}");
    }
    let pick = |p: &PolicyRef| {
        Some(Pick {
            image: format!("registry.example:5000/{}", p.name),
            tag: "2.0.0".to_owned(),
            digest: None,
        })
    };
    let (mut markers, mut edits, mut warnings, mut parse_errors) = (0, 0, 0, 0);
    for file in &found.files {
        let bytes = match std::fs::read(file) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("read {}: {e}", file.display());
                continue;
            }
        };
        match manifest::scan(&bytes) {
            Ok(scan) => {
                let (planned, plan_warnings) = manifest::plan(&scan.markers, &pick);
                markers += scan.markers.len();
                edits += planned.len();
                warnings += scan.warnings.len() + plan_warnings.len();
                // Splice too, so the whole in-memory path is measured.
                std::hint::black_box(manifest::apply(&bytes, &planned));
            }
            Err(e) => {
                eprintln!("{}: {e}", file.display());
                parse_errors += 1;
            }
        }
    }
    println!(
        "files={} markers={markers} edits={edits} warnings={warnings} parse_errors={parse_errors} \
         discover_errors={}",
        found.files.len(),
        found.errors.len()
    );
    if std::env::var_os("DECKHAND_SCAN_VALIDATE").is_some() {
        let mut stack = vec![root.to_path_buf()];
        let (mut checked, mut bad) = (0, 0);
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                    checked += 1;
                    let ok = std::fs::read(&path)
                        .ok()
                        .is_some_and(|b| manifest::scan(&b).is_ok());
                    if !ok {
                        bad += 1;
                        eprintln!("invalid: {}", path.display());
                    }
                }
            }
        }
        println!("validate: {checked} files parsed, {bad} invalid");
    }
    if parse_errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
