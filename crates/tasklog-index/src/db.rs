//! Opening the database: pragmas, migrations, the writer lock.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use fs2::FileExt;
use rusqlite::{Connection, OpenFlags};

use crate::error::{Error, Result};
use crate::schema;

/// How long a statement waits for a lock held by another connection.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

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
        .map_err(|e| Error::sqlite(path, "opening database", e))?;
    configure(&conn, path)?;
    refuse_newer_schema(&conn, path)?;
    // A bulk load a crash interrupted is finished before migrating, with
    // the triggers it saved: a migration that replaces a suspended trigger
    // must find it in place (and the load's saved copy must not come back
    // over the new one). Its statements need the query surface of
    // migration 5.
    if schema::version(&conn).map_err(|e| Error::sqlite(path, "reading schema version", e))? >= 5 {
        crate::bulk::ensure(&conn).map_err(|e| Error::sqlite(path, "finishing bulk load", e))?;
    }
    schema::migrate(&mut conn, &tasklog_format::now_rfc3339())
        .map_err(|e| Error::sqlite(path, "migrating schema", e))?;
    // Finishes a bulk load a crash interrupted (indexes, derived rows) on
    // a database that was older than migration 5.
    crate::bulk::ensure(&conn).map_err(|e| Error::sqlite(path, "finishing bulk load", e))?;
    Ok(conn)
}

fn configure(conn: &Connection, path: &Path) -> Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| Error::sqlite(path, "setting busy timeout", e))?;
    // WAL: readers never block the indexer and never see a half batch.
    // synchronous=NORMAL: a power loss may roll back the last commits, and
    // their checkpoints with them, so the files are simply read again.
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         PRAGMA temp_store = MEMORY;
         PRAGMA cache_size = -65536;",
    )
    .map_err(|e| Error::sqlite(path, "configuring database", e))
}

/// Refuses a database written by a newer tasklog: never downgrade.
fn refuse_newer_schema(conn: &Connection, path: &Path) -> Result<()> {
    let found =
        schema::version(conn).map_err(|e| Error::sqlite(path, "reading schema version", e))?;
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
pub fn open_read_only(path: &Path) -> Result<Connection> {
    if !path.exists() {
        return Err(Error::NoDatabase {
            path: path.to_owned(),
        });
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI,
    )
    .map_err(|e| Error::sqlite(path, "opening database read-only", e))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| Error::sqlite(path, "setting busy timeout", e))?;
    conn.pragma_update(None, "query_only", true)
        .map_err(|e| Error::sqlite(path, "setting query_only", e))?;
    refuse_newer_schema(&conn, path)?;
    Ok(conn)
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
    use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
    let mut conn = open_read_only(path)?;
    conn.set_limit(rusqlite::limits::Limit::SQLITE_LIMIT_ATTACHED, 0)
        .map_err(|e| Error::sqlite(path, "limiting ATTACH", e))?;
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
    .map_err(|e| Error::sqlite(path, "installing the read-only authorizer", e))?;
    Ok(conn)
}
