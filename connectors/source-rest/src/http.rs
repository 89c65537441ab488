//! Requests: auth, pacing, retries with backoff on 429 and 5xx (honouring
//! `Retry-After`), OAuth2 tokens, and the errors users read. The wire is a
//! [`Transport`]: `wasi:http` in the connector ([`WasiHttp`]), an
//! in-process fake in the unit tests.

use std::time::{Duration, Instant};

use rapidbyte_guest_sdk::{log, ConnectorError, Result};

use crate::config::{Auth, Checked, Config, KeyLocation};
use crate::url::Url;

/// A request.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET` or `POST`.
    pub method: &'static str,
    /// Where.
    pub url: Url,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// Body (POST).
    pub body: Vec<u8>,
}

/// A response.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers (names lower case).
    pub headers: Vec<(String, String)>,
    /// The whole body.
    pub body: Vec<u8>,
}

impl Response {
    /// The first header named `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as text, cut for a message.
    pub fn excerpt(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let mut cut: String = one_line.chars().take(200).collect();
        if one_line.chars().count() > 200 {
            cut.push('…');
        }
        cut
    }
}

/// Why a request got no response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportError {
    /// The host's sandbox refused it (not granted, or plain http).
    Denied,
    /// The server's certificate was not accepted.
    Certificate,
    /// TLS failed otherwise.
    Tls(String),
    /// No connection (refused, unreachable, DNS).
    Connect(String),
    /// A time limit passed.
    Timeout,
    /// The body is larger than `max_response_bytes`.
    TooLarge(u64),
    /// The request itself cannot be sent (a header `wasi:http` refuses).
    Invalid(String),
    /// Anything else.
    Other(String),
}

impl TransportError {
    fn retryable(&self) -> bool {
        matches!(
            self,
            TransportError::Connect(_) | TransportError::Timeout | TransportError::Other(_)
        )
    }
}

/// Sends one request.
pub trait Transport {
    /// Sends `req`, waiting at most `timeout` per phase, reading at most
    /// `max_body` bytes of the answer.
    fn send(
        &mut self,
        req: &Request,
        timeout: Duration,
        max_body: u64,
    ) -> std::result::Result<Response, TransportError>;
}

/// A client for one connector instance.
pub struct Client<T: Transport> {
    transport: T,
    base: Url,
    headers: Vec<(String, String)>,
    auth: Option<Auth>,
    timeout: Duration,
    max_body: u64,
    attempts: u32,
    initial_delay: Duration,
    max_delay: Duration,
    min_interval: Option<Duration>,
    last_request: Option<Instant>,
    token: Option<(String, Option<Instant>)>,
    /// How the client waits (a real sleep; recorded in tests).
    pub sleep: fn(Duration),
    /// Where retry notices go (the host's log; nowhere in tests).
    pub note: fn(&str),
    /// Requests sent (attempts included).
    pub requests: u64,
    /// Retries made.
    pub retries: u64,
}

fn real_sleep(d: Duration) {
    std::thread::sleep(d)
}

impl<T: Transport> Client<T> {
    /// A client for `config` (already checked into `checked`).
    pub fn new(transport: T, config: &Config, checked: &Checked) -> Self {
        let rps = config.rate_limit.requests_per_second;
        Client {
            transport,
            base: checked.base.clone(),
            headers: config
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            auth: config.auth.clone(),
            timeout: checked.timeout,
            max_body: config.max_response_bytes,
            attempts: config.retry.max_attempts,
            initial_delay: checked.initial_delay,
            max_delay: checked.max_delay,
            min_interval: (rps > 0.0).then(|| Duration::from_secs_f64(1.0 / rps)),
            last_request: None,
            token: None,
            sleep: real_sleep,
            note: log::warn,
            requests: 0,
            retries: 0,
        }
    }

