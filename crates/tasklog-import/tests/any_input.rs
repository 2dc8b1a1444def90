//! No input makes an importer panic: every fixture, cut at many points and
//! with bytes flipped, through every format's parser and the whole import
//! (detection, task folders, import.json), must come back as a report.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::path::{Path, PathBuf};

use tasklog_import::{Candidate, Format, Importer};
use tasklog_writer::{FsyncPolicy, Writer, WriterOptions};

fn fixtures() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/import");
    let mut out = Vec::new();
    let mut dirs = vec![root];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Variants of `bytes`: cut at ~15 points, and with one byte changed at
/// each (a quote, a brace, a digit, a NUL).
fn variants(bytes: &[u8]) -> Vec<Vec<u8>> {
    let step = (bytes.len() / 15).max(1);
    let mut out = Vec::new();
    for at in (0..bytes.len()).step_by(step) {
        out.push(bytes[..at].to_vec());
        for b in [b'"', b'}', b'9', 0u8] {
            let mut v = bytes.to_vec();
            v[at] = b;
            out.push(v);
        }
    }
    out
}

#[test]
fn no_fixture_variant_makes_any_importer_panic() {
    let dir = tempfile::tempdir().unwrap();
    let mut formats: Vec<Option<Format>> = Format::ALL.iter().copied().map(Some).collect();
    formats.push(None);
    let mut runs = 0;
    for fixture in fixtures() {
        let bytes = std::fs::read(&fixture).unwrap();
        let name = fixture.file_name().unwrap().to_owned();
        for (i, variant) in variants(&bytes).into_iter().enumerate() {
            // One root per fixture variant keeps runs independent; the
            // same root across formats also exercises re-imports.
            let root = dir.path().join(format!("{}-{i}", name.to_string_lossy()));
            let src = root.join("src").join(&name);
            std::fs::create_dir_all(src.parent().unwrap()).unwrap();
            std::fs::write(&src, &variant).unwrap();
            // No fsync: this test is about parsing, not durability.
            let options = WriterOptions {
                document_fsync: FsyncPolicy::Never,
                ..WriterOptions::default()
            };
            let writer = Writer::open(root.join("tasks"), options).unwrap();
            // Every format for the cuts, auto and two others for the rest.
            let chosen: Vec<Option<Format>> = if i % 5 == 0 {
                formats.clone()
            } else {
                vec![None, formats[i % 9], formats[(i + 4) % 9]]
            };
            for format in &chosen {
                let mut importer = Importer::new(writer.clone(), *format);
                let candidate = Candidate {
                    path: src.clone(),
                    explicit: i % 2 == 0,
                };
                let report = importer.import_file(&candidate);
                assert!(report.path == src, "{}", report.path.display());
                runs += 1;
            }
        }
    }
    assert!(runs > 500, "{runs}");
}
