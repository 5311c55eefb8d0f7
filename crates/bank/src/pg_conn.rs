//! Connections to PostgreSQL: the libpq TLS options of the database URL, TLS through rustls, and
//! a small pool that drops broken connections and reconnects by itself.
//!
//! The `postgres` driver knows `sslmode=disable|prefer|require` only and verifies nothing itself.
//! [`ConnectTarget::parse`] therefore takes `sslmode` and `sslrootcert` out of the URL (both the
//! `postgres://…?…` and the `key=value …` forms; `PGSSLMODE` and `PGSSLROOTCERT` apply when the
//! URL has none) and decides what the TLS layer checks, as libpq does:
//!
//! | `sslmode` | encrypted | certificate checked |
//! | --- | --- | --- |
//! | `disable` | never | — |
//! | `prefer` (default) | when the server supports it | no, or the chain when `sslrootcert` is given |
//! | `require` | always | no, or the chain when `sslrootcert` is given |
//! | `verify-ca` | always | the chain up to `sslrootcert` |
//! | `verify-full` | always | the chain up to `sslrootcert` and the host name |
//!
//! The pool ([`PgPool`]) tests a connection before handing it out and drops it when it is broken,
//! so a restarted server costs the calls made while it was down and nothing after: a checkout
//! waits at most [`PgOptions::checkout_timeout`] and then fails with
//! [`BankError::Unreachable`], while new connections are retried in the background.

use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::path::PathBuf;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use postgres::config::SslMode;
use postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};
use postgres::{Client, Config};
use r2d2_postgres::PostgresConnectionManager;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::{BankError, Result};

/// How many connections a store keeps and how long it waits for the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgOptions {
    /// Most connections open at once (at least 1). Writers serialize on the server anyway; more
    /// connections let reads run beside a long import.
    pub max_connections: u32,
    /// Longest a call waits for a connection before failing with [`BankError::Unreachable`]
    /// (a broken connection is replaced in the background meanwhile).
    pub checkout_timeout: Duration,
    /// Longest one attempt to open a connection may take, unless the URL sets `connect_timeout`.
    pub connect_timeout: Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            max_connections: 4,
            checkout_timeout: Duration::from_secs(3),
            connect_timeout: Duration::from_secs(3),
        }
    }
}

/// The libpq `sslmode` values Spoor understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TlsMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl TlsMode {
    fn parse(s: &str) -> Result<TlsMode> {
        Ok(match s {
            "disable" => TlsMode::Disable,
            "prefer" => TlsMode::Prefer,
            "require" => TlsMode::Require,
            "verify-ca" => TlsMode::VerifyCa,
            "verify-full" => TlsMode::VerifyFull,
            "allow" => {
                return Err(invalid_url(
                    "sslmode=allow is not supported: use sslmode=prefer (or disable)".into(),
                ))
            }
            other => {
                return Err(invalid_url(format!(
                "unknown sslmode {other:?}: use disable, prefer, require, verify-ca or verify-full"
            )))
            }
        })
    }
}

fn invalid_url(why: String) -> BankError {
    BankError::Invalid(format!("invalid database URL: {why}"))
}

/// A parsed database URL: what the driver gets, and the TLS settings taken out of it.
pub(crate) struct ConnectTarget {
    config: Config,
    tls: MakeRustls,
    mode: TlsMode,
    root_cert: Option<PathBuf>,
    /// The URL without its password, for messages.
    redacted: String,
}

