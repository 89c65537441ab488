//! JSON records -> Arrow: declared or inferred columns, values converted
//! per column type, and cursor values compared in their column's type.
//!
//! Column types: `Int64`, `Int32`, `Float64`, `Boolean`, `Utf8` (or
//! `String`), `Timestamp` (RFC 3339 text or epoch seconds, stored as UTC
//! microseconds), `Date` (`YYYY-MM-DD`) and `Json`: nested objects and
//! arrays kept as JSON text, marked `rapidbyte.json` in the field metadata
//! so destinations that have a JSON type (Postgres `jsonb`) use it.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Date32Builder, Float64Builder, Int32Builder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use serde::Deserialize;
use serde_json::Value;

use crate::jsonpath::JsonPath;

/// The field metadata key that marks a column holding JSON text.
pub use rapidbyte_guest_sdk::metadata::JSON as JSON_METADATA;

/// A column type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Int64,
    Int32,
    Float64,
    Boolean,
    Utf8,
    Timestamp,
    Date,
    Json,
}

impl Kind {
    fn parse(name: &str) -> Option<Kind> {
        Some(match name.to_ascii_lowercase().as_str() {
            "int64" | "integer" | "bigint" => Kind::Int64,
            "int32" | "int" => Kind::Int32,
            "float64" | "double" | "float" | "number" => Kind::Float64,
            "boolean" | "bool" => Kind::Boolean,
            "utf8" | "string" | "text" => Kind::Utf8,
            "timestamp" => Kind::Timestamp,
            "date" => Kind::Date,
            "json" => Kind::Json,
            _ => return None,
        })
    }

    fn arrow(self) -> DataType {
        match self {
            Kind::Int64 => DataType::Int64,
            Kind::Int32 => DataType::Int32,
            Kind::Float64 => DataType::Float64,
            Kind::Boolean => DataType::Boolean,
            Kind::Utf8 | Kind::Json => DataType::Utf8,
            Kind::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            Kind::Date => DataType::Date32,
        }
    }

    fn of_field(f: &Field) -> Kind {
        match f.data_type() {
            DataType::Int64 => Kind::Int64,
            DataType::Int32 => Kind::Int32,
            DataType::Float64 => Kind::Float64,
            DataType::Boolean => Kind::Boolean,
            DataType::Timestamp(..) => Kind::Timestamp,
            DataType::Date32 => Kind::Date,
            _ if f.metadata().contains_key(JSON_METADATA) => Kind::Json,
            _ => Kind::Utf8,
        }
    }
}

/// One declared column: `{ name: id, type: Int64 }`, optionally with a
/// JSONPath into the record (`path: $.user.login`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnSpec {
    /// Column name.
    pub name: String,
    /// Column type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Where the value is in the record (default: the member `name`).
    #[serde(default)]
    pub path: Option<String>,
    /// Whether nulls are allowed (default true: APIs omit members).
    #[serde(default = "yes")]
    pub nullable: bool,
}

fn yes() -> bool {
    true
}

/// Checks declared columns.
pub fn check_columns(cols: &[ColumnSpec]) -> Result<(), String> {
    if cols.is_empty() {
        return Err("declares no column".into());
    }
    let mut seen = std::collections::HashSet::new();
    for c in cols {
        if !seen.insert(&c.name) {
            return Err(format!("column `{}` is declared twice", c.name));
        }
        if Kind::parse(&c.kind).is_none() {
            return Err(format!(
                "column `{}`: unknown type `{}` (Int64, Int32, Float64, Boolean, Utf8, Timestamp, Date, Json)",
                c.name, c.kind
            ));
        }
        if let Some(p) = &c.path {
            JsonPath::parse(p).map_err(|e| format!("column `{}`: {e}", c.name))?;
        }
    }
    Ok(())
}

/// Columns and where their values are found.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The Arrow schema.
    pub schema: SchemaRef,
    /// Per column, the JSONPath of its value (None: the member of that name).
    paths: Vec<Option<JsonPath>>,
}

fn field(name: &str, kind: Kind, nullable: bool) -> Field {
    let f = Field::new(name, kind.arrow(), nullable);
    if kind == Kind::Json {
        f.with_metadata(HashMap::from([(
            JSON_METADATA.to_string(),
            "true".to_string(),
        )]))
    } else {
        f
    }
}

