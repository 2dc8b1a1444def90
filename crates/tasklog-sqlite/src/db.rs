//! Opening the database: pragmas, migrations, the writer lock, and read
//! access for users who may read the database but not write its folder.
//!
//! A WAL database is read through its `-wal` and `-shm` files. SQLite
//! deletes both when the last connection closes, and a reader that cannot
//! write the folder cannot create them again: its open fails with "attempt
//! to write a readonly database". So the indexer's connections keep them
//! (`SQLITE_FCNTL_PERSIST_WAL`; with `journal_size_limit` set, the kept WAL
//! is truncated to zero bytes at close), and SQLite then reads through a
//! read-only `-shm`. A database whose files are gone anyway (another tool
//! closed it last) is opened `immutable` while a shared lock on the writer
//! lock file keeps every writer out; see [`open_read_only`].

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use fs2::FileExt;
use rusqlite::{Connection, OpenFlags};

use crate::schema;
use tasklog_tail::{Error, Result};

/// How long a statement waits for a lock held by another connection.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Above this size the checkpoint thread truncates a fully copied WAL that
/// a reader made grow (see `wal.rs`).
pub(crate) const WAL_SIZE_LIMIT: i64 = 4 << 20;

/// The WAL size SQLite truncates back to when a writer resets the log
/// (`PRAGMA journal_size_limit`): twice the writer's backstop checkpoint
/// (64 MiB of frames), so a busy steady state never reaches it. At 4 MiB
/// the log was cut and grown again on every reset under a busy load, and
/// the file system's block allocation doubled the p99 of write → visible
/// (bench_freshness, 100 tasks × 100 lines/s: 31 → 66 ms).
const JOURNAL_SIZE_LIMIT: i64 = 128 << 20;

/// Opens (creating if needed) the database for writing and migrates it.
pub fn open_for_writing(path: &Path) -> Result<Connection> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| Error::io(parent, "creating database folder", e))?;
    }
    // NO_MUTEX: the connection lives on one thread (the committer), so
    // SQLite's per-call mutexes are pure overhead on the insert path.
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let mut conn = Connection::open_with_flags(path, flags)
        .map_err(|e| crate::error::sqlite_error(path, "opening database", e))?;
    configure(&conn, path)?;
    refuse_newer_schema(&conn, path)?;
    // A bulk load a crash interrupted is finished before migrating, with
    // the triggers it saved: a migration that replaces a suspended trigger
    // must find it in place (and the load's saved copy must not come back
    // over the new one). Its statements need the query surface of
    // migration 5.
    let finish_bulk = |conn: &Connection| {
        crate::bulk::ensure(conn)
            .map_err(|e| crate::error::sqlite_error(path, "finishing bulk load", e))
    };
    let before = schema::version(&conn)
        .map_err(|e| crate::error::sqlite_error(path, "reading schema version", e))?;
    if before >= 5 {
        finish_bulk(&conn)?;
    }
    schema::migrate(&mut conn, &tasklog_format::now_rfc3339())
        .map_err(|e| crate::error::sqlite_error(path, "migrating schema", e))?;
    if before < 5 {
        // A database older than migration 5: its interrupted bulk load
        // (or a new database's: none) is finished on the migrated schema.
        finish_bulk(&conn)?;
    }
    Ok(conn)
}

fn configure(conn: &Connection, path: &Path) -> Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| crate::error::sqlite_error(path, "setting busy timeout", e))?;
    // WAL: readers never block the indexer and never see a half batch.
    // synchronous=NORMAL: a power loss may roll back the last commits, and
    // their checkpoints with them, so the files are simply read again.
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         PRAGMA temp_store = MEMORY;
         PRAGMA cache_size = -65536;",
    )
    .map_err(|e| crate::error::sqlite_error(path, "configuring database", e))?;
    // The query planner stability guarantee: a statement's plan never
    // depends on the values bound to it. Without it, SQLite marks an
    // `= ?` parameter whose value its row estimate looked at (is it 0 or
    // 1?) as plan-changing, and rusqlite's statement cache clears the
    // bindings of every statement it takes back, which expires a statement
    // so marked: the sink's `task_activity` upkeep (facts::ADD_BATCH) was
    // parsed and planned again in every batch, 18% of `watch`'s CPU and
    // p50 freshness 6 -> 13 ms (PERFORMANCE.md). The writer's statements
    // all bind their values; none needs a plan chosen for one value.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )
    .map_err(|e| crate::error::sqlite_error(path, "fixing query plans", e))?;
    keep_wal_files(conn, path)
}

