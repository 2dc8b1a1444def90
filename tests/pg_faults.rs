//! Faults the PostgreSQL sink must survive, each against a real server of
//! the test's own: sidecars of two hosts killed with SIGKILL at random
//! instants under write load, the server restarted in the middle of a
//! backfill and of live shipping, the server unreachable at start and
//! stopped for 10 s while agents keep writing. After each, per host, the
//! rows equal the lines in the files and `verify` agrees.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::pg_support::{self, spawn_watch, Cluster};
use crate::support::{
    code, collect_stderr, expected_rows, kill9, stderr, stdout, terminate, wait_for, Env,
};

const TASKS: usize = 5;

/// Writers appending to `TASKS` tasks of `env` until `stop`; the number
/// of records each wrote.
fn writers(env: &Env, stop: &Arc<AtomicBool>, threads: u64) -> Vec<JoinHandle<u64>> {
    crate::support::write_load(env, stop, threads, TASKS as u64, 20)
}

/// Per task, the host's rows equal the file's lines; the total is `written`.
fn assert_equal(env: &Env, url: &str, host: &str, written: u64) {
    let mut total = 0;
    for t in 0..TASKS {
        let task = format!("load-{t}");
        let expected = expected_rows(&env.stream(&task, "events"));
        total += expected.len() as u64;
        assert_eq!(
            pg_support::rows(url, host, &task, "events"),
            expected,
            "{host} {task}"
        );
    }
    assert_eq!(total, written, "{host}");
    pg_support::verify_equal(env, url, host);
}

fn catch_up(env: &Env, url: &str, host: &str) {
    let out = env.run(&["--host-id", host, "index", "--sink", url]);
    assert_eq!(code(&out), 0, "index {host}: {}", stderr(&out));
}

#[test]
fn kill_9_of_two_hosts_sidecars_loses_and_duplicates_nothing() {
    let Some(cluster) =
        Cluster::private("kill_9_of_two_hosts_sidecars_loses_and_duplicates_nothing")
    else {
        return;
    };
    let url = cluster.database();
    let hosts = [(Env::new(), "host-a"), (Env::new(), "host-b")];
    let stop = Arc::new(AtomicBool::new(false));
    let load: Vec<_> = hosts
        .iter()
        .map(|(env, _)| writers(env, &stop, 2))
        .collect();
    let mut rng = fastrand::Rng::with_seed(0x9e5_7a11);
    let started = Instant::now();
    for _ in 0..10 {
        let mut sidecars: Vec<_> = hosts
            .iter()
            .map(|(env, host)| spawn_watch(env, &url, host))
            .collect();
        for sidecar in &mut sidecars {
            std::thread::sleep(Duration::from_millis(rng.u64(20..400)));
            kill9(sidecar);
        }
    }
    stop.store(true, Ordering::SeqCst);
    let written: Vec<u64> = load
        .into_iter()
        .map(|w| w.into_iter().map(|t| t.join().unwrap()).sum())
        .collect();
    for ((env, host), written) in hosts.iter().zip(written) {
        assert!(written > 0);
        catch_up(env, &url, host);
        assert_equal(env, &url, host, written);
    }
    eprintln!(
        "two hosts through 10 kill -9 rounds in {:?}",
        started.elapsed()
    );
}

