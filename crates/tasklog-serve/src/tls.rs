//! HTTPS for `tasklog serve` (`--tls-cert`, `--tls-key`): rustls with the
//! ring provider, HTTP/1.1 only.
//!
//! The handshake runs in a task of its own per connection, so a client
//! that opens a connection and never finishes its handshake holds up only
//! itself (and one place under the connection limit, which it takes before
//! the handshake), and is dropped after [`HANDSHAKE_TIMEOUT`]. Connections
//! whose handshake succeeded are handed to the HTTP server in the order
//! they finish. A client speaking plain HTTP to the TLS port gets a fixed
//! `400` saying to use `https://`, and nothing else.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::task::JoinSet;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::conns::{Counted, Limited};
use crate::error::Error;

/// Longest a TLS handshake may take before the connection is dropped.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A certificate chain and its private key, checked and ready to serve.
#[derive(Clone)]
pub struct Https {
    config: Arc<rustls::ServerConfig>,
    cert: PathBuf,
}

impl std::fmt::Debug for Https {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Https").field("cert", &self.cert).finish()
    }
}

impl Https {
    /// Reads a PEM certificate chain (the server's certificate first) and
    /// its PEM private key (PKCS#8, PKCS#1 or SEC1, not encrypted), and
    /// checks that the key belongs to the certificate. Every error names
    /// the file at fault.
    pub fn load(cert: &Path, key: &Path) -> Result<Https, Error> {
        let fail = |path: &Path, reason: String| Error::Tls {
            path: path.to_path_buf(),
            reason,
        };
        let cert_pem = std::fs::read(cert)
            .map_err(|e| fail(cert, format!("reading the TLS certificate: {e}")))?;
        let chain = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| fail(cert, format!("not a PEM certificate file: {e}")))?;
        if chain.is_empty() {
            return Err(fail(
                cert,
                "no certificate (-----BEGIN CERTIFICATE-----) in the file".into(),
            ));
        }
        let key_pem = std::fs::read(key)
            .map_err(|e| fail(key, format!("reading the TLS private key: {e}")))?;
        if is_encrypted(&key_pem) {
            return Err(fail(
                key,
                "the private key is encrypted with a passphrase, which tasklog cannot ask for; \
                 store it decrypted in a private file (openssl pkey -in KEY -out PLAIN; chmod 600 PLAIN)"
                    .into(),
            ));
        }
        let private = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
            let hint = if contains(&key_pem, b"-----BEGIN CERTIFICATE-----") {
                " (the file holds a certificate: --tls-key takes the private key)"
            } else {
                ""
            };
            let what = match e {
                rustls::pki_types::pem::Error::NoItemsFound => {
                    "no private key (-----BEGIN PRIVATE KEY-----, RSA or EC) in the file".to_owned()
                }
                other => format!("not a PEM private key: {other}"),
            };
            fail(key, format!("{what}{hint}"))
        })?;
        warn_if_readable(key);
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| fail(cert, format!("TLS setup: {e}")))?
            .with_no_client_auth()
            .with_single_cert(chain, private)
            .map_err(|e| match e {
                rustls::Error::InconsistentKeys(_) => fail(
                    key,
                    format!(
                        "the private key does not belong to the certificate {}",
                        cert.display()
                    ),
                ),
                other => fail(key, format!("unusable with {}: {other}", cert.display())),
            })?;
        let mut config = config;
        // The server speaks HTTP/1.1 only (axum's http1 feature).
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Https {
            config: Arc::new(config),
            cert: cert.to_path_buf(),
        })
    }
}

/// rustls with ring: already in the build (ureq, the PostgreSQL client),
/// no C build of aws-lc. ring lacks the post-quantum key exchange, hence
/// rustls's deprecation note.
#[allow(deprecated)]
fn provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// PKCS#8 `ENCRYPTED PRIVATE KEY`, or OpenSSL's legacy encrypted PEM
/// (`Proc-Type: 4,ENCRYPTED` inside an RSA or EC block).
fn is_encrypted(pem: &[u8]) -> bool {
    contains(pem, b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
        || contains(pem, b"Proc-Type: 4,ENCRYPTED")
}

/// A key others can read is a key others can use: say so, once.
fn warn_if_readable(key: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(key) {
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(path = %key.display(), "the TLS private key is readable by group or others (chmod 600)");
        }
    }
}