    /// GETs `url` with auth, pacing and retries; `what` names the page in
    /// messages (`stream `issues`, page 3`). Any status other than 2xx
    /// after the retries is an error saying what the server answered.
    pub fn get(&mut self, url: &Url, what: &str) -> Result<Response> {
        let mut refreshed = false;
        let mut attempt = 1;
        loop {
            let req = self.authorized(url)?;
            let outcome = match self.send_paced(&req) {
                Ok(r) if (200..300).contains(&r.status) => return Ok(r),
                other => other,
            };
            let delay = match &outcome {
                Ok(r) if r.status == 401 && self.is_oauth() && !refreshed => {
                    // The token may have been revoked or expired early.
                    refreshed = true;
                    self.token = None;
                    continue;
                }
                Ok(r) if r.status == 429 || r.status >= 500 => {
                    self.backoff(attempt, r.header("retry-after"))
                }
                Ok(r) => return Err(self.status_error(url, what, r)),
                Err(e) if e.retryable() => self.backoff(attempt, None),
                Err(e) => return Err(transport_error(url, what, e)),
            };
            if attempt >= self.attempts {
                return Err(match outcome {
                    Ok(r) => {
                        let mut e = self.status_error(url, what, &r);
                        e.message.push_str(&format!(" (after {attempt} attempts)"));
                        e
                    }
                    Err(e) => {
                        let mut e = transport_error(url, what, &e);
                        e.message.push_str(&format!(" (after {attempt} attempts)"));
                        e
                    }
                });
            }
            let why = match &outcome {
                Ok(r) => format!("answered {}", r.status),
                Err(e) => format!("failed ({e:?})"),
            };
            self.pause_before_retry(&format!("{what}: GET {url} {why}"), attempt, delay);
            attempt += 1;
        }
    }

    /// Logs why request `attempt` is retried and waits `delay`.
    fn pause_before_retry(&mut self, why: &str, attempt: u32, delay: Duration) {
        (self.note)(&format!(
            "{why}; retrying in {:.1}s (attempt {} of {})",
            delay.as_secs_f64(),
            attempt + 1,
            self.attempts
        ));
        (self.sleep)(delay);
        self.retries += 1;
    }

    fn is_oauth(&self) -> bool {
        matches!(self.auth, Some(Auth::OAuth2 { .. }))
    }