#[test]
fn a_server_restart_mid_backfill_and_mid_shipping_loses_and_duplicates_nothing() {
    let Some(cluster) = Cluster::private(
        "a_server_restart_mid_backfill_and_mid_shipping_loses_and_duplicates_nothing",
    ) else {
        return;
    };
    let url = cluster.database();
    let env = Env::new();
    // A backfill large enough to be under way when the server restarts.
    let writer =
        tasklog_writer::Writer::open(&env.root, tasklog_writer::WriterOptions::default()).unwrap();
    let mut backfill = 0u64;
    for t in 0..TASKS {
        let task = writer.task(&format!("load-{t}")).unwrap();
        for i in 0..20_000u64 {
            task.append(
                "events",
                tasklog_writer::Record::event("message")
                    .with("i", i)
                    .with("pad", "x".repeat(64)),
            )
            .unwrap();
            backfill += 1;
        }
    }
    let mut watch = spawn_watch(&env, &url, "h");
    let log = collect_stderr(&mut watch);
    wait_for("the backfill under way", Duration::from_secs(30), || {
        pg_support::client(&url)
            .query_one("SELECT count(*) FROM records", &[])
            .is_ok_and(|r| r.get::<_, i64>(0) > 0)
    });
    cluster.pg_ctl(&["restart", "-m", "fast"]);
    // Live shipping, then a second restart while writers append.
    let stop = Arc::new(AtomicBool::new(false));
    let load = writers(&env, &stop, 2);
    std::thread::sleep(Duration::from_millis(500));
    cluster.pg_ctl(&["restart", "-m", "immediate"]);
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::SeqCst);
    let written = backfill + load.into_iter().map(|t| t.join().unwrap()).sum::<u64>();
    wait_for("the sidecar caught up", Duration::from_secs(60), || {
        pg_support::client(&url)
            .query_one("SELECT count(*) FROM records", &[])
            .is_ok_and(|r| r.get::<_, i64>(0) as u64 >= written)
    });
    assert!(terminate(&mut watch).success(), "{}", log.lock().unwrap());
    assert!(
        log.lock().unwrap().contains("retrying") || log.lock().unwrap().contains("reconnected"),
        "the restarts were seen: {}",
        log.lock().unwrap()
    );
    assert_equal(&env, &url, "h", written);
}

#[test]
fn an_unreachable_server_is_waited_for_and_caught_up_with() {
    let Some(cluster) = Cluster::private("an_unreachable_server_is_waited_for_and_caught_up_with")
    else {
        return;
    };
    let url = cluster.database();
    let env = Env::new();
    cluster.pg_ctl(&["stop", "-m", "fast"]);
    let stop = Arc::new(AtomicBool::new(false));
    let load = writers(&env, &stop, 1);
    let mut watch = spawn_watch(&env, &url, "h");
    let log = collect_stderr(&mut watch);
    wait_for(
        "the sidecar waits for the server",
        Duration::from_secs(20),
        || log.lock().unwrap().contains("PostgreSQL unreachable"),
    );
    let out = env.run(&["--db", &url, "--host-id", "h", "status"]);
    assert_eq!(code(&out), 2);
    assert!(stdout(&out).contains("unreachable"), "{}", stdout(&out));
    assert!(
        watch.try_wait().unwrap().is_none(),
        "an unreachable server is not fatal"
    );
    cluster.pg_ctl(&["start"]);
    wait_for("shipping started", Duration::from_secs(30), || {
        pg_support::client(&url)
            .query_one("SELECT count(*) FROM records", &[])
            .is_ok_and(|r| r.get::<_, i64>(0) > 0)
    });
    // Stopped for 10 s while the agents keep writing.
    cluster.pg_ctl(&["stop", "-m", "fast"]);
    let grown = std::fs::metadata(env.stream("load-0", "events"))
        .unwrap()
        .len();
    std::thread::sleep(Duration::from_secs(10));
    assert!(
        std::fs::metadata(env.stream("load-0", "events"))
            .unwrap()
            .len()
            > grown,
        "the files keep growing"
    );
    assert!(
        watch.try_wait().unwrap().is_none(),
        "an outage is not fatal"
    );
    cluster.pg_ctl(&["start"]);
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::SeqCst);
    let written: u64 = load.into_iter().map(|t| t.join().unwrap()).sum();
    wait_for("the sidecar caught up", Duration::from_secs(60), || {
        pg_support::client(&url)
            .query_one("SELECT count(*) FROM records", &[])
            .is_ok_and(|r| r.get::<_, i64>(0) as u64 >= written)
    });
    let out = env.run(&["--db", &url, "--host-id", "h", "status"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("sidecar connected"),
        "{}",
        stdout(&out)
    );
    assert!(terminate(&mut watch).success(), "{}", log.lock().unwrap());
    assert_equal(&env, &url, "h", written);
}
