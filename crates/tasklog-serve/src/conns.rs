//! Connections: the limit on how many are open, accept errors survived,
//! and the idle timer every connection carries.
//!
//! Why each piece:
//! - **The limit.** Beyond `--max-connections` a new connection is closed
//!   at once (and counted), so a flood of idle or slow clients cannot take
//!   every file descriptor from the in-process indexer and the database.
//! - **Accept errors.** When descriptors run out (EMFILE, ENFILE) accept
//!   fails while the connection waits in the kernel's backlog; the loop
//!   pauses (10 ms, doubling to 1 s) and accepts again once clients go,
//!   instead of spinning or ending the server.
//! - **The idle timer.** A connection on which no byte has moved in
//!   either direction for `idle_timeout` is closed: a client that stopped
//!   reading an answer (an event stream with history it never reads), or
//!   one that went silent in the middle of anything. The timer lives in
//!   the byte stream, below HTTP, so it holds whatever HTTP is doing; the
//!   request head and body have their own, shorter limits (`server.rs`,
//!   [`crate::limits::body_deadline`]).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

use crate::vitals::Vitals;

/// First pause after an accept error; doubled up to [`ACCEPT_PAUSE_MAX`].
const ACCEPT_PAUSE: Duration = Duration::from_millis(10);

/// Longest pause between two accepts while they fail.
const ACCEPT_PAUSE_MAX: Duration = Duration::from_secs(1);

/// The listener with the limit; its connections carry the idle timer.
pub struct Limited {
    /// The bound socket.
    inner: TcpListener,
    /// One permit per open connection. A semaphore: a connection gives its
    /// place back by dropping its permit, wherever it ends.
    permits: Arc<Semaphore>,
    /// The idle time of every connection.
    idle: Duration,
    /// Counters for `/metrics`.
    vitals: Arc<Vitals>,
    /// The pause before the next accept after a failure.
    pause: Duration,
}

impl Limited {
    /// At most `max` connections open at once, each closed after `idle`
    /// without a byte moving.
    pub fn new(inner: TcpListener, max: usize, idle: Duration, vitals: Arc<Vitals>) -> Limited {
        Limited {
            inner,
            permits: Arc::new(Semaphore::new(max.max(1))),
            idle,
            vitals,
            pause: ACCEPT_PAUSE,
        }
    }
}

/// A TCP connection under the limit, with its idle timer.
pub type Counted = Guarded<TcpStream>;

impl Counted {
    /// The socket (for socket options such as `TCP_NODELAY`).
    #[allow(dead_code)] // used by TLS
    pub(crate) fn tcp(&self) -> &TcpStream {
        &self.io
    }
}

/// An `axum::serve::Listener`, so that a wrapper (TLS) can stack on it and
/// the server's loop takes either.
impl axum::serve::Listener for Limited {
    type Io = Counted;
    type Addr = SocketAddr;