impl ConnectTarget {
    /// Parses `url`, reads the CA file it names, and builds the TLS settings.
    pub(crate) fn parse(url: &str, options: &PgOptions) -> Result<ConnectTarget> {
        let redacted = redact(url);
        let (rest, ssl) = take_tls_params(url)?;
        let mode = match ssl.mode.or_else(|| std::env::var("PGSSLMODE").ok()) {
            Some(m) => TlsMode::parse(&m)?,
            None => TlsMode::Prefer,
        };
        let root_cert = ssl
            .root_cert
            .or_else(|| std::env::var("PGSSLROOTCERT").ok())
            .filter(|p| !p.is_empty())
            .map(PathBuf::from);
        let mut config = Config::from_str(&rest).map_err(|e| invalid_url(e.to_string()))?;
        config.ssl_mode(match mode {
            TlsMode::Disable => SslMode::Disable,
            TlsMode::Prefer => SslMode::Prefer,
            _ => SslMode::Require,
        });
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(options.connect_timeout);
        }
        let roots = match &root_cert {
            Some(path) if mode != TlsMode::Disable => Some(read_roots(path, &redacted)?),
            _ => None,
        };
        let check = match (mode, roots) {
            (TlsMode::VerifyCa | TlsMode::VerifyFull, None) => {
                return Err(invalid_url(format!(
                    "sslmode={} needs sslrootcert=PATH, the PEM file of the CA that signed the \
                     server's certificate (or PGSSLROOTCERT)",
                    if mode == TlsMode::VerifyCa { "verify-ca" } else { "verify-full" }
                )))
            }
            (TlsMode::VerifyFull, Some(roots)) => Check::Full(roots),
            (_, Some(roots)) => Check::Chain(roots),
            (_, None) => Check::Nothing,
        };
        let tls = MakeRustls::new(check).map_err(|e| BankError::Connection {
            target: redacted.clone(),
            problem: format!("cannot set up TLS: {e}"),
        })?;
        Ok(ConnectTarget { config, tls, mode, root_cert, redacted })
    }

    /// Opens one connection outside any pool (used to report a first failure precisely).
    pub(crate) fn connect(&self) -> Result<Client> {
        self.config.connect(self.tls.clone()).map_err(|e| self.classify(e))
    }

    /// The URL without its password.
    pub(crate) fn redacted(&self) -> &str {
        &self.redacted
    }

    /// Turns a connection failure into an error that names the problem.
    fn classify(&self, e: postgres::Error) -> BankError {
        if e.as_db_error().is_some() {
            return BankError::Postgres(e);
        }
        let target = self.redacted.clone();
        if let Some(tls) = find_rustls_error(&e) {
            let problem = match tls {
                rustls::Error::InvalidCertificate(why) => {
                    let ca = match &self.root_cert {
                        Some(p) => format!("the CA in sslrootcert={}", p.display()),
                        None => "the CA file".to_string(),
                    };
                    let name = if self.mode == TlsMode::VerifyFull {
                        " and that the certificate names the host of the URL (sslmode=verify-full)"
                    } else {
                        ""
                    };
                    format!(
                        "the server's TLS certificate is not trusted ({}): check that {ca} is the \
                         one that signed the server's certificate{name}",
                        cert_problem(why)
                    )
                }
                other => format!("the TLS handshake failed: {other}"),
            };
            return BankError::Connection { target, problem };
        }
        let detail = error_chain(&e);
        if detail.contains("server does not support TLS") {
            return BankError::Connection {
                target,
                problem: "the server does not support SSL (TLS): turn on ssl in its \
                          postgresql.conf, or use sslmode=prefer or sslmode=disable on a trusted \
                          network"
                    .into(),
            };
        }
        let io = {
            let mut cur = std::error::Error::source(&e);
            let mut found = false;
            while let Some(err) = cur {
                found |= err.is::<io::Error>();
                cur = err.source();
            }
            found
        };
        if io || e.is_closed() || detail.starts_with("timeout") {
            return BankError::Unreachable { target, detail };
        }
        BankError::Connection {
            target,
            problem: format!(
                "{detail}: check the user, password and other settings of the database URL"
            ),
        }
    }
}

fn cert_problem(e: &CertificateError) -> String {
    match e {
        CertificateError::UnknownIssuer => "it is not signed by a trusted CA".into(),
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            "it does not name this host".into()
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            "it has expired".into()
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "it is not valid yet".into()
        }
        other => format!("{other:?}"),
    }
}

/// The rustls error somewhere in the source chain of `e`, if any.
fn find_rustls_error(e: &postgres::Error) -> Option<&rustls::Error> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(err) = cur {
        if let Some(t) = err.downcast_ref::<rustls::Error>() {
            return Some(t);
        }
        if let Some(t) = err
            .downcast_ref::<io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(t);
        }
        cur = err.source();
    }
    None
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        let text = inner.to_string();
        if !s.ends_with(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        cur = inner.source();
    }
    s
}