/// Keeps `-wal` and `-shm` when this connection closes last, so that users
/// who cannot write the database's folder can still read it (see the module
/// doc), and bounds the WAL a reset leaves behind.
pub(crate) fn keep_wal_files(conn: &Connection, path: &Path) -> Result<()> {
    let mut persist: std::os::raw::c_int = 1;
    conn.file_control(
        Some("main"),
        rusqlite::FileControl::PersistWal(&mut persist),
    )
    .map_err(|e| crate::error::sqlite_error(path, "keeping the WAL files", e))?;
    conn.pragma_update(None, "journal_size_limit", JOURNAL_SIZE_LIMIT)
        .map_err(|e| crate::error::sqlite_error(path, "limiting the WAL size", e))
}

/// Refuses a database written by a newer tasklog: never downgrade.
fn refuse_newer_schema(conn: &Connection, path: &Path) -> Result<()> {
    let found = schema::version(conn)
        .map_err(|e| crate::error::sqlite_error(path, "reading schema version", e))?;
    if found > schema::SCHEMA_VERSION {
        return Err(Error::NewerSchema {
            path: path.to_owned(),
            found,
            supported: schema::SCHEMA_VERSION,
        });
    }
    Ok(())
}

/// Opens an existing database read-only, enforced by SQLite itself
/// (`SQLITE_OPEN_READ_ONLY` plus `PRAGMA query_only`).
///
/// Works for a user who may read the database but not write its folder:
/// through the `-wal` and `-shm` files the indexer keeps, or, when they are
/// gone, as an immutable file while no writer can exist. Otherwise the error
/// names the file and the access that is missing.
pub fn open_read_only(path: &Path) -> Result<Connection> {
    if !path.exists() {
        return Err(Error::NoDatabase {
            path: path.to_owned(),
        });
    }
    let conn = match open_shared(path) {
        Ok(conn) => conn,
        Err(e) if is_access_error(&e) => open_without_wal_files(path, e)?,
        Err(e) => {
            return Err(crate::error::sqlite_error(
                path,
                "opening database read-only",
                e,
            ))
        }
    };
    refuse_newer_schema(&conn, path)?;
    Ok(conn)
}

/// The ordinary read-only open, with a first read: SQLite opens the WAL
/// files lazily, so access problems show only then.
fn open_shared(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "query_only", true)?;
    schema::version(&conn)?;
    Ok(conn)
}

/// Errors that mean "this process lacks some access", as opposed to a
/// damaged database or a busy one.
fn is_access_error(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::ReadOnly)
            | Some(rusqlite::ErrorCode::CannotOpen)
            | Some(rusqlite::ErrorCode::PermissionDenied)
    )
}