    /// The next connection under the limit. Connections past the limit are
    /// closed at once; accept errors are logged and waited out.
    async fn accept(&mut self) -> (Counted, SocketAddr) {
        loop {
            let (stream, addr) = match self.inner.accept().await {
                Ok(accepted) => {
                    self.pause = ACCEPT_PAUSE;
                    accepted
                }
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    // Out of descriptors or memory: the connection stays in
                    // the backlog; accepting again at once would spin.
                    Vitals::count(&self.vitals.accept_errors);
                    if self.pause == ACCEPT_PAUSE {
                        tracing::warn!(error = %e, "accepting a connection failed; retrying (descriptors or memory ran out?)");
                    } else {
                        tracing::debug!(error = %e, "accepting a connection failed again");
                    }
                    tokio::time::sleep(self.pause).await;
                    self.pause = (self.pause * 2).min(ACCEPT_PAUSE_MAX);
                    continue;
                }
            };
            match Arc::clone(&self.permits).try_acquire_owned() {
                Ok(permit) => {
                    let vitals = Arc::clone(&self.vitals);
                    return (Guarded::new(stream, permit, self.idle, vitals), addr);
                }
                Err(_) => {
                    Vitals::count(&self.vitals.connections_refused);
                    drop(stream);
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// Errors of one connection, not of the listener: accept again at once.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// A connection holding its place under the limit until dropped, closed
/// once no byte has moved for its idle time.
pub struct Guarded<IO> {
    /// The byte stream (TCP, or TLS over TCP).
    io: IO,
    /// Longest time without a byte read or written.
    idle: Duration,
    /// When a byte last moved.
    last: Instant,
    /// Wakes the connection when the idle time may have passed. Boxed:
    /// `Sleep` is not `Unpin`, and the wrapper must be.
    timer: Pin<Box<Sleep>>,
    /// Counts the connections the timer closed.
    vitals: Arc<Vitals>,
    /// The place under the connection limit.
    _permit: OwnedSemaphorePermit,
}

impl<IO> Guarded<IO> {
    /// Wraps `io`, which holds `permit`, with an idle time of `idle`.
    pub fn new(io: IO, permit: OwnedSemaphorePermit, idle: Duration, vitals: Arc<Vitals>) -> Self {
        let last = Instant::now();
        Guarded {
            io,
            idle,
            last,
            timer: Box::pin(tokio::time::sleep_until(last + idle)),
            vitals,
            _permit: permit,
        }
    }

    /// A byte moved: the idle time starts again. The timer is not reset
    /// here (that would cost a timer-wheel update per read); it is moved
    /// when it fires early.
    fn moved(&mut self) {
        self.last = Instant::now();
    }

    /// Called when the stream is not ready: an error once the idle time
    /// has passed, else the timer is armed to wake this task when it may.
    fn idle_error(&mut self, cx: &mut Context<'_>) -> Option<io::Error> {
        loop {
            let due = self.last + self.idle;
            if Instant::now() >= due {
                Vitals::count(&self.vitals.idle_closed);
                return Some(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "no byte moved for {} ms: closing the connection",
                        self.idle.as_millis()
                    ),
                ));
            }
            if self.timer.deadline() != due {
                self.timer.as_mut().reset(due);
            }
            if self.timer.as_mut().poll(cx).is_pending() {
                return None;
            }
        }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Guarded<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    self.moved();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => match self.idle_error(cx) {
                Some(e) => Poll::Ready(Err(e)),
                None => Poll::Pending,
            },
            other => other,
        }
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Guarded<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write(cx, buf);
        self.after_write(cx, polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.after_write(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.io).poll_flush(cx) {
            Poll::Pending => match self.idle_error(cx) {
                Some(e) => Poll::Ready(Err(e)),
                None => Poll::Pending,
            },
            ready => ready,
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

impl<IO> Guarded<IO> {
    fn after_write(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        match polled {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    self.moved();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Pending => match self.idle_error(cx) {
                Some(e) => Poll::Ready(Err(e)),
                None => Poll::Pending,
            },
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn permit() -> OwnedSemaphorePermit {
        Arc::new(Semaphore::new(1))
            .try_acquire_owned()
            .expect("permit")
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_peer_is_cut_after_the_idle_time_and_traffic_keeps_it() {
        let (ours, mut theirs) = tokio::io::duplex(64);
        let vitals = Arc::new(Vitals::default());
        let mut conn = Guarded::new(ours, permit(), Duration::from_secs(5), Arc::clone(&vitals));
        // Traffic every 3 s keeps a 5 s idle time from firing.
        let talk = tokio::spawn(async move {
            for _ in 0..4 {
                tokio::time::sleep(Duration::from_secs(3)).await;
                theirs.write_all(b"x").await.expect("write");
            }
            theirs
        });
        let started = Instant::now();
        let mut buf = [0u8; 8];
        for _ in 0..4 {
            assert_eq!(conn.read(&mut buf).await.expect("byte"), 1);
        }
        let _theirs = talk.await.expect("talker");
        let e = conn.read(&mut buf).await.expect_err("idle");
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        let took = started.elapsed();
        assert!(
            took >= Duration::from_secs(17) && took < Duration::from_secs(18),
            "{took:?}"
        );
        assert_eq!(
            vitals
                .idle_closed
                .load(std::sync::atomic::Ordering::Relaxed),
            1
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_peer_that_does_not_read_stalls_a_write_until_the_idle_time() {
        let (ours, _theirs) = tokio::io::duplex(16);
        let vitals = Arc::new(Vitals::default());
        let mut conn = Guarded::new(ours, permit(), Duration::from_secs(2), vitals);
        let e = conn.write_all(&[0u8; 1024]).await.expect_err("stalled");
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
    }
}
