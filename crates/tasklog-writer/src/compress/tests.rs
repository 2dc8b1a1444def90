//! Unit tests of compress.rs: a compressed stream refuses appends, and a
//! decompressed one grows through a handle kept from before.

use super::*;
use crate::WriterOptions;

#[test]
fn a_compressed_stream_refuses_appends_even_through_an_open_handle() {
    let dir = tempfile::tempdir().expect("tempdir");
    let writer = Writer::open(dir.path(), WriterOptions::default()).expect("writer");
    let task = writer.task("t").expect("task");
    task.append_json("events", br#"{"event":"a"}"#, crate::Durability::Default)
        .expect("append");
    task.final_result("completed", serde_json::json!({}))
        .expect("seal");
    let done = writer
        .compress_sealed("t", Duration::ZERO, false)
        .expect("compress");
    assert_eq!(done.len(), 1);
    let plain = dir.path().join("t/events.jsonl");
    assert!(!plain.exists() && gz_path(&plain).exists());
    // The handle the writer keeps open points at the removed file.
    let err = task
        .append_json("events", br#"{"event":"b"}"#, crate::Durability::Default)
        .expect_err("refused");
    assert!(matches!(err, Error::Compressed { .. }), "{err}");
    assert!(err.is_refusal());
    // A fresh writer is refused before creating a plain file.
    let fresh = Writer::open(dir.path(), WriterOptions::default()).expect("writer");
    let err = fresh
        .task("t")
        .expect("task")
        .append_json("events", br#"{"event":"c"}"#, crate::Durability::Default)
        .expect_err("refused");
    assert!(matches!(err, Error::Compressed { .. }), "{err}");
    assert!(!plain.exists());
    // A temp file left by a crash long ago goes; a recent one stays.
    let stale = dir.path().join("t/.tmp-old123");
    let fresh_tmp = dir.path().join("t/.tmp-new456");
    std::fs::write(&stale, b"x").expect("stale");
    std::fs::write(&fresh_tmp, b"x").expect("fresh");
    let long_ago = std::time::SystemTime::now() - STALE_TEMP * 2;
    File::options()
        .write(true)
        .open(&stale)
        .and_then(|f| f.set_modified(long_ago))
        .expect("age");
    writer
        .compress_sealed("t", Duration::ZERO, false)
        .expect("compress again");
    assert!(!stale.exists() && fresh_tmp.exists());
    // Not sealed: refused.
    writer.task("open").expect("task");
    assert!(matches!(
        writer.compress_sealed("open", Duration::ZERO, false),
        Err(Error::NotSealed { .. })
    ));
}

#[test]
fn a_decompressed_stream_grows_through_the_handle_kept_before() {
    let dir = tempfile::tempdir().expect("tempdir");
    let writer = Writer::open(dir.path(), WriterOptions::default()).expect("writer");
    let task = writer.task("t").expect("task");
    task.append_json("source", br#"{"n":1}"#, crate::Durability::Default)
        .expect("append");
    task.final_result("completed", serde_json::json!({}))
        .expect("seal");
    let plain = dir.path().join("t/source.jsonl");
    let before = std::fs::read(&plain).expect("plain");
    // Another writer compresses (a retention pass of another process).
    let other = Writer::open(dir.path(), WriterOptions::default()).expect("writer");
    other
        .compress_sealed("t", Duration::ZERO, false)
        .expect("compress");
    assert!(!plain.exists());
    assert!(writer.decompress_stream("t", "source").expect("decompress"));
    assert_eq!(std::fs::read(&plain).expect("plain again"), before);
    assert!(!gz_path(&plain).exists());
    assert!(!writer
        .decompress_stream("t", "source")
        .expect("nothing to do"));
    // The handle kept from before pointed at the removed file: dropped.
    let task = writer.task("t").expect("task");
    task.append_json("source", br#"{"n":2}"#, crate::Durability::Default)
        .expect("append after");
    let text = std::fs::read_to_string(&plain).expect("grown");
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text.starts_with(std::str::from_utf8(&before).expect("utf-8")));
    // A crash after the rename left both: the plain file wins, the .gz goes.
    other
        .compress_sealed("t", Duration::ZERO, false)
        .expect("compress");
    let gz = gz_path(&plain);
    let copy = dir.path().join("t/.keep.gz");
    std::fs::copy(&gz, &copy).expect("copy");
    assert!(writer.decompress_stream("t", "source").expect("decompress"));
    std::fs::rename(&copy, &gz).expect("both again");
    std::fs::write(&plain, b"{\"n\":1}\n").expect("plain differs");
    assert!(writer.decompress_stream("t", "source").expect("finish"));
    assert!(!gz.exists());
    assert_eq!(std::fs::read(&plain).expect("kept"), b"{\"n\":1}\n");
    // Bad names are refused, not resolved.
    assert!(writer.decompress_stream("t", "../x").is_err());
}