fn read_roots(path: &PathBuf, target: &str) -> Result<RootCertStore> {
    let problem = |why: String| BankError::Connection {
        target: target.to_string(),
        problem: format!("the CA file sslrootcert={} {why}", path.display()),
    };
    let pem = std::fs::read(path).map_err(|e| {
        problem(format!("cannot be read ({e}): check the path and its permissions"))
    })?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| problem(format!("is not valid PEM ({e})")))?;
        roots
            .add(cert)
            .map_err(|e| problem(format!("holds a certificate that cannot be used ({e})")))?;
    }
    if roots.is_empty() {
        return Err(problem("holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into()));
    }
    Ok(roots)
}

/// The TLS parameters taken out of a URL.
#[derive(Debug, Default, PartialEq, Eq)]
struct TlsParams {
    mode: Option<String>,
    root_cert: Option<String>,
}

/// Splits `sslmode` and `sslrootcert` off `url`, returning the rest for the driver.
fn take_tls_params(url: &str) -> Result<(String, TlsParams)> {
    let mut params = TlsParams::default();
    let mut take = |key: &str, value: String| match key {
        "sslmode" => {
            params.mode = Some(value);
            true
        }
        "sslrootcert" => {
            params.root_cert = Some(value);
            true
        }
        _ => false,
    };
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let Some((base, query)) = url.split_once('?') else {
            return Ok((url.to_string(), params));
        };
        let mut kept = Vec::new();
        for part in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            if !take(&percent_decode(k)?, percent_decode(v)?) {
                kept.push(part);
            }
        }
        let rest =
            if kept.is_empty() { base.to_string() } else { format!("{base}?{}", kept.join("&")) };
        Ok((rest, params))
    } else {
        let mut kept = Vec::new();
        for (k, v) in key_values(url)? {
            if !take(&k, v.clone()) {
                kept.push(format!("{k}='{}'", v.replace('\\', "\\\\").replace('\'', "\\'")));
            }
        }
        Ok((kept.join(" "), params))
    }
}

fn percent_decode(s: &str) -> Result<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| {
                    invalid_url(format!("bad percent escape in {s:?}: use %XX with two hex digits"))
                })?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| invalid_url(format!("{s:?} does not decode to UTF-8")))
}

/// Parses libpq's `key=value key='quoted value'` form.
fn key_values(s: &str) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(out);
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return Err(invalid_url(format!(
                "expected `{key}=value`: use `postgres://user@host/db` or `key=value` pairs"
            )));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    Some('\'') => break,
                    Some('\\') => value.extend(chars.next()),
                    Some(c) => value.push(c),
                    None => {
                        return Err(invalid_url(format!(
                            "the quoted value of {key} has no closing quote"
                        )))
                    }
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    value.extend(chars.next());
                } else {
                    value.push(c);
                }
            }
        }
        out.push((key, value));
    }
}

/// Removes the password from a connection URL or `key=value` string, for messages.
pub(crate) fn redact(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let (authority_and_path, query) = match rest.split_once('?') {
            Some((a, q)) => (a, Some(q)),
            None => (rest, None),
        };
        let mut out = format!("{scheme}://");
        match authority_and_path.rsplit_once('@') {
            Some((auth, host)) => match auth.split_once(':') {
                Some((user, _)) => out.push_str(&format!("{user}:***@{host}")),
                None => out.push_str(authority_and_path),
            },
            None => out.push_str(authority_and_path),
        }
        if let Some(q) = query {
            let parts: Vec<String> = q
                .split('&')
                .map(|p| match p.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => p.to_string(),
                })
                .collect();
            out.push('?');
            out.push_str(&parts.join("&"));
        }
        return out;
    }
    match key_values(url) {
        Ok(pairs) => pairs
            .into_iter()
            .map(|(k, v)| if k == "password" { format!("{k}=***") } else { format!("{k}={v}") })
            .collect::<Vec<_>>()
            .join(" "),
        // Unparseable: show nothing of it rather than risk a password.
        Err(_) => "(unparseable database URL)".to_string(),
    }
}