impl Layout {
    /// The layout of declared columns (already checked).
    pub fn declared(cols: &[ColumnSpec]) -> Result<Layout, String> {
        check_columns(cols)?;
        let mut fields = Vec::new();
        let mut paths = Vec::new();
        for c in cols {
            let kind = Kind::parse(&c.kind).unwrap_or(Kind::Utf8);
            fields.push(field(&c.name, kind, c.nullable));
            paths.push(c.path.as_deref().map(JsonPath::parse).transpose()?);
        }
        Ok(Layout {
            schema: Arc::new(Schema::new(fields)),
            paths,
        })
    }

    /// Columns inferred from sample records: every top-level member, in
    /// the order first seen, all nullable. Integers are Int64 unless a
    /// sample has a fraction (Float64); text that is RFC 3339 in every
    /// sample is Timestamp; objects and arrays are Json; mixed or only-null
    /// members are Utf8.
    pub fn inferred(samples: &[Value]) -> Layout {
        let mut order: Vec<String> = Vec::new();
        let mut kinds: HashMap<String, Option<Kind>> = HashMap::new();
        for rec in samples {
            let Some(obj) = rec.as_object() else { continue };
            for (k, v) in obj {
                if !kinds.contains_key(k) {
                    order.push(k.clone());
                    kinds.insert(k.clone(), None);
                }
                let seen = kinds.get_mut(k).expect("inserted above");
                let this = match v {
                    Value::Null => continue,
                    Value::Bool(_) => Kind::Boolean,
                    Value::Number(n) if n.is_i64() || n.is_u64() => Kind::Int64,
                    Value::Number(_) => Kind::Float64,
                    Value::String(s)
                        if parse_timestamp(s).is_some() && s.contains(['T', 't', ' ']) =>
                    {
                        Kind::Timestamp
                    }
                    Value::String(_) => Kind::Utf8,
                    Value::Array(_) | Value::Object(_) => Kind::Json,
                };
                *seen = Some(match (*seen, this) {
                    (None, k) => k,
                    (Some(a), b) if a == b => a,
                    (Some(Kind::Int64), Kind::Float64) | (Some(Kind::Float64), Kind::Int64) => {
                        Kind::Float64
                    }
                    (Some(Kind::Timestamp), Kind::Utf8) | (Some(Kind::Utf8), Kind::Timestamp) => {
                        Kind::Utf8
                    }
                    _ => Kind::Utf8,
                });
            }
        }
        let fields: Vec<Field> = order
            .iter()
            .map(|name| field(name, kinds[name].unwrap_or(Kind::Utf8), true))
            .collect();
        let paths = vec![None; fields.len()];
        Layout {
            schema: Arc::new(Schema::new(fields)),
            paths,
        }
    }