/// `<db><suffix>`: the WAL files and the lock file sit beside the database.
fn beside(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The ordinary open failed for lack of access: find out which access, and
/// open immutable when that is both possible and safe.
///
/// Immutable tells SQLite the file cannot change, so it takes no locks and
/// needs no `-shm`. That is true only while no writer runs: a writer's
/// checkpoint rewrites pages under the reader. So it is used only when no
/// `-wal` exists (everything is in the database file) and a shared lock on
/// `<db>.lock` is granted, and that lock is held as long as the connection
/// lives, so no `watch` or `index` can start meanwhile (they report the lock
/// as held and can be started again a moment later).
fn open_without_wal_files(path: &Path, first: rusqlite::Error) -> Result<Connection> {
    let denied = |file: &Path, e: std::io::Error| {
        Error::ReadAccess {
        path: file.to_owned(),
        missing: format!("cannot read it: {e}; reading the index needs read access to the database and, when they exist, its -wal and -shm files"),
    }
    };
    std::fs::File::open(path).map_err(|e| denied(path, e))?;
    let (wal, shm) = (beside(path, "-wal"), beside(path, "-shm"));
    let folder = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let wal_exists = wal.symlink_metadata().is_ok();
    let shm_exists = shm.symlink_metadata().is_ok();
    for file in [&wal, &shm] {
        if file.symlink_metadata().is_ok() {
            std::fs::File::open(file).map_err(|e| denied(file, e))?;
        }
    }
    if wal_exists {
        // Readable WAL files, still refused: SQLite needs to write something
        // this user may not (a missing -shm it must create in the folder).
        let missing = if shm_exists {
            format!(
                "{} and {} are readable, but SQLite still needs write access ({first})",
                wal.display(),
                shm.display()
            )
        } else {
            format!(
                "{} does not exist and {} is not writable by this user",
                shm.display(),
                folder.display()
            )
        };
        return Err(Error::ReadAccess {
            path: shm.clone(),
            missing: format!(
                "cannot read the database through its WAL files: {missing}; start `tasklog watch` or run `tasklog index` as the database's owner (they keep both files), or grant write access to the folder"
            ),
        });
    }
    let lock_path = beside(path, ".lock");
    let no_wal = |why: String| Error::ReadAccess {
        path: shm.clone(),
        missing: format!(
            "cannot read {}: {} is not writable by this user and {} and {} do not exist; {why}",
            path.display(),
            folder.display(),
            shm.display(),
            wal.display()
        ),
    };
    let lock = std::fs::File::open(&lock_path).map_err(|e| {
        no_wal(format!(
            "an immutable read needs {} to keep writers out, and it cannot be opened ({e}); run `tasklog index` once as the database's owner (it leaves the files readers need)",
            lock_path.display()
        ))
    })?;
    if fs2::FileExt::try_lock_shared(&lock).is_err() {
        return Err(no_wal(
            "a writer is starting (its lock is held); try again in a moment".into(),
        ));
    }
    let mut conn = Connection::open_with_flags(
        immutable_uri(path),
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI,
    )
    .map_err(|e| crate::error::sqlite_error(path, "opening database immutable", e))?;
    conn.pragma_update(None, "query_only", true)
        .map_err(|e| crate::error::sqlite_error(path, "setting query_only", e))?;
    // The shared lock must live exactly as long as the connection: a hook
    // closure is owned by the connection and dropped when it closes. A
    // read-only connection never commits anything, so the hook never acts.
    conn.commit_hook(Some(move || {
        let _held = &lock;
        false
    }))
    .map_err(|e| crate::error::sqlite_error(path, "holding the reader lock", e))?;
    tracing::debug!(path = %path.display(), "no -wal/-shm and no write access: reading immutable under the reader lock");
    Ok(conn)
}

/// `file:<path>?immutable=1`, with the characters URIs reserve escaped.
fn immutable_uri(path: &Path) -> String {
    file_uri(path, "immutable=1")
}

/// `file:<path>?<query>`, with the characters URIs reserve escaped.
pub(crate) fn file_uri(path: &Path, query: &str) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut uri = String::from("file:");
    for &b in path.as_os_str().as_bytes() {
        match b {
            b'%' | b'?' | b'#' => uri.push_str(&format!("%{b:02X}")),
            b if b.is_ascii() && !b.is_ascii_control() => uri.push(b as char),
            b => uri.push_str(&format!("%{b:02X}")),
        }
    }
    uri.push('?');
    uri.push_str(query);
    uri
}

/// The exclusive right to write one database: held by `watch` and `index`
/// for as long as they run, released when dropped or when the process dies.
#[derive(Debug)]
pub struct WriterLock {
    _file: File,
    path: PathBuf,
}