/// What the TLS layer checks of the server's certificate.
enum Check {
    Nothing,
    Chain(RootCertStore),
    Full(RootCertStore),
}

/// rustls behind the `postgres` driver's TLS traits.
#[derive(Clone)]
pub(crate) struct MakeRustls {
    config: Arc<ClientConfig>,
}

impl MakeRustls {
    fn new(check: Check) -> std::result::Result<MakeRustls, rustls::Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let algorithms = provider.signature_verification_algorithms;
        let verifier: Arc<dyn ServerCertVerifier> = match check {
            Check::Nothing => Arc::new(AnyCertificate { algorithms }),
            Check::Chain(roots) => Arc::new(ChainOnly { inner: webpki(roots, &provider)? }),
            Check::Full(roots) => webpki(roots, &provider)?,
        };
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(MakeRustls { config: Arc::new(config) })
    }
}

fn webpki(
    roots: RootCertStore,
    provider: &Arc<CryptoProvider>,
) -> std::result::Result<Arc<WebPkiServerVerifier>, rustls::Error> {
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| rustls::Error::General(e.to_string()))
}

/// `sslmode=require` without a CA: the session is encrypted, the certificate is not checked (the
/// handshake signature still is).
#[derive(Debug)]
struct AnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// `sslmode=verify-ca`: the chain must lead to the CA; the host name is not compared.
#[derive(Debug)]
struct ChainOnly {
    inner: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        // The name is checked after the chain, so a name error means the chain was good.
        match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
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
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

impl<S> MakeTlsConnect<S> for MakeRustls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type TlsConnect = RustlsConnect;
    type Error = rustls::pki_types::InvalidDnsNameError;

    fn make_tls_connect(
        &mut self,
        domain: &str,
    ) -> std::result::Result<RustlsConnect, Self::Error> {
        Ok(RustlsConnect {
            config: self.config.clone(),
            name: ServerName::try_from(domain.to_string())?,
        })
    }
}

/// One TLS handshake to come, with the server's name.
pub(crate) struct RustlsConnect {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
}

impl<S> TlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<RustlsStream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        let connector = tokio_rustls::TlsConnector::from(self.config);
        Box::pin(async move { connector.connect(self.name, stream).await.map(RustlsStream) })
    }
}

/// An encrypted connection to the server.
pub(crate) struct RustlsStream<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for RustlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for RustlsStream<S> {
    /// `tls-server-end-point` (RFC 5929): with SCRAM-SHA-256-PLUS the password exchange is bound
    /// to the server's certificate, so a machine in the middle cannot relay it, even under
    /// `sslmode=require`.
    fn channel_binding(&self) -> ChannelBinding {
        let (_, session) = self.0.get_ref();
        match session.peer_certificates().and_then(|c| c.first()) {
            Some(cert) => match server_end_point(cert) {
                Some(hash) => ChannelBinding::tls_server_end_point(hash),
                None => ChannelBinding::none(),
            },
            None => ChannelBinding::none(),
        }
    }
}

/// The certificate's hash for `tls-server-end-point`: the hash of its signature algorithm, with
/// MD5 and SHA-1 raised to SHA-256 (RFC 5929 §4.1), as the server computes it. `None` for
/// algorithms without one hash (Ed25519, RSA-PSS), which then go without channel binding.
fn server_end_point(cert: &[u8]) -> Option<Vec<u8>> {
    use sha2::Digest;
    const RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01];
    const ECDSA_SHA1: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x01];
    const ECDSA_SHA2: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03];
    // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }
    let (_, certificate) = der(cert, 0x30)?;
    let (rest, _tbs) = der(certificate, 0x30)?;
    let (_, algorithm) = der(rest, 0x30)?;
    let (_, oid) = der(algorithm, 0x06)?;
    let bits = match oid.split_last()? {
        (4 | 5, prefix) if prefix == RSA => 256, // md5WithRSA, sha1WithRSA
        (11, prefix) if prefix == RSA => 256,
        (12, prefix) if prefix == RSA => 384,
        (13, prefix) if prefix == RSA => 512,
        _ if oid == ECDSA_SHA1 => 256,
        (2, prefix) if prefix == ECDSA_SHA2 => 256,
        (3, prefix) if prefix == ECDSA_SHA2 => 384,
        (4, prefix) if prefix == ECDSA_SHA2 => 512,
        _ => return None,
    };
    Some(match bits {
        256 => sha2::Sha256::digest(cert).to_vec(),
        384 => sha2::Sha384::digest(cert).to_vec(),
        _ => sha2::Sha512::digest(cert).to_vec(),
    })
}