    /// The value of column `i` in `rec`.
    fn value<'v>(&self, i: usize, rec: &'v Value) -> Option<&'v Value> {
        match &self.paths[i] {
            Some(p) => p.find(rec),
            None => rec.get(self.schema.field(i).name()),
        }
    }

    /// The index of column `name`.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.schema.index_of(name).ok()
    }

    /// The cursor value of `rec` in column `i`, typed for comparison.
    pub fn cursor_of(&self, i: usize, rec: &Value) -> Option<CursorValue> {
        let v = self.value(i, rec)?;
        CursorValue::from_json(Kind::of_field(self.schema.field(i)), v)
    }

    /// Builds one batch of `records`; `at` names them in errors
    /// (`page 3 (GET https://...)`).
    pub fn batch(
        &self,
        records: &[Value],
        at: &dyn Fn(usize) -> String,
    ) -> Result<RecordBatch, String> {
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.schema.fields().len());
        for (i, f) in self.schema.fields().iter().enumerate() {
            let kind = Kind::of_field(f);
            let bad = |row: usize, v: &Value| {
                let mut shown = v.to_string();
                if shown.len() > 80 {
                    let mut end = 80;
                    while !shown.is_char_boundary(end) {
                        end -= 1;
                    }
                    shown.truncate(end);
                    shown.push('…');
                }
                format!(
                    "{}: column `{}` ({:?}) cannot hold {shown}; declare its type in the stream's `schema`",
                    at(row),
                    f.name(),
                    kind
                )
            };
            let missing = |row: usize| {
                format!(
                    "{}: column `{}` is declared not nullable but the record has no value",
                    at(row),
                    f.name()
                )
            };
            macro_rules! build {
                ($builder:expr, $conv:expr) => {{
                    let mut b = $builder;
                    for (row, rec) in records.iter().enumerate() {
                        match self.value(i, rec) {
                            None | Some(Value::Null) => {
                                if !f.is_nullable() {
                                    return Err(missing(row));
                                }
                                b.append_null()
                            }
                            Some(v) => match $conv(v) {
                                Some(x) => b.append_value(x),
                                None => return Err(bad(row, v)),
                            },
                        }
                    }
                    Arc::new(b.finish()) as ArrayRef
                }};
            }
            let n = records.len();
            let col = match kind {
                Kind::Int64 => build!(Int64Builder::with_capacity(n), as_i64),
                Kind::Int32 => build!(Int32Builder::with_capacity(n), |v: &Value| as_i64(v)
                    .and_then(|x| i32::try_from(x).ok())),
                Kind::Float64 => build!(Float64Builder::with_capacity(n), as_f64),
                Kind::Boolean => build!(BooleanBuilder::with_capacity(n), as_bool),
                Kind::Utf8 => build!(StringBuilder::with_capacity(n, n * 16), |v: &Value| Some(
                    text_of(v)
                )),
                Kind::Json => build!(StringBuilder::with_capacity(n, n * 32), |v: &Value| Some(
                    v.to_string()
                )),
                Kind::Timestamp => build!(
                    TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC"),
                    as_micros
                ),
                Kind::Date => build!(Date32Builder::with_capacity(n), |v: &Value| v
                    .as_str()
                    .and_then(parse_date)),
            };
            columns.push(col);
        }
        let options = arrow_array::RecordBatchOptions::new().with_row_count(Some(records.len()));
        RecordBatch::try_new_with_options(self.schema.clone(), columns, &options)
            .map_err(|e| format!("{}: {e}", at(0)))
    }
}

fn as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| f as i64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn as_micros(v: &Value) -> Option<i64> {
    match v {
        Value::String(s) => parse_timestamp(s),
        // Epoch seconds.
        Value::Number(n) => n.as_f64().map(|s| (s * 1e6).round() as i64),
        _ => None,
    }
}

/// Days from 1970-01-01 to a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count from 1970-01-01.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn digits(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `YYYY-MM-DD` as days since the epoch.
pub fn parse_date(s: &str) -> Option<i32> {
    let s = s.trim();
    let (y, m, d) = (s.get(0..4)?, s.get(5..7)?, s.get(8..10)?);
    if s.len() != 10 || &s[4..5] != "-" || &s[7..8] != "-" {
        return None;
    }
    let (y, m, d) = (digits(y)?, digits(m)?, digits(d)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    i32::try_from(days_from_civil(y, m, d)).ok()
}

/// RFC 3339 (`2024-01-01T10:00:00Z`, fractions, `+02:00` offsets, a space
/// for `T`) or a bare date, as UTC microseconds.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let s = s.trim();
    let days = parse_date(s.get(0..10)?)? as i64;
    let rest = &s[10..];
    if rest.is_empty() {
        return Some(days * 86_400_000_000);
    }
    let rest = rest.strip_prefix(['T', 't', ' '])?;
    let (h, mi, se) = (rest.get(0..2)?, rest.get(3..5)?, rest.get(6..8)?);
    if &rest[2..3] != ":" || &rest[5..6] != ":" {
        return None;
    }
    let (h, mi, se) = (digits(h)?, digits(mi)?, digits(se)?);
    if h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut tail = &rest[8..];
    let mut micros = 0i64;
    if let Some(frac) = tail.strip_prefix('.') {
        let n = frac.bytes().take_while(|b| b.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        let digits6: String = frac[..n].chars().chain("000000".chars()).take(6).collect();
        micros = digits6.parse().ok()?;
        tail = &frac[n..];
    }
    let offset_secs = match tail {
        "Z" | "z" => 0,
        "" => 0,
        t if t.len() == 6 && (t.starts_with('+') || t.starts_with('-')) && &t[3..4] == ":" => {
            let sign = if t.starts_with('-') { -1 } else { 1 };
            sign * (digits(&t[1..3])? * 3600 + digits(&t[4..6])? * 60)
        }
        _ => return None,
    };
    let secs = days * 86_400 + h * 3600 + mi * 60 + se - offset_secs;
    secs.checked_mul(1_000_000)?.checked_add(micros)
}

/// UTC microseconds as RFC 3339 (`2024-01-01T10:00:00Z`, with a fraction
/// when there is one).
pub fn format_timestamp(micros: i64) -> String {
    let secs = micros.div_euclid(1_000_000);
    let frac = micros.rem_euclid(1_000_000);
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    let base = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    );
    if frac == 0 {
        format!("{base}Z")
    } else {
        format!("{base}.{frac:06}Z")
    }
}

