//! The PostgreSQL schema: numbered migrations run at open, each recorded in
//! `schema_migrations`; a database whose schema is newer than this build is
//! refused, never downgraded (as the SQLite index does, `schema.rs`).

use postgres::Client;

use super::PgTarget;
use tasklog_tail::{Error, Result};

/// Each migration, in order; index + 1 is its version. Never edit one that
/// shipped: add a new one.
const MIGRATIONS: &[&str] = &[
    // 1: the tables, with host_id on every row.
    include_str!("migrations/0001_tables.sql"),
    // 2: the query surface as views.
    include_str!("migrations/0002_views.sql"),
    // 3: a task's facts (the SQLite index's migration 9).
    include_str!("migrations/0003_task_facts.sql"),
    // 4: calls of timeless sources in no day, a session's branch among
    // the facts, tool_success as 0/1, the full-text search text (the SQLite
    // index's migration 11, issues 19 and 20).
    include_str!("migrations/0004_timeless_calls_types_search.sql"),
    // 5: one-hour cache writes priced at
    // their own rate (the SQLite index's migration 12).
    include_str!("migrations/0005_cache_write_1h.sql"),
];

/// The newest PostgreSQL schema version this build knows.
pub(crate) const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Serializes migrations of sidecars that start together on a new
/// database (a transaction-level advisory lock; the host locks are
/// session-level and keyed by hash, so they cannot collide with it).
pub(super) const MIGRATION_LOCK: i64 = 0x7461_736b_6c6f_6701;

/// Secondary indexes of `records`: dropped for a bulk load into an empty
/// table and built once at its end (`bulk`), created when missing at
/// every open (so a load that crashed leaves nothing missing for long).
pub(super) const SECONDARY_INDEXES: &[(&str, &str)] = &[
    ("records_task_ts", "ON records (host_id, task_id, ts)"),
    ("records_event_ts", "ON records (event, ts)"),
    (
        "records_span",
        "ON records (host_id, span_id) WHERE span_id IS NOT NULL",
    ),
    (
        "records_model",
        "ON records (model, ts) WHERE model IS NOT NULL",
    ),
    (
        SEARCH_INDEX,
        "ON records USING gin (to_tsvector('simple'::regconfig, tasklog_search_text(event, role, name, doc)))
         WHERE event IN ('message', 'decision', 'tool.start', 'tool.complete', 'tool.fail')",
    ),
];

/// The full-text index of `questions::SEARCH` (migration 4). On a table
/// that holds rows it is built CONCURRENTLY after the migration commits
/// ([`build_search_index`]), so other hosts keep writing meanwhile; a
/// missing one makes search slower, never wrong, and is no reason to take
/// the migration lock.
pub(super) const SEARCH_INDEX: &str = "records_search";

/// Session-level advisory lock of the one host that builds
/// [`SEARCH_INDEX`] (another host seeing it invalid while it is being built
/// must not drop it).
const SEARCH_INDEX_LOCK: i64 = 0x7461_736b_6c6f_6702;

/// Applies every migration the database lacks, in one transaction, and
/// creates missing secondary indexes under the same lock. A database that is
/// current (the usual start) gets no DDL and no lock at all: a role with
/// only DML rights can run the sidecar once an owner migrated (issue 22).
pub(super) fn migrate(client: &mut Client, target: &PgTarget, now: &str) -> Result<()> {
    if is_current(client, target)? {
        return Ok(());
    }
    let err = |e| target.error("migrating the schema", e);
    let mut tx = client.transaction().map_err(err)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(err)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, applied_at text NOT NULL)",
    )
    .map_err(err)?;
    let current: i64 = tx
        .query_one(
            "SELECT coalesce(max(version), 0)::bigint FROM schema_migrations",
            &[],
        )
        .map_err(err)?
        .get(0);
    refuse_newer(target, current)?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = i as i32 + 1;
        tx.batch_execute(sql).map_err(err)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
            &[&version, &now],
        )
        .map_err(err)?;
        tracing::info!(
            version,
            server = target.display(),
            "applied PostgreSQL schema migration"
        );
    }
    create_missing_indexes(&mut tx, target, true)?;
    tx.commit().map_err(err)
}

