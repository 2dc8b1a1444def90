//! Installing the model price table into SQLite's `prices` table.
//!
//! Calls that carry their own cost keep it; every other `llm.call` is priced
//! from this table by the `api_calls` trigger. When the table differs from
//! the one the database was last priced with, every stored call is
//! re-priced in the same transaction, so `api_calls` and `cost_rollup`
//! never mix two price lists.

use std::path::Path;

use rusqlite::{params, Connection};
use tasklog_tail::prices::PriceTable;
use tasklog_tail::state::StateKey;
use tasklog_tail::Result;

use crate::error::sqlite_error;
use crate::state;

/// Writes the table into `prices` and, when it changed, re-prices
/// every stored call and rebuilds the rollup, in one transaction.
pub(crate) fn install(table: &PriceTable, conn: &mut Connection, db: &Path) -> Result<()> {
    let fingerprint = table.fingerprint();
    let err = |op| move |e| sqlite_error(db, op, e);
    let stored = state::get(conn, StateKey::PricesHash).ok().flatten();
    if stored.as_deref() == Some(fingerprint.as_str()) {
        return Ok(());
    }
    let tx = conn.transaction().map_err(err("installing prices"))?;
    tx.execute("DELETE FROM prices", [])
        .map_err(err("installing prices"))?;
    {
        let mut insert = tx
            .prepare(
                "INSERT INTO prices (model, effective_from, provider, input_per_mtok, output_per_mtok,
                                     cache_read_per_mtok, cache_write_per_mtok, source,
                                     cache_write_1h_per_mtok)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )
            .map_err(err("installing prices"))?;
        for p in table.rows() {
            insert
                .execute(params![
                    p.model,
                    p.effective_from,
                    p.provider,
                    p.input,
                    p.output,
                    p.cache_read,
                    p.cache_write,
                    p.source,
                    p.cache_write_1h
                ])
                .map_err(err("installing prices"))?;
        }
    }
    // Re-price from the same view the insert trigger uses, then rebuild
    // the rollup wholesale from every call (call ids start at 1), as a
    // bulk load does (cheaper than a trigger per updated row).
    tx.execute_batch(REPRICE).map_err(err("re-pricing calls"))?;
    tx.execute(crate::bulk::ROLLUP_CALLS_ABOVE, [0])
        .map_err(err("re-pricing calls"))?;
    state::set(&tx, StateKey::PricesHash, &fingerprint).map_err(err("installing prices"))?;
    tx.commit().map_err(err("installing prices"))?;
    tracing::info!(rows = table.rows().count(), "installed model prices");
    Ok(())
}

const REPRICE: &str = r#"
UPDATE api_calls SET estimated_cost_usd = v.estimated_cost_usd, cost_source = v.cost_source
  FROM llm_call_rows v
 WHERE v.call_id = api_calls.call_id AND api_calls.actual_cost_usd IS NULL;
DELETE FROM cost_rollup;
"#;
