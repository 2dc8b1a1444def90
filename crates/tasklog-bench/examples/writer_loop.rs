//! The writer's append path alone, for profilers:
//! `perf record cargo run --release -p tasklog-bench --example writer_loop`

fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let writer =
        tasklog_writer::Writer::open(dir.path(), tasklog_writer::WriterOptions::default())?;
    let task = writer.task("t")?;
    let line = br#"{"event":"message","task_id":"task-00001","role":"assistant","content":"step 1: looking at the failing test and the stack trace it printed"}"#;
    for _ in 0..500_000 {
        task.append_json("events", line, tasklog_writer::Durability::Default)?;
    }
    Ok(())
}
