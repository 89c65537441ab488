//! `source-postgres`: reads PostgreSQL tables and views with
//! `COPY (SELECT ...) TO STDOUT (FORMAT binary)`, decoded straight into
//! Arrow builders, over a WASI socket the host grants for exactly the
//! configured host and port.
//!
//! Full refresh, and incremental reads in (cursor, primary key) order that
//! resume strictly after the last row read. Column types without a binary
//! decoder (numeric, interval, arrays, ...) are read as text; see
//! `types.rs`.

mod copy;
mod db;
mod types;

use std::sync::Arc;

use arrow_schema::Schema;
use futures_util::StreamExt;
use rapidbyte_guest_sdk::prelude::*;

use db::Table;

/// `source.config` of a pipeline: the connection settings.
pub type Config = pg_common::ConnectionConfig;

/// The connector instance.
pub struct PostgresSource {
    config: Config,
    runtime: pg_common::tokio::runtime::Runtime,
}

impl Source for PostgresSource {
    type Config = Config;

    fn init(config: Config) -> Result<Self> {
        let runtime = pg_common::runtime()?;
        Ok(PostgresSource { config, runtime })
    }

    fn discover(&mut self) -> Result<Catalog> {
        let config = self.config.clone();
        self.runtime.block_on(async move {
            let client = pg_common::connect(&config).await?;
            let tables = db::tables(&client, &config.schema).await?;
            let mut streams = Vec::with_capacity(tables.len());
            for t in &tables {
                let mut b = StreamBuilder::new(&t.name, &t.schema())?
                    .sync_modes(&[SyncMode::FullRefresh, SyncMode::Incremental]);
                if let Some(c) = t.suggested_cursor() {
                    b = b.cursor(c);
                }
                if !t.primary_key.is_empty() {
                    let pk: Vec<&str> = t.primary_key.iter().map(String::as_str).collect();
                    // Shares split on the key, so every row is in one share.
                    b = b.primary_key(&pk).partitionable();
                }
                streams.push(b.build());
            }
            Ok(Catalog { streams })
        })
    }

    fn validate(config: Config) -> Result<ValidationResult> {
        let runtime = pg_common::runtime()?;
        runtime.block_on(async move {
            let pg_common::Connected { client, security } =
                pg_common::connect_described(&config).await?;
            let at = format!(
                "{}:{}/{} over {security}",
                config.host, config.port, config.database
            );
            let schema = &config.schema;
            let access = db::schema_access(&client, schema).await?;
            if access.exists && !access.usable {
                return Ok(failed(
                    &at,
                    format!("user `{}` has no USAGE privilege on schema `{schema}`: GRANT USAGE ON SCHEMA {} TO {}", config.user, pg_common::ident(schema), pg_common::ident(&config.user)),
                ));
            }
            if !access.exists {
                return Ok(failed(
                    &at,
                    format!("schema `{schema}` does not exist in database `{}`", config.database),
                ));
            }
            let tables = db::tables(&client, schema).await?;
            let unreadable = db::unreadable_tables(&client, schema).await?;
            let mut details: Vec<ValidationDetail> = unreadable
                .iter()
                .map(|t| ValidationDetail {
                    field: Some("streams".into()),
                    message: format!(
                        "no SELECT privilege on `{schema}.{t}`: GRANT SELECT ON {}.{} TO {}",
                        pg_common::ident(schema),
                        pg_common::ident(t),
                        pg_common::ident(&config.user)
                    ),
                })
                .collect();
            if tables.is_empty() {
                details.push(ValidationDetail {
                    field: Some("schema".into()),
                    message: format!("schema `{schema}` has no tables or views to read"),
                });
            }
            let status = if details.is_empty() {
                ValidationStatus::Success
            } else {
                ValidationStatus::Warning
            };
            Ok(ValidationResult {
                status,
                message: format!(
                    "connected to {at}; {} table(s) in schema `{schema}`, {} readable",
                    tables.len(),
                    tables.len().saturating_sub(unreadable.len()),
                ),
                details,
            })
        })
    }

