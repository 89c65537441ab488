//! `wasi:http` for components, through the grant.
//!
//! wasmtime-wasi-http's own sender resolves the request's host itself and
//! connects anywhere; this one replaces it. A request goes out only when
//! its host and port are granted (`HttpGrant`), only as `https` where the
//! grant says so, and only to the addresses the host name resolved to when
//! the grant was built (no second DNS answer, so no rebinding). HTTPS
//! trusts the public web roots plus the CA bundle the config names, and
//! checks the certificate against the host name. Connections are kept per
//! endpoint and reused while idle, so a paginating connector does not pay
//! a TLS handshake per page. Refusals are counted with the sandbox's
//! socket refusals and logged with what was asked.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::client::conn::http1::SendRequest;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

use super::sandbox::{HttpGrant, HttpHost};

/// How long a connection attempt may take when the request sets none.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the response head may take when the request sets none.
const FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the body may pause when the request sets none.
const BETWEEN_BYTES_TIMEOUT: Duration = Duration::from_secs(120);
/// Idle connections kept per endpoint.
const IDLE_PER_ENDPOINT: usize = 4;

/// Parses a PEM bundle into certificates; `from` names it in messages.
pub(crate) fn parse_roots(pem: &str, from: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let mut certs = Vec::new();
    for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        certs.push(cert.map_err(|e| format!("`{from}`: not a PEM certificate bundle: {e}"))?);
    }
    if certs.is_empty() {
        return Err(format!(
            "`{from}`: holds no certificate (expected PEM blocks starting with -----BEGIN CERTIFICATE-----)"
        ));
    }
    Ok(certs)
}

