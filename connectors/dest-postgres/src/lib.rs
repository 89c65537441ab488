//! `dest-postgres`: loads each stream into `<schema>.<stream>` with
//! `COPY ... FROM STDIN` (binary when every column has a binary form, see
//! `binary.rs`; text otherwise, see `encode.rs`), creating the schema and table from
//! the Arrow schema and keeping the source's PostgreSQL column types when
//! they travel in the field metadata (`rapidbyte.pg_type`).
//!
//! * `append`: the table is created if missing; every checkpoint ends one
//!   COPY statement, which commits before the host is told (so the host
//!   commits the source's cursor only after the rows are in).
//! * `replace`: rows load into `<stream>__rb_new`; at the end one
//!   transaction drops the old table and renames the new one, so readers
//!   never see an empty or half-loaded table.
//! * `upsert` / `merge`: rows stage in a temp table; each checkpoint applies
//!   them (`INSERT ... ON CONFLICT`, or update-then-insert on the merge
//!   keys) and commits in the same transaction that loaded them.

mod binary;
mod encode;
mod sql;
mod user_types;

use std::pin::Pin;

use bytes::Bytes;
use futures_util::SinkExt;
use pg_common::tokio_postgres::{Client, CopyInSink};
use pg_common::{ident, ConnectionConfig};
use rapidbyte_guest_sdk::prelude::*;
use rapidbyte_guest_sdk::{ipc, log};
use sql::Plan;

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
            let pg_common::Connected { client, security } =
                pg_common::connect_described(&config).await?;
            let at = format!(
                "{}:{}/{} over {security}",
                config.host, config.port, config.database
            );
            // May the user create tables in the schema (or the schema itself)?
            let row = client
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1), \
                            COALESCE((SELECT has_schema_privilege(oid, 'CREATE') FROM pg_catalog.pg_namespace WHERE nspname = $1), \
                                     has_database_privilege(current_database(), 'CREATE'))",
                    &[&config.schema],
                )
                .await
                .map_err(|e| pg_common::error(&e, "validate"))?;
            let (exists, can_create): (bool, bool) = (row.get(0), row.get(1));
            let (user, schema) = (
                pg_common::ident(&config.user),
                pg_common::ident(&config.schema),
            );
            if !can_create {
                let fix = if exists {
                    format!("GRANT CREATE ON SCHEMA {schema} TO {user}")
                } else {
                    format!(
                        "CREATE SCHEMA {schema} AUTHORIZATION {user}, or GRANT CREATE ON DATABASE {} TO {user}",
                        pg_common::ident(&config.database)
                    )
                };
                return Ok(ValidationResult {
                    status: ValidationStatus::Failed,
                    message: format!(
                        "connected to {at}, but user `{}` cannot create tables in schema `{}`: {fix}",
                        config.user, config.schema
                    ),
                    details: Vec::new(),
                });
            }
            Ok(ValidationResult {
                status: ValidationStatus::Success,
                message: format!(
                    "connected to {at}; schema `{}` {}",
                    config.schema,
                    if exists { "is writable" } else { "will be created" }
                ),
                details: Vec::new(),
            })
        })
    }

    fn write(&mut self, request: WriteRequest, input: &mut FrameReader) -> Result<WriteSummary> {
        let config = self.config.clone();
        self.runtime.block_on(write(&config, request, input))
    }
}

/// The source column types that do not exist in this database (an enum
/// or a type from an extension): those columns load as their Arrow type,
/// with a warning naming them.
async fn missing_types(
    client: &Client,
    schema: &arrow_schema::Schema,
    stream: &str,
) -> Result<Vec<String>> {
    let wanted: Vec<String> = schema
        .fields()
        .iter()
        .filter_map(|f| encode::source_type(f).cloned())
        .collect();
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let rows = client
        .query(
            "SELECT t FROM unnest($1::text[]) t WHERE to_regtype(t) IS NULL",
            &[&wanted],
        )
        .await
        .map_err(|e| pg_common::error(&e, stream))?;
    let missing: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    for f in schema.fields() {
        if let Some(t) = encode::source_type(f).filter(|t| missing.contains(t)) {
            log::warn(&format!(
                "stream `{stream}`: column `{}` has source type `{t}`, which this database lacks; it loads as {}",
                f.name(),
                encode::column_type(f, |_| false)
            ));
        }
    }
    Ok(missing)
}