/// Reads one DER element with this tag: (what follows it, its contents).
fn der(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&t, rest) = input.split_first()?;
    if t != tag {
        return None;
    }
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let (bytes, after) = rest.split_at(n);
        rest = after;
        bytes.iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
    };
    (rest.len() >= len).then(|| (&rest[len..], &rest[..len]))
}

type Manager = PostgresConnectionManager<MakeRustls>;

/// Connections of the pool that is not tested on checkout: view records serialize on the audit
/// lock anyway.
const UNTESTED_CONNECTIONS: u32 = 2;

/// A pool of connections to one database, and a second, small one whose connections are not
/// tested on checkout (see [`PgPool::get_untested`]).
pub(crate) struct PgPool {
    pool: r2d2::Pool<Manager>,
    untested: r2d2::Pool<Manager>,
    target: String,
}

impl PgPool {
    /// Opens one connection to check that the server is there and the TLS settings work (so a
    /// wrong URL or CA file is reported at once, precisely), then starts the pool.
    pub(crate) fn open(target: ConnectTarget, options: &PgOptions) -> Result<PgPool> {
        if options.max_connections == 0 {
            return Err(BankError::Invalid(
                "a PostgreSQL pool needs at least one connection".into(),
            ));
        }
        if options.checkout_timeout.is_zero() || options.connect_timeout.is_zero() {
            return Err(BankError::Invalid(
                "PostgreSQL checkout and connect timeouts must be longer than zero".into(),
            ));
        }
        drop(target.connect()?);
        let pool = r2d2::Pool::builder()
            .max_size(options.max_connections)
            .min_idle(Some(1))
            .connection_timeout(options.checkout_timeout)
            .test_on_check_out(true)
            // Failures reach the caller through the checkout error; no logging from here.
            .error_handler(Box::new(r2d2::NopErrorHandler))
            .build_unchecked(PostgresConnectionManager::new(
                target.config.clone(),
                target.tls.clone(),
            ));
        let untested = r2d2::Pool::builder()
            .max_size(UNTESTED_CONNECTIONS)
            .min_idle(Some(0))
            .connection_timeout(options.checkout_timeout)
            .test_on_check_out(false)
            .error_handler(Box::new(r2d2::NopErrorHandler))
            .build_unchecked(PostgresConnectionManager::new(target.config, target.tls));
        Ok(PgPool { pool, untested, target: target.redacted })
    }

    /// A connection that is not tested first (one round trip less), for calls that can tell a
    /// connection that died while idle from any other failure and then go again on
    /// [`PgPool::get`] (a connection that failed is closed, and dropped when it comes back).
    /// The calls that take it are made by a person waiting for a page: a view record.
    pub(crate) fn get_untested(&self) -> Result<PgGuard<'_>> {
        self.checkout(&self.untested)
    }

    /// A working connection, or [`BankError::Unreachable`] after the checkout timeout.
    pub(crate) fn get(&self) -> Result<PgGuard<'_>> {
        self.checkout(&self.pool)
    }

    /// A connection of `pool`, or [`BankError::Unreachable`] after the checkout timeout.
    fn checkout(&self, pool: &r2d2::Pool<Manager>) -> Result<PgGuard<'_>> {
        match pool.get() {
            Ok(conn) => Ok(PgGuard { conn, _pool: PhantomData }),
            Err(e) => {
                Err(BankError::Unreachable { target: self.target.clone(), detail: e.to_string() })
            }
        }
    }
}

/// A connection taken from the pool; it goes back (or, when broken, is dropped) on drop.
pub(crate) struct PgGuard<'a> {
    conn: r2d2::PooledConnection<Manager>,
    _pool: PhantomData<&'a PgPool>,
}

impl Deref for PgGuard<'_> {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.conn
    }
}

