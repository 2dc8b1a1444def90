//! Configuration: built-in defaults < config file < `TASKLOG_*` environment
//! < command-line flags.
//!
//! The config file is `--config`, else `TASKLOG_CONFIG`, else
//! `$XDG_CONFIG_HOME/tasklog/tasklog.toml` when it exists. Unknown keys are
//! errors, so a typo never silently falls back to a default.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use tasklog_index::IndexOptions;
use tasklog_writer::{FsyncPolicy, Redactor, WriterOptions};

/// The config file as written (every key optional).
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct FileConfig {
    root: Option<PathBuf>,
    db: Option<PathBuf>,
    writer: WriterSection,
    index: IndexSection,
    sink: SinkSection,
    /// `agents = "auto"`: `tasklog watch` also follows every supported
    /// agent's standard session folders (or a list of format names: only
    /// those agents'); `"none"` (the default): only `[[import]]`.
    agents: Option<toml::Value>,
    /// `[[import]]`: agent transcripts `tasklog watch` follows.
    import: Vec<ImportSection>,
    retention: RetentionSection,
    /// `[[alert]]`: rules checked by `tasklog_alert::parse_rules`.
    alert: Vec<toml::Value>,
    serve: ServeSection,
    files: FilesSection,
}

/// `[files]`: the modes of what tasklog creates (docs/SECURITY.md).
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct FilesSection {
    /// `private`, `group` or `umask`.
    mode: Option<String>,
}

/// Who may read the files and folders tasklog creates: the log root, task
/// folders and streams, the index and its WAL and shared-memory files,
/// `.gz` streams, archives and journals. Applied as the process's umask
/// when a command starts, so every file any part of the command creates
/// (SQLite's included) gets it the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileMode {
    /// Owner only: folders 0700, files 0600 (umask 077). The default:
    /// the files hold prompts, tool output and costs.
    Private,
    /// Owner and group may read: folders 0750, files 0640 (umask 027).
    Group,
    /// The umask tasklog was started with, unchanged.
    Umask,
}

impl FileMode {
    fn parse(v: &str) -> Result<FileMode> {
        match v.trim() {
            "private" => Ok(FileMode::Private),
            "group" => Ok(FileMode::Group),
            "umask" => Ok(FileMode::Umask),
            other => bail!(
                "[files] mode (or TASKLOG_FILE_MODE) = {other:?}: expected \"private\" (0700/0600), \"group\" (0750/0640) or \"umask\""
            ),
        }
    }

    /// The umask this policy sets, if any.
    pub fn umask(self) -> Option<u32> {
        match self {
            FileMode::Private => Some(0o077),
            FileMode::Group => Some(0o027),
            FileMode::Umask => None,
        }
    }

    /// Sets the process's umask (before any thread or file is created).
    pub fn apply(self) {
        if let Some(mask) = self.umask() {
            rustix::process::umask(rustix::fs::Mode::from_raw_mode(mask));
        }
    }
}

/// `[serve]`: who may reach `tasklog serve` and its connection limits
/// (docs/SECURITY.md).
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct ServeSection {
    /// `Host` names accepted besides IP literals and, on loopback, `localhost`.
    allowed_hosts: Vec<String>,
    header_timeout_ms: Option<u64>,
    body_timeout_ms: Option<u64>,
    idle_timeout_ms: Option<u64>,
    event_buffer_bytes: Option<usize>,
    /// PEM certificate chain for HTTPS (`--tls-cert` outranks it).
    tls_cert: Option<PathBuf>,
    /// Its PEM private key (`--tls-key` outranks it).
    tls_key: Option<PathBuf>,
}

/// `tasklog serve`'s connection limits from `[serve]` < `TASKLOG_*`; a
/// flag overrides each, and `None` leaves the server's default.
#[derive(Debug, Clone, Default)]
pub struct ServeLimits {
    /// `header_timeout_ms`, `TASKLOG_HEADER_TIMEOUT_MS`.
    pub header_timeout_ms: Option<u64>,
    /// `body_timeout_ms`, `TASKLOG_BODY_TIMEOUT_MS`.
    pub body_timeout_ms: Option<u64>,
    /// `idle_timeout_ms`, `TASKLOG_IDLE_TIMEOUT_MS`.
    pub idle_timeout_ms: Option<u64>,
    /// `event_buffer_bytes`, `TASKLOG_EVENT_BUFFER_BYTES`.
    pub event_buffer_bytes: Option<usize>,
}

