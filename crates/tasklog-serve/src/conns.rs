//! A limit on open connections: beyond it, a new connection is closed at
//! once (and counted), so a flood of idle or slow clients cannot take every
//! file descriptor from the in-process indexer and the database.
//!
//! Accept errors (EMFILE, ENFILE, a reset before accept) are survived by
//! axum's accept loop, which waits and accepts again.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::vitals::Vitals;

/// The listener with the limit.
pub struct Limited {
    inner: TcpListener,
    permits: Arc<Semaphore>,
    vitals: Arc<Vitals>,
}

impl Limited {
    /// At most `max` connections open at once.
    pub fn new(inner: TcpListener, max: usize, vitals: Arc<Vitals>) -> Limited {
        Limited {
            inner,
            permits: Arc::new(Semaphore::new(max.max(1))),
            vitals,
        }
    }
}

/// A connection holding its place under the limit until dropped.
pub struct Counted {
    stream: TcpStream,
    _permit: OwnedSemaphorePermit,
}

impl Counted {
    /// The socket (for TLS to set `TCP_NODELAY`).
    pub(crate) fn tcp(&self) -> &TcpStream {
        &self.stream
    }
}

impl axum::serve::Listener for Limited {
    type Io = Counted;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Counted, std::net::SocketAddr) {
        loop {
            let (stream, addr) = axum::serve::Listener::accept(&mut self.inner).await;
            match Arc::clone(&self.permits).try_acquire_owned() {
                Ok(permit) => {
                    return (
                        Counted {
                            stream,
                            _permit: permit,
                        },
                        addr,
                    )
                }
                Err(_) => {
                    Vitals::count(&self.vitals.connections_refused);
                    drop(stream);
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.inner.local_addr()
    }
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
