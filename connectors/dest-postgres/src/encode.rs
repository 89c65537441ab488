//! Arrow values -> PostgreSQL COPY text format, and Arrow types -> column
//! types.
//!
//! Text format keeps every type exact through PostgreSQL's own input
//! functions (numeric, arrays, jsonb arrive as their text form).

use std::fmt::Write;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType,
};
use arrow_array::{
    Array, BinaryArray, BooleanArray, Date32Array, Float32Array, Float64Array, Int16Array,
    Int32Array, Int64Array, Int8Array, LargeStringArray, RecordBatch, StringArray, UInt16Array,
    UInt32Array, UInt64Array, UInt8Array,
};
use arrow_schema::{DataType, Field, TimeUnit};
use rapidbyte_guest_sdk::{ConnectorError, Result};

/// The PostgreSQL type a source put in the field metadata, if any.
pub fn source_type(field: &Field) -> Option<&String> {
    field.metadata().get("rapidbyte.pg_type")
}

/// The column type for `field`: the source's PostgreSQL type when it
/// travelled in the metadata and `exists` in this database, else one
/// mapped from the Arrow type.
pub fn column_type(field: &Field, exists: impl Fn(&str) -> bool) -> String {
    if let Some(t) = source_type(field).filter(|t| exists(t)) {
        return t.clone();
    }
    // JSON text from sources without a database type of their own
    // (source-rest's `Json` columns).
    if field
        .metadata()
        .contains_key(rapidbyte_guest_sdk::metadata::JSON)
        && matches!(field.data_type(), DataType::Utf8 | DataType::LargeUtf8)
    {
        return "jsonb".into();
    }
    match field.data_type() {
        DataType::Boolean => "boolean".into(),
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => "smallint".into(),
        DataType::Int32 | DataType::UInt16 => "integer".into(),
        DataType::Int64 | DataType::UInt32 => "bigint".into(),
        DataType::UInt64 => "numeric(20,0)".into(),
        DataType::Float16 | DataType::Float32 => "real".into(),
        DataType::Float64 => "double precision".into(),
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => format!("numeric({p},{s})"),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => "bytea".into(),
        DataType::Date32 | DataType::Date64 => "date".into(),
        DataType::Timestamp(_, None) => "timestamp".into(),
        DataType::Timestamp(_, Some(_)) => "timestamptz".into(),
        _ => "text".into(),
    }
}

/// Appends `s` with COPY's escapes, copying runs of plain bytes whole.
fn escape_into(out: &mut String, s: &str) {
    let mut plain = 0;
    for (i, b) in s.bytes().enumerate() {
        let escaped = match b {
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            _ => continue,
        };
        // Escapes are ASCII, so `i` is on a char boundary.
        out.push_str(&s[plain..i]);
        out.push_str(escaped);
        plain = i + 1;
    }
    out.push_str(&s[plain..]);
}

fn push_int(out: &mut String, v: impl itoa::Integer) {
    out.push_str(itoa::Buffer::new().format(v));
}

/// Appends `v` zero-padded to at least `width` digits (`v` >= 0).
fn push_padded(out: &mut String, v: i64, width: usize) {
    let mut buf = itoa::Buffer::new();
    let digits = buf.format(v);
    for _ in digits.len()..width {
        out.push('0');
    }
    out.push_str(digits);
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn push_hex(out: &mut String, bytes: &[u8]) {
    out.reserve(bytes.len() * 2);
    for b in bytes {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 15)] as char);
    }
}

/// Days since 1970-01-01 -> (year, month, day) in the proleptic Gregorian calendar.
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn write_date(out: &mut String, days: i64) {
    // The source's ±infinity.
    if days == i64::from(i32::MAX) || days == i64::from(i32::MIN) {
        out.push_str(if days > 0 { "infinity" } else { "-infinity" });
        return;
    }
    let (y, m, d) = civil(days);
    push_ymd(out, y, m, d);
    if y <= 0 {
        out.push_str(" BC");
    }
}

/// `YYYY-MM-DD`, years before 1 AD as their BC number (the caller adds
/// ` BC`).
fn push_ymd(out: &mut String, y: i64, m: u32, d: u32) {
    push_padded(out, if y <= 0 { 1 - y } else { y }, 4);
    out.push('-');
    push_padded(out, i64::from(m), 2);
    out.push('-');
    push_padded(out, i64::from(d), 2);
}