fn serve_limits(section: &ServeSection) -> Result<ServeLimits> {
    let limits = ServeLimits {
        header_timeout_ms: env_parse("TASKLOG_HEADER_TIMEOUT_MS")?.or(section.header_timeout_ms),
        body_timeout_ms: env_parse("TASKLOG_BODY_TIMEOUT_MS")?.or(section.body_timeout_ms),
        idle_timeout_ms: env_parse("TASKLOG_IDLE_TIMEOUT_MS")?.or(section.idle_timeout_ms),
        event_buffer_bytes: env_parse("TASKLOG_EVENT_BUFFER_BYTES")?.or(section.event_buffer_bytes),
    };
    for (key, v) in [
        ("header_timeout_ms", limits.header_timeout_ms),
        ("body_timeout_ms", limits.body_timeout_ms),
        ("idle_timeout_ms", limits.idle_timeout_ms),
    ] {
        if v == Some(0) {
            bail!("[serve] {key} must be more than 0");
        }
    }
    Ok(limits)
}

/// `[retention]`: ages as `--older-than` takes them; absent = off.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RetentionSection {
    every: Option<String>,
    compress_after: Option<String>,
    archive_after: Option<String>,
    prune_after: Option<String>,
}

/// What `tasklog watch` does once at start and then once a day
/// (`cmd/retention.rs`); every age off by default.
#[derive(Debug, Clone)]
pub struct Retention {
    /// Time between two passes (a day unless `every` says otherwise).
    pub every: Duration,
    /// `tasklog compress --older-than` this.
    pub compress_after: Option<Duration>,
    /// `tasklog archive` of every month that ended more than this ago.
    pub archive_after: Option<Duration>,
    /// `tasklog prune --older-than` this.
    pub prune_after: Option<Duration>,
}

impl Retention {
    /// Whether any of it is on.
    pub fn is_on(&self) -> bool {
        self.compress_after.is_some() || self.archive_after.is_some() || self.prune_after.is_some()
    }
}

fn retention(section: RetentionSection) -> Result<Retention> {
    let age = |v: Option<String>, key: &str| {
        v.map(|v| crate::cmd::prune::parse_age(&v).with_context(|| format!("[retention] {key}")))
            .transpose()
    };
    let every = age(section.every, "every")?.unwrap_or(Duration::from_secs(24 * 60 * 60));
    if every.is_zero() {
        bail!("[retention] every must be longer than 0s");
    }
    Ok(Retention {
        every,
        compress_after: age(section.compress_after, "compress_after")?,
        archive_after: age(section.archive_after, "archive_after")?,
        prune_after: age(section.prune_after, "prune_after")?,
    })
}

/// One `[[import]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportSection {
    format: String,
    path: PathBuf,
    poll_ms: Option<u64>,
    seal_after_s: Option<u64>,
    keep_source: Option<bool>,
    compress_after: Option<String>,
}

