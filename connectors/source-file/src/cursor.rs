//! Incremental reads: keep rows whose cursor is past the saved value and
//! remember the largest cursor seen.

use arrow_array::{Array, ArrayRef, Float64Array, Int64Array, RecordBatch, Scalar, StringArray};
use arrow_cast::cast;
use arrow_schema::{DataType, Schema};
use rapidbyte_guest_sdk::{ConnectorError, Result};
use serde::{Deserialize, Serialize};

/// The comparable form of a cursor value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CursorValue {
    /// Integers, dates and timestamps (in the column's own unit).
    Int(i64),
    /// Floating point numbers.
    Float(f64),
    /// Strings (compared byte-wise).
    Text(String),
}

/// What is saved in the state database for a stream.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedCursor {
    /// The cursor column.
    pub cursor_field: String,
    /// The column's Arrow type when the value was saved.
    pub column_type: String,
    /// The largest cursor value read so far.
    pub value: CursorValue,
}

/// A cursor saved on a timestamp column in seconds, now read in
/// microseconds (inference reads second-precision timestamps as
/// microseconds since they must land in Parquet as timestamps): the same
/// position in the new unit.
fn seconds_to_micros(saved: SavedCursor, now: &DataType) -> SavedCursor {
    let DataType::Timestamp(arrow_schema::TimeUnit::Microsecond, tz) = now else {
        return saved;
    };
    let before = DataType::Timestamp(arrow_schema::TimeUnit::Second, tz.clone()).to_string();
    match saved.value {
        CursorValue::Int(secs) if saved.column_type == before => {
            match secs.checked_mul(1_000_000) {
                Some(micros) => SavedCursor {
                    column_type: now.to_string(),
                    value: CursorValue::Int(micros),
                    ..saved
                },
                None => saved,
            }
        }
        _ => saved,
    }
}

enum Kind {
    Int,
    Float,
    Text,
}

/// Filters batches against the saved cursor and tracks the new maximum.
pub struct Cursor {
    field: String,
    index: usize,
    column_type: DataType,
    kind: Kind,
    saved: Option<CursorValue>,
    max: Option<CursorValue>,
}

fn kind_of(dt: &DataType) -> Option<Kind> {
    Some(match dt {
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::Date32
        | DataType::Date64
        | DataType::Timestamp(_, _) => Kind::Int,
        DataType::Float16 | DataType::Float32 | DataType::Float64 => Kind::Float,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Kind::Text,
        _ => return None,
    })
}