fn write_timestamp(out: &mut String, micros: i64, tz: bool) {
    // The source's ±infinity.
    if micros == i64::MAX || micros == i64::MIN {
        out.push_str(if micros > 0 { "infinity" } else { "-infinity" });
        return;
    }
    let days = micros.div_euclid(86_400_000_000);
    let rem = micros.rem_euclid(86_400_000_000);
    let (y, m, d) = civil(days);
    let (h, mi, s, us) = (
        rem / 3_600_000_000,
        rem / 60_000_000 % 60,
        rem / 1_000_000 % 60,
        rem % 1_000_000,
    );
    push_ymd(out, y, m, d);
    out.push(' ');
    push_padded(out, h, 2);
    out.push(':');
    push_padded(out, mi, 2);
    out.push(':');
    push_padded(out, s, 2);
    out.push('.');
    push_padded(out, us, 6);
    if tz {
        out.push_str("+00");
    }
    if y <= 0 {
        out.push_str(" BC");
    }
}

fn write_float(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "Infinity" } else { "-Infinity" });
    } else {
        let _ = write!(out, "{v}");
    }
}

fn unsupported(field: &Field) -> ConnectorError {
    ConnectorError::schema(
        "unsupported_type",
        format!(
            "column `{}`: Arrow type {} cannot be loaded yet",
            field.name(),
            field.data_type()
        ),
    )
}

