//! `tasklog verify`.

use anyhow::Result;
use clap::Args;

use crate::cli::ReportFormat;
use crate::config::Config;
use crate::Outcome;

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// `json` prints the full per-file report.
    #[arg(long, value_enum)]
    pub format: Option<ReportFormat>,
    /// Answer across the main database and every monthly archive (read-only; see docs/RETENTION.md).
    #[arg(long)]
    pub archives: bool,
}

pub fn run(config: &Config, args: VerifyArgs) -> Result<Outcome> {
    let report = tasklog_index::store_verify(
        &config.root,
        &config.db,
        config.host_id.as_deref(),
        config.index.line_limit,
        args.archives,
    )?;
    if args.format == Some(ReportFormat::Json) {
        crate::output::print_json(&report)?;
    } else {
        let mut differing = 0;
        for f in &report.files {
            if !f.differences.is_empty() {
                differing += 1;
                for d in &f.differences {
                    outln!("{}: {d}", f.path);
                }
            }
        }
        for path in &report.unindexed {
            outln!("{path}: on disk, not in the index");
        }
        for d in &report.derived {
            outln!("{d}");
        }
        let rows: u64 = report.files.iter().map(|f| f.rows).sum();
        let quarantined: u64 = report.files.iter().map(|f| f.quarantined).sum();
        outln!(
            "{} files, {rows} rows, {quarantined} quarantined lines: {}",
            report.files.len(),
            if report.equal {
                "index equals the files".to_owned()
            } else {
                format!(
                    "{differing} file(s) differ, {} unindexed, {} derived row(s) differ",
                    report.unindexed.len(),
                    report.derived.len()
                )
            }
        );
    }
    Ok(if report.equal {
        Outcome::Success
    } else {
        Outcome::Differences
    })
}
