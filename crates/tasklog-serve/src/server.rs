//! Binding, the address rule, and running until shutdown.
//!
//! Shutdown is a parameter ([`Server::run`]), which makes the server
//! testable on port 0. When it resolves, the stop signal ends every event
//! stream, in-flight requests finish, and after a grace period whatever is
//! still open is dropped, so the process exits within 2 seconds.

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::error::Error;
use crate::state::{AppState, ServeOptions};

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
        let signal_state = Arc::clone(&state);
        let listener = crate::conns::Limited::new(
            self.listener,
            state.options.max_connections,
            Arc::clone(&state.options.vitals),
        );
        let listener = crate::tls::Listener::new(listener, state.options.https.as_ref());
        let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("shutting down: closing event streams");
            signal_state.stop();
        });
        let mut stopping = state.stopping();
        tokio::select! {
            result = serve.into_future() => result.map_err(Error::Serve),
            _ = async {
                let _ = stopping.wait_for(|s| *s).await;
                tokio::time::sleep(GRACE).await;
            } => {
                tracing::warn!("connections still open after the grace period; dropping them");
                Ok(())
            }
        }
    }
}