/// One column, downcast once per batch.
enum Column<'a> {
    Bool(&'a BooleanArray),
    I8(&'a Int8Array),
    I16(&'a Int16Array),
    I32(&'a Int32Array),
    I64(&'a Int64Array),
    U8(&'a UInt8Array),
    U16(&'a UInt16Array),
    U32(&'a UInt32Array),
    U64(&'a UInt64Array),
    F32(&'a Float32Array),
    F64(&'a Float64Array),
    Utf8(&'a StringArray),
    LargeUtf8(&'a LargeStringArray),
    Binary(&'a BinaryArray),
    Date(&'a Date32Array),
    /// Raw values of any unit, the (multiplier, divisor) to microseconds,
    /// and whether there is a time zone.
    Timestamp(&'a [i64], (i64, i64), bool),
}

impl<'a> Column<'a> {
    fn of(col: &'a dyn Array, field: &Field) -> Result<Self> {
        Ok(match col.data_type() {
            DataType::Boolean => Column::Bool(col.as_boolean()),
            DataType::Int8 => Column::I8(col.as_primitive()),
            DataType::Int16 => Column::I16(col.as_primitive()),
            DataType::Int32 => Column::I32(col.as_primitive()),
            DataType::Int64 => Column::I64(col.as_primitive()),
            DataType::UInt8 => Column::U8(col.as_primitive()),
            DataType::UInt16 => Column::U16(col.as_primitive()),
            DataType::UInt32 => Column::U32(col.as_primitive()),
            DataType::UInt64 => Column::U64(col.as_primitive()),
            DataType::Float32 => Column::F32(col.as_primitive()),
            DataType::Float64 => Column::F64(col.as_primitive()),
            DataType::Utf8 => Column::Utf8(col.as_string()),
            DataType::LargeUtf8 => Column::LargeUtf8(col.as_string()),
            DataType::Binary => Column::Binary(col.as_binary()),
            DataType::Date32 => Column::Date(col.as_primitive()),
            DataType::Timestamp(unit, tz) => {
                let (values, scale): (&[i64], _) = match unit {
                    TimeUnit::Second => (
                        col.as_primitive::<TimestampSecondType>().values(),
                        (1_000_000, 1),
                    ),
                    TimeUnit::Millisecond => (
                        col.as_primitive::<TimestampMillisecondType>().values(),
                        (1_000, 1),
                    ),
                    TimeUnit::Microsecond => (
                        col.as_primitive::<TimestampMicrosecondType>().values(),
                        (1, 1),
                    ),
                    TimeUnit::Nanosecond => (
                        col.as_primitive::<TimestampNanosecondType>().values(),
                        (1, 1_000),
                    ),
                };
                Column::Timestamp(values, scale, tz.is_some())
            }
            _ => return Err(unsupported(field)),
        })
    }

    /// Appends the (non-NULL) value at `row`.
    fn write(&self, row: usize, out: &mut String) {
        match self {
            Column::Bool(a) => out.push(if a.value(row) { 't' } else { 'f' }),
            Column::I8(a) => push_int(out, a.value(row)),
            Column::I16(a) => push_int(out, a.value(row)),
            Column::I32(a) => push_int(out, a.value(row)),
            Column::I64(a) => push_int(out, a.value(row)),
            Column::U8(a) => push_int(out, a.value(row)),
            Column::U16(a) => push_int(out, a.value(row)),
            Column::U32(a) => push_int(out, a.value(row)),
            Column::U64(a) => push_int(out, a.value(row)),
            Column::F32(a) => write_float(out, f64::from(a.value(row))),
            Column::F64(a) => write_float(out, a.value(row)),
            Column::Utf8(a) => escape_into(out, a.value(row)),
            Column::LargeUtf8(a) => escape_into(out, a.value(row)),
            Column::Binary(a) => {
                out.push_str("\\\\x");
                push_hex(out, a.value(row));
            }
            Column::Date(a) => write_date(out, i64::from(a.value(row))),
            // Seconds and milliseconds saturate, so the source's ±infinity
            // (the extreme values) stays infinite.
            Column::Timestamp(values, (mul, div), tz) => {
                write_timestamp(out, values[row].saturating_mul(*mul) / div, *tz)
            }
        }
    }
}

/// Appends `batch` to `out` in COPY text format.
pub fn encode_batch(batch: &RecordBatch, out: &mut String) -> Result<()> {
    let schema = batch.schema();
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(c, f)| Column::of(c.as_ref(), f))
        .collect::<Result<Vec<_>>>()?;
    let arrays = batch.columns();
    for row in 0..batch.num_rows() {
        for (i, col) in columns.iter().enumerate() {
            if i > 0 {
                out.push('\t');
            }
            if arrays[i].is_null(row) {
                out.push_str("\\N");
            } else {
                col.write(row, out);
            }
        }
        out.push('\n');
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_rows_in_copy_text_format() {
        use arrow_array::{ArrayRef, TimestampMicrosecondArray};
        use std::sync::Arc;
        let cols: Vec<(&str, ArrayRef)> = vec![
            ("i", Arc::new(Int64Array::from(vec![Some(-42), None]))),
            (
                "s",
                Arc::new(StringArray::from(vec![Some("a\tb\\c\nü"), Some("plain")])),
            ),
            (
                "b",
                Arc::new(BinaryArray::from(vec![
                    Some(&[0u8, 255][..]),
                    Some(&[][..]),
                ])),
            ),
            (
                "t",
                Arc::new(TimestampMicrosecondArray::from(vec![
                    Some(0),
                    Some(i64::MAX),
                ])),
            ),
            ("f", Arc::new(Float64Array::from(vec![f64::NAN, 0.1]))),
        ];
        let batch = RecordBatch::try_from_iter(cols).unwrap();
        let mut out = String::new();
        encode_batch(&batch, &mut out).unwrap();
        assert_eq!(
            out,
            "-42\ta\\tb\\\\c\\nü\t\\\\x00ff\t1970-01-01 00:00:00.000000\tNaN\n\
             \\N\tplain\t\\\\x\tinfinity\t0.1\n"
        );
    }

    #[test]
    fn calendar() {
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(civil(10_957), (2000, 1, 1));
        assert_eq!(civil(-1), (1969, 12, 31));
        assert_eq!(civil(19_782), (2024, 2, 29));
        let mut s = String::new();
        write_timestamp(&mut s, 1_704_067_200_123_456, true);
        assert_eq!(s, "2024-01-01 00:00:00.123456+00");
        s.clear();
        write_timestamp(&mut s, i64::MIN, false);
        write_date(&mut s, i64::from(i32::MAX));
        assert_eq!(s, "-infinityinfinity");
    }

    #[test]
    fn json_marked_text_becomes_jsonb() {
        let meta = std::collections::HashMap::from([(
            rapidbyte_guest_sdk::metadata::JSON.to_string(),
            "true".to_string(),
        )]);
        let json = Field::new("user", DataType::Utf8, true).with_metadata(meta);
        assert_eq!(column_type(&json, |_| true), "jsonb");
        assert_eq!(
            column_type(&Field::new("t", DataType::Utf8, true), |_| true),
            "text"
        );
    }
}
