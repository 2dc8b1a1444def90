//! The writer's append path alone, for profilers:
//! `perf record cargo run --release -p tasklog-bench --example writer_loop`

fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let writer =
        tasklog_writer::Writer::open(dir.path(), tasklog_writer::WriterOptions::default())?;
    let task = writer.task("t")?;
    // An LLM call: the nested `gen_ai` object is the costly part to check.
    let line = br#"{"event":"llm.call","task_id":"task-00001","name":"claude-sonnet-4-5","status":"ok","duration_ms":5012,"gen_ai":{"provider":{"name":"anthropic"},"request":{"model":"claude-sonnet-4-5"},"usage":{"input_tokens":31012,"output_tokens":842,"cache_read":{"input_tokens":512}}}}"#;
    for _ in 0..500_000 {
        task.append_json("events", line, tasklog_writer::Durability::Default)?;
    }
    Ok(())
}
