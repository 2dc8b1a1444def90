//! Writes the deterministic benchmark corpus, for the peer tools.
//!
//! `bench_corpus --out DIR --tasks 1000 --lines 1000`

use tasklog_bench::{arg, write_corpus};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let out = args
        .iter()
        .position(|a| a == "--out")
        .and_then(|i| args.get(i + 1))
        .ok_or_else(|| anyhow::anyhow!("usage: bench_corpus --out DIR [--tasks N] [--lines N]"))?;
    let (records, bytes) = write_corpus(
        std::path::Path::new(out),
        arg("tasks", 1000),
        arg("lines", 1000),
    )?;
    println!("{records} records, {bytes} bytes");
    Ok(())
}
