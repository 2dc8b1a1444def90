//! Model-based test of the tailer: random sequences of appends, partial
//! appends, garbage, truncate-and-rewrite, replace-by-rename, deletes,
//! restarts and index passes, run against the real filesystem and an
//! in-memory model of what each file holds. After every index pass the
//! `records` rows of each file must equal the model's complete object lines,
//! by offset and body: nothing lost, nothing twice, nothing torn.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use tasklog_index::{IndexOptions, OpenSqlite, RunMode, Tailer};

const FILES: &[(&str, &str)] = &[("alpha", "events"), ("alpha", "out"), ("beta", "events")];

/// What the model knows of one file: its exact bytes.
#[derive(Default, Clone)]
struct ModelFile {
    bytes: Vec<u8>,
    /// A fragment without newline is pending at the end.
    partial: bool,
}

impl ModelFile {
    /// `(offset, body)` of every complete line that is a JSON object.
    fn expected(&self) -> Vec<(u64, String)> {
        let mut out = Vec::new();
        let mut start = 0;
        for (i, b) in self.bytes.iter().enumerate() {
            if *b == b'\n' {
                let line = &self.bytes[start..i];
                if let Ok(text) = std::str::from_utf8(line) {
                    if serde_json::from_str::<serde_json::Value>(text).is_ok_and(|v| v.is_object())
                    {
                        out.push((start as u64, text.to_owned()));
                    }
                }
                start = i + 1;
            }
        }
        out
    }
}

struct Harness {
    dir: tempfile::TempDir,
    root: PathBuf,
    db: PathBuf,
    model: BTreeMap<(String, String), ModelFile>,
    counter: u64,
    indexer: Option<Tailer>,
}