/// A cursor value, compared in its column's type.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum CursorValue {
    /// Integers.
    Int(i64),
    /// Floats.
    Float(f64),
    /// UTC microseconds, with the text the API used (sent back as is).
    Timestamp { micros: i64, text: String },
    /// Anything else, compared as text.
    Text(String),
}

impl CursorValue {
    fn from_json(kind: Kind, v: &Value) -> Option<CursorValue> {
        match kind {
            Kind::Int64 | Kind::Int32 => as_i64(v).map(CursorValue::Int),
            Kind::Float64 => as_f64(v).map(CursorValue::Float),
            Kind::Timestamp => as_micros(v).map(|micros| CursorValue::Timestamp {
                micros,
                text: text_of(v),
            }),
            Kind::Date => v
                .as_str()
                .and_then(parse_date)
                .map(|d| CursorValue::Timestamp {
                    micros: d as i64 * 86_400_000_000,
                    text: text_of(v),
                }),
            Kind::Boolean | Kind::Utf8 | Kind::Json => match v {
                Value::Null => None,
                other => Some(CursorValue::Text(text_of(other))),
            },
        }
    }

    /// Orders two values of the same column; values of different kinds
    /// (a saved state from another schema) compare as text.
    pub fn order(&self, other: &CursorValue) -> Ordering {
        use CursorValue::*;
        match (self, other) {
            (Int(a), Int(b)) => a.cmp(b),
            (Float(a), Float(b)) => a.total_cmp(b),
            (Int(a), Float(b)) => (*a as f64).total_cmp(b),
            (Float(a), Int(b)) => a.total_cmp(&(*b as f64)),
            (Timestamp { micros: a, .. }, Timestamp { micros: b, .. }) => a.cmp(b),
            (a, b) => a.text().cmp(&b.text()),
        }
    }

    /// The value as text for a query parameter, in `format` (`raw`,
    /// `unix_seconds`, `unix_millis`, `rfc3339`).
    pub fn param(&self, format: &str) -> String {
        match (self, format) {
            (CursorValue::Timestamp { micros, .. }, "unix_seconds") => {
                micros.div_euclid(1_000_000).to_string()
            }
            (CursorValue::Timestamp { micros, .. }, "unix_millis") => {
                micros.div_euclid(1_000).to_string()
            }
            (CursorValue::Timestamp { micros, .. }, "rfc3339") => format_timestamp(*micros),
            _ => self.text(),
        }
    }

