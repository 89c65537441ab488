//! What both Postgres connectors share: connection settings, connecting
//! over the WASI socket the host grants, identifier quoting and the mapping
//! of driver errors to connector errors.

use rapidbyte_guest_sdk::{ConnectorError, Result};
use serde::{Deserialize, Deserializer};
pub use tokio;
pub use tokio_postgres;
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
    /// TLS, as libpq's `sslmode` (default `disable`). Only `disable` and
    /// `prefer` (which connects in plaintext) work in this version.
    #[serde(default)]
    pub sslmode: SslMode,
}

/// libpq's `sslmode` values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SslMode {
    /// Plaintext.
    #[default]
    Disable,
    /// TLS if the server offers it; this version always uses plaintext.
    Allow,
    /// As `allow`.
    Prefer,
    /// TLS required: not supported yet.
    Require,
    /// TLS with CA verification: not supported yet.
    VerifyCa,
    /// TLS with full verification: not supported yet.
    VerifyFull,
}

impl SslMode {
    /// Refuses the modes that need TLS, with what to do instead.
    pub fn check(self) -> Result<()> {
        match self {
            SslMode::Disable | SslMode::Allow | SslMode::Prefer => Ok(()),
            mode => Err(ConnectorError::config(
                "tls_unsupported",
                format!(
                    "`sslmode: {}`: this connector does not speak TLS yet; use `sslmode: disable` on a trusted network, or reach the server through a local TLS tunnel (e.g. stunnel) and connect to that",
                    match mode {
                        SslMode::Require => "require",
                        SslMode::VerifyCa => "verify-ca",
                        _ => "verify-full",
                    }
                ),
            )),
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
    if e.is_closed() || io {
        ConnectorError::network("connection_failed", format!("{context}: {e}"))
    } else {
        ConnectorError::internal("driver_error", format!("{context}: {e}"))
    }
}

/// Opens the TCP connection (WASI 0.2 sockets in a component).
#[cfg(not(all(target_os = "wasi", target_env = "p1")))]
async fn tcp_connect(host: &str, port: u16) -> std::io::Result<tokio::net::TcpStream> {
    tokio::net::TcpStream::connect((host, port)).await
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

/// Connects over a plain TCP stream (TLS is not supported yet).
pub async fn connect(config: &ConnectionConfig) -> Result<Client> {
    config.sslmode.check()?;
    let endpoint = format!("{}:{}", config.host, config.port);
    let stream = tcp_connect(&config.host, config.port).await.map_err(|e| {
        ConnectorError::network(
            "connect_failed",
            format!("cannot connect to PostgreSQL at {endpoint}: {e}"),
        )
    })?;
    let mut pg = tokio_postgres::Config::new();
    pg.user(&config.user).dbname(&config.database);
    if let Some(p) = &config.password {
        pg.password(p);
    }
    let (client, connection) = pg
        .connect_raw(stream, NoTls)
        .await
        .map_err(|e| error(&e, &format!("PostgreSQL at {endpoint}")))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            rapidbyte_guest_sdk::log::warn(&format!("connection closed: {e}"));
        }
    });
    Ok(client)
}