impl Harness {
    fn new() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("tasks");
        let db = dir.path().join("index.db");
        std::fs::create_dir_all(&root).unwrap();
        let mut h = Harness {
            dir,
            root,
            db,
            model: BTreeMap::new(),
            counter: 0,
            indexer: None,
        };
        h.restart();
        h
    }

    fn options() -> IndexOptions {
        IndexOptions {
            // Small batches so one pass spans several transactions.
            batch_rows: 7,
            line_limit: 4096,
            ..IndexOptions::default()
        }
    }

    fn restart(&mut self) {
        if let Some(indexer) = self.indexer.take() {
            indexer.finish().unwrap();
        }
        self.indexer =
            Some(Tailer::open(&self.root, &self.db, Self::options(), RunMode::Once).unwrap());
    }

    fn path(&self, task: &str, stream: &str) -> PathBuf {
        self.root.join(task).join(format!("{stream}.jsonl"))
    }

    fn line(&mut self) -> Vec<u8> {
        self.counter += 1;
        format!(
            "{{\"event\":\"step\",\"n\":{},\"pad\":\"{}\"}}\n",
            self.counter,
            "p".repeat((self.counter % 40) as usize)
        )
        .into_bytes()
    }

    fn append(&mut self, key: (String, String), bytes: &[u8]) {
        let path = self.path(&key.0, &key.1);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(bytes)
            .unwrap();
        self.model
            .entry(key)
            .or_default()
            .bytes
            .extend_from_slice(bytes);
    }

    fn step(&mut self, rng: &mut fastrand::Rng, log: &mut Vec<String>) {
        let (task, stream) = FILES[rng.usize(..FILES.len())];
        let key = (task.to_owned(), stream.to_owned());
        let partial = self.model.get(&key).is_some_and(|m| m.partial);
        match rng.u8(..100) {
            0..=34 => {
                let n = rng.usize(1..6);
                let mut bytes = Vec::new();
                if partial {
                    bytes.extend_from_slice(b"\"end\"}\n"); // complete the fragment first
                }
                for _ in 0..n {
                    bytes.extend(self.line());
                }
                log.push(format!("append {n} to {task}/{stream}"));
                self.append(key.clone(), &bytes);
                self.model.get_mut(&key).unwrap().partial = false;
            }
            35..=44 if !partial => {
                log.push(format!("partial to {task}/{stream}"));
                self.append(key.clone(), b"{\"half\":");
                self.model.get_mut(&key).unwrap().partial = true;
            }
            45..=49 if !partial => {
                log.push(format!("garbage to {task}/{stream}"));
                self.append(key, b"garbage, not json\n");
            }
            50..=56 => {
                // Truncate to a line boundary (or 0) and write new lines, same inode.
                let Some(m) = self.model.get(&key).cloned() else {
                    return;
                };
                let boundaries: Vec<usize> = std::iter::once(0)
                    .chain(
                        m.bytes
                            .iter()
                            .enumerate()
                            .filter(|(_, b)| **b == b'\n')
                            .map(|(i, _)| i + 1),
                    )
                    .collect();
                let keep = boundaries[rng.usize(..boundaries.len())];
                let mut bytes = m.bytes[..keep].to_vec();
                for _ in 0..rng.usize(0..4) {
                    bytes.extend(self.line());
                }
                log.push(format!(
                    "truncate {task}/{stream} to {keep} and rewrite to {}",
                    bytes.len()
                ));
                let path = self.path(task, stream);
                let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
                f.set_len(0).unwrap();
                f.write_all(&bytes).unwrap();
                self.model.insert(
                    key,
                    ModelFile {
                        bytes,
                        partial: false,
                    },
                );
            }
            57..=61 => {
                let mut bytes = Vec::new();
                for _ in 0..rng.usize(1..5) {
                    bytes.extend(self.line());
                }
                log.push(format!("replace {task}/{stream} by rename"));
                let path = self.path(task, stream);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                let tmp = path.with_file_name(".swap");
                std::fs::write(&tmp, &bytes).unwrap();
                std::fs::rename(&tmp, &path).unwrap();
                self.model.insert(
                    key,
                    ModelFile {
                        bytes,
                        partial: false,
                    },
                );
            }
            62..=64 => {
                log.push(format!("delete {task}/{stream}"));
                let _ = std::fs::remove_file(self.path(task, stream));
                self.model.remove(&key);
            }
            65..=72 => {
                log.push("restart".into());
                self.restart();
            }
            _ => {
                log.push("index".into());
                self.index_and_check(log);
            }
        }
    }

    fn index_and_check(&mut self, log: &[String]) {
        let indexer = self.indexer.as_mut().unwrap();
        indexer.reconcile_all(&mut |_| {}).unwrap();
        indexer.flush().unwrap();
        let conn = rusqlite::Connection::open(&self.db).unwrap();
        for (task, stream) in FILES {
            let expected = self
                .model
                .get(&((*task).to_owned(), (*stream).to_owned()))
                .map(ModelFile::expected)
                .unwrap_or_default();
            let mut stmt = conn
                .prepare(r#"SELECT "offset", body FROM records WHERE task_id = ?1 AND stream = ?2 ORDER BY "offset""#)
                .unwrap();
            let got: Vec<(u64, String)> = stmt
                .query_map([task, stream], |r| {
                    Ok((r.get::<_, i64>(0)? as u64, r.get(1)?))
                })
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert_eq!(
                got,
                expected,
                "{task}/{stream} differs after:\n{}",
                log[log.len().saturating_sub(25)..].join("\n")
            );
        }
    }
}

fn run(seed: u64, steps: usize) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut h = Harness::new();
    let mut log = Vec::new();
    for _ in 0..steps {
        h.step(&mut rng, &mut log);
    }
    h.index_and_check(&log);
    // The database is disposable: a rebuild from the files gives the same rows.
    h.indexer.take().unwrap().finish().unwrap();
    let rebuilt = h.dir.path().join("rebuilt.db");
    let mut fresh = Tailer::open(&h.root, &rebuilt, Harness::options(), RunMode::Once).unwrap();
    fresh.reconcile_all(&mut |_| {}).unwrap();
    fresh.finish().unwrap();
    let rows = |db: &Path| -> Vec<(String, String, i64, String)> {
        let conn = rusqlite::Connection::open(db).unwrap();
        let mut stmt = conn
            .prepare(r#"SELECT task_id, stream, "offset", body FROM records ORDER BY 1, 2, 3"#)
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    assert_eq!(rows(&h.db), rows(&rebuilt), "seed {seed}: rebuild differs");
}

#[test]
fn random_histories_match_the_model() {
    for seed in 0..24 {
        run(seed, 150);
    }
}