impl WriterLock {
    /// Takes the lock next to `db` (`<db>.lock`), or says who holds it.
    pub fn acquire(db: &Path) -> Result<WriterLock> {
        let mut name = db.as_os_str().to_owned();
        name.push(".lock");
        let path = PathBuf::from(name);
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| Error::io(parent, "creating database folder", e))?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(&path, "opening lock file", e))?;
        match file.try_lock_exclusive() {
            Ok(()) => Ok(WriterLock { _file: file, path }),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.raw_os_error() == Some(libc::EWOULDBLOCK) =>
            {
                Err(Error::AlreadyRunning {
                    path: db.to_owned(),
                    lock: path,
                })
            }
            Err(e) => Err(Error::io(&path, "locking database", e)),
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether a `watch` or `index` holds the lock of `db` right now.
    /// Opens the lock file read-only, so any user who can read it can ask;
    /// `None` when it cannot be opened (and so nothing can be said).
    pub fn is_held(db: &Path) -> Option<bool> {
        let path = beside(db, ".lock");
        match std::fs::File::open(&path) {
            Ok(file) => Some(match fs2::FileExt::try_lock_shared(&file) {
                Ok(()) => false,
                Err(_) => true,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(false),
            Err(_) => None,
        }
    }
}

/// PRAGMAs that only read, allowed with an argument in user queries.
const READ_ONLY_PRAGMAS: &[&str] = &[
    "table_info",
    "table_xinfo",
    "table_list",
    "index_list",
    "index_info",
    "index_xinfo",
    "foreign_key_list",
    "database_list",
    "collation_list",
    "function_list",
    "module_list",
    "pragma_list",
    "compile_options",
];

/// A read-only connection for user SQL: opened read-only, `query_only`, no
/// ATTACH/DETACH, and no PRAGMA that sets anything. Enforced by SQLite's
/// authorizer, not by looking at the SQL text.
pub fn open_query_connection(path: &Path) -> Result<Connection> {
    let conn = open_read_only(path)?;
    restrict_to_queries(conn, path)
}

/// The restrictions of [`open_query_connection`] on a connection opened
/// read-only (the `--archives` one attaches its archives first).
pub(crate) fn restrict_to_queries(mut conn: Connection, path: &Path) -> Result<Connection> {
    use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
    conn.set_limit(rusqlite::limits::Limit::SQLITE_LIMIT_ATTACHED, 0)
        .map_err(|e| crate::error::sqlite_error(path, "limiting ATTACH", e))?;
    conn.authorizer(Some(|ctx: AuthContext<'_>| match ctx.action {
        AuthAction::Attach { .. } | AuthAction::Detach { .. } => Authorization::Deny,
        AuthAction::Pragma {
            pragma_name,
            pragma_value: Some(_),
        } if !READ_ONLY_PRAGMAS.contains(&pragma_name.to_ascii_lowercase().as_str()) => {
            Authorization::Deny
        }
        _ => Authorization::Allow,
    }))
    .map_err(|e| crate::error::sqlite_error(path, "installing the read-only authorizer", e))?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wal_files_outlive_the_last_writer_connection() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("index.db");
        let conn = open_for_writing(&db).expect("open");
        let mut persist: std::os::raw::c_int = -1;
        conn.file_control(
            Some("main"),
            rusqlite::FileControl::PersistWal(&mut persist),
        )
        .expect("query persist");
        assert_eq!(persist, 1);
        conn.execute(
            "INSERT INTO indexer_state (key, value) VALUES ('k', 'v')",
            [],
        )
        .expect("write");
        drop(conn);
        for suffix in ["-wal", "-shm"] {
            let meta = std::fs::metadata(beside(&db, suffix));
            assert!(meta.is_ok(), "{suffix} kept");
        }
        assert_eq!(
            std::fs::metadata(beside(&db, "-wal")).map(|m| m.len()).ok(),
            Some(0)
        );
    }

    /// The sink's cached statements keep their plan from batch to batch
    /// (see `configure`): binding other values and handing the statement
    /// back to rusqlite's cache re-prepares nothing.
    #[test]
    fn the_task_facts_upkeep_is_prepared_once_for_every_batch() {
        let dir = tempfile::tempdir().expect("tempdir");
        let conn = open_for_writing(&dir.path().join("index.db")).expect("open");
        for (file_id, offset) in [(1, 0), (7, 4096), (1, 100), (0, 0), (2, 9)] {
            conn.prepare_cached(crate::facts::ADD_BATCH)
                .and_then(|mut s| s.execute(rusqlite::params![file_id, offset]))
                .expect("add a batch");
        }
        let stmt = conn
            .prepare_cached(crate::facts::ADD_BATCH)
            .expect("cached");
        assert_eq!(stmt.get_status(rusqlite::StatementStatus::RePrepare), 0);
    }

    #[test]
    fn the_wal_files_outlive_the_checkpointer_closing_last() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("index.db");
        let conn = open_for_writing(&db).expect("open");
        let checkpointer = crate::wal::WalCheckpointer::spawn(&db).expect("spawn");
        conn.execute(
            "INSERT INTO indexer_state (key, value) VALUES ('k', 'v')",
            [],
        )
        .expect("write");
        drop(conn);
        checkpointer.finish();
        for suffix in ["-wal", "-shm"] {
            assert!(
                std::fs::metadata(beside(&db, suffix)).is_ok(),
                "{suffix} kept"
            );
        }
    }
}