/// Whether the schema is this build's and every secondary index exists:
/// read-only catalog queries, so a current database costs no lock and no DDL.
fn is_current(client: &mut Client, target: &PgTarget) -> Result<bool> {
    let Some(version) = installed_version(client, target)? else {
        return Ok(false);
    };
    Ok(version == SCHEMA_VERSION
        && missing_indexes(client, target)?
            .iter()
            .all(|(name, _)| *name == SEARCH_INDEX))
}

/// The schema version of the database, `None` when it holds no tasklog
/// index; a newer one than this build's is refused. Two statements: a name
/// in a statement must exist when it is parsed.
fn installed_version(client: &mut Client, target: &PgTarget) -> Result<Option<i64>> {
    let err = |e| target.error("reading the schema version", e);
    let exists: bool = client
        .query_one(
            "SELECT to_regclass('schema_migrations') IS NOT NULL AND to_regclass('records') IS NOT NULL",
            &[],
        )
        .map_err(err)?
        .get(0);
    if !exists {
        return Ok(None);
    }
    let version: i64 = client
        .query_one(
            "SELECT coalesce(max(version), 0)::bigint FROM schema_migrations",
            &[],
        )
        .map_err(err)?
        .get(0);
    refuse_newer(target, version)?;
    Ok(Some(version))
}

/// The secondary indexes of `records` that do not exist.
fn missing_indexes(
    client: &mut impl postgres::GenericClient,
    target: &PgTarget,
) -> Result<Vec<(&'static str, &'static str)>> {
    let present: Vec<String> = client
        .query(
            "SELECT indexname::text FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'records'",
            &[],
        )
        .map_err(|e| target.error("listing indexes", e))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    Ok(SECONDARY_INDEXES
        .iter()
        .copied()
        .filter(|(name, _)| !present.iter().any(|p| p == name))
        .collect())
}

/// Creates the missing secondary indexes inside `tx`, which holds the
/// migration lock: two sidecars starting together on a new database never
/// race on `CREATE INDEX` (issue 22).
///
/// With `defer_search` (at open), [`SEARCH_INDEX`] is left to
/// [`build_search_index`] when `records` holds rows; the end of a bulk load
/// builds it here with the others, as that load intends.
fn create_missing_indexes(
    tx: &mut postgres::Transaction<'_>,
    target: &PgTarget,
    defer_search: bool,
) -> Result<()> {
    let defer_search = defer_search
        && tx
            .query_one("SELECT EXISTS (SELECT 1 FROM records)", &[])
            .map_err(|e| target.error("creating indexes", e))?
            .get::<_, bool>(0);
    for (name, definition) in missing_indexes(tx, target)? {
        if name == SEARCH_INDEX && defer_search {
            continue; // built CONCURRENTLY after the commit (build_search_index)
        }
        tx.batch_execute(&format!("CREATE INDEX IF NOT EXISTS {name} {definition}"))
            .map_err(|e| target.error("creating indexes", e))?;
    }
    Ok(())
}

/// Builds [`SEARCH_INDEX`] when it is missing or invalid (an earlier
/// build was interrupted), with CREATE INDEX CONCURRENTLY: writers of every
/// host go on meanwhile; only this opener waits, once, after the upgrade
/// to migration 4 of a database that holds rows. One host builds it at a
/// time (a session advisory lock; the others go on without waiting). A
/// role that may not create indexes gets a warning and a slower search.
pub(super) fn build_search_index(client: &mut Client, target: &PgTarget) -> Result<()> {
    let err = |e| target.error("building the search index", e);
    let state: Option<bool> = client
        .query_opt(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass($1::text)",
            &[&SEARCH_INDEX],
        )
        .map_err(err)?
        .map(|r| r.get(0));
    if state == Some(true) {
        return Ok(());
    }
    let locked: bool = client
        .query_one("SELECT pg_try_advisory_lock($1)", &[&SEARCH_INDEX_LOCK])
        .map_err(err)?
        .get(0);
    if !locked {
        return Ok(()); // another host is building it
    }
    tracing::info!(
        server = target.display(),
        "building the full-text search index (once)"
    );
    let definition = SECONDARY_INDEXES
        .iter()
        .find(|(name, _)| *name == SEARCH_INDEX)
        .map(|(_, d)| *d)
        .unwrap_or_default();
    let mut built = Ok(());
    if state == Some(false) {
        built = client.batch_execute(&format!("DROP INDEX CONCURRENTLY IF EXISTS {SEARCH_INDEX}"));
    }
    if built.is_ok() {
        built = client.batch_execute(&format!(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS {SEARCH_INDEX} {definition}"
        ));
    }
    let unlocked = client.execute("SELECT pg_advisory_unlock($1)", &[&SEARCH_INDEX_LOCK]);
    if let Err(e) = built {
        let e = target.error("building the search index", e);
        tracing::warn!(
            server = target.display(),
            error = %tasklog_tail::format_chain(&e),
            "the full-text search index was not built; search reads every searchable record until it is"
        );
    }
    unlocked.map_err(err).map(drop)
}

