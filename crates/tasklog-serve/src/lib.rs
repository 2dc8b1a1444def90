//! `tasklog serve`: an HTTP face over the index and the task folders.
//!
//! The REST API of the structured task logging design
//! (`/api/tasks/{task_id}/logs/{name}`), the questions of the CLI (`tasks`,
//! `show`, `cost`, `search`, `query`, `status`), Server-Sent Events for
//! every newly indexed record, Prometheus metrics, and a dashboard whose
//! assets are compiled into the binary.
//!
//! The server only reads: every database access goes through read-only
//! connections ([`tasklog_index::open_query_connection`]), and the task
//! folders are never opened for writing. Names from URLs pass the writer's
//! name rules before anything looks them up. The sidecar indexer may run in
//! the same process ([`Sidecar`]), on its own thread.
//!
//! ```no_run
//! use std::time::Duration;
//! use tasklog_serve::{ServeOptions, Server};
//!
//! # async fn demo() -> Result<(), tasklog_serve::Error> {
//! let options = ServeOptions::new("logs".into(), "index.db".into());
//! let server = Server::bind("127.0.0.1:0".parse().unwrap(), options).await?;
//! println!("listening on {}", server.local_addr()?);
//! server.run(async { tokio::time::sleep(Duration::from_secs(1)).await }).await?;
//! # Ok(())
//! # }
//! ```

mod api;
mod assets;
mod auth;
mod conns;
mod error;
mod events;
mod feed;
mod guard;
mod limits;
mod names;
pub mod render;
pub mod search;
mod server;
mod sidecar;
mod sql;
mod state;
mod tls;
pub mod transcript;
mod vitals;

pub use error::{ApiError, Error};
pub use server::{check_addr, Server, MIN_TOKEN_CHARS};
pub use sidecar::Sidecar;
pub use state::ServeOptions;
pub use tls::{Https, HANDSHAKE_TIMEOUT};
pub use vitals::Vitals;