    /// The delay before retry `attempt + 1`: doubling from the initial
    /// delay, or the server's `Retry-After` (seconds), capped at max_delay.
    fn backoff(&self, attempt: u32, retry_after: Option<&str>) -> Duration {
        if let Some(secs) = retry_after.and_then(|v| v.trim().parse::<f64>().ok()) {
            if secs.is_finite() && secs >= 0.0 {
                return Duration::from_secs_f64(secs).min(self.max_delay);
            }
        }
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(20));
        self.initial_delay
            .saturating_mul(factor)
            .min(self.max_delay)
    }

    fn send_paced(&mut self, req: &Request) -> std::result::Result<Response, TransportError> {
        if let (Some(min), Some(last)) = (self.min_interval, self.last_request) {
            let since = last.elapsed();
            if since < min {
                (self.sleep)(min - since);
            }
        }
        self.last_request = Some(Instant::now());
        self.requests += 1;
        self.transport.send(req, self.timeout, self.max_body)
    }

    /// `url` with the configured headers and credentials.
    fn authorized(&mut self, url: &Url) -> Result<Request> {
        let mut url = url.clone();
        let mut headers = vec![
            ("accept".to_string(), "application/json".to_string()),
            (
                "user-agent".to_string(),
                "rapidbyte-source-rest/0.1".to_string(),
            ),
        ];
        for (k, v) in &self.headers {
            headers.retain(|(h, _)| !h.eq_ignore_ascii_case(k));
            headers.push((k.clone(), v.clone()));
        }
        // Credentials from `auth` replace a configured header of that name.
        let auth_header = match &self.auth {
            Some(Auth::ApiKey {
                name,
                location: KeyLocation::Header,
                ..
            }) => Some(name.clone()),
            Some(Auth::ApiKey { .. }) | None => None,
            Some(_) => Some("authorization".to_string()),
        };
        if let Some(h) = &auth_header {
            headers.retain(|(k, _)| !k.eq_ignore_ascii_case(h));
        }
        match self.auth.clone() {
            None => {}
            Some(Auth::Bearer { token }) => {
                headers.push(("authorization".into(), format!("Bearer {token}")))
            }
            Some(Auth::Basic { username, password }) => headers.push((
                "authorization".into(),
                format!(
                    "Basic {}",
                    base64(format!("{username}:{password}").as_bytes())
                ),
            )),
            Some(Auth::ApiKey {
                name,
                value,
                location,
            }) => match location {
                KeyLocation::Header => headers.push((name, value)),
                KeyLocation::Query => url.set_param(&name, &value),
            },
            Some(Auth::OAuth2 { .. }) => {
                let token = self.oauth_token()?;
                headers.push(("authorization".into(), format!("Bearer {token}")));
            }
        }
        Ok(Request {
            method: "GET",
            url,
            headers,
            body: Vec::new(),
        })
    }

    /// A current OAuth2 token, fetched with client credentials when there
    /// is none or it expires within a minute.
    fn oauth_token(&mut self) -> Result<String> {
        if let Some((token, expires)) = &self.token {
            if expires.is_none_or(|e| Instant::now() + Duration::from_secs(60) < e) {
                return Ok(token.clone());
            }
        }
        let Some(Auth::OAuth2 {
            token_url,
            client_id,
            client_secret,
            scopes,
        }) = self.auth.clone()
        else {
            return Err(ConnectorError::internal("no_oauth", "no OAuth2 settings"));
        };
        let url = self.base.join(&token_url).map_err(|e| {
            ConnectorError::config("invalid_config", format!("`auth.token_url`: {e}"))
        })?;
        let mut form = vec![
            ("grant_type", "client_credentials".to_string()),
            ("client_id", client_id.clone()),
            ("client_secret", client_secret.clone()),
        ];
        if !scopes.is_empty() {
            form.push(("scope", scopes.join(" ")));
        }
        let body = form
            .iter()
            .map(|(k, v)| format!("{}={}", crate::url::encode(k), crate::url::encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let req = Request {
            method: "POST",
            url: url.clone(),
            headers: vec![
                (
                    "content-type".into(),
                    "application/x-www-form-urlencoded".into(),
                ),
                ("accept".into(), "application/json".into()),
            ],
            body: body.into_bytes(),
        };
        let what = "OAuth2 token request";
        let mut attempt = 1;
        let r = loop {
            let outcome = self.send_paced(&req);
            let again = match &outcome {
                Ok(r) => r.status == 429 || r.status >= 500,
                Err(e) => e.retryable(),
            };
            if !again || attempt >= self.attempts {
                break outcome.map_err(|e| transport_error(&url, what, &e))?;
            }
            let retry_after = outcome.as_ref().ok().and_then(|r| r.header("retry-after"));
            let delay = self.backoff(attempt, retry_after);
            self.pause_before_retry(
                &format!("{what}: POST {url} did not succeed"),
                attempt,
                delay,
            );
            attempt += 1;
        };
        if !(200..300).contains(&r.status) {
            return Err(ConnectorError::auth(
                "oauth_refused",
                format!(
                    "{what}: POST {url} answered {}: {}; check `auth.client_id` and `auth.client_secret`",
                    r.status,
                    r.excerpt()
                ),
            ));
        }
        let v: serde_json::Value = serde_json::from_slice(&r.body).map_err(|e| {
            ConnectorError::auth(
                "oauth_bad_answer",
                format!("{what}: POST {url} did not answer JSON: {e}"),
            )
        })?;
        let token = v
            .get("access_token")
            .and_then(|t| t.as_str())
            .ok_or_else(|| {
                ConnectorError::auth(
                    "oauth_bad_answer",
                    format!("{what}: POST {url} answered without `access_token`"),
                )
            })?
            .to_string();
        let expires = v
            .get("expires_in")
            .and_then(|e| e.as_u64())
            .map(|s| Instant::now() + Duration::from_secs(s));
        self.token = Some((token.clone(), expires));
        Ok(token)
    }

    fn status_error(&self, url: &Url, what: &str, r: &Response) -> ConnectorError {
        let body = r.excerpt();
        let text = format!(
            "{what}: GET {url} answered {} {}: {body}",
            r.status,
            reason(r.status)
        );
        match r.status {
            401 => ConnectorError::auth(
                "unauthorized",
                format!("{text}; check the credentials in `source.config.auth`"),
            ),
            403 => ConnectorError::auth(
                "forbidden",
                format!("{text}; the credentials lack access to this resource"),
            ),
            404 => ConnectorError::config(
                "not_found",
                format!("{text}; check the stream's `path` and `base_url`"),
            ),
            429 => ConnectorError::network(
                "rate_limited",
                format!("{text}; lower `rate_limit.requests_per_second`"),
            ),
            s if s >= 500 => ConnectorError::network("server_error", text),
            _ => ConnectorError::config("http_status", text),
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
}

/// The error for a request that got no response.
pub fn transport_error(url: &Url, what: &str, e: &TransportError) -> ConnectorError {
    let host = format!("{}:{}", url.host(), url.port());
    match e {
        TransportError::Denied => ConnectorError::config(
            "request_denied",
            format!(
                "{what}: the sandbox refused {url}: only base_url's host ({host} is not it, or it was plain http) may be reached"
            ),
        ),
        TransportError::Certificate => ConnectorError::network(
            "tls_certificate",
            format!(
                "{what}: {host} presented a TLS certificate that is not trusted or not for that name; if a private CA signed it, set `ca_bundle` to that CA's PEM (the host's log says why it was refused)"
            ),
        )
        .retryable_off(),
        TransportError::Tls(m) => ConnectorError::network("tls_failed", format!("{what}: TLS with {host} failed: {m}")),
        TransportError::Connect(m) => ConnectorError::network("connect_failed", format!("{what}: cannot connect to {host}: {m}")),
        TransportError::Timeout => ConnectorError::network("timeout", format!("{what}: {url} timed out; raise `timeout` if the API is slow")),
        TransportError::TooLarge(max) => ConnectorError::data(
            "response_too_large",
            format!("{what}: {url} answered more than {max} bytes; raise `max_response_bytes` or ask for smaller pages"),
        ),
        TransportError::Other(m) => ConnectorError::network("http_failed", format!("{what}: {url} failed: {m}")),
        TransportError::Invalid(m) => ConnectorError::config("bad_request", format!("{what}: {url}: {m}")),
    }
}

trait RetryableOff {
    fn retryable_off(self) -> Self;
}

impl RetryableOff for ConnectorError {
    fn retryable_off(mut self) -> Self {
        self.retryable = false;
        self
    }
}

/// Standard base64 with padding (for basic auth).
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = (chunk[0] as u32) << 16
            | (*chunk.get(1).unwrap_or(&0) as u32) << 8
            | *chunk.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `wasi:http`, blocking on its pollables.
pub struct WasiHttp;

#[cfg(target_os = "wasi")]
impl Transport for WasiHttp {
    fn send(
        &mut self,
        req: &Request,
        timeout: Duration,
        max_body: u64,
    ) -> std::result::Result<Response, TransportError> {
        use wasip2::http::outgoing_handler;
        use wasip2::http::types::{
            ErrorCode, Fields, Method, OutgoingBody, OutgoingRequest, RequestOptions, Scheme,
        };
        use wasip2::io::streams::StreamError;

        let mut entries: Vec<(String, Vec<u8>)> = req
            .headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.as_bytes().to_vec()))
            .collect();
        if !req.body.is_empty() {
            // A sized body, not chunked: token endpoints expect it.
            entries.push((
                "content-length".into(),
                req.body.len().to_string().into_bytes(),
            ));
        }
        let fields = Fields::from_list(&entries).map_err(|e| {
            TransportError::Invalid(format!("a header is refused ({e:?}); check `headers`"))
        })?;
        let out = OutgoingRequest::new(fields);
        let method = if req.method == "POST" {
            Method::Post
        } else {
            Method::Get
        };
        let bad = |what: &str| TransportError::Invalid(format!("cannot set the request's {what}"));
        out.set_method(&method).map_err(|_| bad("method"))?;
        out.set_scheme(Some(if req.url.https {
            &Scheme::Https
        } else {
            &Scheme::Http
        }))
        .map_err(|_| bad("scheme"))?;
        out.set_authority(Some(&req.url.authority))
            .map_err(|_| bad("host"))?;
        out.set_path_with_query(Some(&req.url.path_and_query()))
            .map_err(|_| bad("path"))?;
        let body = out.body().map_err(|_| bad("body"))?;
        if !req.body.is_empty() {
            let stream = body.write().map_err(|_| bad("body"))?;
            for chunk in req.body.chunks(4096) {
                stream.blocking_write_and_flush(chunk).map_err(|e| {
                    TransportError::Other(format!("writing the request body: {e:?}"))
                })?;
            }
            drop(stream);
        }
        OutgoingBody::finish(body, None).map_err(|e| map_code(&e))?;
        let options = RequestOptions::new();
        let nanos = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX);
        let _ = options.set_connect_timeout(Some(nanos));
        let _ = options.set_first_byte_timeout(Some(nanos));
        let _ = options.set_between_bytes_timeout(Some(nanos));
        let pending = outgoing_handler::handle(out, Some(options)).map_err(|e| map_code(&e))?;
        let answer = loop {
            if let Some(a) = pending.get() {
                break a;
            }
            pending.subscribe().block();
        };
        let response = answer
            .map_err(|_| TransportError::Other("the response was taken twice".into()))?
            .map_err(|e| map_code(&e))?;
        let status = response.status();
        let headers = response
            .headers()
            .entries()
            .into_iter()
            .map(|(k, v)| {
                (
                    k.to_ascii_lowercase(),
                    String::from_utf8_lossy(&v).into_owned(),
                )
            })
            .collect();
        let incoming = response.consume().map_err(|_| bad("response body"))?;
        let stream = incoming.stream().map_err(|_| bad("response body"))?;
        let mut body = Vec::new();
        loop {
            match stream.blocking_read(64 * 1024) {
                Ok(chunk) => {
                    body.extend_from_slice(&chunk);
                    if body.len() as u64 > max_body {
                        return Err(TransportError::TooLarge(max_body));
                    }
                }
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(e)) => {
                    let code = wasip2::http::types::http_error_code(&e);
                    return Err(match code {
                        Some(c) => map_code(&c),
                        None => TransportError::Other(e.to_debug_string()),
                    });
                }
            }
        }
        drop(stream);
        drop(incoming);
        fn map_code(e: &ErrorCode) -> TransportError {
            match e {
                ErrorCode::HttpRequestDenied => TransportError::Denied,
                ErrorCode::TlsCertificateError => TransportError::Certificate,
                ErrorCode::TlsProtocolError => TransportError::Tls("protocol error".into()),
                ErrorCode::TlsAlertReceived(a) => TransportError::Tls(format!(
                    "the server sent alert {}",
                    a.alert_message.clone().unwrap_or_default()
                )),
                ErrorCode::ConnectionRefused => {
                    TransportError::Connect("connection refused".into())
                }
                ErrorCode::DnsError(_) | ErrorCode::DestinationNotFound => {
                    TransportError::Connect("the host name does not resolve".into())
                }
                ErrorCode::DestinationUnavailable | ErrorCode::DestinationIpUnroutable => {
                    TransportError::Connect("the host is unreachable".into())
                }
                ErrorCode::ConnectionTimeout
                | ErrorCode::ConnectionReadTimeout
                | ErrorCode::ConnectionWriteTimeout
                | ErrorCode::HttpResponseTimeout => TransportError::Timeout,
                other => TransportError::Other(format!("{other:?}")),
            }
        }
        Ok(Response {
            status,
            headers,
            body,
        })
    }
}

