//! What both Postgres connectors share: connection settings, connecting
//! over the WASI socket the host grants (by host name or address, with TLS
//! as libpq's `sslmode` says), identifier quoting and the mapping of driver
//! errors to connector errors.

pub mod tls;

use rapidbyte_guest_sdk::{ConnectorError, Result};
use serde::{Deserialize, Deserializer};
pub use tokio;
pub use tokio_postgres;
use tokio_postgres::config::SslMode as DriverSslMode;
use tokio_postgres::{Client, NoTls};

/// Days from 1970-01-01 (Arrow's epoch) to 2000-01-01 (PostgreSQL's, in
/// binary `date` values).
pub const PG_EPOCH_DAYS: i32 = 10_957;
/// Microseconds from 1970-01-01 to 2000-01-01 (binary `timestamp` values).
pub const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// Connection settings (the `config` keys both connectors take).
#[derive(Debug, Clone, Deserialize)]
pub struct ConnectionConfig {
    /// Server host name or address.
    pub host: String,
    /// Server port (default 5432).
    #[serde(default = "default_port", deserialize_with = "port")]
    pub port: u16,
    /// User name.
    pub user: String,
    /// Password (md5 and SCRAM authentication).
    #[serde(default)]
    pub password: Option<String>,
    /// Database name.
    pub database: String,
    /// Schema (default `public`).
    #[serde(default = "default_schema")]
    pub schema: String,
    /// TLS, as libpq's `sslmode` (default `prefer`).
    #[serde(default)]
    pub sslmode: SslMode,
    /// The CA certificates (PEM) a `verify-ca`/`verify-full` connection
    /// trusts instead of the public roots. The host reads a file path given
    /// here and hands over its text.
    #[serde(default)]
    pub sslrootcert: Option<String>,
}

/// libpq's `sslmode` values (see [`tls`] for what each checks).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SslMode {
    /// Plaintext only.
    Disable,
    /// Plaintext, or TLS if the server accepts nothing else.
    Allow,
    /// TLS if the server offers it, else plaintext (libpq's default).
    #[default]
    Prefer,
    /// TLS, the certificate unchecked (checked against `sslrootcert` when
    /// one is given).
    Require,
    /// TLS with the certificate chain checked.
    VerifyCa,
    /// TLS with the chain and the host name checked.
    VerifyFull,
}

impl SslMode {
    /// The mode as written in the config.
    pub fn name(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

fn default_port() -> u16 {
    5432
}

fn default_schema() -> String {
    "public".into()
}

/// A single-threaded tokio runtime for the connector's async driver.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(|e| ConnectorError::internal("runtime", e.to_string()))
}

/// Accepts a port as a number or a numeric string (e.g. from `${PG_PORT}`).
pub fn port<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<u16, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Num(u16),
        Text(String),
    }
    match Raw::deserialize(d)? {
        Raw::Num(n) => Ok(n),
        Raw::Text(t) => t
            .trim()
            .parse()
            .map_err(|_| serde::de::Error::custom(format!("`{t}` is not a port number"))),
    }
}

/// The field metadata key under which source-postgres sends how to create
/// a column's user-defined types (a JSON array, bases first: enums with
/// their labels, domains with base, NOT NULL and CHECKs), and under which
/// dest-postgres looks for them.
pub const TYPE_DEFS_METADATA: &str = "rapidbyte.pg_type_defs";

