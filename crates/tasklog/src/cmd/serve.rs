//! `tasklog serve`: the REST API, live events and the dashboard over the
//! index, with the sidecar in the same process unless another indexer
//! holds the database. The work is in the `tasklog-serve` crate.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use tasklog_serve::{ServeOptions, Server, Sidecar, Vitals};

use crate::config::Config;
use crate::Outcome;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on; a non-loopback address needs --token. Port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:7070", value_name = "ADDR")]
    pub addr: SocketAddr,
    /// Bearer token every request but /healthz must carry (the dashboard takes it once as
    /// ?token=); at least 16 characters. Prefer TASKLOG_TOKEN or --token-file: every local user
    /// sees a command line in `ps`.
    #[arg(
        long,
        env = "TASKLOG_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN",
        conflicts_with = "token_file"
    )]
    pub token: Option<String>,
    /// Read the token from this file (its first line; the file should be private, 0600).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<std::path::PathBuf>,
    /// Also answer to this Host name (repeatable; `*` accepts any name). IP addresses and, on a
    /// loopback address, `localhost` are always accepted; other names are refused against DNS
    /// rebinding. Adds to `[serve] allowed_hosts`.
    #[arg(long = "allow-host", value_name = "NAME")]
    pub allow_host: Vec<String>,
    /// Serve HTTPS with this PEM certificate chain (the server's certificate first); needs
    /// --tls-key. Overrides `[serve] tls_cert`.
    #[arg(long, env = "TASKLOG_TLS_CERT", value_name = "FILE")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// The PEM private key of --tls-cert (PKCS#8, RSA or EC; not encrypted; keep it 0600).
    /// Overrides `[serve] tls_key`.
    #[arg(long, env = "TASKLOG_TLS_KEY", value_name = "FILE")]
    pub tls_key: Option<std::path::PathBuf>,
    /// Only read: do not run the indexer in this process.
    #[arg(long)]
    pub no_index: bool,
    /// Time limit of one POST /api/query, in milliseconds.
    #[arg(long, default_value_t = 2000, value_name = "MS")]
    pub query_timeout_ms: u64,
    /// Most rows one POST /api/query returns.
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    pub query_rows: usize,
    /// Most bytes of JSON one POST /api/query answer holds (the rows that fit are sent).
    #[arg(long, default_value_t = 32 << 20, value_name = "BYTES")]
    pub query_bytes: usize,
    /// Connections open at once; more are closed as they arrive (keeps descriptors for the
    /// indexer and the database).
    #[arg(long, default_value_t = 256, value_name = "N")]
    pub max_connections: usize,
    /// Longest wait for a request's line and headers, in milliseconds, from the connection's
    /// start or the end of the previous answer: slow senders and idle kept-alive connections are
    /// closed after it [default: 10000; `[serve] header_timeout_ms`, TASKLOG_HEADER_TIMEOUT_MS].
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..))]
    pub header_timeout_ms: Option<u64>,
    /// Longest a request body may take to arrive in full, in milliseconds (then 408)
    /// [default: 10000; `[serve] body_timeout_ms`, TASKLOG_BODY_TIMEOUT_MS].
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..))]
    pub body_timeout_ms: Option<u64>,
    /// Close a connection on which no byte moved either way for this long, in milliseconds (a
    /// client that stopped reading an answer or an event stream) [default: 60000;
    /// `[serve] idle_timeout_ms`, TASKLOG_IDLE_TIMEOUT_MS].
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_timeout_ms: Option<u64>,
    /// Most bytes of events one event stream holds for a client that has not taken them
    /// [default: 1048576; `[serve] event_buffer_bytes`, TASKLOG_EVENT_BUFFER_BYTES].
    #[arg(long, value_name = "BYTES")]
    pub event_buffer_bytes: Option<usize>,
}

