//! TLS for the Postgres connection: rustls (on ring) behind tokio-postgres's
//! `TlsConnect`, with libpq's `sslmode` meanings.
//!
//! | sslmode | encrypts | checks the chain | checks the host name |
//! |---|---|---|---|
//! | `disable` | no | - | - |
//! | `allow` | only if the server insists | no | no |
//! | `prefer` | if the server offers it | no | no |
//! | `require` | yes | only with `sslrootcert` (as libpq) | no |
//! | `verify-ca` | yes | yes | no |
//! | `verify-full` | yes | yes | yes |
//!
//! The chain is checked against `sslrootcert` (PEM) when given, else
//! against the public web roots (webpki-roots), which is what the managed
//! services' certificates chain to.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use rapidbyte_guest_sdk::{ConnectorError, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, TlsConnect, TlsStream};

use crate::SslMode;

/// How much of the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// Encryption only (libpq's `prefer`, `allow`, `require`).
    None,
    /// The chain up to a trusted root, not the name (`verify-ca`).
    Chain,
    /// The chain and that the certificate names the host (`verify-full`).
    Full,
}

impl Verify {
    /// What `mode` checks; `require` with a root certificate of its own
    /// checks the chain, as libpq does.
    pub fn of(mode: SslMode, has_root_cert: bool) -> Self {
        match mode {
            SslMode::VerifyFull => Verify::Full,
            SslMode::VerifyCa => Verify::Chain,
            SslMode::Require if has_root_cert => Verify::Chain,
            _ => Verify::None,
        }
    }

    /// In words, for `check`.
    pub fn describe(self) -> &'static str {
        match self {
            Verify::None => "certificate not verified",
            Verify::Chain => "certificate chain verified",
            Verify::Full => "certificate and host name verified",
        }
    }
}

/// Which cipher suites a handshake offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suites {
    /// ChaCha20-Poly1305 only. Inside WebAssembly there is no AES
    /// instruction, and the constant-time software AES is several times
    /// slower than ChaCha20; PostgreSQL picks by its own preference (AES
    /// first), so the faster cipher is only chosen when it is the only one
    /// offered.
    Fast,
    /// Every suite rustls supports (the retry when a server has no
    /// ChaCha20, e.g. in FIPS mode).
    All,
}

fn provider(suites: Suites) -> Arc<rustls::crypto::CryptoProvider> {
    let mut p = rustls::crypto::ring::default_provider();
    if suites == Suites::Fast {
        p.cipher_suites.retain(|s| {
            matches!(
                s.suite(),
                rustls::CipherSuite::TLS13_CHACHA20_POLY1305_SHA256
                    | rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
                    | rustls::CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
            )
        });
    }
    Arc::new(p)
}

/// Whether a failed handshake means the server takes none of the suites
/// offered (worth a retry with [`Suites::All`]).
pub fn no_common_suite(e: &rustls::Error) -> bool {
    use rustls::{AlertDescription as A, PeerIncompatible as P};
    matches!(
        e,
        rustls::Error::AlertReceived(A::HandshakeFailure | A::InsufficientSecurity)
            | rustls::Error::PeerIncompatible(P::NoCipherSuitesInCommon)
    )
}

/// The TLS settings of one connection.
#[derive(Clone)]
pub struct Tls {
    config: Arc<ClientConfig>,
    server_name: ServerName<'static>,
    /// The protocol version the handshake settled on, once it has.
    negotiated: Arc<Mutex<Option<String>>>,
    /// What is verified.
    pub verify: Verify,
}

impl Tls {
    /// TLS to `host` verifying `verify`, trusting the PEM certificates in
    /// `root_cert` (all of them) or, without one, the public web roots.
    pub fn new(
        host: &str,
        verify: Verify,
        root_cert: Option<&str>,
        suites: Suites,
    ) -> Result<Self> {
        let provider = provider(suites);
        let roots = roots(root_cert)?;
        let verifier: Arc<dyn ServerCertVerifier> = match verify {
            Verify::None => Arc::new(Unverified(provider.clone())),
            Verify::Chain | Verify::Full => {
                let webpki =
                    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                        .build()
                        .map_err(|e| {
                            ConnectorError::config("bad_root_cert", format!("`sslrootcert`: {e}"))
                        })?;
                if verify == Verify::Full {
                    webpki
                } else {
                    Arc::new(ChainOnly(webpki))
                }
            }
        };
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ConnectorError::internal("tls_setup", e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        let server_name = ServerName::try_from(host.to_string()).map_err(|_| {
            ConnectorError::config(
                "bad_host",
                format!("`host`: `{host}` is not a host name or IP address TLS can check"),
            )
        })?;
        Ok(Tls {
            config: Arc::new(config),
            server_name,
            negotiated: Arc::new(Mutex::new(None)),
            verify,
        })
    }

    /// The protocol version negotiated (`TLS 1.3`), `None` before a
    /// handshake or when the connection stayed in plaintext.
    pub fn negotiated(&self) -> Option<String> {
        self.negotiated.lock().ok().and_then(|v| v.clone())
    }
}

fn roots(root_cert: Option<&str>) -> Result<RootCertStore> {
    let mut store = RootCertStore::empty();
    let Some(pem) = root_cert else {
        store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        return Ok(store);
    };
    let bad =
        |why: String| ConnectorError::config("bad_root_cert", format!("`sslrootcert`: {why}"));
    let mut n = 0;
    for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        let cert = cert.map_err(|e| bad(format!("not valid PEM: {e}")))?;
        store
            .add(cert)
            .map_err(|e| bad(format!("a certificate in it is not usable: {e}")))?;
        n += 1;
    }
    if n == 0 {
        return Err(bad(
            "holds no PEM certificate (`-----BEGIN CERTIFICATE-----`); give the CA bundle's text or a file path".into(),
        ));
    }
    Ok(store)
}

