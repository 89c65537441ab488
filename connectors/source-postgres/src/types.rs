//! PostgreSQL types -> Arrow types, and binary COPY values -> Arrow builders.
//!
//! Types without a binary decoder here are selected as `col::text`, so every
//! column reads, as text.

use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, Date32Builder, Float32Builder, Float64Builder, Int16Builder,
    Int32Builder, Int64Builder, TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, StringArray};
use arrow_buffer::{Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow_schema::{DataType, Field, TimeUnit};
use pg_common::{PG_EPOCH_DAYS, PG_EPOCH_MICROS};
use rapidbyte_guest_sdk::{ConnectorError, Result};

/// How a column is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// bool
    Bool,
    /// int2
    Int2,
    /// int4
    Int4,
    /// int8
    Int8,
    /// float4
    Float4,
    /// float8
    Float8,
    /// text, varchar, bpchar, name, json: UTF-8 bytes as sent.
    Text,
    /// bytea
    Bytea,
    /// date
    Date,
    /// timestamp without time zone
    Timestamp,
    /// timestamp with time zone
    TimestampTz,
    /// uuid, rendered in its canonical text form
    Uuid,
    /// jsonb: a version byte, then the JSON text
    Jsonb,
    /// Anything else: selected as `::text`.
    AsText,
}

/// The decoding of a type OID.
pub fn kind_of(oid: u32) -> Kind {
    match oid {
        16 => Kind::Bool,
        17 => Kind::Bytea,
        19 | 25 | 114 | 1042 | 1043 => Kind::Text,
        20 => Kind::Int8,
        21 => Kind::Int2,
        23 => Kind::Int4,
        700 => Kind::Float4,
        701 => Kind::Float8,
        1082 => Kind::Date,
        1114 => Kind::Timestamp,
        1184 => Kind::TimestampTz,
        2950 => Kind::Uuid,
        3802 => Kind::Jsonb,
        _ => Kind::AsText,
    }
}

/// Types read as text on purpose: their text form is exact and is what
/// destinations load (numeric, time, timetz, interval, inet, cidr, macaddr,
/// macaddr8, money, xml, bit, varbit).
pub fn exact_as_text(oid: u32) -> bool {
    matches!(
        oid,
        1700 | 1083 | 1266 | 1186 | 869 | 650 | 829 | 774 | 790 | 142 | 1560 | 1562
    )
}

impl Kind {
    /// The Arrow type of the column.
    pub fn arrow_type(self) -> DataType {
        match self {
            Kind::Bool => DataType::Boolean,
            Kind::Int2 => DataType::Int16,
            Kind::Int4 => DataType::Int32,
            Kind::Int8 => DataType::Int64,
            Kind::Float4 => DataType::Float32,
            Kind::Float8 => DataType::Float64,
            Kind::Bytea => DataType::Binary,
            Kind::Date => DataType::Date32,
            Kind::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
            Kind::TimestampTz => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            Kind::Text | Kind::Uuid | Kind::Jsonb | Kind::AsText => DataType::Utf8,
        }
    }
}

/// An Arrow field for a column, keeping the PostgreSQL type in the field
/// metadata (`rapidbyte.pg_type`) for destinations that can use it.
pub fn field(name: &str, kind: Kind, pg_type: &str, nullable: bool) -> Field {
    let mut meta = std::collections::HashMap::new();
    meta.insert("rapidbyte.pg_type".to_string(), pg_type.to_string());
    Field::new(name, kind.arrow_type(), nullable).with_metadata(meta)
}

/// A builder per column.
pub enum ColumnBuilder {
    /// Boolean
    Bool(BooleanBuilder),
    /// Int16
    Int2(Int16Builder),
    /// Int32
    Int4(Int32Builder),
    /// Int64
    Int8(Int64Builder),
    /// Float32
    Float4(Float32Builder),
    /// Float64
    Float8(Float64Builder),
    /// Binary
    Bytea(BinaryBuilder),
    /// Date32
    Date(Date32Builder),
    /// Timestamp(µs)
    Timestamp(TimestampMicrosecondBuilder, Option<Arc<str>>),
    /// Utf8 (and how its bytes are turned into text)
    Text(TextBuilder, Kind),
}

/// Utf8 values gathered as bytes and offsets, checked as UTF-8 once per
/// batch (when the array is built) instead of value by value. Buffers
/// start each batch at the size the last one reached.
pub struct TextBuilder {
    offsets: Vec<i32>,
    data: Vec<u8>,
    nulls: Vec<bool>,
    any_null: bool,
}

