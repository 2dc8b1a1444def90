//! `tasklog verify --db postgres://...`: proves the local host's rows equal
//! the local files (other hosts' files are on other machines), with the
//! same per-file comparison as the SQLite index (`verify.rs`).

use std::collections::BTreeSet;
use std::path::Path;

use super::{schema, PgTarget};
use tasklog_tail::verify::{
    document_report, stream_report_refusing, unindexed_files, VerifyReport,
};
use tasklog_tail::Result;

/// Compares `target`'s host's rows with the files under `root`, in one
/// snapshot of the database.
pub fn verify_postgres(root: &Path, target: &PgTarget, line_limit: u64) -> Result<VerifyReport> {
    let mut client = target.connect("verify")?;
    schema::check(&mut client, target)?;
    let err = |op| move |e| target.error(op, e);
    let mut tx = client
        .build_transaction()
        .isolation_level(postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .map_err(err("starting a read transaction"))?;
    let host = target.host_id();
    let files = tx
        .query(
            r#"SELECT file_id, path, kind, "offset", generation FROM files WHERE host_id = $1 ORDER BY path"#,
            &[&host],
        )
        .map_err(err("reading checkpoints"))?;
    let mut report = VerifyReport::default();
    let mut known = BTreeSet::new();
    for file in &files {
        let (file_id, path, kind, offset, generation): (i64, String, String, i64, i64) = (
            file.get(0),
            file.get(1),
            file.get(2),
            file.get(3),
            file.get(4),
        );
        let abs = root.join(&path);
        let file_report = if kind == "stream" {
            let rows = tx
                .query(
                    r#"SELECT "offset", body FROM records WHERE host_id = $1 AND file_id = $2 ORDER BY "offset""#,
                    &[&host, &file_id],
                )
                .map_err(err("reading records"))?
                .iter()
                .map(|r| (r.get::<_, i64>(0) as u64, r.get::<_, String>(1)))
                .collect();
            // Lines the server refused were quarantined by the sink
            // (pending.rs): quarantined, not missing.
            let refused = tx
                .query(
                    r#"SELECT "offset" FROM ingest_errors WHERE host_id = $1 AND path = $2 AND generation = $3
                          AND kind = 'line' AND reason LIKE 'PostgreSQL refused%'"#,
                    &[&host, &path, &generation],
                )
                .map_err(err("reading quarantined lines"))?
                .iter()
                .map(|r| r.get::<_, i64>(0) as u64)
                .collect();
            stream_report_refusing(&abs, &path, offset as u64, line_limit, rows, &refused)?
        } else {
            let (task, name) = path.split_once('/').unwrap_or((path.as_str(), ""));
            let name = name.strip_suffix(".json").unwrap_or(name);
            let body = tx
                .query_opt(
                    "SELECT body FROM documents WHERE host_id = $1 AND task_id = $2 AND name = $3",
                    &[&host, &task, &name],
                )
                .map_err(err("reading documents"))?
                .map(|r| r.get::<_, String>(0));
            document_report(&abs, &path, body)
        };
        known.insert(path);
        report.files.push(file_report);
    }
    tx.rollback().map_err(err("ending the read transaction"))?;
    // Monthly archives are SQLite's (RETENTION.md): no task is archived.
    report.unindexed = unindexed_files(root, &known, &BTreeSet::new());
    // The derived tables are views here: nothing can drift.
    report.equal =
        report.unindexed.is_empty() && report.files.iter().all(|f| f.differences.is_empty());
    Ok(report)
}