/// A quoted identifier.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Maps a driver error to a connector error naming the stream or endpoint.
pub fn error(e: &tokio_postgres::Error, context: &str) -> ConnectorError {
    if let Some(db) = e.as_db_error() {
        let code = db.code().code();
        let msg = format!("{context}: {} (SQLSTATE {code})", db.message());
        return match code {
            "28000" if db.message().contains("no encryption") => ConnectorError::auth(
                "tls_required",
                format!("{msg}; the server accepts only TLS connections here: set `sslmode: require` (or `verify-full`)"),
            ),
            "28P01" | "28000" => ConnectorError::auth("auth_failed", msg),
            "42501" => ConnectorError::auth("insufficient_privilege", msg),
            "3D000" => ConnectorError::config("unknown_database", msg),
            "42P01" => ConnectorError::config("unknown_table", msg),
            "3F000" => ConnectorError::config("unknown_schema", msg),
            _ => ConnectorError::data("query_failed", msg),
        };
    }
    // Without a server error: a closed or broken connection is a network
    // failure; anything else (a value the driver cannot encode...) is ours.
    let io = std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>());
    let text = with_causes(e);
    if e.is_closed() || io {
        ConnectorError::network("connection_failed", format!("{context}: {text}"))
    } else {
        ConnectorError::internal("driver_error", format!("{context}: {text}"))
    }
}

/// `e` and its causes, `outer: inner: ...` (the driver's own message often
/// says only which step failed).
fn with_causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let part = c.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        cause = c.source();
    }
    text
}

/// Opens the TCP connection (WASI 0.2 sockets in a component): the name
/// is looked up through WASI (the host answers with the addresses it
/// granted), then each address is tried in turn.
#[cfg(not(all(target_os = "wasi", target_env = "p1")))]
async fn tcp_connect(host: &str, port: u16) -> std::io::Result<tokio::net::TcpStream> {
    use std::net::ToSocketAddrs;
    // Not tokio's `connect((host, port))`: it resolves on a blocking
    // thread, and a wasm guest has none.
    let addrs: Vec<std::net::SocketAddr> = (host, port).to_socket_addrs()?.collect();
    let mut last = None;
    for addr in addrs {
        match tokio::net::TcpStream::connect(addr).await {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("`{host}` has no address"),
        )
    }))
}

/// Opens the TCP connection in a WasmEdge-style core module: WasmEdge's
/// socket extension connects, and tokio drives the socket's descriptor
/// (`fd_read`, `fd_write` and `poll_oneoff` work on sockets there).
#[cfg(all(target_os = "wasi", target_env = "p1"))]
async fn tcp_connect(host: &str, port: u16) -> std::io::Result<tokio::net::TcpStream> {
    use std::os::fd::{FromRawFd, IntoRawFd};
    let socket = wasmedge_wasi_socket::TcpStream::connect((host, port))?;
    socket.set_nonblocking(true)?;
    // SAFETY: the descriptor was just released by `into_raw_fd`, so this
    // stream is its only owner.
    let std_stream = unsafe { std::net::TcpStream::from_raw_fd(socket.into_raw_fd()) };
    tokio::net::TcpStream::from_std(std_stream)
}

/// An open connection and how it is secured.
pub struct Connected {
    /// The client.
    pub client: Client,
    /// `TLS 1.3 (certificate and host name verified)` or `plaintext`.
    pub security: String,
}

/// Connects as `config` says (host name or address, TLS per `sslmode`).
pub async fn connect(config: &ConnectionConfig) -> Result<Client> {
    Ok(connect_described(config).await?.client)
}

/// [`connect`], also saying how the connection is secured (for `check`).
pub async fn connect_described(config: &ConnectionConfig) -> Result<Connected> {
    let endpoint = format!("{}:{}", config.host, config.port);
    match connect_with(config, &endpoint, tls::Suites::Fast).await {
        // A server without ChaCha20 (FIPS mode): every suite, once more.
        Err(e) if e.code == "tls_no_common_suite" => {
            connect_with(config, &endpoint, tls::Suites::All).await
        }
        other => other,
    }
}

