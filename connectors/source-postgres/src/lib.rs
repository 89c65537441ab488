//! `source-postgres`: reads PostgreSQL tables and views with
//! `COPY (SELECT ...) TO STDOUT (FORMAT binary)`, decoded straight into
//! Arrow builders, over a WASI socket the host grants for exactly the
//! configured host and port.
//!
//! This first version does full refresh. Column types without a binary
//! decoder (numeric, interval, arrays, ...) are read as text; see
//! `types.rs`.

mod copy;
mod db;
mod types;

use std::sync::Arc;

use arrow_schema::Schema;
use futures_util::StreamExt;
use rapidbyte_guest_sdk::prelude::*;
use serde::Deserialize;

use db::Table;

/// `source.config` of a pipeline.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Server host name or address.
    pub host: String,
    /// Server port (default 5432).
    #[serde(default = "default_port", deserialize_with = "db::port")]
    pub port: u16,
    /// User name.
    pub user: String,
    /// Password (md5 and SCRAM authentication).
    #[serde(default)]
    pub password: Option<String>,
    /// Database name.
    pub database: String,
    /// Schema whose tables and views are the streams (default `public`).
    #[serde(default = "default_schema")]
    pub schema: String,
}

fn default_port() -> u16 {
    5432
}

fn default_schema() -> String {
    "public".into()
}

/// The connector instance.
pub struct PostgresSource {
    config: Config,
    runtime: tokio::runtime::Runtime,
}

impl Source for PostgresSource {
    type Config = Config;

    fn init(config: Config) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .map_err(|e| ConnectorError::internal("runtime", e.to_string()))?;
        Ok(PostgresSource { config, runtime })
    }

    fn discover(&mut self) -> Result<Catalog> {
        let config = self.config.clone();
        self.runtime.block_on(async move {
            let client = db::connect(&config).await?;
            let tables = db::tables(&client, &config.schema).await?;
            let mut streams = Vec::with_capacity(tables.len());
            for t in &tables {
                let mut b =
                    StreamBuilder::new(&t.name, &t.schema())?.sync_modes(&[SyncMode::FullRefresh]);
                if !t.primary_key.is_empty() {
                    let pk: Vec<&str> = t.primary_key.iter().map(String::as_str).collect();
                    b = b.primary_key(&pk);
                }
                streams.push(b.build());
            }
            Ok(Catalog { streams })
        })
    }

    fn validate(config: Config) -> Result<ValidationResult> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .map_err(|e| ConnectorError::internal("runtime", e.to_string()))?;
        runtime.block_on(async move {
            let client = db::connect(&config).await?;
            let tables = db::tables(&client, &config.schema).await?;
            let status = if tables.is_empty() {
                ValidationStatus::Warning
            } else {
                ValidationStatus::Success
            };
            Ok(ValidationResult {
                status,
                message: format!(
                    "connected to {}:{}/{}; {} table(s) in schema `{}`",
                    config.host,
                    config.port,
                    config.database,
                    tables.len(),
                    config.schema
                ),
                details: Vec::new(),
            })
        })
    }

    fn read(&mut self, request: ReadRequest) -> Result<ReadSummary> {
        let config = self.config.clone();
        self.runtime.block_on(async move {
            let client = db::connect(&config).await?;
            let tables = db::tables(&client, &config.schema).await?;
            let mut summary = ReadSummary {
                streams: Vec::new(),
            };
            for selection in request.streams {
                let table = tables
                    .iter()
                    .find(|t| t.name == selection.name)
                    .ok_or_else(|| {
                        ConnectorError::config(
                            "unknown_table",
                            format!(
                                "table `{}.{}` does not exist",
                                config.schema, selection.name
                            ),
                        )
                    })?;
                summary
                    .streams
                    .push(read_table(&client, &config, table, &selection).await?);
            }
            Ok(summary)
        })
    }
}

async fn read_table(
    client: &tokio_postgres::Client,
    config: &Config,
    table: &Table,
    selection: &StreamSelection,
) -> Result<StreamSummary> {
    if selection.sync_mode != SyncMode::FullRefresh {
        return Err(ConnectorError::config(
            "sync_mode_unsupported",
            format!(
                "stream `{}`: this version reads full_refresh only",
                selection.name
            ),
        ));
    }
    let schema: Arc<Schema> = Arc::new(table.schema());
    let mut sql = format!(
        "COPY (SELECT {} FROM {}.{}",
        table.select_list(),
        db::ident(&config.schema),
        db::ident(&table.name)
    );
    if let Some(filter) = &selection.filter {
        sql.push_str(&format!(" WHERE {filter}"));
    }
    sql.push_str(") TO STDOUT (FORMAT binary)");
    let stream = client
        .copy_out(sql.as_str())
        .await
        .map_err(|e| db::error(&e, &selection.name))?;
    futures_util::pin_mut!(stream);
    let kinds: Vec<types::Kind> = table.columns.iter().map(|c| c.kind).collect();
    let mut decoder = copy::CopyDecoder::new(schema, &kinds);
    let mut out = Emitter::new(selection);
    let flush_at = (out.max_batch_bytes() as usize / 2).max(1 << 16);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| db::error(&e, &selection.name))?;
        decoder.feed(&chunk)?;
        if decoder.buffered_bytes() >= flush_at || decoder.buffered_rows() >= 1 << 16 {
            out.emit(&decoder.take_batch()?)?;
        }
    }
    if !decoder.finished() {
        return Err(ConnectorError::network(
            "copy_truncated",
            format!("stream `{}`: the COPY data ended early", selection.name),
        ));
    }
    out.emit(&decoder.take_batch()?)?;
    Ok(out.finish())
}

rapidbyte_guest_sdk::source_connector!(PostgresSource);
