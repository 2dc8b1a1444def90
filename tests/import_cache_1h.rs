//! One-hour cache writes priced at their own rate (issue 25): a Claude Code
//! fixture whose usage splits its cache writes into five-minute and
//! one-hour parts, imported, indexed and priced on SQLite and PostgreSQL,
//! against costs computed by hand from config/prices.toml.

use crate::import_support::{fixture, import, report};
use crate::pg_support::{self, Cluster};
use crate::support::{code, stderr, Env};

const FILE: &str = "claude-code/cache-1h-11111111-2222-4333-8444-555555555555.jsonl";
const TASK: &str = "claude-11111111-2222-4333-8444-555555555555";

/// By hand, with the hand-written `claude-sonnet-4-5` entry in force on
/// 2026-01-15 (USD per million: input 3, cache read 0.30, cache write
/// 3.75, one-hour cache write 6.00, output 15):
/// call 1: 100 uncached * 3 + 2000 read * 0.30 + 1000 five-minute * 3.75
///         + 2000 one-hour * 6 + 500 out * 15 = 24150 / 1e6;
/// call 2: 10 * 3 + 5000 * 0.30 + 400 * 3.75 + 0 * 6 + 20 * 15 = 3330 / 1e6.
/// At the five-minute rate alone call 1 would be 19650 / 1e6.
const COSTS: [f64; 2] = [0.024150, 0.003330];

fn imported() -> Env {
    let env = Env::new();
    let (status, summary) = import(&env, &["claude-code", fixture(FILE).to_str().unwrap()]);
    assert_eq!(status, 0, "{summary}");
    let w = &report(&summary, FILE)["written"];
    assert_eq!(w["llm_calls"].as_u64(), Some(2), "{summary}");
    assert_eq!(w["cache_creation_tokens"].as_u64(), Some(3400), "{summary}");
    env
}