pub fn run(config: &Config, args: ServeArgs) -> Result<Outcome> {
    // Over a shared PostgreSQL index the server only reads: every host
    // ships its own files with `tasklog watch --sink` (docs/POSTGRES.md).
    let shared = config.store_kind().shared();
    if config.sink.is_some() && !args.no_index && !shared {
        anyhow::bail!(
            "tasklog serve runs its sidecar into the SQLite index of --db, but the config sets a PostgreSQL sink; run `tasklog watch` to ship, and `tasklog serve --no-index` over a SQLite index (docs/POSTGRES.md)"
        );
    }
    let token = match &args.token_file {
        Some(path) => Some(read_token_file(path)?),
        None => args.token.clone(),
    }
    .filter(|t| !t.is_empty());
    tasklog_serve::check_addr(args.addr, token.as_deref())?;
    // Before the indexer starts: a bad certificate is a mistake to report
    // at once, not after the first pass.
    let https = https(config, &args)?;
    let vitals = Arc::new(Vitals::default());
    let sidecar = if args.no_index || shared {
        None
    } else {
        Sidecar::start(
            config.root.clone(),
            config.db.clone(),
            config.index.clone(),
            Arc::clone(&vitals),
        )
        .context("starting the in-process indexer")?
    };
    // Agents' transcripts (`[[import]]`, `agents = "auto"`) are followed
    // by the process that indexes, as `tasklog watch` does.
    let followers = match &sidecar {
        Some(_) => config
            .imports
            .iter()
            .map(|source| crate::cmd::import::spawn_follower(config, source))
            .collect::<Result<Vec<_>>>()?,
        None => Vec::new(),
    };
    // Alerts run where the indexer runs: here when it is in-process.
    let alerter = match &sidecar {
        Some(_) => crate::cmd::alerts::start(config, None)?,
        None => None,
    };
    let indexer = match (&sidecar, args.no_index) {
        (Some(_), _) => "in-process",
        (None, false) => "external",
        (None, true) => "none",
    };
    if shared {
        tracing::info!(db = %config.db_shown(), host_id = config.host_id.as_deref().unwrap_or("every host"), "serving a shared PostgreSQL index; each host ships its files with `tasklog watch --sink`");
    } else if indexer == "external" {
        tracing::info!(db = %config.db_shown(), "another indexer holds the database; serving read-only");
    }
    let mut options = ServeOptions::new(config.root.clone(), config.db.clone());
    options.host_id = config.host_id.clone().filter(|_| shared);
    options.token = token;
    options.query_timeout = Duration::from_millis(args.query_timeout_ms);
    options.query_rows = args.query_rows;
    options.query_bytes = args.query_bytes;
    options.max_connections = args.max_connections;
    let limits = &config.serve_limits;
    let ms = |flag: Option<u64>, config: Option<u64>, default: Duration| {
        flag.or(config).map_or(default, Duration::from_millis)
    };
    options.header_timeout = ms(
        args.header_timeout_ms,
        limits.header_timeout_ms,
        options.header_timeout,
    );
    options.body_timeout = ms(
        args.body_timeout_ms,
        limits.body_timeout_ms,
        options.body_timeout,
    );
    options.idle_timeout = ms(
        args.idle_timeout_ms,
        limits.idle_timeout_ms,
        options.idle_timeout,
    );
    options.event_buffer_bytes = args
        .event_buffer_bytes
        .or(limits.event_buffer_bytes)
        .unwrap_or(options.event_buffer_bytes);
    options.indexer = indexer;
    options.vitals = vitals;
    let scheme = if https.is_some() { "https" } else { "http" };
    options.https = https;
    options.allowed_hosts = config.allowed_hosts.clone();
    options
        .allowed_hosts
        .extend(args.allow_host.iter().cloned());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let served = runtime.block_on(async {
        let server = Server::bind(args.addr, options).await?;
        let addr = server.local_addr()?;
        // The one line a person (or a test) needs to find the server.
        errln!("tasklog: serving {scheme}://{addr}/ (indexer: {indexer})");
        server.run(shutdown_signal()).await
    });
    // Let in-flight blocking reads end with the runtime, then the indexer.
    runtime.shutdown_timeout(Duration::from_millis(300));
    for (tx, _) in &followers {
        let _ = tx.send(tasklog_import::Wake::Shutdown);
    }
    for (_, thread) in followers {
        let _ = thread.join();
    }
    if let Some(alerter) = alerter {
        alerter.stop(crate::cmd::alerts::STOP_WITHIN);
    }
    if let Some(sidecar) = sidecar {
        sidecar.stop()?;
    }
    served?;
    Ok(Outcome::Success)
}

/// The certificate and key of `--tls-cert`/`--tls-key` (or their
/// variables), else `[serve] tls_cert`/`tls_key`; both or neither.
fn https(config: &Config, args: &ServeArgs) -> Result<Option<tasklog_serve::Https>> {
    let cert = args.tls_cert.as_ref().or(config.tls_cert.as_ref());
    let key = args.tls_key.as_ref().or(config.tls_key.as_ref());
    match (cert, key) {
        (None, None) => Ok(None),
        (Some(cert), Some(key)) => Ok(Some(tasklog_serve::Https::load(cert, key)?)),
        (Some(cert), None) => anyhow::bail!(
            "{}: a TLS certificate without its private key: give --tls-key (or [serve] tls_key)",
            cert.display()
        ),
        (None, Some(key)) => anyhow::bail!(
            "{}: a TLS private key without its certificate: give --tls-cert (or [serve] tls_cert)",
            key.display()
        ),
    }
}

/// The first line of a token file, without its line end. The error names
/// the file, never its content.
fn read_token_file(path: &std::path::Path) -> Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: reading the token file", path.display()))?;
    let token = text.lines().next().unwrap_or("").trim().to_owned();
    if token.is_empty() {
        anyhow::bail!("{}: the token file is empty", path.display());
    }
    Ok(token)
}

/// Resolves on the first SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        tracing::error!("cannot install signal handlers; stop with SIGKILL");
        return std::future::pending().await;
    };
    loop {
        tokio::select! {
            _ = term.recv() => return tracing::info!("SIGTERM: stopping"),
            _ = int.recv() => return tracing::info!("SIGINT: stopping"),
            // As in `tasklog watch`: a hang-up or a reload must not end the
            // server (docs/OPERATIONS.md).
            _ = hup.recv() => tracing::info!("SIGHUP: ignored; the server goes on"),
        }
    }
}
