//! Every cross-crate scenario, as one test target (ripgrep's layout): the
//! real binary against real folders, one module per file. A new scenario
//! file needs one `mod` line here and nothing in Cargo.toml. Run one file's
//! tests with `cargo test -p tasklog --test tests watch_scenarios::`.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

// Shared helpers.
mod alert_support;
mod import_support;
mod pg_support;
mod query_fixture;
mod retention_support;
mod serve_support;
mod support;
mod tls_support;

// Scenarios.
mod alerts;
mod archive;
mod bulk_scenarios;
mod cli_write;
mod compress;
mod compress_writers;
mod dashboard;
mod derived_tables;
mod diagnostics;
mod dir_events;
mod fd_limit;
mod file_modes;
mod follow_supervised;
mod gzip_edges;
mod import_bad_formats;
mod import_cache_1h;
mod import_corpus;
mod import_crash;
mod import_discovery;
mod import_disk;
mod import_facts;
mod import_fixtures;
mod import_follow;
mod import_follow_late;
mod import_keys;
mod import_rewrite;
mod import_round3;
mod import_scenarios;
mod index_scenarios;
mod operations;
mod parity;
mod pg_faults;
mod pg_production;
mod pg_refused;
mod pg_scenarios;
mod pg_search;
mod pg_tls;
mod proxy;
mod query_scenarios;
mod record_edges;
mod retention_race;
mod secret_logs;
mod serve_limits;
mod serve_postgres;
mod serve_reopen;
mod serve_scenarios;
mod serve_security;
mod serve_tls;
mod shutdown;
mod sqlite_readers;
mod task_facts;
mod task_facts_imports;
mod watch_scenarios;
mod writers_interop;
