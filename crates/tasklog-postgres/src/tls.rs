//! TLS to PostgreSQL with libpq's meanings of `sslmode` and `sslrootcert`
//! (docs/POSTGRES.md, "TLS"), over rustls with the ring provider.
//!
//! tokio-postgres knows `sslmode=disable|prefer|require` and no
//! `sslrootcert`, and leaves verification to the connector. So both
//! settings are taken out of the URL here (or from `PGSSLMODE` and
//! `PGSSLROOTCERT` when the URL does not say), the URL keeps what
//! tokio-postgres understands, and the rustls connector enforces the rest:
//!
//! | sslmode       | encrypted                    | certificate checked                |
//! |---------------|------------------------------|------------------------------------|
//! | `disable`     | never                        | -                                  |
//! | `prefer`      | when the server offers it    | no                                 |
//! | `require`     | always                       | no (chain, when a root file is set) |
//! | `verify-ca`   | always                       | chain to the root file             |
//! | `verify-full` | always                       | chain and host name                |
//!
//! As in libpq, `require` with a root file (given, or `~/.postgresql/root.crt`
//! present) verifies the chain, and `sslrootcert=system` trusts the usual
//! public roots (the Mozilla list) and needs `verify-full`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// The connector every PostgreSQL connection of tasklog is opened with.
pub type Connector = tokio_postgres_rustls::MakeRustlsConnect;

/// libpq's `sslmode` values (`allow` is not offered: it only ever falls
/// back to TLS after a plain connection was refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// Plain connections only.
    Disable,
    /// TLS when the server offers it, unverified; else plain (the default).
    Prefer,
    /// TLS always; the certificate is not checked unless a root file is set.
    Require,
    /// TLS always; the chain must lead to the root file.
    VerifyCa,
    /// TLS always; the chain and the host name are checked.
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Result<SslMode, String> {
        Ok(match value {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(format!(
                "sslmode={other:?} is not one of disable, prefer, require, verify-ca, verify-full"
            ))
            }
        })
    }

    /// What tokio-postgres is told: whether to ask for TLS and whether a
    /// refusal is an error.
    fn wire(self) -> postgres::config::SslMode {
        match self {
            SslMode::Disable => postgres::config::SslMode::Disable,
            SslMode::Prefer => postgres::config::SslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                postgres::config::SslMode::Require
            }
        }
    }
}

/// Where trusted roots come from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Roots {
    /// A PEM file of CA certificates.
    File(PathBuf),
    /// `sslrootcert=system`: the Mozilla list compiled in.
    System,
}

/// A URL's TLS settings, taken out of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// The mode in force.
    pub mode: SslMode,
    roots: Option<Roots>,
}

/// Parses a libpq URL: the `postgres::Config` (with the `sslmode` that
/// tokio-postgres knows) and the connector that enforces the rest. A
/// mistake is a message for the user (never holding the password).
pub fn parse_url(url: &str) -> Result<(postgres::Config, Connector), String> {
    let (rest, settings) = split_url(url, &|name| std::env::var(name).ok())?;
    let mut config: postgres::Config = rest.parse().map_err(|e| format!("{e}"))?;
    config.ssl_mode(settings.mode.wire());
    let connector = settings.connector()?;
    Ok((config, connector))
}