    fn text(&self) -> String {
        match self {
            CursorValue::Int(i) => i.to_string(),
            CursorValue::Float(f) => f.to_string(),
            CursorValue::Timestamp { text, .. } => text.clone(),
            CursorValue::Text(t) => t.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use serde_json::json;

    #[test]
    fn timestamps_round_trip() {
        let t = parse_timestamp("2024-01-01T00:05:00Z").unwrap();
        assert_eq!(t, 1_704_067_500_000_000);
        assert_eq!(format_timestamp(t), "2024-01-01T00:05:00Z");
        assert_eq!(
            parse_timestamp("2024-01-01T02:05:00.5+02:00").unwrap(),
            t + 500_000
        );
        assert_eq!(format_timestamp(t + 500_000), "2024-01-01T00:05:00.500000Z");
        assert_eq!(parse_timestamp("1969-12-31T23:59:59Z").unwrap(), -1_000_000);
        assert_eq!(format_timestamp(-1_000_000), "1969-12-31T23:59:59Z");
        for bad in [
            "2024-13-01T00:00:00Z",
            "yesterday",
            "2024-01-01T25:00:00Z",
            "2024-01-01T00:00:00+0200",
        ] {
            assert!(parse_timestamp(bad).is_none(), "{bad}");
        }
        assert_eq!(parse_date("2000-03-01").unwrap(), 11_017);
    }

    #[test]
    fn inference_types_members() {
        let samples = vec![
            json!({"id": 1, "title": "a", "updated_at": "2024-01-01T00:00:00Z", "user": {"login": "x"}, "score": 1, "body": null}),
            json!({"id": 2, "title": "b", "updated_at": "2024-01-01T00:01:00Z", "user": {"login": "y"}, "score": 1.5, "labels": [1]}),
        ];
        let l = Layout::inferred(&samples);
        let kinds: Vec<(String, Kind)> = l
            .schema
            .fields()
            .iter()
            .map(|f| (f.name().clone(), Kind::of_field(f)))
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("id".into(), Kind::Int64),
                ("title".into(), Kind::Utf8),
                ("updated_at".into(), Kind::Timestamp),
                ("user".into(), Kind::Json),
                ("score".into(), Kind::Float64),
                ("body".into(), Kind::Utf8),
                ("labels".into(), Kind::Json),
            ]
        );
        assert_eq!(
            l.schema.field_with_name("user").unwrap().metadata()[JSON_METADATA],
            "true"
        );
    }

    #[test]
    fn batches_convert_and_name_bad_values() {
        let cols: Vec<ColumnSpec> = serde_json::from_value(json!([
            {"name": "id", "type": "Int64", "nullable": false},
            {"name": "login", "type": "Utf8", "path": "$.user.login"},
            {"name": "user", "type": "Json"},
            {"name": "at", "type": "Timestamp", "path": "updated_at"},
        ]))
        .unwrap();
        let l = Layout::declared(&cols).unwrap();
        let recs = vec![
            json!({"id": 1, "user": {"login": "x"}, "updated_at": "2024-01-01T00:00:00Z"}),
            json!({"id": "2", "user": null}),
        ];
        let b = l.batch(&recs, &|r| format!("record {r}")).unwrap();
        assert_eq!(b.num_rows(), 2);
        assert_eq!(
            b.column(0)
                .as_primitive::<arrow_array::types::Int64Type>()
                .value(1),
            2
        );
        assert_eq!(b.column(1).as_string::<i32>().value(0), "x");
        assert!(b.column(1).is_null(1));
        assert_eq!(b.column(2).as_string::<i32>().value(0), r#"{"login":"x"}"#);
        let err = l
            .batch(&[json!({"id": "two"})], &|r| format!("page 3, record {r}"))
            .unwrap_err();
        assert!(
            err.contains("page 3, record 0") && err.contains("`id`"),
            "{err}"
        );
        let err = l
            .batch(&[json!({"user": 1})], &|r| format!("record {r}"))
            .unwrap_err();
        assert!(err.contains("not nullable"), "{err}");
        assert!(check_columns(
            &serde_json::from_value::<Vec<ColumnSpec>>(json!([{"name": "a", "type": "Decimal"}]))
                .unwrap()
        )
        .unwrap_err()
        .contains("unknown type"));
    }

    #[test]
    fn cursors_compare_in_their_type() {
        let l = Layout::inferred(&[json!({"n": 9, "t": "2024-01-01T00:00:00Z"})]);
        let n = |v: i64| l.cursor_of(0, &json!({"n": v})).unwrap();
        assert_eq!(n(9).order(&n(10)), Ordering::Less, "not as text");
        let t = |s: &str| l.cursor_of(1, &json!({"t": s})).unwrap();
        assert_eq!(
            t("2024-01-01T01:00:00+02:00").order(&t("2024-01-01T00:00:00Z")),
            Ordering::Less
        );
        assert_eq!(
            t("2024-01-01T00:00:00Z").param("unix_seconds"),
            "1704067200"
        );
        assert_eq!(
            t("2024-01-01T00:00:00Z").param("raw"),
            "2024-01-01T00:00:00Z"
        );
        let saved: CursorValue =
            serde_json::from_str(&serde_json::to_string(&n(5)).unwrap()).unwrap();
        assert_eq!(saved, n(5));
    }
}