/// Creates the secondary indexes that are missing (the end of a bulk
/// load), under the migration lock.
pub(super) fn ensure_indexes(client: &mut Client, target: &PgTarget) -> Result<()> {
    if missing_indexes(client, target)?.is_empty() {
        return Ok(());
    }
    let err = |e| target.error("creating indexes", e);
    let mut tx = client.transaction().map_err(err)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(err)?;
    create_missing_indexes(&mut tx, target, false)?;
    tx.commit().map_err(err)
}

/// The schema version of an existing index, for readers: fails when the
/// database holds no tasklog index yet, or a newer one.
pub(super) fn check(client: &mut Client, target: &PgTarget) -> Result<i64> {
    installed_version(client, target)?.ok_or_else(|| Error::PgUnsupported {
        server: target.display().to_owned(),
        reason: "no tasklog index in this database yet; ship into it with `tasklog watch --sink <url>` (or `tasklog index --sink <url>`)".into(),
    })
}

fn refuse_newer(target: &PgTarget, found: i64) -> Result<()> {
    if found > SCHEMA_VERSION {
        return Err(Error::NewerSchema {
            path: target.display().into(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `records.doc` writes out `tasklog_jsonb` (for speed): the two
    /// expressions must stay the same.
    #[test]
    fn the_stored_jsonb_is_tasklog_jsonb_written_out() {
        let sql = MIGRATIONS[0];
        let case = |from: usize| {
            let start = from + sql[from..].find("CASE WHEN strpos(").unwrap();
            let end = start + sql[start..].find(" END").unwrap();
            sql[start..end]
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        };
        let function = case(sql.find("CREATE FUNCTION tasklog_jsonb").unwrap());
        let column = case(sql.find("GENERATED ALWAYS AS").unwrap());
        assert_eq!(function.replace("line", "body"), column);
    }

    /// The promoted columns are defined once (`Row`, in the core); the
    /// PostgreSQL `records` table is written in SQL. This fails when the
    /// two diverge, in names or in order (COPY binds by position).
    #[test]
    fn records_has_exactly_the_row_columns() {
        let sql = MIGRATIONS[0];
        let start = sql.find("CREATE TABLE records (").expect("records DDL")
            + "CREATE TABLE records (".len();
        let end = start + sql[start..].find("\n);").expect("end of records DDL");
        let columns: Vec<String> = sql[start..end]
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("--"))
            // A generated column's expression continues on indented lines
            // that start with no identifier.
            .filter_map(|l| l.split_whitespace().next())
            .map(|w| w.trim_matches('"').to_owned())
            .filter(|w| w.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
            .collect();
        // Columns later migrations append, in order (after `doc`).
        let added: Vec<String> = MIGRATIONS[1..]
            .iter()
            .flat_map(|m| m.lines())
            .filter_map(|l| l.trim().strip_prefix("ALTER TABLE records ADD COLUMN "))
            .filter_map(|rest| rest.split_whitespace().next())
            .map(str::to_owned)
            .collect();
        let columns: Vec<String> = columns.into_iter().chain(added).collect();
        let mut expected: Vec<String> = ["record_id", "host_id", "file_id", "task_id", "stream"]
            .iter()
            .chain(tasklog_tail::batch::Row::COLUMNS)
            .map(|c| c.to_string())
            .collect();
        // `doc` sits after `body`, the last column of the first migration.
        let body = expected.iter().position(|c| c == "body").expect("body") + 1;
        expected.insert(body, "doc".to_owned());
        assert_eq!(columns, expected);
    }
}