/// Takes `sslmode` and `sslrootcert` out of the URL's query, falling back
/// to `PGSSLMODE` and `PGSSLROOTCERT` (read through `env`), and checks
/// they go together. Strings that are not URLs pass through untouched.
pub fn split_url(
    url: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(String, TlsSettings), String> {
    let (mut mode, mut root) = (None, None);
    let mut kept = url.to_owned();
    if let Some(after_scheme) = url.find("://").map(|i| i + 3) {
        // The user information runs to the first `@` (as tokio-postgres
        // reads it), so a `?` in a password is not the query.
        let host_start = url[after_scheme..]
            .find('@')
            .map_or(after_scheme, |i| after_scheme + i + 1);
        if let Some(q) = url[host_start..].find('?').map(|i| host_start + i) {
            let mut pairs = Vec::new();
            for pair in url[q + 1..].split('&').filter(|p| !p.is_empty()) {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                let decoded = || {
                    percent_encoding::percent_decode_str(value)
                        .decode_utf8()
                        .map(|v| v.into_owned())
                        .map_err(|_| format!("{key}: not UTF-8 once decoded"))
                };
                match key {
                    "sslmode" => mode = Some(decoded()?),
                    "sslrootcert" => root = Some(decoded()?),
                    _ => pairs.push(pair),
                }
            }
            kept = url[..q].to_owned();
            if !pairs.is_empty() {
                kept.push('?');
                kept.push_str(&pairs.join("&"));
            }
        }
    }
    let mode = mode.or_else(|| env("PGSSLMODE").filter(|v| !v.is_empty()));
    let root = root.or_else(|| env("PGSSLROOTCERT").filter(|v| !v.is_empty()));
    let roots = root.map(|r| match r.as_str() {
        "system" => Roots::System,
        path => Roots::File(PathBuf::from(path)),
    });
    let mode = match (mode.as_deref().map(SslMode::parse).transpose()?, &roots) {
        (None, Some(Roots::System)) => SslMode::VerifyFull,
        (Some(m), Some(Roots::System)) if m != SslMode::VerifyFull => {
            return Err(format!(
                "sslrootcert=system needs sslmode=verify-full (the public roots vouch for host names, not for a private chain); sslmode is {}",
                mode_name(m)
            ))
        }
        (None, _) => SslMode::Prefer,
        (Some(m), _) => m,
    };
    // libpq: without sslrootcert, the checking modes (and `require`, when
    // the file exists) use ~/.postgresql/root.crt.
    let roots = match (roots, mode) {
        (Some(r), _) => Some(r),
        (None, SslMode::VerifyCa | SslMode::VerifyFull) => match default_root(env) {
            Some(path) if path.is_file() => Some(Roots::File(path)),
            path => {
                return Err(format!(
                    "sslmode={} checks the server's certificate, but no CA is given: set sslrootcert=FILE (or PGSSLROOTCERT), sslrootcert=system for a public CA, or provide {}",
                    mode_name(mode),
                    path.map_or("~/.postgresql/root.crt".into(), |p| p.display().to_string())
                ))
            }
        },
        (None, SslMode::Require) => default_root(env)
            .filter(|p| p.is_file())
            .map(Roots::File),
        (None, _) => None,
    };
    Ok((kept, TlsSettings { mode, roots }))
}

fn mode_name(mode: SslMode) -> &'static str {
    match mode {
        SslMode::Disable => "disable",
        SslMode::Prefer => "prefer",
        SslMode::Require => "require",
        SslMode::VerifyCa => "verify-ca",
        SslMode::VerifyFull => "verify-full",
    }
}

fn default_root(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    env("HOME").map(|h| Path::new(&h).join(".postgresql/root.crt"))
}

impl TlsSettings {
    /// The rustls connector for these settings; reads the root file.
    pub fn connector(&self) -> Result<Connector, String> {
        let provider = Arc::new(provider());
        let roots = match &self.roots {
            None => None,
            Some(Roots::System) => Some(RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            }),
            Some(Roots::File(path)) => Some(read_roots(path)?),
        };
        let verifier: Arc<dyn ServerCertVerifier> = match (self.mode, roots) {
            (SslMode::Disable | SslMode::Prefer, _) | (SslMode::Require, None) => {
                Arc::new(Unverified(Arc::clone(&provider)))
            }
            (SslMode::VerifyCa | SslMode::VerifyFull, None) => {
                return Err("internal: a checking sslmode without roots".into())
            }
            (mode, Some(roots)) => {
                let webpki = WebPkiServerVerifier::builder_with_provider(
                    Arc::new(roots),
                    Arc::clone(&provider),
                )
                .build()
                .map_err(|e| format!("sslrootcert: {e}"))?;
                if mode == SslMode::VerifyFull {
                    webpki
                } else {
                    Arc::new(ChainOnly(webpki))
                }
            }
        };
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(Connector::new(config))
    }
}

/// rustls with ring: already in the build through ureq, and no C
/// toolchain beyond `cc` (aws-lc-rs would add a long C build). ring lacks
/// the post-quantum key exchange, hence rustls's deprecation note.
#[allow(deprecated)]
fn provider() -> CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// The CA certificates of a PEM file; errors name the file.
fn read_roots(path: &Path) -> Result<RootCertStore, String> {
    let shown = path.display();
    let text = std::fs::read(path).map_err(|e| format!("sslrootcert={shown}: {e}"))?;
    let mut store = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&text) {
        let cert = cert.map_err(|e| format!("sslrootcert={shown}: {e}"))?;
        store
            .add(cert)
            .map_err(|e| format!("sslrootcert={shown}: {e}"))?;
    }
    if store.is_empty() {
        return Err(format!(
            "sslrootcert={shown}: no PEM certificate (-----BEGIN CERTIFICATE-----) in the file"
        ));
    }
    Ok(store)
}

