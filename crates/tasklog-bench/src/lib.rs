//! Shared pieces of the benchmarks: a deterministic corpus, timing and a
//! results table that prints our figure beside its baseline as a ratio.
//!
//! Every benchmark binary prints human-readable rows on stdout and, with
//! `--json FILE`, appends the same rows as JSON lines for
//! `scripts/bench.sh` to collect. Figures are medians over rounds run in
//! one process, interleaved, because the machine is small and noisy.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

/// One measured figure and what it is compared with.
#[derive(Debug, Clone)]
pub struct Figure {
    /// What was measured, e.g. "append: writer crate".
    pub name: String,
    /// Our value.
    pub value: f64,
    /// Unit of `value`, e.g. "ns/record", "records/s", "ms".
    pub unit: &'static str,
    /// The baseline's name and value, when there is one.
    pub baseline: Option<(String, f64)>,
    /// The target, as text (e.g. "<= 2x").
    pub target: &'static str,
}

impl Figure {
    /// Ratio of ours to the baseline.
    pub fn ratio(&self) -> Option<f64> {
        self.baseline.as_ref().map(|(_, b)| self.value / b)
    }

    fn json(&self) -> String {
        serde_json::json!({
            "name": self.name,
            "value": self.value,
            "unit": self.unit,
            "baseline": self.baseline.as_ref().map(|b| b.0.clone()),
            "baseline_value": self.baseline.as_ref().map(|b| b.1),
            "ratio": self.ratio(),
            "target": self.target,
        })
        .to_string()
    }
}

/// Prints figures as a table, and appends them to `--json FILE` if given.
pub fn report(figures: &[Figure]) -> anyhow::Result<()> {
    println!(
        "{:<44} {:>14} {:<11} {:<34} {:>8}  target",
        "figure", "value", "unit", "baseline", "ratio"
    );
    for f in figures {
        let baseline = f
            .baseline
            .as_ref()
            .map_or(String::new(), |(n, v)| format!("{n} = {}", fmt(*v)));
        let ratio = f.ratio().map_or(String::new(), |r| format!("{r:.2}x"));
        println!(
            "{:<44} {:>14} {:<11} {:<34} {:>8}  {}",
            f.name,
            fmt(f.value),
            f.unit,
            baseline,
            ratio,
            f.target
        );
    }
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--json") {
        if let Some(path) = args.get(i + 1) {
            let mut out = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?;
            for f in figures {
                writeln!(out, "{}", f.json())?;
            }
        }
    }
    Ok(())
}

fn fmt(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// The value of `--NAME N` on the command line, or `default`.
pub fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == &format!("--{name}"))
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Median of durations.
pub fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Times `f`.
pub fn time(f: impl FnOnce()) -> Duration {
    let t = Instant::now();
    f();
    t.elapsed()
}

/// One realistic record of the corpus, by number: a mix of messages, tool
/// calls and LLM calls with usage, about 250 bytes each.
pub fn record(task: u64, i: u64, rng: &mut fastrand::Rng) -> String {
    let ts = format!(
        "2026-11-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        1 + (i / 86_400) % 28,
        (i / 3600) % 24,
        (i / 60) % 60,
        i % 60,
        rng.u32(0..1_000_000)
    );
    let models = ["claude-sonnet-4-5", "gpt-5-codex", "claude-haiku-4-5"];
    match i % 5 {
        0 | 1 => format!(
            r#"{{"v":1,"ts":"{ts}","seq":{seq},"id":"{task:08}{i:018}","event":"message","task_id":"task-{task:05}","role":"{role}","content":"step {i}: looking at the failing test and the stack trace it printed"}}"#,
            seq = i + 1,
            role = if i % 2 == 0 { "assistant" } else { "user" }
        ),
        2 => format!(
            r#"{{"v":1,"ts":"{ts}","seq":{seq},"id":"{task:08}{i:018}","event":"tool.start","task_id":"task-{task:05}","span_id":"{span:016x}","name":"Bash","gen_ai":{{"tool":{{"name":"Bash"}}}},"input":{{"command":"cargo test -p crate-{m}"}}}}"#,
            seq = i + 1,
            span = task << 32 | i,
            m = i % 17
        ),
        3 => format!(
            r#"{{"v":1,"ts":"{ts}","seq":{seq},"id":"{task:08}{i:018}","event":"tool.complete","task_id":"task-{task:05}","span_id":"{span:016x}","name":"Bash","status":"ok","duration_ms":{d},"output":{{"exit_code":0}}}}"#,
            seq = i + 1,
            span = task << 32 | (i - 1),
            d = rng.u32(1..5000)
        ),
        _ => format!(
            r#"{{"v":1,"ts":"{ts}","seq":{seq},"id":"{task:08}{i:018}","event":"llm.call","task_id":"task-{task:05}","name":"{model}","status":"ok","duration_ms":{d},"gen_ai":{{"provider":{{"name":"anthropic"}},"request":{{"model":"{model}"}},"usage":{{"input_tokens":{inp},"output_tokens":{out},"cache_read":{{"input_tokens":{cr}}}}}}}}}"#,
            seq = i + 1,
            model = models[(i as usize / 5) % 3],
            d = rng.u32(200..20_000),
            inp = rng.u32(1000..50_000),
            out = rng.u32(10..4000),
            cr = rng.u32(0..1000)
        ),
    }
}

/// Writes `tasks` folders of `lines` records each under `root`; returns
/// the number of records and bytes.
pub fn write_corpus(root: &Path, tasks: u64, lines: u64) -> anyhow::Result<(u64, u64)> {
    let mut rng = fastrand::Rng::with_seed(42);
    let mut bytes = 0u64;
    for t in 0..tasks {
        let dir = root.join(format!("task-{t:05}"));
        std::fs::create_dir_all(&dir)?;
        let mut buf = String::new();
        for i in 0..lines {
            buf.push_str(&record(t, i, &mut rng));
            buf.push('\n');
        }
        bytes += buf.len() as u64;
        std::fs::write(dir.join("events.jsonl"), buf)?;
    }
    Ok((tasks * lines, bytes))
}

/// The paced writers of the freshness benchmarks: 4 threads share `tasks`
/// tasks named `<prefix>-NNN`, each task appending `per_second` records a
/// second, each record carrying its write time as `t_ns` (nanoseconds
/// since `epoch`), until `stop`.
pub fn paced_writers(
    writer: &tasklog_writer::Writer,
    prefix: &str,
    tasks: u64,
    per_second: u64,
    epoch: Instant,
    stop: &std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Vec<std::thread::JoinHandle<anyhow::Result<()>>> {
    use std::sync::atomic::Ordering;
    (0..4u64)
        .map(|part| {
            let (writer, stop, prefix) = (writer.clone(), stop.clone(), prefix.to_owned());
            std::thread::spawn(move || -> anyhow::Result<()> {
                let mine: Vec<_> = (part..tasks)
                    .step_by(4)
                    .map(|t| writer.task(&format!("{prefix}-{t:03}")))
                    .collect::<Result<_, _>>()?;
                let interval = Duration::from_secs_f64(1.0 / per_second as f64);
                let mut next = Instant::now();
                let mut i = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    for task in &mine {
                        let t_ns = epoch.elapsed().as_nanos() as u64;
                        task.append(
                            "events",
                            tasklog_writer::Record::event("bench")
                                .with("i", i)
                                .with("t_ns", t_ns),
                        )?;
                    }
                    i += 1;
                    next += interval;
                    if let Some(wait) = next.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                }
                Ok(())
            })
        })
        .collect()
}