/// The TLS client settings for a grant: the web roots plus its extra CAs.
fn tls_config(grant: &HttpGrant) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for cert in grant.extra_roots.iter().cloned() {
        roots.add(cert).map_err(|e| {
            format!(
                "`{}`: a certificate in it is not usable as a CA: {e}",
                grant.extra_roots_from
            )
        })?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS settings: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Which endpoint a connection is to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct EndpointKey {
    https: bool,
    host: String,
    port: u16,
}

/// The per-instance HTTP policy, shared by the requests in flight.
struct Policy {
    hosts: Vec<HttpHost>,
    tls: Option<Arc<rustls::ClientConfig>>,
    denied: Arc<AtomicU64>,
    idle: Mutex<HashMap<EndpointKey, Vec<SendRequest<WasiBody>>>>,
}

/// The `wasi:http` hooks of one instance.
pub(crate) struct HttpGate {
    policy: Arc<Policy>,
}

impl HttpGate {
    /// A gate that lets requests through to what `grant` names; refusals
    /// count in `denied`.
    pub(crate) fn new(grant: &HttpGrant, denied: Arc<AtomicU64>) -> Result<Self, String> {
        let tls = if grant.hosts.is_empty() {
            None
        } else {
            Some(tls_config(grant)?)
        };
        Ok(HttpGate {
            policy: Arc::new(Policy {
                hosts: grant.hosts.clone(),
                tls,
                denied,
                idle: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// A gate that refuses every request (an instance without a grant).
    pub(crate) fn closed() -> Self {
        HttpGate {
            policy: Arc::new(Policy {
                hosts: Vec::new(),
                tls: None,
                denied: Arc::new(AtomicU64::new(0)),
                idle: Mutex::new(HashMap::new()),
            }),
        }
    }
}

type SendResult = Result<
    (
        http::Response<WasiBody>,
        Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ),
    HttpError,
>;

impl WasiHttpHooks for HttpGate {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        let policy = self.policy.clone();
        Box::new(async move {
            let response = policy.send(request, options).await?;
            let done: Box<dyn Future<Output = Result<(), HttpError>> + Send> =
                Box::new(async { Ok(()) });
            Ok((response, done))
        })
    }
}

/// Why a request was refused.
#[derive(Debug, PartialEq, Eq)]
enum Refusal {
    NoHost,
    NotGranted,
    PlainHttp,
}

impl Policy {
    /// The granted endpoint a request may go to.
    fn admit(&self, https: bool, host: &str, port: u16) -> Result<&HttpHost, Refusal> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let granted = self
            .hosts
            .iter()
            .find(|h| h.port == port && h.host.eq_ignore_ascii_case(host))
            .ok_or(Refusal::NotGranted)?;
        if granted.https_only && !https {
            return Err(Refusal::PlainHttp);
        }
        Ok(granted)
    }

    async fn send(
        &self,
        mut request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
    ) -> Result<http::Response<WasiBody>, HttpError> {
        let uri = request.uri().clone();
        let https = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let admitted = match uri.host() {
            Some(host) => self.admit(https, host, port).cloned(),
            None => Err(Refusal::NoHost),
        };
        let endpoint = match admitted {
            Ok(e) => e,
            Err(why) => {
                // Drain what the connector is sending first: refusing
                // mid-body shows up on its side as a reset connection.
                let mut body = std::mem::replace(request.body_mut(), empty_body());
                while let Some(Ok(_)) = body.frame().await {}
                self.denied.fetch_add(1, Ordering::Relaxed);
                // Without the query: it may carry an API key.
                let shown = format!(
                    "{}://{}{}",
                    uri.scheme_str().unwrap_or("?"),
                    uri.authority().map(|a| a.as_str()).unwrap_or(""),
                    uri.path()
                );
                tracing::warn!(
                    url = %shown,
                    reason = match why {
                        Refusal::NoHost => "the URL names no host",
                        Refusal::NotGranted => "host and port are not granted",
                        Refusal::PlainHttp => "plain http to a host that requires https",
                    },
                    "sandbox denied an HTTP request"
                );
                return Err(HttpError::HttpRequestDenied);
            }
        };
        let connect_timeout = options
            .and_then(|o| o.connect_timeout)
            .unwrap_or(CONNECT_TIMEOUT);
        let first_byte_timeout = options
            .and_then(|o| o.first_byte_timeout)
            .unwrap_or(FIRST_BYTE_TIMEOUT);
        let between_bytes = options
            .and_then(|o| o.between_bytes_timeout)
            .unwrap_or(BETWEEN_BYTES_TIMEOUT)
            .max(Duration::from_millis(1));
        let key = EndpointKey {
            https,
            host: endpoint.host.clone(),
            port,
        };
        let mut sender = match self.take_idle(&key) {
            Some(s) => s,
            None => self.connect(&endpoint, https, connect_timeout).await?,
        };
        // On the wire the request line carries the path only.
        let path = uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
            .to_string();
        *request.uri_mut() = http::Uri::builder()
            .path_and_query(path)
            .build()
            .map_err(|_| HttpError::HttpRequestUriInvalid)?;
        let response = tokio::time::timeout(first_byte_timeout, sender.send_request(request))
            .await
            .map_err(|_| HttpError::ConnectionReadTimeout)?
            .map_err(HttpError::from)?;
        self.put_idle(key, sender);
        Ok(response.map(|incoming| {
            PausingBody {
                inner: incoming,
                limit: between_bytes,
                sleep: Box::pin(tokio::time::sleep(between_bytes)),
            }
            .boxed_unsync()
        }))
    }

    /// An idle connection to `key` that can take a request now.
    fn take_idle(&self, key: &EndpointKey) -> Option<SendRequest<WasiBody>> {
        let mut idle = self.idle.lock().ok()?;
        let list = idle.get_mut(key)?;
        while let Some(s) = list.pop() {
            if s.is_ready() {
                return Some(s);
            }
        }
        None
    }

    fn put_idle(&self, key: EndpointKey, sender: SendRequest<WasiBody>) {
        if let Ok(mut idle) = self.idle.lock() {
            let list = idle.entry(key).or_default();
            list.retain(|s| !s.is_closed());
            if list.len() < IDLE_PER_ENDPOINT {
                list.push(sender);
            }
        }
    }

    /// Opens a connection to one of the granted addresses, with TLS when
    /// `https`, and starts driving it.
    async fn connect(
        &self,
        endpoint: &HttpHost,
        https: bool,
        timeout: Duration,
    ) -> Result<SendRequest<WasiBody>, HttpError> {
        let tcp = connect_any(&endpoint.addrs, timeout).await?;
        let _ = tcp.set_nodelay(true);
        if https {
            let config = self.tls.clone().ok_or(HttpError::HttpRequestDenied)?;
            let name = ServerName::try_from(endpoint.host.clone())
                .map_err(|_| HttpError::HttpRequestUriInvalid)?;
            let tls = tokio::time::timeout(
                timeout,
                tokio_rustls::TlsConnector::from(config).connect(name, tcp),
            )
            .await
            .map_err(|_| HttpError::ConnectionTimeout)?
            .map_err(|e| tls_error(e, endpoint))?;
            handshake(TokioIo::new(tls)).await
        } else {
            handshake(TokioIo::new(tcp)).await
        }
    }
}

async fn handshake<I>(io: I) -> Result<SendRequest<WasiBody>, HttpError>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(HttpError::from)?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!("HTTP connection ended: {e}");
        }
    });
    Ok(sender)
}