/// An agent's transcripts that `tasklog watch` imports as they grow, as
/// `tasklog import --follow FORMAT PATH` would.
#[derive(Debug, Clone)]
pub struct FollowedSource {
    /// The source format.
    pub format: crate::cmd::import::ImportFormat,
    /// A file or folder of transcripts.
    pub path: PathBuf,
    /// Time between two looks.
    pub poll: Duration,
    /// How long a session stays unchanged before its task is sealed.
    pub seal_after: Duration,
    /// Copy each new source verbatim into its task (`keep_source`, default
    /// false; `tasklog import --keep-source` is true).
    pub keep_source: bool,
    /// Compress a sealed task once its sources were unchanged this long
    /// (`compress_after`, default 1 day; `"never"`: `None`).
    pub compress_after: Option<Duration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct WriterSection {
    document_fsync: Option<String>,
    append_fsync: Option<String>,
    redact: Option<bool>,
    redact_patterns: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct IndexSection {
    line_limit: Option<u64>,
    batch_rows: Option<usize>,
    batch_ms: Option<u64>,
    reconcile_ms: Option<u64>,
    poll_ms: Option<u64>,
    max_watches: Option<usize>,
    inotify: Option<bool>,
    prices: Option<PathBuf>,
    busy_timeout_ms: Option<u64>,
}

/// `[sink]`: ship into PostgreSQL instead of the SQLite file (issue 13).
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct SinkSection {
    url: Option<String>,
    host_id: Option<String>,
}

/// The resolved configuration every command works from.
#[derive(Debug, Clone)]
pub struct Config {
    /// The log root holding task folders.
    pub root: PathBuf,
    /// The index: a SQLite file, or a `postgres://` URL (read commands).
    pub db: PathBuf,
    /// `[sink] url`: where `watch`, `index` and `serve` ship when no
    /// `--sink` is given (`None`: the SQLite file of `db`).
    pub sink: Option<String>,
    /// `--host-id`, `TASKLOG_HOST_ID` or `[sink] host_id`, when given.
    pub host_id: Option<String>,
    /// Writer behaviour.
    pub writer: WriterOptions,
    /// Indexer behaviour.
    pub index: IndexOptions,
    /// Transcripts `watch` imports as they grow (`[[import]]`).
    pub imports: Vec<FollowedSource>,
    /// What `watch` compresses, archives and prunes (`[retention]`).
    pub retention: Retention,
    /// `[serve] allowed_hosts`: `Host` names `tasklog serve` answers to
    /// besides IP literals and, on a loopback address, `localhost`.
    pub allowed_hosts: Vec<String>,
    /// `[serve] tls_cert`: the certificate chain `tasklog serve` serves HTTPS with.
    pub tls_cert: Option<PathBuf>,
    /// `[serve] tls_key`: its private key.
    pub tls_key: Option<PathBuf>,
    /// `[serve]` connection limits (timeouts, bytes per event stream).
    pub serve_limits: ServeLimits,
    /// `[files] mode` or `TASKLOG_FILE_MODE`: the modes of created files.
    pub file_mode: FileMode,
    /// `[[alert]]` rules (docs/ALERTS.md), checked at load.
    pub alerts: Vec<tasklog_alert::Rule>,
    /// Where the configuration came from, for `tasklog status` and -v.
    pub source: Option<PathBuf>,
}

/// Where tasklog keeps data when nothing else is said:
/// `$XDG_DATA_HOME/tasklog`, else `~/.local/share/tasklog`, else `./.tasklog`.
pub fn default_data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("tasklog");
    }
    if let Some(home) = std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(home).join(".local/share/tasklog");
    }
    PathBuf::from(".tasklog")
}

/// `~/x` in a config file means `$HOME/x`, as users expect from TOML configs.
fn expand_home(path: PathBuf) -> PathBuf {
    match (path.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => path,
    }
}

fn default_config_file() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    let path = base.join("tasklog/tasklog.toml");
    path.is_file().then_some(path)
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn env_parse<T: std::str::FromStr>(name: &str) -> Result<Option<T>>
where
    T::Err: std::fmt::Display,
{
    match env(name) {
        None => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|e| anyhow::anyhow!("environment variable {name}={v:?}: {e}")),
    }
}

fn fsync_policy(value: Option<String>, what: &str) -> Result<Option<FsyncPolicy>> {
    value
        .map(|v| {
            v.parse::<FsyncPolicy>()
                .map_err(|e| anyhow::anyhow!("{what}: {e}"))
        })
        .transpose()
}

/// An `[[import]]` entry's `compress_after`: a duration, or `"never"`.
fn import_compress_after(given: Option<&str>) -> Result<Option<Duration>> {
    match given {
        None => Ok(Some(tasklog_import::DEFAULT_COMPRESS_AFTER)),
        Some("never") => Ok(None),
        Some(age) => humantime::parse_duration(age).map(Some).map_err(|e| {
            anyhow::anyhow!(
                "[[import]] compress_after = {age:?}: {e}; expected a duration such as 12h or 1d, or \"never\""
            )
        }),
    }
}