/// Checks nothing about the certificate (libpq's `require`), but still
/// that the server holds its key: handshake signatures are verified.
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
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
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
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
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

/// The chain, not the name (libpq's `verify-ca`): webpki's verdict with a
/// name mismatch, checked after the chain, forgiven.
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
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
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
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

impl<S> TlsConnect<S> for Tls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = Encrypted<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Encrypted<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let connector = tokio_rustls::TlsConnector::from(self.config.clone());
            let tls = connector.connect(self.server_name.clone(), stream).await?;
            let version = tls.get_ref().1.protocol_version().map(|v| {
                let v = format!("{v:?}");
                // `TLSv1_3` -> `TLS 1.3`
                v.replacen("TLSv", "TLS ", 1).replace('_', ".")
            });
            if let Ok(mut slot) = self.negotiated.lock() {
                *slot = version;
            }
            Ok(Encrypted(tls))
        })
    }
}

/// The encrypted connection tokio-postgres talks over.
pub struct Encrypted<S>(tokio_rustls::client::TlsStream<S>);

impl<S> TlsStream for Encrypted<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Encrypted<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Encrypted<S> {
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

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }
}

/// The rustls error behind a failed connection, if TLS is what failed.
pub fn rustls_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if let Some(r) = c.downcast_ref::<rustls::Error>() {
            return Some(r);
        }
        if let Some(io) = c.downcast_ref::<io::Error>() {
            if let Some(r) = io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                return Some(r);
            }
        }
        cause = c.source();
    }
    None
}

/// What to do about a failed handshake, in words.
pub fn advice(e: &rustls::Error, verify: Verify) -> String {
    match e {
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
            "the server's certificate is not signed by a CA in `sslrootcert` (or, without it, by a public root CA): set `sslrootcert` to your provider's CA bundle (a file path or the PEM text)".into()
        }
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => "the server's certificate does not name this host: connect by the name the certificate was issued for, or use `sslmode: verify-ca` to check the chain only".into(),
        rustls::Error::InvalidCertificate(
            CertificateError::Expired | CertificateError::ExpiredContext { .. },
        ) => "the server's certificate has expired".into(),
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. },
        ) => "the server's certificate is not valid yet (check this machine's clock)".into(),
        other => format!("TLS failed ({}): {other}", verify.describe()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_suites_are_chacha20_only_and_a_suite_mismatch_is_recognised() {
        let fast = provider(Suites::Fast);
        assert!(!fast.cipher_suites.is_empty());
        assert!(fast
            .cipher_suites
            .iter()
            .all(|s| format!("{:?}", s.suite()).contains("CHACHA20")));
        assert!(provider(Suites::All).cipher_suites.len() > fast.cipher_suites.len());
        assert!(no_common_suite(&rustls::Error::AlertReceived(
            rustls::AlertDescription::HandshakeFailure
        )));
        assert!(!no_common_suite(&rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer
        )));
    }

    #[test]
    fn each_sslmode_verifies_what_libpq_says() {
        assert_eq!(Verify::of(SslMode::Prefer, false), Verify::None);
        assert_eq!(Verify::of(SslMode::Allow, true), Verify::None);
        assert_eq!(Verify::of(SslMode::Require, false), Verify::None);
        assert_eq!(Verify::of(SslMode::Require, true), Verify::Chain);
        assert_eq!(Verify::of(SslMode::VerifyCa, false), Verify::Chain);
        assert_eq!(Verify::of(SslMode::VerifyFull, false), Verify::Full);
    }

    #[test]
    fn a_root_cert_without_certificates_is_a_config_error() {
        for bad in [
            "",
            "not pem at all",
            "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
        ] {
            let err = roots(Some(bad)).err().expect("refused");
            assert_eq!(err.code, "bad_root_cert", "{bad:?}");
            assert!(err.message.contains("`sslrootcert`"), "{}", err.message);
        }
        assert!(!roots(None).expect("public roots").is_empty());
    }

    #[test]
    fn handshake_failures_say_what_to_fix() {
        let unknown = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        assert!(advice(&unknown, Verify::Full).contains("set `sslrootcert`"));
        let name = rustls::Error::InvalidCertificate(CertificateError::NotValidForName);
        assert!(advice(&name, Verify::Full).contains("verify-ca"));
        let io = io::Error::new(io::ErrorKind::InvalidData, unknown);
        assert!(matches!(
            rustls_error(&io),
            Some(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer
            ))
        ));
    }
}
