//! `dest-postgres`: loads each stream into `<schema>.<stream>` with
//! `COPY ... FROM STDIN` (text format), creating the schema and table from
//! the Arrow schema and keeping the source's PostgreSQL column types when
//! they travel in the field metadata (`rapidbyte.pg_type`).
//!
//! * `append`: the table is created if missing; every checkpoint ends one
//!   COPY statement, which commits before the host is told (so the host
//!   commits the source's cursor only after the rows are in).
//! * `replace`: rows load into `<stream>__rb_new`; at the end one
//!   transaction drops the old table and renames the new one, so readers
//!   never see an empty or half-loaded table.

mod encode;

use std::pin::Pin;

use bytes::Bytes;
use futures_util::SinkExt;
use pg_common::tokio_postgres::{Client, CopyInSink};
use pg_common::{ident, ConnectionConfig};
use rapidbyte_guest_sdk::prelude::*;
use rapidbyte_guest_sdk::{ipc, log};

/// `destination.config` of a pipeline: the connection settings.
pub type Config = ConnectionConfig;

/// The connector instance.
pub struct PostgresDestination {
    config: Config,
    runtime: pg_common::tokio::runtime::Runtime,
}

type Sink = Pin<Box<CopyInSink<Bytes>>>;

impl Destination for PostgresDestination {
    type Config = Config;

    fn init(config: Config) -> Result<Self> {
        Ok(PostgresDestination {
            config,
            runtime: pg_common::runtime()?,
        })
    }

    fn validate(config: Config) -> Result<ValidationResult> {
        pg_common::runtime()?.block_on(async move {
            let client = pg_common::connect(&config).await?;
            client
                .batch_execute("SELECT 1")
                .await
                .map_err(|e| pg_common::error(&e, "validate"))?;
            Ok(rapidbyte_guest_sdk::ok_validation())
        })
    }

    fn write(&mut self, request: WriteRequest, input: &mut FrameReader) -> Result<WriteSummary> {
        let config = self.config.clone();
        self.runtime.block_on(write(&config, request, input))
    }
}

async fn exec(client: &Client, sql: &str, stream: &str) -> Result<()> {
    client
        .batch_execute(sql)
        .await
        .map_err(|e| pg_common::error(&e, stream))
}

async fn write(
    config: &Config,
    request: WriteRequest,
    input: &mut FrameReader,
) -> Result<WriteSummary> {
    let stream = request.stream_name.clone();
    let replace = match &request.write_mode {
        WriteMode::Append => false,
        WriteMode::Replace => true,
        other => {
            return Err(ConnectorError::config(
                "write_mode_unsupported",
                format!(
                "stream `{stream}`: dest-postgres supports append and replace, not {other:?} yet"
            ),
            ))
        }
    };
    let schema = ipc::decode_schema(&request.schema)?;
    let client = pg_common::connect(config).await?;
    let ns = ident(&config.schema);
    let target = format!("{ns}.{}", ident(&stream));
    let columns: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| format!("{} {}", ident(f.name()), encode::column_type(f)))
        .collect();
    // Streams load in parallel: two may create the schema at once, and the
    // loser of that race sees a duplicate, which is success here.
    if let Err(e) = client
        .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {ns}"))
        .await
    {
        let raced = e
            .as_db_error()
            .is_some_and(|d| matches!(d.code().code(), "23505" | "42P06"));
        if !raced {
            return Err(pg_common::error(&e, &stream));
        }
    }
    let load = if replace {
        let staging_name = format!("{stream}__rb_new");
        let staging = format!("{ns}.{}", ident(&staging_name));
        exec(
            &client,
            &format!(
                "DROP TABLE IF EXISTS {staging}; CREATE TABLE {staging} ({})",
                columns.join(", ")
            ),
            &stream,
        )
        .await?;
        staging
    } else {
        exec(
            &client,
            &format!(
                "CREATE TABLE IF NOT EXISTS {target} ({})",
                columns.join(", ")
            ),
            &stream,
        )
        .await?;
        // A source that grew a column: add it.
        let adds: Vec<String> = columns
            .iter()
            .map(|c| format!("ADD COLUMN IF NOT EXISTS {c}"))
            .collect();
        exec(
            &client,
            &format!("ALTER TABLE {target} {}", adds.join(", ")),
            &stream,
        )
        .await?;
        target.clone()
    };
    let names: Vec<String> = schema.fields().iter().map(|f| ident(f.name())).collect();
    let copy_sql = format!("COPY {load} ({}) FROM STDIN", names.join(", "));
    let mut sink: Option<Sink> = None;
    let mut buf = String::new();
    while let Some(frame) = input.next_frame()? {
        match frame {
            InputFrame::Batch(batch) => {
                if sink.is_none() {
                    let s = client
                        .copy_in::<_, Bytes>(copy_sql.as_str())
                        .await
                        .map_err(|e| pg_common::error(&e, &stream))?;
                    sink = Some(Box::pin(s));
                }
                buf.clear();
                encode::encode_batch(&batch, &mut buf)?;
                if let Some(s) = sink.as_mut() {
                    s.as_mut()
                        .send(Bytes::from(std::mem::take(&mut buf)))
                        .await
                        .map_err(|e| pg_common::error(&e, &stream))?;
                }
            }
            InputFrame::Checkpoint => finish(&mut sink, &stream).await?,
        }
    }
    finish(&mut sink, &stream).await?;
    if replace {
        let swap = format!(
            "BEGIN; DROP TABLE IF EXISTS {target}; ALTER TABLE {load} RENAME TO {}; COMMIT",
            ident(&stream)
        );
        exec(&client, &swap, &stream).await?;
    }
    log::info(&format!(
        "stream `{stream}`: loaded {} rows into {target}",
        input.records()
    ));
    Ok(input.summary())
}

/// Ends the open COPY, committing its rows.
async fn finish(sink: &mut Option<Sink>, stream: &str) -> Result<()> {
    if let Some(mut s) = sink.take() {
        s.as_mut()
            .finish()
            .await
            .map_err(|e| pg_common::error(&e, stream))?;
    }
    Ok(())
}

rapidbyte_guest_sdk::destination_connector!(PostgresDestination);