/// `prefer` and `require` without roots: encryption against a passive
/// listener only, as in libpq. The handshake signature is still checked,
/// so the peer holds the key of the certificate it sent.
#[derive(Debug)]
struct Unverified(Arc<CryptoProvider>);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain must lead to a trusted root; the host name is
/// not compared. rustls checks the chain before the name, so a name error
/// means the chain already passed.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// Whether a connection error is a TLS verdict (a certificate refused, a
/// protocol mismatch) rather than a network fault: waiting does not cure it.
pub fn is_tls_verdict(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(e);
    while let Some(err) = source {
        if err.downcast_ref::<rustls::Error>().is_some() {
            return true;
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if io
                .get_ref()
                .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some())
            {
                return true;
            }
        }
        source = err.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(url: &str, env: &[(&str, &str)]) -> Result<(String, TlsSettings), String> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        split_url(url, &move |name| {
            env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn ssl_parameters_leave_the_url() {
        let (rest, s) = split(
            "postgres://u:p?w@h:5/db?sslmode=verify-ca&application_name=x&sslrootcert=%2Ftmp%2Fca.pem",
            &[],
        )
        .unwrap();
        assert_eq!(rest, "postgres://u:p?w@h:5/db?application_name=x");
        assert_eq!(s.mode, SslMode::VerifyCa);
        assert_eq!(s.roots, Some(Roots::File("/tmp/ca.pem".into())));
        let (rest, s) = split("postgres://h/db?sslmode=disable", &[]).unwrap();
        assert_eq!(rest, "postgres://h/db");
        assert_eq!(s.mode, SslMode::Disable);
    }

    #[test]
    fn the_url_outranks_the_environment() {
        let env = [("PGSSLMODE", "require"), ("PGSSLROOTCERT", "/e/ca.pem")];
        let (_, s) = split("postgres://h/db", &env).unwrap();
        assert_eq!(
            (s.mode, s.roots),
            (SslMode::Require, Some(Roots::File("/e/ca.pem".into())))
        );
        let (_, s) = split("postgres://h/db?sslmode=disable", &env).unwrap();
        assert_eq!(s.mode, SslMode::Disable);
        let (_, s) = split("postgres://h/db", &[]).unwrap();
        assert_eq!((s.mode, s.roots), (SslMode::Prefer, None));
    }

    #[test]
    fn bad_combinations_are_refused() {
        let err = split(
            "postgres://h/db?sslmode=verify-full",
            &[("HOME", "/nonexistent")],
        )
        .unwrap_err();
        assert!(err.contains("sslrootcert"), "{err}");
        assert!(err.contains("/nonexistent/.postgresql/root.crt"), "{err}");
        let err = split("postgres://h/db?sslmode=allow", &[]).unwrap_err();
        assert!(err.contains("not one of"), "{err}");
        let err = split("postgres://h/db?sslmode=require&sslrootcert=system", &[]).unwrap_err();
        assert!(err.contains("verify-full"), "{err}");
        let (_, s) = split("postgres://h/db?sslrootcert=system", &[]).unwrap();
        assert_eq!(
            (s.mode, s.roots),
            (SslMode::VerifyFull, Some(Roots::System))
        );
    }

    #[test]
    fn certificate_verdicts_are_told_from_network_faults() {
        let refused = std::io::Error::other(rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer,
        ));
        assert!(is_tls_verdict(&refused));
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert!(!is_tls_verdict(&reset));
    }

    #[test]
    fn a_root_file_that_is_not_pem_names_the_file() {
        let dir = std::env::temp_dir().join(format!("tasklog-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ca.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let url = format!(
            "postgres://h/db?sslmode=verify-ca&sslrootcert={}",
            path.display()
        );
        let err = parse_url(&url).map(drop).unwrap_err();
        assert!(err.contains(&path.display().to_string()), "{err}");
        let missing = dir.join("missing.pem");
        let url = format!(
            "postgres://h/db?sslmode=verify-ca&sslrootcert={}",
            missing.display()
        );
        let err = parse_url(&url).map(drop).unwrap_err();
        assert!(err.contains("missing.pem"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