/// Connects to the first address that answers.
async fn connect_any(addrs: &[SocketAddr], timeout: Duration) -> Result<TcpStream, HttpError> {
    let mut last = HttpError::DestinationNotFound;
    for addr in addrs {
        match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => return Ok(s),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                last = HttpError::ConnectionRefused
            }
            Ok(Err(e)) => last = HttpError::Connect(e),
            Err(_) => last = HttpError::ConnectionTimeout,
        }
    }
    Err(last)
}

/// Maps a failed TLS handshake to the `wasi:http` error code, logging the
/// reason (the code alone cannot say it).
fn tls_error(e: std::io::Error, endpoint: &HttpHost) -> HttpError {
    let certificate = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .is_some_and(|r| {
            matches!(
                r,
                rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented
            )
        });
    tracing::warn!(
        host = %endpoint.host,
        port = endpoint.port,
        "HTTPS handshake failed: {e}"
    );
    if certificate {
        HttpError::TlsCertificateError
    } else {
        HttpError::TlsProtocolError
    }
}

fn empty_body() -> WasiBody {
    http_body_util::Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// A response body that fails when it pauses longer than `limit`.
struct PausingBody {
    inner: hyper::body::Incoming,
    limit: Duration,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl http_body::Body for PausingBody {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, HttpError>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let next = tokio::time::Instant::now() + self.limit;
                self.sleep.as_mut().reset(next);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(HttpError::from(e)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match self.sleep.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(HttpError::ConnectionReadTimeout))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(hosts: Vec<HttpHost>) -> Policy {
        Policy {
            hosts,
            tls: None,
            denied: Arc::new(AtomicU64::new(0)),
            idle: Mutex::new(HashMap::new()),
        }
    }

    fn host(name: &str, port: u16, https_only: bool) -> HttpHost {
        HttpHost {
            host: name.into(),
            port,
            https_only,
            addrs: vec![SocketAddr::from(([127, 0, 0, 1], port))],
        }
    }

    #[test]
    fn only_granted_host_and_port_pass() {
        let p = policy(vec![host("api.example.com", 443, true)]);
        assert!(p.admit(true, "API.example.com", 443).is_ok());
        assert_eq!(
            p.admit(true, "api.example.com", 8443).unwrap_err(),
            Refusal::NotGranted
        );
        assert_eq!(
            p.admit(true, "evil.example.com", 443).unwrap_err(),
            Refusal::NotGranted
        );
    }

    #[test]
    fn https_only_hosts_refuse_plain_http() {
        let p = policy(vec![
            host("api.example.com", 443, true),
            host("10.0.0.1", 80, false),
        ]);
        assert_eq!(
            p.admit(false, "api.example.com", 443).unwrap_err(),
            Refusal::PlainHttp
        );
        assert!(p.admit(false, "10.0.0.1", 80).is_ok());
    }

    #[test]
    fn ipv6_literals_match_without_brackets() {
        let p = policy(vec![host("::1", 8443, false)]);
        assert!(p.admit(true, "[::1]", 8443).is_ok());
    }

    #[test]
    fn a_bundle_without_certificates_is_refused_by_name() {
        let err = parse_roots("hello", "source.config.ca_bundle").unwrap_err();
        assert!(
            err.contains("`source.config.ca_bundle`") && err.contains("no certificate"),
            "{err}"
        );
        let err = parse_roots(
            "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
            "source.config.ca_bundle",
        )
        .unwrap_err();
        assert!(err.contains("`source.config.ca_bundle`"), "{err}");
    }

    #[test]
    fn a_gate_without_hosts_has_no_tls_and_refuses() {
        let gate = HttpGate::new(&HttpGrant::default(), Arc::new(AtomicU64::new(0))).unwrap();
        assert!(gate.policy.tls.is_none());
        assert_eq!(
            gate.policy.admit(true, "example.com", 443).unwrap_err(),
            Refusal::NotGranted
        );
    }
}