impl DerefMut for PgGuard<'_> {
    fn deref_mut(&mut self) -> &mut Client {
        &mut self.conn
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_tls_parameters_are_taken_out() {
        let (rest, p) = take_tls_params(
            "postgres://u:p@h:5/db?connect_timeout=4&sslmode=verify-full&sslrootcert=%2Ftmp%2Fca%20x.pem",
        )
        .unwrap();
        assert_eq!(rest, "postgres://u:p@h:5/db?connect_timeout=4");
        assert_eq!(p.mode.as_deref(), Some("verify-full"));
        assert_eq!(p.root_cert.as_deref(), Some("/tmp/ca x.pem"));
        let (rest, p) = take_tls_params("postgresql://h/db?sslmode=require").unwrap();
        assert_eq!(rest, "postgresql://h/db");
        assert_eq!(p.mode.as_deref(), Some("require"));
        assert_eq!(p.root_cert, None);
        assert!(take_tls_params("postgres://h/db?sslrootcert=%zz").is_err());
    }

    #[test]
    fn key_value_tls_parameters_are_taken_out() {
        let (rest, p) = take_tls_params(
            "host=h  user = u password='it\\'s' sslmode=verify-ca sslrootcert='/a b/c\\'d'",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.mode.as_deref(), Some("verify-ca"));
        assert_eq!(p.root_cert.as_deref(), Some("/a b/c'd"));
        assert!(rest.starts_with("host='h' user='u' password="), "{rest}");
        let config = Config::from_str(&rest).unwrap_or_else(|e| panic!("{rest}: {e}"));
        assert_eq!(config.get_password(), Some(&b"it's"[..]));
        assert!(take_tls_params("host=h dbname='x").is_err());
        assert!(take_tls_params("host").is_err());
    }

    #[test]
    fn sslmode_values() {
        assert_eq!(TlsMode::parse("verify-full").unwrap(), TlsMode::VerifyFull);
        assert_eq!(TlsMode::parse("verify-ca").unwrap(), TlsMode::VerifyCa);
        assert_eq!(TlsMode::parse("disable").unwrap(), TlsMode::Disable);
        let e = TlsMode::parse("verify_full").unwrap_err().to_string();
        assert!(e.contains("verify-full"), "{e}");
    }

    #[test]
    fn verify_modes_need_a_ca_file() {
        let e = ConnectTarget::parse("postgres://h/db?sslmode=verify-full", &PgOptions::default())
            .err()
            .expect("verify-full without a CA file must be refused")
            .to_string();
        assert!(e.contains("sslrootcert"), "{e}");
        let e = ConnectTarget::parse(
            "postgres://h/db?sslmode=require&sslrootcert=/nonexistent/ca.pem",
            &PgOptions::default(),
        )
        .err()
        .expect("a missing CA file must be refused")
        .to_string();
        assert!(e.contains("/nonexistent/ca.pem") && e.contains("cannot be read"), "{e}");
    }

    #[test]
    fn der_lengths_are_checked() {
        assert_eq!(der(&[0x30, 0x02, 1, 2, 9], 0x30), Some((&[9u8][..], &[1u8, 2][..])));
        assert_eq!(der(&[0x30, 0x81, 0x01, 7], 0x30), Some((&[][..], &[7u8][..])));
        assert_eq!(der(&[0x30, 0x03, 1, 2], 0x30), None, "length past the end");
        assert_eq!(der(&[0x31, 0x00], 0x30), None, "wrong tag");
        assert_eq!(der(&[0x30, 0x85, 0, 0, 0, 0, 1], 0x30), None, "length of 5 bytes");
        assert_eq!(server_end_point(&[0x30, 0x00]), None);
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://spoor:secret@db:5432/spoor"),
            "postgres://spoor:***@db:5432/spoor"
        );
        assert_eq!(redact("postgres://spoor@db/spoor"), "postgres://spoor@db/spoor");
        assert_eq!(
            redact("postgres://u:p@ss@db/x?password=s3&sslmode=require"),
            "postgres://u:***@db/x?password=***&sslmode=require"
        );
        let kv = redact("host=db password='top secret' user=u");
        assert!(!kv.contains("secret") && kv.contains("password=***"), "{kv}");
    }
}