    fn read(&mut self, request: ReadRequest) -> Result<ReadSummary> {
        let config = self.config.clone();
        self.runtime.block_on(async move {
            let client = pg_common::connect(&config).await?;
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

fn failed(at: &str, message: String) -> ValidationResult {
    ValidationResult {
        status: ValidationStatus::Failed,
        message: format!("connected to {at}, but {message}"),
        details: Vec::new(),
    }
}

/// What an incremental stream saves: the cursor and primary key of the last
/// row read, as PostgreSQL text. Rows are read in (cursor, key) order and
/// resumed strictly after that pair, so rows sharing a cursor value across
/// a batch or run boundary are neither lost nor read twice.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct SavedPosition {
    cursor_field: String,
    key_fields: Vec<String>,
    cursor: String,
    key: Vec<String>,
}

/// Checkpoint at most every this many batches (and at the end).
const CHECKPOINT_EVERY: u64 = 16;

fn quote_literal(v: &str) -> String {
    format!("'{}'", v.replace('\'', "''"))
}

async fn read_table(
    client: &pg_common::tokio_postgres::Client,
    config: &Config,
    table: &Table,
    selection: &StreamSelection,
) -> Result<StreamSummary> {
    let schema: Arc<Schema> = Arc::new(table.schema());
    let mut kinds: Vec<types::Kind> = table.columns.iter().map(|c| c.kind).collect();
    for c in table.unknown_types() {
        rapidbyte_guest_sdk::log::warn(&format!(
            "stream `{}`: column `{}` has type `{}`, which is read as text",
            table.name, c.name, c.pg_type
        ));
    }
    let mut select = table.select_list();
    let mut conditions: Vec<String> = selection.filter.iter().map(|f| format!("({f})")).collect();
    let mut order = String::new();
    let mut position_fields: Vec<&db::Column> = Vec::new();
    match selection.sync_mode {
        SyncMode::FullRefresh => {
            if let Some(p) = &selection.partition {
                conditions.push(table.share_condition(p.index, p.count).ok_or_else(|| {
                    ConnectorError::config(
                        "partitions_unsupported",
                        format!("stream `{}` has no primary key to split on", selection.name),
                    )
                })?);
            }
        }
        SyncMode::Incremental => {
            let cursor = selection.cursor_field.as_deref().ok_or_else(|| {
                ConnectorError::config(
                    "cursor_required",
                    format!(
                        "stream `{}`: incremental sync needs cursor_field",
                        selection.name
                    ),
                )
            })?;
            let column = |name: &str| {
                table
                    .columns
                    .iter()
                    .find(|c| c.name == name)
                    .ok_or_else(|| {
                        ConnectorError::config(
                            "unknown_column",
                            format!("stream `{}`: no column `{name}`", selection.name),
                        )
                    })
            };
            position_fields.push(column(cursor)?);
            for k in selection
                .primary_key
                .iter()
                .filter(|k| k.as_str() != cursor)
            {
                position_fields.push(column(k)?);
            }
            if position_fields.len() == 1 {
                rapidbyte_guest_sdk::log::warn(&format!(
                    "stream `{}` has no primary key: rows sharing the last cursor value may be skipped",
                    selection.name
                ));
            }
            let names: Vec<String> = position_fields
                .iter()
                .map(|c| pg_common::ident(&c.name))
                .collect();
            let saved = rapidbyte_guest_sdk::state::get::<SavedPosition>(&selection.name)?;
            if let Some(saved) = saved {
                let fields: Vec<&str> = position_fields.iter().map(|c| c.name.as_str()).collect();
                let mut expected = vec![saved.cursor_field.as_str()];
                expected.extend(saved.key_fields.iter().map(String::as_str));
                if fields != expected {
                    return Err(ConnectorError::config(
                        "cursor_changed",
                        format!(
                            "stream `{}`: saved position is on ({}) but the pipeline now uses ({}); reset the stream's state",
                            selection.name,
                            expected.join(", "),
                            fields.join(", ")
                        ),
                    ));
                }
                let values: Vec<String> = std::iter::once(&saved.cursor)
                    .chain(&saved.key)
                    .zip(&position_fields)
                    .map(|(v, c)| format!("{}::{}", quote_literal(v), c.pg_type))
                    .collect();
                let qualified: Vec<String> = names.iter().map(|n| format!("__rb_t.{n}")).collect();
                conditions.push(format!(
                    "({}) > ({})",
                    qualified.join(", "),
                    values.join(", ")
                ));
            }
            // Qualified, so ordering uses the stored type even when the
            // column is selected as text.
            let qualified: Vec<String> = names.iter().map(|n| format!("__rb_t.{n}")).collect();
            // NULL cursors first (only a stateless read sees them), so the
            // last row read carries the highest cursor.
            let mut ordering = qualified.clone();
            ordering[0].push_str(" NULLS FIRST");
            order = format!(" ORDER BY {}", ordering.join(", "));
            for (i, n) in qualified.iter().enumerate() {
                select.push_str(&format!(", {n}::text AS \"__rb_position_{i}\""));
                kinds.push(types::Kind::Text);
            }
        }
        SyncMode::Cdc => {
            return Err(ConnectorError::config(
                "sync_mode_unsupported",
                format!("stream `{}`: cdc is not supported", selection.name),
            ))
        }
    }
    let mut sql = format!(
        "COPY (SELECT {select} FROM {}.{} AS __rb_t",
        pg_common::ident(&config.schema),
        pg_common::ident(&table.name)
    );
    if !conditions.is_empty() {
        sql.push_str(&format!(" WHERE {}", conditions.join(" AND ")));
    }
    sql.push_str(&order);
    sql.push_str(") TO STDOUT (FORMAT binary)");
    let stream = client
        .copy_out(sql.as_str())
        .await
        .map_err(|e| pg_common::error(&e, &selection.name))?;
    futures_util::pin_mut!(stream);
    let mut fields: Vec<arrow_schema::FieldRef> = schema.fields().iter().cloned().collect();
    for (i, _) in position_fields.iter().enumerate() {
        fields.push(Arc::new(arrow_schema::Field::new(
            format!("__rb_position_{i}"),
            arrow_schema::DataType::Utf8,
            true,
        )));
    }
    let wide = Arc::new(Schema::new(fields));
    let mut decoder = copy::CopyDecoder::new(wide, &kinds);
    let mut out = Emitter::new(selection);
    // Small batches keep memory flat; the batch limit is an upper bound.
    // 512 KiB batches measured fastest and leanest for pg -> pg (bench/README.md).
    let flush_at = (out.max_batch_bytes() as usize / 2).clamp(1 << 16, 512 << 10);
    let data_columns: Vec<usize> = (0..schema.fields().len()).collect();
    let mut position: Option<SavedPosition> = None;
    let mut batches = 0u64;
    let mut emit = |batch: arrow_array::RecordBatch, out: &mut Emitter, last: bool| -> Result<()> {
        let cursor_column = data_columns.len();
        // A batch whose last cursor is NULL holds only NULL cursors (they
        // sort first): no position to save yet.
        if batch.num_rows() > 0
            && !position_fields.is_empty()
            && batch.column(cursor_column).is_valid(batch.num_rows() - 1)
        {
            let row = batch.num_rows() - 1;
            let text = |i: usize| -> String {
                use arrow_array::cast::AsArray;
                batch
                    .column(data_columns.len() + i)
                    .as_string::<i32>()
                    .value(row)
                    .to_string()
            };
            position = Some(SavedPosition {
                cursor_field: position_fields[0].name.clone(),
                key_fields: position_fields[1..]
                    .iter()
                    .map(|c| c.name.clone())
                    .collect(),
                cursor: text(0),
                key: (1..position_fields.len()).map(text).collect(),
            });
        }
        let data = batch
            .project(&data_columns)
            .map_err(|e| ConnectorError::internal("arrow", e.to_string()))?;
        out.emit(&data)?;
        batches += 1;
        if let Some(p) = &position {
            if last || batches.is_multiple_of(CHECKPOINT_EVERY) {
                rapidbyte_guest_sdk::state::set(&selection.name, p)?;
            }
        }
        Ok(())
    };
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| pg_common::error(&e, &selection.name))?;
        decoder.feed(&chunk)?;
        if decoder.buffered_bytes() >= flush_at || decoder.buffered_rows() >= 1 << 16 {
            emit(decoder.take_batch()?, &mut out, false)?;
        }
    }
    if !decoder.finished() {
        return Err(ConnectorError::network(
            "copy_truncated",
            format!("stream `{}`: the COPY data ended early", selection.name),
        ));
    }
    emit(decoder.take_batch()?, &mut out, true)?;
    Ok(out.finish())
}

rapidbyte_guest_sdk::source_connector!(PostgresSource);
