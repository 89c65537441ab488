//! A stream's Arrow schema: declared in the config, or inferred.

use std::fs::File;
use std::io::BufReader;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, TimeUnit};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use rapidbyte_guest_sdk::{ConnectorError, Result};

use crate::config::{Config, Format};
use crate::files::StreamFiles;

/// The schema of `sf`: declared under `schemas.<stream>`, else inferred
/// from its first file.
pub fn stream_schema(config: &Config, sf: &StreamFiles) -> Result<Arc<Schema>> {
    if let Some(columns) = config.schemas.get(&sf.name) {
        let mut fields = Vec::with_capacity(columns.len());
        for (name, ty) in columns {
            let text = ty.to_string();
            let ty = ty.as_str().unwrap_or(&text);
            let dt = parse_type(ty).ok_or_else(|| {
                ConnectorError::config(
                    "unknown_type",
                    format!(
                        "schemas.{}.{name}: unknown type `{ty}` (use int8..int64, uint8..uint64, float32, float64, bool, utf8, date, timestamp, timestamptz, decimal(p,s) or an Arrow type name)",
                        sf.name
                    ),
                )
            })?;
            fields.push(Field::new(name, dt, true));
        }
        return Ok(Arc::new(Schema::new(fields)));
    }
    let Some(first) = sf.files.first() else {
        return Err(ConnectorError::config(
            "empty_stream",
            format!("stream `{}` has no files", sf.name),
        ));
    };
    let err = |e: &dyn std::fmt::Display| {
        ConnectorError::schema(
            "inference_failed",
            format!("{}: cannot infer a schema: {e}", first.display()),
        )
    };
    let mut file = File::open(first).map_err(|e| crate::files::io_err(first, e))?;
    let schema = match sf.format {
        Format::Csv => {
            let fmt = arrow_csv::reader::Format::default()
                .with_header(config.csv.has_header)
                .with_delimiter(config.delimiter());
            let (schema, _) = fmt
                .infer_schema(BufReader::new(&mut file), Some(config.infer_rows))
                .map_err(|e| err(&e))?;
            schema
        }
        Format::Jsonl => {
            let (schema, _) = arrow_json::reader::infer_json_schema(
                BufReader::new(&mut file),
                Some(config.infer_rows),
            )
            .map_err(|e| err(&e))?;
            schema
        }
        Format::Parquet => {
            drop(file);
            let reader = file_common::PathChunkReader::open(first)
                .map_err(|e| crate::files::io_err(first, e))?;
            let builder = ParquetRecordBatchReaderBuilder::try_new(reader).map_err(|e| err(&e))?;
            builder.schema().as_ref().clone()
        }
    };
    if schema.fields().is_empty() {
        return Err(err(&"no columns found"));
    }
    Ok(Arc::new(match sf.format {
        Format::Parquet => schema,
        Format::Csv | Format::Jsonl => with_timestamp_micros(&schema),
    }))
}

/// Inferred timestamps without fractional seconds come out as seconds,
/// a unit Parquet has no logical type for (the column would land as a
/// plain integer): read them as microseconds, the unit of declared
/// `timestamp` columns.
fn with_timestamp_micros(schema: &Schema) -> Schema {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Timestamp(TimeUnit::Second, tz) => f
                .as_ref()
                .clone()
                .with_data_type(DataType::Timestamp(TimeUnit::Microsecond, tz.clone())),
            _ => f.as_ref().clone(),
        })
        .collect();
    Schema::new_with_metadata(fields, schema.metadata().clone())
}

/// Parses a column type name of the `schemas` option.
pub fn parse_type(name: &str) -> Option<DataType> {
    let lower = name.trim().to_ascii_lowercase();
    let dt = match lower.as_str() {
        "int8" | "tinyint" => DataType::Int8,
        "int16" | "smallint" => DataType::Int16,
        "int32" | "int" | "integer" => DataType::Int32,
        "int64" | "bigint" | "long" => DataType::Int64,
        "uint8" => DataType::UInt8,
        "uint16" => DataType::UInt16,
        "uint32" => DataType::UInt32,
        "uint64" => DataType::UInt64,
        "float32" | "float" | "real" => DataType::Float32,
        "float64" | "double" => DataType::Float64,
        "bool" | "boolean" => DataType::Boolean,
        "utf8" | "string" | "text" => DataType::Utf8,
        "date" | "date32" => DataType::Date32,
        "timestamp" => DataType::Timestamp(TimeUnit::Microsecond, None),
        "timestamptz" => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        _ => {
            if let Some(inner) = lower
                .strip_prefix("decimal(")
                .and_then(|s| s.strip_suffix(')'))
            {
                let mut parts = inner.split(',').map(str::trim);
                let p: u8 = parts.next()?.parse().ok()?;
                let s: i8 = parts.next().unwrap_or("0").parse().ok()?;
                return (1..=38).contains(&p).then_some(DataType::Decimal128(p, s));
            }
            return name.trim().parse::<DataType>().ok();
        }
    };
    Some(dt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inferred_second_timestamps_read_as_microseconds() {
        let inferred = Schema::new(vec![
            Field::new("at", DataType::Timestamp(TimeUnit::Second, None), true),
            Field::new("ms", DataType::Timestamp(TimeUnit::Millisecond, None), true),
            Field::new("n", DataType::Int64, true),
        ]);
        let fixed = with_timestamp_micros(&inferred);
        assert_eq!(
            fixed.field(0).data_type(),
            &DataType::Timestamp(TimeUnit::Microsecond, None)
        );
        assert_eq!(fixed.field(1).data_type(), inferred.field(1).data_type());
        assert_eq!(fixed.field(2).data_type(), &DataType::Int64);
    }
}