/// The vector's contents, leaving an empty one with room for as many.
fn take_sized<T>(v: &mut Vec<T>) -> Vec<T> {
    let room = v.len();
    std::mem::replace(v, Vec::with_capacity(room))
}

impl Default for TextBuilder {
    fn default() -> Self {
        TextBuilder {
            offsets: vec![0],
            data: Vec::new(),
            nulls: Vec::new(),
            any_null: false,
        }
    }
}

impl TextBuilder {
    #[inline]
    fn append(&mut self, bytes: &[u8]) {
        self.data.extend_from_slice(bytes);
        self.offsets.push(self.data.len() as i32);
        self.nulls.push(true);
    }

    fn append_null(&mut self) {
        self.offsets.push(self.data.len() as i32);
        self.nulls.push(false);
        self.any_null = true;
    }

    fn finish(&mut self, column: &str) -> Result<ArrayRef> {
        // A batch is flushed at a few MiB, far below i32 offsets' limit;
        // check anyway rather than wrap.
        if self.data.len() > i32::MAX as usize {
            return Err(ConnectorError::data(
                "value_too_large",
                format!("column `{column}`: more than 2 GiB of text in one batch"),
            ));
        }
        let offsets = take_sized(&mut self.offsets);
        self.offsets.push(0);
        let data = take_sized(&mut self.data);
        let valid = take_sized(&mut self.nulls);
        let nulls = std::mem::take(&mut self.any_null).then(|| NullBuffer::from(valid));
        let array = StringArray::try_new(
            OffsetBuffer::new(ScalarBuffer::from(offsets)),
            Buffer::from_vec(data),
            nulls,
        )
        .map_err(|_| bad(column, "text (not UTF-8)"))?;
        Ok(Arc::new(array))
    }
}

#[cold]
#[inline(never)]
fn bad(column: &str, what: &str) -> ConnectorError {
    ConnectorError::data(
        "bad_value",
        format!("column `{column}`: malformed {what} value in COPY data"),
    )
}

/// The canonical text form of a uuid (`8-4-4-4-12` lowercase hex digits),
/// without allocating.
fn uuid_text(u: &[u8; 16]) -> [u8; 36] {
    /// Where each byte's two digits go.
    const AT: [usize; 16] = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [b'-'; 36];
    for (b, at) in u.iter().zip(AT) {
        out[at] = HEX[usize::from(b >> 4)];
        out[at + 1] = HEX[usize::from(b & 15)];
    }
    out
}

#[cold]
#[inline(never)]
fn out_of_range(column: &str) -> ConnectorError {
    ConnectorError::data(
        "out_of_range",
        format!("column `{column}`: a date/time beyond what Arrow can hold (about year 294,000)"),
    )
}

#[inline(always)]
fn fixed<const N: usize>(v: &[u8], column: &str, what: &str) -> Result<[u8; N]> {
    match v.try_into() {
        Ok(a) => Ok(a),
        Err(_) => Err(bad(column, what)),
    }
}

impl ColumnBuilder {
    /// A builder for `kind`.
    pub fn new(kind: Kind) -> Self {
        match kind {
            Kind::Bool => ColumnBuilder::Bool(BooleanBuilder::new()),
            Kind::Int2 => ColumnBuilder::Int2(Int16Builder::new()),
            Kind::Int4 => ColumnBuilder::Int4(Int32Builder::new()),
            Kind::Int8 => ColumnBuilder::Int8(Int64Builder::new()),
            Kind::Float4 => ColumnBuilder::Float4(Float32Builder::new()),
            Kind::Float8 => ColumnBuilder::Float8(Float64Builder::new()),
            Kind::Bytea => ColumnBuilder::Bytea(BinaryBuilder::new()),
            Kind::Date => ColumnBuilder::Date(Date32Builder::new()),
            Kind::Timestamp => ColumnBuilder::Timestamp(TimestampMicrosecondBuilder::new(), None),
            Kind::TimestampTz => {
                ColumnBuilder::Timestamp(TimestampMicrosecondBuilder::new(), Some("UTC".into()))
            }
            Kind::Text | Kind::Uuid | Kind::Jsonb | Kind::AsText => {
                ColumnBuilder::Text(TextBuilder::default(), kind)
            }
        }
    }