impl Cursor {
    /// A cursor on `field` of `schema`, resuming from `saved`.
    pub fn new(
        stream: &str,
        field: &str,
        schema: &Schema,
        saved: Option<SavedCursor>,
    ) -> Result<Self> {
        let (index, f) = schema.column_with_name(field).ok_or_else(|| {
            ConnectorError::config(
                "unknown_cursor",
                format!(
                    "stream `{stream}`: cursor_field `{field}` is not a column (columns: {})",
                    schema
                        .fields()
                        .iter()
                        .map(|f| f.name().as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })?;
        let kind = kind_of(f.data_type()).ok_or_else(|| {
            ConnectorError::config(
                "bad_cursor_type",
                format!(
                    "stream `{stream}`: cursor_field `{field}` has type {} which cannot be a cursor (use an integer, float, date, timestamp or string column)",
                    f.data_type()
                ),
            )
        })?;
        let column_type = f.data_type().clone();
        let saved = match saved.map(|s| seconds_to_micros(s, &column_type)) {
            None => None,
            Some(s) if s.cursor_field != field || s.column_type != column_type.to_string() => {
                return Err(ConnectorError::config(
                    "cursor_changed",
                    format!(
                        "stream `{stream}`: saved cursor is on `{}` ({}) but the pipeline uses `{field}` ({column_type}); reset the stream's state to start over",
                        s.cursor_field, s.column_type
                    ),
                ));
            }
            Some(s) => Some(s.value),
        };
        Ok(Cursor {
            field: field.to_string(),
            index,
            column_type,
            kind,
            saved,
            max: None,
        })
    }

    fn comparable(&self, col: &ArrayRef) -> Result<ArrayRef> {
        let target = match self.kind {
            Kind::Int => DataType::Int64,
            Kind::Float => DataType::Float64,
            Kind::Text => DataType::Utf8,
        };
        let col = match col.data_type() {
            DataType::Date32 => {
                cast(col, &DataType::Int32).and_then(|c| cast(&c, &DataType::Int64))
            }
            _ => cast(col, &target),
        };
        col.map_err(|e| {
            ConnectorError::data("cursor_cast", format!("cursor `{}`: {e}", self.field))
        })
    }

    /// Rows of `batch` past the saved cursor; updates the running maximum.
    pub fn keep_newer(&mut self, batch: &RecordBatch) -> Result<RecordBatch> {
        let col = self.comparable(batch.column(self.index))?;
        let err =
            |e: arrow_schema::ArrowError| ConnectorError::data("cursor_filter", e.to_string());
        let filtered = match &self.saved {
            None => batch.clone(),
            Some(saved) => {
                let mask = match (saved, self.kind_tag()) {
                    (CursorValue::Int(v), 0) => {
                        arrow_ord::cmp::gt(&col, &Scalar::new(Int64Array::from(vec![*v])))
                    }
                    (CursorValue::Float(v), 1) => {
                        arrow_ord::cmp::gt(&col, &Scalar::new(Float64Array::from(vec![*v])))
                    }
                    (CursorValue::Text(v), 2) => {
                        arrow_ord::cmp::gt(&col, &Scalar::new(StringArray::from(vec![v.as_str()])))
                    }
                    _ => {
                        return Err(ConnectorError::config(
                            "cursor_changed",
                            format!(
                                "saved cursor {saved:?} does not fit column `{}` ({})",
                                self.field, self.column_type
                            ),
                        ))
                    }
                }
                .map_err(err)?;
                arrow_select::filter::filter_record_batch(batch, &mask).map_err(err)?
            }
        };
        let col = if filtered.num_rows() == batch.num_rows() {
            col
        } else {
            self.comparable(filtered.column(self.index))?
        };
        self.observe_max(&col);
        Ok(filtered)
    }

    fn kind_tag(&self) -> u8 {
        match self.kind {
            Kind::Int => 0,
            Kind::Float => 1,
            Kind::Text => 2,
        }
    }

    fn observe_max(&mut self, col: &ArrayRef) {
        let candidate = if let Some(a) = col.as_any().downcast_ref::<Int64Array>() {
            a.iter().flatten().max().map(CursorValue::Int)
        } else if let Some(a) = col.as_any().downcast_ref::<Float64Array>() {
            a.iter()
                .flatten()
                .filter(|v| !v.is_nan())
                .reduce(f64::max)
                .map(CursorValue::Float)
        } else if let Some(a) = col.as_any().downcast_ref::<StringArray>() {
            a.iter()
                .flatten()
                .max()
                .map(|s| CursorValue::Text(s.to_string()))
        } else {
            None
        };
        let Some(c) = candidate else { return };
        let bigger = match (&self.max, &c) {
            (None, _) => true,
            (Some(CursorValue::Int(a)), CursorValue::Int(b)) => b > a,
            (Some(CursorValue::Float(a)), CursorValue::Float(b)) => b > a,
            (Some(CursorValue::Text(a)), CursorValue::Text(b)) => b > a,
            _ => false,
        };
        if bigger {
            self.max = Some(c);
        }
    }

    /// The state to save, if any row was read.
    pub fn into_saved(self) -> Option<SavedCursor> {
        let column_type = self.column_type.to_string();
        self.max.map(|value| SavedCursor {
            cursor_field: self.field,
            column_type,
            value,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_schema::{Field, TimeUnit};

    fn saved(column_type: &DataType, value: i64) -> SavedCursor {
        SavedCursor {
            cursor_field: "at".into(),
            column_type: column_type.to_string(),
            value: CursorValue::Int(value),
        }
    }

    #[test]
    fn a_cursor_saved_in_seconds_resumes_in_microseconds() {
        let secs = DataType::Timestamp(TimeUnit::Second, None);
        let micros = DataType::Timestamp(TimeUnit::Microsecond, None);
        let schema = Schema::new(vec![Field::new("at", micros.clone(), true)]);
        let c = Cursor::new("s", "at", &schema, Some(saved(&secs, 1_735_776_017))).unwrap();
        assert_eq!(c.saved, Some(CursorValue::Int(1_735_776_017_000_000)));
        // Another change of type is still refused.
        let millis = DataType::Timestamp(TimeUnit::Millisecond, None);
        assert!(Cursor::new("s", "at", &schema, Some(saved(&millis, 1))).is_err());
        // A zone change too.
        let utc = DataType::Timestamp(TimeUnit::Second, Some("UTC".into()));
        assert!(Cursor::new("s", "at", &schema, Some(saved(&utc, 1))).is_err());
    }
}
