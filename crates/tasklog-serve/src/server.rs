//! Binding, the address rule, the accept loop and running until shutdown.
//!
//! The server runs its own loop over hyper's HTTP/1 connections rather
//! than `axum::serve`, for the limits axum does not expose: the request
//! head timeout (hyper's `header_read_timeout`), the idle timer and the
//! connection limit on the byte stream (`crate::conns`), and accept errors
//! backed off. The request body's deadline is a layer of the router
//! (`crate::limits::body_deadline`).
//!
//! Shutdown is a parameter ([`Server::run`]), which makes the server
//! testable on port 0. When it resolves, the stop signal ends every event
//! stream, in-flight requests finish, and after a grace period whatever is
//! still open is dropped, so the process exits within 2 seconds.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::Listener;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::conns::Limited;
use crate::error::Error;
use crate::state::{AppState, ServeOptions};
use crate::vitals::Vitals;

/// How long in-flight requests get after shutdown starts.
const GRACE: Duration = Duration::from_millis(1500);

/// The shortest token accepted: 16 characters (for example 8 random bytes
/// as hex, or `openssl rand -hex 16`), so that it cannot be guessed
/// online.
pub const MIN_TOKEN_CHARS: usize = 16;

/// Refuses a non-loopback address without a token (the index holds
/// prompts, tool output and costs, which must not be open to a network),
/// and a token shorter than [`MIN_TOKEN_CHARS`].
pub fn check_addr(addr: SocketAddr, token: Option<&str>) -> Result<(), Error> {
    let token = token.filter(|t| !t.is_empty());
    if let Some(t) = token {
        let chars = t.chars().count();
        if chars < MIN_TOKEN_CHARS || t.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Error::WeakToken {
                chars,
                min: MIN_TOKEN_CHARS,
            });
        }
    }
    if addr.ip().is_loopback() || token.is_some() {
        Ok(())
    } else {
        Err(Error::TokenRequired { addr })
    }
}

/// A bound, not yet running server.
pub struct Server {
    /// The bound socket.
    listener: TcpListener,
    /// What the handlers share.
    state: Arc<AppState>,
}

impl Server {
    /// Checks the address rule and binds.
    pub async fn bind(addr: SocketAddr, mut options: ServeOptions) -> Result<Server, Error> {
        check_addr(addr, options.token.as_deref())?;
        options.tls |= options.https.is_some();
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Bind { addr, source })?;
        let bound = listener.local_addr().map_err(Error::Serve)?;
        Ok(Server {
            listener,
            state: AppState::bound(options, bound),
        })
    }

    /// The address actually bound (the port, when 0 was asked for).
    pub fn local_addr(&self) -> Result<SocketAddr, Error> {
        self.listener.local_addr().map_err(Error::Serve)
    }

    /// Serves until `shutdown` resolves, then stops: event streams end at once,
    /// in-flight requests get 1.5 s, and whatever is still open is dropped.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), Error> {
        let state = Arc::clone(&self.state);
        let app = crate::api::router(Arc::clone(&state));
        tokio::spawn(crate::feed::run(Arc::clone(&state)));
        let limited = Limited::new(
            self.listener,
            state.options.max_connections,
            state.options.idle_timeout,
            Arc::clone(&state.options.vitals),
        );
        // HTTPS when configured (`tls.rs`), else the limited TCP listener as is.
        let mut listener = crate::tls::Listener::new(limited, state.options.https.as_ref());
        let mut connections = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                (io, _) = Listener::accept(&mut listener) => {
                    connections.spawn(connection(io, app.clone(), Arc::clone(&state)));
                }
                // Reaps ended connections, so the set holds open ones only.
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        tracing::info!("shutting down: closing event streams");
        state.stop();
        drop(listener);
        let drained = tokio::time::timeout(GRACE, async {
            while connections.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!("connections still open after the grace period; dropping them");
            connections.abort_all();
        }
        Ok(())
    }
}

/// Serves one connection: HTTP/1.1 with keep-alive, the request head
/// within `header_timeout` (hyper's timer, which starts when the server
/// waits for a request: on a new connection and after each answer, so it
/// also closes idle kept-alive connections), until the client closes or
/// the server stops.
async fn connection<IO>(io: IO, app: axum::Router, state: Arc<AppState>)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(state.options.header_timeout)
        .keep_alive(true);
    let service = TowerToHyperService::new(app);
    let conn = http.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    let mut stopping = state.stopping();
    let ended = tokio::select! {
        ended = conn.as_mut() => Some(ended),
        _ = stopping.wait_for(|s| *s) => None,
    };
    let ended = match ended {
        Some(ended) => ended,
        None => {
            // Finish the answer in flight, take no new request.
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = ended {
        if e.is_timeout() {
            Vitals::count(&state.options.vitals.header_timeouts);
            tracing::debug!("closed a connection whose request head did not arrive in time");
        } else {
            tracing::debug!(error = %e, "connection ended with an error");
        }
    }
}