    /// Appends a NULL.
    #[inline]
    pub fn append_null(&mut self) {
        match self {
            ColumnBuilder::Bool(b) => b.append_null(),
            ColumnBuilder::Int2(b) => b.append_null(),
            ColumnBuilder::Int4(b) => b.append_null(),
            ColumnBuilder::Int8(b) => b.append_null(),
            ColumnBuilder::Float4(b) => b.append_null(),
            ColumnBuilder::Float8(b) => b.append_null(),
            ColumnBuilder::Bytea(b) => b.append_null(),
            ColumnBuilder::Date(b) => b.append_null(),
            ColumnBuilder::Timestamp(b, _) => b.append_null(),
            ColumnBuilder::Text(b, _) => b.append_null(),
        }
    }

    /// Appends one value in PostgreSQL binary format.
    #[inline(always)]
    pub fn append(&mut self, v: &[u8], column: &str) -> Result<()> {
        match self {
            ColumnBuilder::Bool(b) => b.append_value(fixed::<1>(v, column, "bool")?[0] != 0),
            ColumnBuilder::Int2(b) => b.append_value(i16::from_be_bytes(fixed(v, column, "int2")?)),
            ColumnBuilder::Int4(b) => b.append_value(i32::from_be_bytes(fixed(v, column, "int4")?)),
            ColumnBuilder::Int8(b) => b.append_value(i64::from_be_bytes(fixed(v, column, "int8")?)),
            ColumnBuilder::Float4(b) => {
                b.append_value(f32::from_be_bytes(fixed(v, column, "float4")?))
            }
            ColumnBuilder::Float8(b) => {
                b.append_value(f64::from_be_bytes(fixed(v, column, "float8")?))
            }
            ColumnBuilder::Bytea(b) => b.append_value(v),
            ColumnBuilder::Date(b) => {
                // ±infinity (i32::MAX/MIN) stay the extreme values.
                let days = i32::from_be_bytes(fixed(v, column, "date")?);
                b.append_value(match days {
                    i32::MAX | i32::MIN => days,
                    d => d
                        .checked_add(PG_EPOCH_DAYS)
                        .ok_or_else(|| out_of_range(column))?,
                });
            }
            ColumnBuilder::Timestamp(b, _) => {
                // ±infinity (i64::MAX/MIN) stay the extreme values.
                let micros = i64::from_be_bytes(fixed(v, column, "timestamp")?);
                b.append_value(match micros {
                    i64::MAX | i64::MIN => micros,
                    m => m
                        .checked_add(PG_EPOCH_MICROS)
                        .filter(|m| *m != i64::MAX)
                        .ok_or_else(|| out_of_range(column))?,
                });
            }
            ColumnBuilder::Text(b, kind) => match kind {
                Kind::Uuid => b.append(&uuid_text(&fixed(v, column, "uuid")?)),
                // Version 1, then the JSON text.
                Kind::Jsonb => match v.split_first() {
                    Some((1, text)) => b.append(text),
                    _ => return Err(bad(column, "jsonb")),
                },
                _ => b.append(v),
            },
        }
        Ok(())
    }

    /// Finishes the current batch's array (the builder is reset); fails
    /// when a text column's bytes are not UTF-8.
    pub fn finish(&mut self, column: &str) -> Result<ArrayRef> {
        Ok(match self {
            ColumnBuilder::Bool(b) => Arc::new(b.finish()),
            ColumnBuilder::Int2(b) => Arc::new(b.finish()),
            ColumnBuilder::Int4(b) => Arc::new(b.finish()),
            ColumnBuilder::Int8(b) => Arc::new(b.finish()),
            ColumnBuilder::Float4(b) => Arc::new(b.finish()),
            ColumnBuilder::Float8(b) => Arc::new(b.finish()),
            ColumnBuilder::Bytea(b) => Arc::new(b.finish()),
            ColumnBuilder::Date(b) => Arc::new(b.finish()),
            ColumnBuilder::Timestamp(b, tz) => Arc::new(b.finish().with_timezone_opt(tz.clone())),
            ColumnBuilder::Text(b, _) => b.finish(column)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_text_is_canonical() {
        let u = [
            0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab,
            0xcd, 0xef,
        ];
        assert_eq!(
            std::str::from_utf8(&uuid_text(&u)).unwrap(),
            "12345678-9abc-def0-0123-456789abcdef"
        );
    }
}