/// The server's listener: [`Limited`], with TLS when configured.
pub(crate) struct Listener {
    inner: Limited,
    tls: Option<TlsAcceptor>,
    handshakes: JoinSet<Option<(TlsStream<Counted>, SocketAddr)>>,
}

impl Listener {
    /// Plain HTTP when `https` is `None`.
    pub fn new(inner: Limited, https: Option<&Https>) -> Listener {
        Listener {
            inner,
            tls: https.map(|h| TlsAcceptor::from(Arc::clone(&h.config))),
            handshakes: JoinSet::new(),
        }
    }
}

/// One connection, plain or TLS.
pub(crate) enum Io {
    /// Plain HTTP.
    Plain(Counted),
    /// HTTPS (boxed: the TLS state is large).
    Tls(Box<TlsStream<Counted>>),
}

impl axum::serve::Listener for Listener {
    type Io = Io;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Io, SocketAddr) {
        let Some(acceptor) = &self.tls else {
            let (io, addr) = axum::serve::Listener::accept(&mut self.inner).await;
            return (Io::Plain(io), addr);
        };
        loop {
            // Both branches are cancel-safe: `Limited::accept` returns a
            // connection as soon as it has one, and a finished handshake
            // stays in the set until it is taken.
            tokio::select! {
                (io, addr) = axum::serve::Listener::accept(&mut self.inner) => {
                    let acceptor = acceptor.clone();
                    // TLS writes a flight in several records (the session
                    // tickets, then the answer): with Nagle's algorithm the
                    // second waits for the peer's delayed ACK, 40 ms.
                    if let Err(e) = io.tcp().set_nodelay(true) {
                        tracing::debug!(peer = %addr, error = %e, "TCP_NODELAY");
                    }
                    self.handshakes.spawn(async move {
                        match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(acceptor, io)).await {
                            Ok(Ok(stream)) => stream.map(|s| (s, addr)),
                            Ok(Err(e)) => {
                                tracing::debug!(peer = %addr, error = %e, "TLS handshake failed");
                                None
                            }
                            Err(_) => {
                                tracing::debug!(peer = %addr, "TLS handshake timed out");
                                None
                            }
                        }
                    });
                }
                Some(done) = self.handshakes.join_next(), if !self.handshakes.is_empty() => {
                    if let Ok(Some((stream, addr))) = done {
                        return (Io::Tls(Box::new(stream)), addr);
                    }
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// The answer to plain HTTP on the TLS port, so that a person who typed
/// `http://` reads why instead of a reset connection.
const PLAIN_REFUSAL: &[u8] = b"HTTP/1.1 400 Bad Request\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Length: 46\r\n\
Connection: close\r\n\r\n\
This port speaks HTTPS: use https:// instead.\n";

/// The TLS handshake, or `None` after answering a client that spoke plain
/// HTTP (its first byte is a letter, never a TLS record type, 0x16).
async fn handshake(
    acceptor: TlsAcceptor,
    mut io: Counted,
) -> io::Result<Option<TlsStream<Counted>>> {
    let mut first = [0u8; 1];
    if io.tcp().peek(&mut first).await? == 1 && first[0].is_ascii_alphabetic() {
        // Read the request head the client has sent: closing a socket with
        // unread data resets it, and the client would not see the answer.
        let mut head = [0u8; 8192];
        let _ = io.read(&mut head).await?;
        io.write_all(PLAIN_REFUSAL).await?;
        io.shutdown().await?;
        return Ok(None);
    }
    acceptor.accept(io).await.map(Some)
}

impl AsyncRead for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
