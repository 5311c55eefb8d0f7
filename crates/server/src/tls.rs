//! HTTPS: `--tls-cert` and `--tls-key` (PEM files) through rustls with its `ring` provider.
//!
//! [`TlsListener`] accepts TCP connections and runs their TLS handshakes concurrently (each
//! bounded by a timeout, so a client that stalls in the handshake holds nothing but its own
//! task), handing finished connections to axum's server, which keeps its graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::rustls;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::TlsFiles;

/// Why the certificate or key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file cannot be read or holds no usable PEM section.
    #[error("cannot read {what} from {path}: {detail}")]
    Pem {
        /// `the certificate chain (--tls-cert)` or `the private key (--tls-key)`.
        what: &'static str,
        /// The file.
        path: String,
        /// What went wrong.
        detail: String,
    },
    /// rustls refused the pair (e.g. the key does not belong to the certificate).
    #[error("the certificate (--tls-cert) and key (--tls-key) cannot be used together: {0}")]
    Config(#[from] rustls::Error),
}

/// Reads the PEM files into a rustls server configuration (TLS 1.2 and 1.3, HTTP/1.1).
pub fn server_config(files: &TlsFiles) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let cert_err = |detail: String| TlsError::Pem {
        what: "the certificate chain (--tls-cert)",
        path: files.cert.display().to_string(),
        detail,
    };
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| cert_err(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cert_err(e.to_string()))?;
    if certs.is_empty() {
        return Err(cert_err("no CERTIFICATE section: give a PEM certificate chain".into()));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| TlsError::Pem {
        what: "the private key (--tls-key)",
        path: files.key.display().to_string(),
        detail: format!("{e} (give a PEM private key: PKCS#8, PKCS#1 or SEC1)"),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Longest a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Most handshakes in progress at once; past it, new connections wait in the kernel's backlog.
const MAX_HANDSHAKES: usize = 1024;

/// A TCP listener whose connections are TLS.
pub struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    handshakes: JoinSet<Option<(TlsStream<TcpStream>, SocketAddr)>>,
}

impl TlsListener {
    /// Wraps a bound listener.
    pub fn new(tcp: TcpListener, config: Arc<rustls::ServerConfig>) -> Self {
        TlsListener { tcp, acceptor: TlsAcceptor::from(config), handshakes: JoinSet::new() }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            tokio::select! {
                accepted = self.tcp.accept(), if self.handshakes.len() < MAX_HANDSHAKES => {
                    match accepted {
                        Ok((stream, addr)) => {
                            let acceptor = self.acceptor.clone();
                            self.handshakes.spawn(async move {
                                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                                    Ok(Ok(tls)) => Some((tls, addr)),
                                    Ok(Err(e)) => {
                                        tracing::debug!(%addr, error = %e, "TLS handshake failed");
                                        None
                                    }
                                    Err(_) => {
                                        tracing::debug!(%addr, "TLS handshake timed out");
                                        None
                                    }
                                }
                            });
                        }
                        Err(e) => {
                            // Out of file descriptors and the like: wait rather than spin.
                            tracing::error!(error = %e, "cannot accept a connection");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                }
                Some(done) = self.handshakes.join_next(), if !self.handshakes.is_empty() => {
                    if let Ok(Some(conn)) = done {
                        return conn;
                    }
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}