/// The `[[import]]` entries, checked: a known format, a path.
fn followed_sources(sections: Vec<ImportSection>) -> Result<Vec<FollowedSource>> {
    use clap::ValueEnum;
    sections
        .into_iter()
        .map(|s| {
            let format = crate::cmd::import::ImportFormat::from_str(&s.format, true).map_err(|_| {
                anyhow::anyhow!(
                    "[[import]] format {:?} is not one of: claude-code, codex, swe-agent, openhands, gemini-cli, opencode, cline, copilot-cli, mini-swe-agent, auto",
                    s.format
                )
            })?;
            Ok(FollowedSource {
                format,
                path: expand_home(s.path),
                poll: Duration::from_millis(s.poll_ms.unwrap_or(500).max(10)),
                seal_after: Duration::from_secs(s.seal_after_s.unwrap_or(600)),
                keep_source: s.keep_source.unwrap_or(false),
                compress_after: import_compress_after(s.compress_after.as_deref())?,
            })
        })
        .collect()
}

/// The followers `agents = ...` adds: every standard folder that exists
/// now (docs/IMPORT.md section 15), of every agent (`"auto"`) or of the
/// formats listed, except folders an `[[import]]` entry already follows.
fn auto_sources(
    agents: Option<&toml::Value>,
    listed: &[FollowedSource],
) -> Result<Vec<FollowedSource>> {
    use clap::ValueEnum;
    let wanted: Vec<Option<tasklog_import::Format>> = match agents {
        None => return Ok(Vec::new()),
        Some(toml::Value::String(s)) if s == "none" => return Ok(Vec::new()),
        Some(toml::Value::String(s)) if s == "auto" => vec![None],
        Some(toml::Value::Array(names)) => names
            .iter()
            .map(|n| {
                n.as_str()
                    .and_then(|n| n.parse::<tasklog_import::Format>().ok())
                    .map(Some)
                    .ok_or_else(|| anyhow::anyhow!("agents: {n} is not a format name (claude-code, codex, gemini-cli, copilot-cli, cline, ...)"))
            })
            .collect::<Result<_>>()?,
        Some(other) => bail!("agents = {other}: expected \"auto\", \"none\" or a list of format names"),
    };
    let mut out: Vec<FollowedSource> = Vec::new();
    for format in wanted {
        for folder in tasklog_import::agent_folders(format) {
            if listed
                .iter()
                .chain(out.iter())
                .any(|s| s.path == folder.path)
            {
                continue;
            }
            let cli = crate::cmd::import::ImportFormat::from_str(folder.format.as_str(), true)
                .unwrap_or(crate::cmd::import::ImportFormat::Auto);
            out.push(FollowedSource {
                format: cli,
                path: folder.path,
                poll: Duration::from_millis(500),
                seal_after: Duration::from_secs(600),
                keep_source: false,
                compress_after: Some(tasklog_import::DEFAULT_COMPRESS_AFTER),
            });
        }
    }
    Ok(out)
}

/// The writer's options: defaults < `[writer]` < `TASKLOG_*`.
fn writer_options(section: WriterSection) -> Result<WriterOptions> {
    let mut writer = WriterOptions::default();
    if let Some(p) = fsync_policy(
        env("TASKLOG_DOCUMENT_FSYNC").or(section.document_fsync),
        "document_fsync",
    )? {
        writer.document_fsync = p;
    }
    if let Some(p) = fsync_policy(
        env("TASKLOG_APPEND_FSYNC").or(section.append_fsync),
        "append_fsync",
    )? {
        writer.append_fsync = p;
    }
    let redact = env_parse::<bool>("TASKLOG_REDACT")?
        .or(section.redact)
        .unwrap_or(false);
    if redact {
        writer.redactor = Some(match section.redact_patterns {
            Some(patterns) => Redactor::new(&patterns).map_err(anyhow::Error::msg)?,
            None => Redactor::with_defaults(),
        });
    }
    Ok(writer)
}