#[cfg(not(target_os = "wasi"))]
impl Transport for WasiHttp {
    fn send(
        &mut self,
        _: &Request,
        _: Duration,
        _: u64,
    ) -> std::result::Result<Response, TransportError> {
        Err(TransportError::Other(
            "wasi:http exists only inside the WebAssembly build".into(),
        ))
    }
}

#[cfg(test)]
pub mod fake {
    //! A scripted transport for unit tests.
    use super::*;
    use std::collections::VecDeque;

    /// Answers requests from a script and records them.
    #[derive(Default)]
    pub struct Fake {
        /// Answers, in order; the last one repeats.
        pub script: VecDeque<std::result::Result<Response, TransportError>>,
        /// The requests sent.
        pub sent: Vec<Request>,
    }

    /// A JSON answer with `status` and extra headers.
    pub fn answer(
        status: u16,
        body: &str,
        headers: &[(&str, &str)],
    ) -> std::result::Result<Response, TransportError> {
        Ok(Response {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.as_bytes().to_vec(),
        })
    }

    impl Transport for &mut Fake {
        fn send(
            &mut self,
            req: &Request,
            _: Duration,
            _: u64,
        ) -> std::result::Result<Response, TransportError> {
            self.sent.push(req.clone());
            if self.script.len() > 1 {
                self.script
                    .pop_front()
                    .unwrap_or(Err(TransportError::Other("empty".into())))
            } else {
                self.script
                    .front()
                    .cloned()
                    .unwrap_or(Err(TransportError::Other("empty".into())))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fake::{answer, Fake};
    use super::*;

    fn client<'f>(fake: &'f mut Fake, config: serde_json::Value) -> Client<&'f mut Fake> {
        let config: Config = serde_json::from_value(config).unwrap();
        let checked = config.check().unwrap();
        let mut c = Client::new(fake, &config, &checked);
        c.sleep = |_| {};
        c.note = |_| {};
        c
    }

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn base64_matches_the_rfc_examples() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64(b"user:pass"), "dXNlcjpwYXNz");
    }

    #[test]
    fn every_auth_kind_is_applied() {
        let mut fake = Fake::default();
        fake.script.push_back(answer(200, "[]", &[]));
        for (auth, check) in [
            (
                serde_json::json!({"type": "bearer", "token": "t0k"}),
                ("authorization", "Bearer t0k"),
            ),
            (
                serde_json::json!({"type": "basic", "username": "user", "password": "pass"}),
                ("authorization", "Basic dXNlcjpwYXNz"),
            ),
            (
                serde_json::json!({"type": "api_key", "name": "X-Api-Key", "value": "k1"}),
                ("x-api-key", "k1"),
            ),
        ] {
            let mut c = client(
                &mut fake,
                serde_json::json!({"base_url": "https://h", "auth": auth}),
            );
            c.get(&url("https://h/a"), "t").unwrap();
            let sent = fake.sent.last().unwrap();
            assert!(
                sent.headers
                    .iter()
                    .any(|(k, v)| k.eq_ignore_ascii_case(check.0) && v == check.1),
                "{:?}",
                sent.headers
            );
        }
        let mut c = client(
            &mut fake,
            serde_json::json!({"base_url": "https://h", "auth": {"type": "api_key", "name": "api_key", "value": "k 2", "in": "query"}}),
        );
        c.get(&url("https://h/a?x=1"), "t").unwrap();
        assert_eq!(fake.sent.last().unwrap().url.query, "x=1&api_key=k%202");
    }

    #[test]
    fn auth_replaces_a_configured_header_of_the_same_name() {
        let mut fake = Fake::default();
        fake.script.push_back(answer(200, "[]", &[]));
        let mut c = client(
            &mut fake,
            serde_json::json!({"base_url": "https://h", "headers": {"Authorization": "old"}, "auth": {"type": "bearer", "token": "new"}}),
        );
        c.get(&url("https://h/a"), "t").unwrap();
        let auth: Vec<&String> = fake.sent[0]
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("authorization"))
            .map(|(_, v)| v)
            .collect();
        assert_eq!(auth, vec!["Bearer new"]);
    }

    #[test]
    fn a_token_endpoint_answering_503_is_retried() {
        let mut fake = Fake::default();
        fake.script.push_back(answer(503, "busy", &[]));
        fake.script
            .push_back(answer(200, r#"{"access_token":"a1"}"#, &[]));
        fake.script.push_back(answer(200, "[]", &[]));
        let mut c = client(
            &mut fake,
            serde_json::json!({"base_url": "https://h", "auth": {"type": "oauth2", "token_url": "/t", "client_id": "i", "client_secret": "s"}}),
        );
        c.get(&url("https://h/a"), "t").unwrap();
        assert_eq!(fake.sent.len(), 3);
    }

    #[test]
    fn oauth_fetches_a_token_then_uses_it_and_renews_on_401() {
        let mut fake = Fake::default();
        fake.script.push_back(answer(
            200,
            r#"{"access_token":"a1","expires_in":3600}"#,
            &[],
        ));
        fake.script.push_back(answer(200, "[]", &[]));
        fake.script.push_back(answer(401, "{}", &[]));
        fake.script.push_back(answer(
            200,
            r#"{"access_token":"a2","expires_in":3600}"#,
            &[],
        ));
        fake.script.push_back(answer(200, "[]", &[]));
        let mut c = client(
            &mut fake,
            serde_json::json!({"base_url": "https://h/api", "auth": {"type": "oauth2", "token_url": "/oauth/token", "client_id": "id", "client_secret": "s e"}}),
        );
        c.get(&url("https://h/api/a"), "t").unwrap();
        c.get(&url("https://h/api/a"), "t").unwrap();
        let sent = &fake.sent;
        assert_eq!(sent.len(), 5);
        assert_eq!(sent[0].method, "POST");
        assert_eq!(sent[0].url.to_string(), "https://h/api/oauth/token");
        assert_eq!(
            String::from_utf8_lossy(&sent[0].body),
            "grant_type=client_credentials&client_id=id&client_secret=s%20e"
        );
        let auth = |r: &Request| {
            r.headers
                .iter()
                .find(|(k, _)| k == "authorization")
                .map(|(_, v)| v.clone())
        };
        assert_eq!(auth(&sent[1]).unwrap(), "Bearer a1");
        assert_eq!(auth(&sent[4]).unwrap(), "Bearer a2");
    }

    #[test]
    fn retries_429_and_5xx_with_retry_after_and_backoff() {
        let mut fake = Fake::default();
        fake.script
            .push_back(answer(429, "slow down", &[("retry-after", "2")]));
        fake.script.push_back(answer(503, "busy", &[]));
        fake.script.push_back(answer(502, "busy", &[]));
        fake.script.push_back(answer(200, "[1]", &[]));
        thread_local! {
            static SLEPT: std::cell::RefCell<Vec<Duration>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        let mut c = client(
            &mut fake,
            serde_json::json!({"base_url": "https://h", "retry": {"initial_delay": "1s"}}),
        );
        c.sleep = |d| SLEPT.with(|s| s.borrow_mut().push(d));
        let r = c.get(&url("https://h/a"), "t").unwrap();
        assert_eq!(r.body, b"[1]");
        assert_eq!(c.retries, 3);
        let slept = SLEPT.with(|s| s.borrow().clone());
        assert_eq!(
            slept,
            vec![
                Duration::from_secs(2),
                Duration::from_secs(2),
                Duration::from_secs(4)
            ]
        );
    }

    #[test]
    fn gives_up_after_max_attempts_and_says_so() {
        let mut fake = Fake::default();
        fake.script
            .push_back(answer(500, "{\"message\":\"internal error\"}", &[]));
        let mut c = client(
            &mut fake,
            serde_json::json!({"base_url": "https://h", "retry": {"max_attempts": 3}}),
        );
        let e = c
            .get(&url("https://h/a"), "stream `x`, page 1")
            .unwrap_err();
        assert!(e.retryable);
        assert!(
            e.message.contains("stream `x`, page 1")
                && e.message.contains("500")
                && e.message.contains("after 3 attempts"),
            "{}",
            e.message
        );
        assert_eq!(fake.sent.len(), 3);
    }

    #[test]
    fn client_errors_are_not_retried_and_name_the_fix() {
        let mut fake = Fake::default();
        fake.script
            .push_back(answer(401, "{\"message\":\"Bad credentials\"}", &[]));
        let mut c = client(&mut fake, serde_json::json!({"base_url": "https://h"}));
        let e = c.get(&url("https://h/a"), "t").unwrap_err();
        assert!(
            e.message.contains("Bad credentials") && e.message.contains("source.config.auth"),
            "{}",
            e.message
        );
        assert_eq!(fake.sent.len(), 1);
        let mut fake = Fake::default();
        fake.script.push_back(Err(TransportError::Denied));
        let mut c = client(&mut fake, serde_json::json!({"base_url": "https://h"}));
        let e = c.get(&url("https://h/a"), "t").unwrap_err();
        assert_eq!(e.code, "request_denied");
    }
}