#[test]
fn one_hour_cache_writes_are_priced_at_their_own_rate() {
    let env = imported();
    env.ok(&["index"]);
    let db = env.reader();
    let rows: Vec<(i64, Option<i64>, f64, String)> = db
        .prepare(
            "SELECT r.cache_write_tokens, r.cache_write_1h_tokens, a.estimated_cost_usd, a.cost_source
               FROM api_calls a JOIN records r ON r.record_id = a.call_id
              WHERE a.task_id = ?1 ORDER BY a.timestamp",
        )
        .unwrap()
        .query_map([TASK], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    // The records carry the split under the documented attribute.
    assert_eq!((rows[0].0, rows[0].1), (3000, Some(2000)));
    assert_eq!(rows[1].0, 400);
    for (row, want) in rows.iter().zip(COSTS) {
        assert_eq!(row.3, "price_table");
        assert!((row.2 - want).abs() < 1e-12, "{} != {want}", row.2);
    }
    let one_hour: i64 = env.count(&format!(
        "SELECT json_extract(body, '$.gen_ai.usage.cache_creation.ephemeral_1h.input_tokens')
           FROM records WHERE task_id = '{TASK}' AND event = 'llm.call'
            AND json_extract(body, '$.gen_ai.usage.cache_creation.input_tokens') = 3000"
    ));
    assert_eq!(one_hour, 2000);
    // The rollup sums the same costs.
    let total: f64 = db
        .query_row(
            "SELECT sum(cost_usd) FROM cost_rollup WHERE task_id = ?1",
            [TASK],
            |r| r.get(0),
        )
        .unwrap();
    assert!((total - COSTS.iter().sum::<f64>()).abs() < 1e-9, "{total}");
}

#[test]
fn a_user_price_without_a_one_hour_rate_prices_it_at_the_five_minute_rate() {
    let env = imported();
    // Same model and day as the built-in entry: replaces it, no 1h rate.
    let prices = env.root.parent().unwrap().join("prices-5m.toml");
    std::fs::write(
        &prices,
        "[[model]]\nname = \"claude-sonnet-4-5\"\naliases = [\"claude-sonnet-4-5-20250929\"]\n\
         effective_from = \"2025-09-29\"\ninput = 3\noutput = 15\ncache_read = 0.3\ncache_write = 3.75\n",
    )
    .unwrap();
    let out = env
        .cmd()
        .env("TASKLOG_PRICES", &prices)
        .arg("index")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let first: f64 = env
        .reader()
        .query_row(
            "SELECT estimated_cost_usd FROM api_calls WHERE task_id = ?1 ORDER BY timestamp LIMIT 1",
            [TASK],
            |r| r.get(0),
        )
        .unwrap();
    assert!((first - 0.019650).abs() < 1e-12, "{first}");
}

#[test]
fn postgres_prices_one_hour_cache_writes_as_sqlite_does() {
    let Some(cluster) = Cluster::shared("postgres_prices_one_hour_cache_writes_as_sqlite_does")
    else {
        return;
    };
    let url = cluster.database();
    let env = imported();
    let out = env.run(&["--host-id", "h1", "index", "--sink", &url]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let mut pg = pg_support::client(&url);
    let shipped: Vec<(Option<i64>, f64)> = pg
        .query(
            "SELECT r.cache_write_1h_tokens, a.estimated_cost_usd
               FROM api_calls a JOIN records r ON r.record_id = a.call_id AND r.host_id = a.host_id
              WHERE a.task_id = $1 ORDER BY a.timestamp",
            &[&TASK],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    env.ok(&["index"]);
    let local: Vec<(Option<i64>, f64)> = env
        .reader()
        .prepare(
            "SELECT r.cache_write_1h_tokens, a.estimated_cost_usd
               FROM api_calls a JOIN records r ON r.record_id = a.call_id
              WHERE a.task_id = ?1 ORDER BY a.timestamp",
        )
        .unwrap()
        .query_map([TASK], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    // Equal doubles, not merely close: both stores write one expression.
    assert_eq!(shipped, local);
    assert!((shipped[0].1 - COSTS[0]).abs() < 1e-12, "{shipped:?}");
}

#[test]
fn copilot_chat_calls_without_counts_are_unpriced_not_free() {
    let env = Env::new();
    let file = "vscode-copilot-chat/aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee.json";
    let (status, summary) = import(&env, &["auto", fixture(file).to_str().unwrap()]);
    assert_eq!(status, 0, "{summary}");
    env.ok(&["index"]);
    let unpriced = env.count(
        "SELECT count(*) FROM api_calls WHERE task_id = 'copilot-chat-aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee'
           AND cost_source = 'unpriced' AND estimated_cost_usd IS NULL AND tokens_input IS NULL",
    );
    assert_eq!(unpriced, 4);
}

#[test]
fn update_prices_keeps_litellms_one_hour_rate() {
    let env = Env::new();
    // A two-model snapshot in LiteLLM's shape: one with the one-hour rate
    // (cache_creation_input_token_cost_above_1hr), one without.
    let snapshot = env.dir.path().join("prices.json");
    std::fs::write(
        &snapshot,
        r#"{"claude-test-1": {"litellm_provider": "anthropic", "mode": "chat",
              "input_cost_per_token": 3e-06, "output_cost_per_token": 1.5e-05,
              "cache_read_input_token_cost": 3e-07, "cache_creation_input_token_cost": 3.75e-06,
              "cache_creation_input_token_cost_above_1hr": 6e-06},
            "gpt-test-1": {"litellm_provider": "openai", "mode": "chat",
              "input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06}}"#,
    )
    .unwrap();
    let out_toml = env.dir.path().join("prices.toml");
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scripts/update_prices.py"
    );
    let run = std::process::Command::new("python3")
        .arg(script)
        .arg(&snapshot)
        .args(["--date", "2026-01-01", "--out"])
        .arg(&out_toml)
        .output();
    let Ok(run) = run else {
        crate::support::skip(
            "update_prices_keeps_litellms_one_hour_rate",
            "python3 is not installed",
        );
        return;
    };
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let text = std::fs::read_to_string(&out_toml).unwrap();
    let claude = &text[text.find("name = \"claude-test-1\"").expect("claude entry")..];
    let claude = &claude[..claude.find("[[model]]").unwrap_or(claude.len())];
    assert!(claude.contains("cache_write = 3.75\n"), "{claude}");
    assert!(claude.contains("cache_write_1h = 6.0\n"), "{claude}");
    let gpt = &text[text.find("name = \"gpt-test-1\"").expect("gpt entry")..];
    assert!(!gpt.contains("cache_write_1h"), "{gpt}");
    // The table it writes is one tasklog takes: index with it as the
    // user's price file.
    let out = env
        .cmd()
        .env("TASKLOG_PRICES", &out_toml)
        .arg("index")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}