/// The indexer's options: defaults < `[index]` < `TASKLOG_*`.
fn index_options(section: IndexSection) -> Result<IndexOptions> {
    let mut index = IndexOptions::default();
    if let Some(v) = env_parse("TASKLOG_LINE_LIMIT")?.or(section.line_limit) {
        if v == 0 {
            bail!("line_limit must be at least 1 byte");
        }
        index.line_limit = v;
    }
    if let Some(v) = env_parse("TASKLOG_BATCH_ROWS")?.or(section.batch_rows) {
        index.batch_rows = v;
    }
    if let Some(v) = env_parse("TASKLOG_BATCH_MS")?.or(section.batch_ms) {
        index.batch_interval = Duration::from_millis(v);
    }
    if let Some(v) = env_parse("TASKLOG_RECONCILE_MS")?.or(section.reconcile_ms) {
        index.reconcile_interval = Duration::from_millis(v);
    }
    if let Some(v) = env_parse("TASKLOG_POLL_MS")?.or(section.poll_ms) {
        index.poll_interval = Duration::from_millis(v);
    }
    if let Some(v) = env_parse("TASKLOG_MAX_WATCHES")?.or(section.max_watches) {
        index.max_watches = v;
    }
    if let Some(v) = env_parse("TASKLOG_INOTIFY")?.or(section.inotify) {
        index.inotify = v;
    }
    if let Some(v) = env_parse("TASKLOG_BUSY_TIMEOUT_MS")?.or(section.busy_timeout_ms) {
        index.busy_timeout = Duration::from_millis(v);
    }
    if let Some(v) = env("TASKLOG_PRICES")
        .map(PathBuf::from)
        .or(section.prices.map(expand_home))
    {
        index.prices = Some(v);
    }
    Ok(index)
}

impl Config {
    /// Loads the configuration; `root` and `db` are the flags (clap already
    /// merged their environment variables, which outrank the file).
    pub fn load(
        config: Option<&Path>,
        root: Option<PathBuf>,
        db: Option<PathBuf>,
        host_id: Option<String>,
    ) -> Result<Config> {
        let source = config
            .map(Path::to_path_buf)
            .or_else(|| env("TASKLOG_CONFIG").map(PathBuf::from))
            .or_else(default_config_file);
        let file: FileConfig = match &source {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("{}: reading config file", path.display()))?;
                toml::from_str(&text)
                    .with_context(|| format!("{}: invalid config", path.display()))?
            }
            None => FileConfig::default(),
        };
        let data = default_data_dir();
        let root = root
            .or(file.root.map(expand_home))
            .unwrap_or_else(|| data.join("tasks"));
        let db = db
            .or(file.db.map(expand_home))
            .unwrap_or_else(|| data.join("index.db"));

        let writer = writer_options(file.writer)?;
        let index = index_options(file.index)?;
        let mut imports = followed_sources(file.import)?;
        imports.extend(auto_sources(file.agents.as_ref(), &imports)?);
        let retention = retention(file.retention)?;
        let serve_limits = serve_limits(&file.serve)?;
        let file_mode = match env("TASKLOG_FILE_MODE").or(file.files.mode) {
            Some(v) => FileMode::parse(&v)?,
            None => FileMode::Private,
        };
        let alerts = tasklog_alert::parse_rules(&file.alert).with_context(|| {
            format!(
                "{}: invalid config",
                source.as_deref().unwrap_or(Path::new("config")).display()
            )
        })?;
        Ok(Config {
            root,
            db,
            sink: file.sink.url,
            host_id: host_id.or(file.sink.host_id),
            writer,
            index,
            imports,
            retention,
            allowed_hosts: file.serve.allowed_hosts,
            tls_cert: file.serve.tls_cert.map(expand_home),
            tls_key: file.serve.tls_key.map(expand_home),
            serve_limits,
            file_mode,
            alerts,
            source,
        })
    }
}

impl Config {
    /// `db` for messages and logs: a `postgres://` URL without its password.
    pub fn db_shown(&self) -> String {
        tasklog_index::db_shown(&self.db)
    }

    /// The kind of store `--db` names.
    pub fn store_kind(&self) -> tasklog_index::StoreKind {
        tasklog_index::store_kind(&self.db)
    }

    /// The sink URL given to `watch`, `index` and `serve`: `--sink` (or
    /// `TASKLOG_SINK`), else `[sink] url`; `None` ships into the store
    /// `--db` names.
    pub fn sink<'a>(&'a self, flag: Option<&'a str>) -> Option<&'a str> {
        flag.or(self.sink.as_deref())
    }

    /// This machine's host id: the one given, else the host name.
    pub fn local_host_id(&self) -> Result<String> {
        Ok(tasklog_index::local_host_id(self.host_id.as_deref())?)
    }
}
