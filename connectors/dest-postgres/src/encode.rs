//! Arrow values -> PostgreSQL COPY text format, and Arrow types -> column
//! types.
//!
//! Text format keeps every type exact through PostgreSQL's own input
//! functions (numeric, arrays, jsonb arrive as their text form).

use std::fmt::Write;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use arrow_array::{Array, RecordBatch};
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

fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
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
    if y <= 0 {
        let _ = write!(out, "{:04}-{m:02}-{d:02} BC", 1 - y);
    } else {
        let _ = write!(out, "{y:04}-{m:02}-{d:02}");
    }
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
    let _ = write!(
        out,
        "{:04}-{m:02}-{d:02} {h:02}:{mi:02}:{s:02}.{us:06}",
        if y <= 0 { 1 - y } else { y }
    );
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

/// Appends `batch` to `out` in COPY text format.
pub fn encode_batch(batch: &RecordBatch, out: &mut String) -> Result<()> {
    let schema = batch.schema();
    for row in 0..batch.num_rows() {
        for (i, col) in batch.columns().iter().enumerate() {
            if i > 0 {
                out.push('\t');
            }
            if col.is_null(row) {
                out.push_str("\\N");
                continue;
            }
            let _ = match col.data_type() {
                DataType::Boolean => write!(
                    out,
                    "{}",
                    if col.as_boolean().value(row) {
                        't'
                    } else {
                        'f'
                    }
                ),
                DataType::Int8 => write!(out, "{}", col.as_primitive::<Int8Type>().value(row)),
                DataType::Int16 => write!(out, "{}", col.as_primitive::<Int16Type>().value(row)),
                DataType::Int32 => write!(out, "{}", col.as_primitive::<Int32Type>().value(row)),
                DataType::Int64 => write!(out, "{}", col.as_primitive::<Int64Type>().value(row)),
                DataType::UInt8 => write!(out, "{}", col.as_primitive::<UInt8Type>().value(row)),
                DataType::UInt16 => write!(out, "{}", col.as_primitive::<UInt16Type>().value(row)),
                DataType::UInt32 => write!(out, "{}", col.as_primitive::<UInt32Type>().value(row)),
                DataType::UInt64 => write!(out, "{}", col.as_primitive::<UInt64Type>().value(row)),
                DataType::Float32 => {
                    write_float(out, f64::from(col.as_primitive::<Float32Type>().value(row)));
                    Ok(())
                }
                DataType::Float64 => {
                    write_float(out, col.as_primitive::<Float64Type>().value(row));
                    Ok(())
                }
                DataType::Utf8 => {
                    escape_into(out, col.as_string::<i32>().value(row));
                    Ok(())
                }
                DataType::LargeUtf8 => {
                    escape_into(out, col.as_string::<i64>().value(row));
                    Ok(())
                }
                DataType::Binary => {
                    out.push_str("\\\\x");
                    for b in col.as_binary::<i32>().value(row) {
                        let _ = write!(out, "{b:02x}");
                    }
                    Ok(())
                }
                DataType::Date32 => {
                    write_date(out, i64::from(col.as_primitive::<Date32Type>().value(row)));
                    Ok(())
                }
                DataType::Timestamp(unit, tz) => {
                    let micros = match unit {
                        TimeUnit::Second => col
                            .as_primitive::<TimestampSecondType>()
                            .value(row)
                            .saturating_mul(1_000_000),
                        TimeUnit::Millisecond => col
                            .as_primitive::<TimestampMillisecondType>()
                            .value(row)
                            .saturating_mul(1_000),
                        TimeUnit::Microsecond => {
                            col.as_primitive::<TimestampMicrosecondType>().value(row)
                        }
                        TimeUnit::Nanosecond => {
                            col.as_primitive::<TimestampNanosecondType>().value(row) / 1_000
                        }
                    };
                    write_timestamp(out, micros, tz.is_some());
                    Ok(())
                }
                _ => return Err(unsupported(schema.field(i))),
            };
        }
        out.push('\n');
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