async fn connect_with(
    config: &ConnectionConfig,
    endpoint: &str,
    suites: tls::Suites,
) -> Result<Connected> {
    let verify = tls::Verify::of(config.sslmode, config.sslrootcert.is_some());
    let tls = match config.sslmode {
        SslMode::Disable => None,
        _ => Some(tls::Tls::new(
            &config.host,
            verify,
            config.sslrootcert.as_deref(),
            suites,
        )?),
    };
    let first = match config.sslmode {
        SslMode::Disable | SslMode::Allow => DriverSslMode::Disable,
        SslMode::Prefer => DriverSslMode::Prefer,
        _ => DriverSslMode::Require,
    };
    match connect_once(config, endpoint, first, tls.clone()).await {
        // libpq's `allow`: plaintext first, TLS when the server refuses it.
        Err(e) if config.sslmode == SslMode::Allow && e.code == "tls_required" => {
            connect_once(config, endpoint, DriverSslMode::Require, tls).await
        }
        other => other,
    }
}

/// Bytes read from the server's socket at a time (at most).
const READ_BUFFER: usize = 128 * 1024;

async fn connect_once(
    config: &ConnectionConfig,
    endpoint: &str,
    mode: DriverSslMode,
    tls: Option<tls::Tls>,
) -> Result<Connected> {
    let stream = tcp_connect(&config.host, config.port).await.map_err(|e| {
        ConnectorError::network(
            "connect_failed",
            format!("cannot connect to PostgreSQL at {endpoint}: {e}"),
        )
    })?;
    // The driver reads into whatever room its 8 KiB frame buffer has left;
    // a larger buffer underneath makes each read (a host call and a system
    // call) fetch what the socket holds: about 7x fewer reads on a COPY.
    let stream = tokio::io::BufReader::with_capacity(READ_BUFFER, stream);
    let mut pg = tokio_postgres::Config::new();
    pg.user(&config.user)
        .dbname(&config.database)
        .ssl_mode(mode);
    if let Some(p) = &config.password {
        pg.password(p);
    }
    let context = format!("PostgreSQL at {endpoint}");
    let (client, security) = match (&tls, mode) {
        (Some(tls), DriverSslMode::Prefer | DriverSslMode::Require) => {
            let (client, connection) = pg
                .connect_raw(stream, tls.clone())
                .await
                .map_err(|e| connect_error(&e, &context, config.sslmode, tls.verify))?;
            spawn_connection(connection);
            let security = match tls.negotiated() {
                Some(v) => format!("{v} ({})", tls.verify.describe()),
                None => "plaintext (the server offers no TLS)".to_string(),
            };
            (client, security)
        }
        _ => {
            let (client, connection) = pg
                .connect_raw(stream, NoTls)
                .await
                .map_err(|e| connect_error(&e, &context, config.sslmode, tls::Verify::None))?;
            spawn_connection(connection);
            (client, "plaintext".to_string())
        }
    };
    Ok(Connected { client, security })
}

fn spawn_connection<F>(connection: F)
where
    F: std::future::Future<Output = std::result::Result<(), tokio_postgres::Error>>
        + Send
        + 'static,
{
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            rapidbyte_guest_sdk::log::warn(&format!("connection closed: {e}"));
        }
    });
}

/// A failed connection attempt, with TLS failures explained.
fn connect_error(
    e: &tokio_postgres::Error,
    context: &str,
    mode: SslMode,
    verify: tls::Verify,
) -> ConnectorError {
    if let Some(t) = tls::rustls_error(e) {
        if tls::no_common_suite(t) {
            return ConnectorError::config(
                "tls_no_common_suite",
                format!("{context}: the server takes none of the TLS cipher suites offered: {t}"),
            );
        }
        return ConnectorError::config(
            "tls_failed",
            format!(
                "{context}: TLS (`sslmode: {}`) failed: {}",
                mode.name(),
                tls::advice(t, verify)
            ),
        );
    }
    if with_causes(e).contains("server does not support TLS") {
        return ConnectorError::config(
            "tls_unavailable",
            format!(
                "{context} does not accept TLS connections, but `sslmode: {}` requires TLS: enable `ssl` on the server, or use `sslmode: prefer` on a network you trust",
                mode.name()
            ),
        );
    }
    error(e, context)
}
