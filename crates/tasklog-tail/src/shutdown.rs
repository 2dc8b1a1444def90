//! The stop request that reaches every part of the sidecar.
//!
//! A signal handler cannot wait for the watch loop to come back to its
//! `select!`: the loop may be inside a long reconcile, following a stream
//! that never goes idle, or blocked handing a batch to a committer that
//! waits for a database another process has locked. So the request is a
//! flag that the blocking code checks at each step (the reader between
//! files and batches, the committer between retries) and a notification
//! that wakes the loop's `select!` when it is waiting.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;

/// A cloneable handle: any clone requests, every clone sees it.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Set once, never cleared. An atomic rather than a mutex: the reader
    /// and the committer read it on their hot paths, from other threads.
    requested: AtomicBool,
    /// Wakes the loop when it is waiting in `select!`. `tokio::sync::Notify`
    /// because it can be woken from any thread, inside a runtime or not
    /// (the signal thread runs its own).
    notify: Notify,
}

impl Shutdown {
    /// A handle that has not been requested.
    pub fn new() -> Shutdown {
        Shutdown::default()
    }

    /// Asks everything holding a clone to stop.
    pub fn request(&self) {
        self.inner.requested.store(true, Ordering::SeqCst);
        self.inner.notify.notify_waiters();
    }

    /// Whether a stop was requested.
    pub fn is_requested(&self) -> bool {
        self.inner.requested.load(Ordering::SeqCst)
    }

    /// Resolves once a stop is requested.
    pub async fn requested(&self) {
        loop {
            // Registered before the check, so a request in between is not missed.
            let notified = self.inner.notify.notified();
            if self.is_requested() {
                return;
            }
            notified.await;
        }
    }

    /// The flag itself, for a thread that only polls it.
    pub fn flag(&self) -> ShutdownFlag {
        ShutdownFlag(Arc::clone(&self.inner))
    }
}

/// What the committer thread holds: it polls, it never waits on it.
#[derive(Debug, Clone)]
pub struct ShutdownFlag(Arc<Inner>);

impl ShutdownFlag {
    /// Whether a stop was requested.
    pub fn is_set(&self) -> bool {
        self.0.requested.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_wakes_a_waiter_on_another_thread() {
        let shutdown = Shutdown::new();
        let remote = shutdown.clone();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let thread = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            remote.request();
        });
        rt.block_on(shutdown.requested());
        assert!(shutdown.is_requested() && shutdown.flag().is_set());
        thread.join().unwrap();
        // Already requested: resolves at once.
        rt.block_on(shutdown.requested());
    }
}