/// The binary form of every column of `into`, by the columns' types in the
/// database; `None` (load as text) if any column has none.
async fn binary_wires(
    client: &Client,
    into: &str,
    schema: &arrow_schema::Schema,
    stream: &str,
) -> Result<Option<Vec<binary::Wire>>> {
    let rows = client
        .query(
            "SELECT attname::text, atttypid FROM pg_catalog.pg_attribute \
             WHERE attrelid = $1::text::regclass AND attnum > 0 AND NOT attisdropped",
            &[&into],
        )
        .await
        .map_err(|e| pg_common::error(&e, stream))?;
    let mut wires = Vec::with_capacity(schema.fields().len());
    for f in schema.fields() {
        let oid = rows
            .iter()
            .find(|r| r.get::<_, String>(0) == *f.name())
            .map(|r| r.get::<_, u32>(1));
        match oid.and_then(|oid| binary::wire(f.data_type(), oid, encode::source_type(f).is_some()))
        {
            Some(w) => wires.push(w),
            None => {
                log::debug(&format!(
                    "stream `{stream}`: loading with text COPY (column `{}` has no binary form here)",
                    f.name()
                ));
                return Ok(None);
            }
        }
    }
    log::debug(&format!("stream `{stream}`: loading with binary COPY"));
    Ok(Some(wires))
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
    let plan = Plan::of(&request.write_mode);
    if matches!(plan, Plan::Upsert { .. } | Plan::Merge { .. }) && !plan.staged() {
        return Err(ConnectorError::config(
            "missing_keys",
            format!("stream `{stream}`: upsert and merge need key columns"),
        ));
    }
    let schema = ipc::decode_schema(&request.schema)?;
    let client = pg_common::connect(config).await?;
    let ns = ident(&config.schema);
    let target = format!("{ns}.{}", ident(&stream));
    user_types::create_missing(&client, &schema, &stream).await?;
    let missing = missing_types(&client, &schema, &stream).await?;
    let columns: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| {
            let ty = encode::column_type(f, |t| !missing.iter().any(|m| m == t));
            format!("{} {ty}", ident(f.name()))
        })
        .collect();
    let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
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
    let into = if plan == Plan::Replace {
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
            &sql::create_target(&target, &columns, &plan),
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
        if plan.staged() {
            exec(&client, &sql::create_stage(&columns), &stream).await?;
            sql::STAGE.to_string()
        } else {
            target.clone()
        }
    };
    let wires = binary_wires(&client, &into, &schema, &stream).await?;
    let quoted: Vec<String> = names.iter().map(|n| ident(n)).collect();
    let copy_sql = format!(
        "COPY {into} ({}) FROM STDIN{}",
        quoted.join(", "),
        if wires.is_some() {
            " (FORMAT binary)"
        } else {
            ""
        }
    );
    let mut load = Load {
        client: &client,
        stream: &stream,
        plan: &plan,
        target: &target,
        names: &names,
        binary: wires.is_some(),
        sink: None,
        in_transaction: false,
    };
    // Each batch's encoding is handed to the driver, so buffers are not
    // reused; size the next one like the last.
    let mut last_len = 0;
    while let Some(frame) = input.next_frame()? {
        match frame {
            InputFrame::Batch(batch) => {
                let data = match &wires {
                    Some(wires) => {
                        // Sized by the encoder from the batch.
                        let mut buf = Vec::new();
                        binary::encode_batch(&batch, wires, &mut buf)?;
                        Bytes::from(buf)
                    }
                    None => {
                        let mut buf = String::with_capacity(last_len);
                        encode::encode_batch(&batch, &mut buf)?;
                        Bytes::from(buf)
                    }
                };
                last_len = data.len() + data.len() / 8;
                load.send(&copy_sql, data).await?;
            }
            InputFrame::Checkpoint => load.commit().await?,
        }
    }
    load.commit().await?;
    if plan == Plan::Replace {
        let swap = format!(
            "BEGIN; DROP TABLE IF EXISTS {target}; ALTER TABLE {into} RENAME TO {}; COMMIT",
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

/// The rows of one checkpoint on their way in: an open COPY and, for
/// staged plans, the transaction that applies them.
struct Load<'a> {
    client: &'a Client,
    stream: &'a str,
    plan: &'a Plan,
    target: &'a str,
    names: &'a [String],
    /// Binary COPY (a header opens each COPY, a trailer ends it).
    binary: bool,
    sink: Option<Sink>,
    in_transaction: bool,
}

impl Load<'_> {
    /// Sends COPY data, opening the transaction and the COPY as needed.
    async fn send(&mut self, copy_sql: &str, data: Bytes) -> Result<()> {
        if self.plan.staged() && !self.in_transaction {
            exec(self.client, "BEGIN", self.stream).await?;
            self.in_transaction = true;
        }
        if self.sink.is_none() {
            let s = self
                .client
                .copy_in::<_, Bytes>(copy_sql)
                .await
                .map_err(|e| pg_common::error(&e, self.stream))?;
            let mut s: Sink = Box::pin(s);
            if self.binary {
                let mut header = Vec::new();
                binary::header(&mut header);
                s.as_mut()
                    .send(Bytes::from(header))
                    .await
                    .map_err(|e| pg_common::error(&e, self.stream))?;
            }
            self.sink = Some(s);
        }
        if let Some(s) = self.sink.as_mut() {
            s.as_mut()
                .send(data)
                .await
                .map_err(|e| pg_common::error(&e, self.stream))?;
        }
        Ok(())
    }

    /// Ends the open COPY and, for staged plans, applies the staged rows
    /// and commits; the rows are durable when this returns.
    async fn commit(&mut self) -> Result<()> {
        if let Some(mut s) = self.sink.take() {
            if self.binary {
                let mut trailer = Vec::new();
                binary::trailer(&mut trailer);
                s.as_mut()
                    .send(Bytes::from(trailer))
                    .await
                    .map_err(|e| pg_common::error(&e, self.stream))?;
            }
            s.as_mut()
                .finish()
                .await
                .map_err(|e| pg_common::error(&e, self.stream))?;
        }
        if !self.in_transaction {
            return Ok(());
        }
        let keys = self.plan.keys();
        let nulls: i64 = self
            .client
            .query_one(sql::null_keys(keys).as_str(), &[])
            .await
            .map_err(|e| pg_common::error(&e, self.stream))?
            .get(0);
        if nulls > 0 {
            return Err(ConnectorError::data(
                "null_key",
                format!(
                    "stream `{}`: {nulls} row(s) have a NULL in the key columns ({}); keys must identify rows",
                    self.stream,
                    keys.join(", ")
                ),
            ));
        }
        let apply = sql::apply(self.plan, self.target, self.names);
        if let Err(e) = self.client.batch_execute(&apply).await {
            let no_unique = e.as_db_error().is_some_and(|d| d.code().code() == "42P10");
            if no_unique {
                return Err(ConnectorError::config(
                    "no_unique_key",
                    format!(
                        "stream `{}`: table {} has no primary key or unique index on ({}), which upsert needs; add one, or use write_mode: merge",
                        self.stream,
                        self.target,
                        keys.join(", ")
                    ),
                ));
            }
            return Err(pg_common::error(&e, self.stream));
        }
        exec(self.client, "COMMIT", self.stream).await?;
        self.in_transaction = false;
        Ok(())
    }
}

rapidbyte_guest_sdk::destination_connector!(PostgresDestination);
