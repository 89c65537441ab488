//! Arrow values -> PostgreSQL binary COPY format, used when every column of
//! the table being loaded has a binary form here (the server then skips
//! parsing text). Which one a column gets is decided by the type of the
//! column in the database, so binary data always matches what the server
//! expects; anything else loads through the text format.

use std::borrow::Cow;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    ArrowPrimitiveType, Date32Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type,
    Int8Type, TimestampMicrosecondType, UInt16Type, UInt32Type, UInt8Type,
};
use arrow_array::{Array, BooleanArray, RecordBatch, StringArray};
use arrow_buffer::NullBuffer;
use arrow_schema::{DataType, TimeUnit};
use pg_common::{PG_EPOCH_DAYS, PG_EPOCH_MICROS};
use rapidbyte_guest_sdk::{ConnectorError, Result};

/// How one column is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// bool
    Bool,
    /// int2 from any integer type that fits
    Int2,
    /// int4
    Int4,
    /// int8
    Int8,
    /// float4
    Float4,
    /// float8
    Float8,
    /// text-like types: the UTF-8 bytes
    Text,
    /// jsonb: version 1, then the JSON text
    Jsonb,
    /// uuid from its text form
    Uuid,
    /// numeric from its text form
    Numeric,
    /// bytea
    Bytea,
    /// date
    Date,
    /// timestamp / timestamptz from microseconds
    Timestamp,
    /// an array of `elem` (type `elem_oid`) from its text literal
    Array {
        /// The element type's OID.
        elem_oid: u32,
        /// How elements are sent.
        elem: Elem,
    },
}

/// Array elements with a binary form, parsed from the array literal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Elem {
    /// text, varchar, bpchar, name: the bytes
    Text,
    /// bool (`t` / `f`)
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
}

/// Array type OID -> (element OID, element form).
fn array_elem(oid: u32) -> Option<(u32, Elem)> {
    Some(match oid {
        1009 => (25, Elem::Text),
        1015 => (1043, Elem::Text),
        1014 => (1042, Elem::Text),
        1003 => (19, Elem::Text),
        1000 => (16, Elem::Bool),
        1005 => (21, Elem::Int2),
        1007 => (23, Elem::Int4),
        1016 => (20, Elem::Int8),
        1021 => (700, Elem::Float4),
        1022 => (701, Elem::Float8),
        _ => return None,
    })
}

/// The binary form of an Arrow column loaded into a column of type `oid`,
/// if there is one. uuid and numeric text is parsed here only when it
/// came from PostgreSQL (`canonical`), which prints one form of each; other
/// text goes through the server's more lenient parser.
pub fn wire(data_type: &DataType, oid: u32, canonical: bool) -> Option<Wire> {
    use DataType as D;
    Some(match (data_type, oid) {
        (D::Boolean, 16) => Wire::Bool,
        (D::Int8 | D::Int16 | D::UInt8, 21) => Wire::Int2,
        (D::Int8 | D::Int16 | D::UInt8 | D::Int32 | D::UInt16, 23) => Wire::Int4,
        (D::Int8 | D::Int16 | D::UInt8 | D::Int32 | D::UInt16 | D::Int64 | D::UInt32, 20) => {
            Wire::Int8
        }
        (D::Float32, 700) => Wire::Float4,
        (D::Float32 | D::Float64, 701) => Wire::Float8,
        // text, varchar, bpchar, name, json
        (D::Utf8, 25 | 1043 | 1042 | 19 | 114) => Wire::Text,
        (D::Utf8, 3802) => Wire::Jsonb,
        (D::Utf8, 2950) if canonical => Wire::Uuid,
        (D::Utf8, 1700) if canonical => Wire::Numeric,
        (D::Binary, 17) => Wire::Bytea,
        (D::Date32, 1082) => Wire::Date,
        (D::Utf8, oid) if canonical && array_elem(oid).is_some() => {
            let (elem_oid, elem) = array_elem(oid)?;
            Wire::Array { elem_oid, elem }
        }
        (D::Timestamp(TimeUnit::Microsecond, tz), 1114 | 1184) if (oid == 1184) == tz.is_some() => {
            Wire::Timestamp
        }
        _ => return None,
    })
}

/// The header that starts a binary COPY.
pub fn header(out: &mut Vec<u8>) {
    out.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
    out.extend_from_slice(&0i32.to_be_bytes()); // flags
    out.extend_from_slice(&0i32.to_be_bytes()); // header extension length
}

/// The trailer that ends a binary COPY.
pub fn trailer(out: &mut Vec<u8>) {
    out.extend_from_slice(&(-1i16).to_be_bytes());
}

fn field(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// A fixed-width value with its length word, in one copy.
#[inline]
fn fixed<const N: usize, const M: usize>(out: &mut Vec<u8>, value: [u8; N]) {
    let mut word = [0u8; M];
    word[..4].copy_from_slice(&(N as i32).to_be_bytes());
    word[4..].copy_from_slice(&value);
    out.extend_from_slice(&word);
}

#[cold]
#[inline(never)]
fn bad(column: &str, what: &str, value: &str) -> ConnectorError {
    ConnectorError::data(
        "bad_value",
        format!("column `{column}`: `{value}` is not a valid {what}"),
    )
}

/// A column's values, downcast once per batch. Integers narrower than
/// the wire are widened per batch (sources other than PostgreSQL).
enum Values<'a> {
    Bool(&'a BooleanArray),
    I16(Cow<'a, [i16]>),
    I32(Cow<'a, [i32]>),
    I64(Cow<'a, [i64]>),
    F32(&'a [f32]),
    F64(Cow<'a, [f64]>),
    /// Text and bytea: the bytes as they are.
    Bytes(&'a [i32], &'a [u8]),
    /// jsonb: version 1, then the JSON text.
    Jsonb(&'a [i32], &'a [u8]),
    /// Text parsed into another binary form (`Wire::Uuid`, `Numeric`,
    /// `Array`).
    Text(&'a StringArray, Wire),
    Date(&'a [i32]),
    Timestamp(&'a [i64]),
}

/// A column of the batch being encoded.
struct Column<'a> {
    name: &'a str,
    nulls: Option<&'a NullBuffer>,
    values: Values<'a>,
}

fn widen<T, U>(col: &dyn Array) -> Cow<'static, [U]>
where
    T: ArrowPrimitiveType,
    T::Native: Into<U>,
    U: Clone,
{
    Cow::Owned(
        col.as_primitive::<T>()
            .values()
            .iter()
            .map(|v| (*v).into())
            .collect(),
    )
}

fn prepare<'a>(batch: &'a RecordBatch, wires: &[Wire]) -> Vec<Column<'a>> {
    let schema = batch.schema_ref();
    batch
        .columns()
        .iter()
        .zip(wires)
        .zip(schema.fields())
        .map(|((col, wire), field)| {
            let col = col.as_ref();
            let values = match wire {
                Wire::Bool => Values::Bool(col.as_boolean()),
                Wire::Int2 => Values::I16(match col.data_type() {
                    DataType::Int16 => Cow::Borrowed(col.as_primitive::<Int16Type>().values()),
                    DataType::Int8 => widen::<Int8Type, i16>(col),
                    _ => widen::<UInt8Type, i16>(col),
                }),
                Wire::Int4 => Values::I32(match col.data_type() {
                    DataType::Int32 => Cow::Borrowed(col.as_primitive::<Int32Type>().values()),
                    DataType::Int16 => widen::<Int16Type, i32>(col),
                    DataType::UInt16 => widen::<UInt16Type, i32>(col),
                    DataType::Int8 => widen::<Int8Type, i32>(col),
                    _ => widen::<UInt8Type, i32>(col),
                }),
                Wire::Int8 => Values::I64(match col.data_type() {
                    DataType::Int64 => Cow::Borrowed(col.as_primitive::<Int64Type>().values()),
                    DataType::Int32 => widen::<Int32Type, i64>(col),
                    DataType::UInt32 => widen::<UInt32Type, i64>(col),
                    DataType::Int16 => widen::<Int16Type, i64>(col),
                    DataType::UInt16 => widen::<UInt16Type, i64>(col),
                    DataType::Int8 => widen::<Int8Type, i64>(col),
                    _ => widen::<UInt8Type, i64>(col),
                }),
                Wire::Float4 => Values::F32(col.as_primitive::<Float32Type>().values()),
                Wire::Float8 => Values::F64(match col.data_type() {
                    DataType::Float32 => widen::<Float32Type, f64>(col),
                    _ => Cow::Borrowed(col.as_primitive::<Float64Type>().values()),
                }),
                Wire::Text => {
                    let a = col.as_string::<i32>();
                    Values::Bytes(a.value_offsets(), a.value_data())
                }
                Wire::Bytea => {
                    let a = col.as_binary::<i32>();
                    Values::Bytes(a.value_offsets(), a.value_data())
                }
                Wire::Jsonb => {
                    let a = col.as_string::<i32>();
                    Values::Jsonb(a.value_offsets(), a.value_data())
                }
                Wire::Uuid | Wire::Numeric | Wire::Array { .. } => {
                    Values::Text(col.as_string::<i32>(), *wire)
                }
                Wire::Date => Values::Date(col.as_primitive::<Date32Type>().values()),
                Wire::Timestamp => {
                    Values::Timestamp(col.as_primitive::<TimestampMicrosecondType>().values())
                }
            };
            Column {
                name: field.name(),
                nulls: col.nulls(),
                values,
            }
        })
        .collect()
}
/// Appends the rows of `batch`; `wires[i]` is column i's binary form.
pub fn encode_batch(batch: &RecordBatch, wires: &[Wire], out: &mut Vec<u8>) -> Result<()> {
    let columns = prepare(batch, wires);
    let rows = batch.num_rows();
    out.reserve(encoded_size(&columns, rows));
    let count = (columns.len() as i16).to_be_bytes();
    for row in 0..rows {
        out.extend_from_slice(&count);
        for col in &columns {
            if col.nulls.is_some_and(|n| n.is_null(row)) {
                out.extend_from_slice(&(-1i32).to_be_bytes());
                continue;
            }
            match &col.values {
                Values::Bool(a) => fixed::<1, 5>(out, [u8::from(a.value(row))]),
                Values::I16(v) => fixed::<2, 6>(out, v[row].to_be_bytes()),
                Values::I32(v) => fixed::<4, 8>(out, v[row].to_be_bytes()),
                Values::I64(v) => fixed::<8, 12>(out, v[row].to_be_bytes()),
                Values::F32(v) => fixed::<4, 8>(out, v[row].to_be_bytes()),
                Values::F64(v) => fixed::<8, 12>(out, v[row].to_be_bytes()),
                Values::Bytes(offsets, data) => field(out, slot(offsets, data, row)?),
                Values::Jsonb(offsets, data) => {
                    let text = slot(offsets, data, row)?;
                    out.extend_from_slice(&(text.len() as i32 + 1).to_be_bytes());
                    out.push(1);
                    out.extend_from_slice(text);
                }
                Values::Text(a, wire) => text_value(a.value(row), *wire, col.name, out)?,
                Values::Date(v) => {
                    let pg = match v[row] {
                        d @ (i32::MAX | i32::MIN) => d,
                        d => d - PG_EPOCH_DAYS,
                    };
                    fixed::<4, 8>(out, pg.to_be_bytes())
                }
                Values::Timestamp(v) => {
                    let pg = match v[row] {
                        m @ (i64::MAX | i64::MIN) => m,
                        m => m - PG_EPOCH_MICROS,
                    };
                    fixed::<8, 12>(out, pg.to_be_bytes())
                }
            }
        }
    }
    Ok(())
}

/// About what the rows take encoded: headers, fixed widths and the bytes
/// of variable-width values. Counted from the values, not from buffer sizes: the columns of a
/// batch read from IPC share one buffer.
fn encoded_size(columns: &[Column<'_>], rows: usize) -> usize {
    let used = |offsets: &[i32]| match (offsets.first(), offsets.last()) {
        (Some(a), Some(b)) => b.saturating_sub(*a).max(0) as usize,
        _ => 0,
    };
    let values: usize = columns
        .iter()
        .map(|c| match &c.values {
            Values::Bool(_) => rows,
            Values::I16(_) => 2 * rows,
            Values::I32(_) | Values::F32(_) | Values::Date(_) => 4 * rows,
            Values::I64(_) | Values::F64(_) | Values::Timestamp(_) => 8 * rows,
            Values::Bytes(offsets, _) => used(offsets),
            Values::Jsonb(offsets, _) => used(offsets) + rows,
            // A numeric's header and an array's headers come on top of
            // what the digits or elements take.
            Values::Text(a, Wire::Numeric) => used(a.value_offsets()) + 8 * rows,
            Values::Text(a, Wire::Array { .. }) => used(a.value_offsets()) + 24 * rows,
            Values::Text(a, _) => used(a.value_offsets()),
        })
        .sum();
    rows * (2 + 4 * columns.len()) + values
}

/// Value `row` of a variable-width column.
#[inline]
fn slot<'a>(offsets: &[i32], data: &'a [u8], row: usize) -> Result<&'a [u8]> {
    let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
    data.get(start..end)
        .ok_or_else(|| ConnectorError::data("bad_value", "offsets past the data"))
}

/// A text value sent in another binary form.
#[inline(never)]
fn text_value(text: &str, wire: Wire, name: &str, out: &mut Vec<u8>) -> Result<()> {
    match wire {
        Wire::Uuid => {
            let bytes = uuid(text).ok_or_else(|| bad(name, "uuid", text))?;
            fixed::<16, 20>(out, bytes)
        }
        Wire::Numeric => {
            let at = out.len();
            out.extend_from_slice(&[0; 4]);
            numeric(text, out).ok_or_else(|| bad(name, "numeric", text))?;
            let len = (out.len() - at - 4) as i32;
            out[at..at + 4].copy_from_slice(&len.to_be_bytes());
        }
        Wire::Array { elem_oid, elem } => {
            let at = out.len();
            out.extend_from_slice(&[0; 4]);
            array(text, elem_oid, elem, out).ok_or_else(|| bad(name, "array literal", text))?;
            let len = (out.len() - at - 4) as i32;
            out[at..at + 4].copy_from_slice(&len.to_be_bytes());
        }
        _ => field(out, text.as_bytes()),
    }
    Ok(())
}

/// A parsed array literal: dimensions (size, lower bound) and elements in
/// row-major order (`None` for NULL).
struct ArrayLiteral<'a> {
    dims: Vec<(i32, i32)>,
    items: Vec<Option<std::borrow::Cow<'a, str>>>,
}

/// Parses PostgreSQL's array output (`{a,"b c",NULL}`, `{{1,2},{3,4}}`,
/// `[0:1]={x,y}`): one level of braces per dimension, all sub-arrays of a
/// level the same length.
fn parse_array(text: &str) -> Option<ArrayLiteral<'_>> {
    let mut rest = text;
    let mut bounds: Vec<(i32, i32)> = Vec::new();
    if rest.starts_with('[') {
        let (decoration, body) = rest.split_once('=')?;
        for dim in decoration.split(']').filter(|d| !d.is_empty()) {
            let (lo, hi) = dim.strip_prefix('[')?.split_once(':')?;
            let (lo, hi): (i32, i32) = (lo.parse().ok()?, hi.parse().ok()?);
            bounds.push((hi - lo + 1, lo));
        }
        rest = body;
    }
    let bytes = rest.as_bytes();
    let mut pos = 0;
    let mut sizes: Vec<Option<i32>> = Vec::new();
    let mut items = Vec::new();
    parse_level(rest, bytes, &mut pos, 0, &mut sizes, &mut items)?;
    if pos != bytes.len() {
        return None;
    }
    let sizes: Vec<i32> = sizes.into_iter().collect::<Option<_>>()?;
    if items.is_empty() {
        return Some(ArrayLiteral {
            dims: Vec::new(),
            items,
        });
    }
    if sizes.iter().map(|s| *s as usize).product::<usize>() != items.len() {
        return None;
    }
    let dims = if bounds.is_empty() {
        sizes.iter().map(|s| (*s, 1)).collect()
    } else {
        if bounds.len() != sizes.len() || bounds.iter().zip(&sizes).any(|(b, s)| b.0 != *s) {
            return None;
        }
        bounds
    };
    Some(ArrayLiteral { dims, items })
}

fn parse_level<'a>(
    text: &'a str,
    bytes: &[u8],
    pos: &mut usize,
    depth: usize,
    sizes: &mut Vec<Option<i32>>,
    items: &mut Vec<Option<std::borrow::Cow<'a, str>>>,
) -> Option<()> {
    // Elements sit at one depth only (no `{1,{2}}`).
    let leaf = |sizes: &Vec<Option<i32>>| sizes.len() == depth + 1;
    if bytes.get(*pos) != Some(&b'{') {
        return None;
    }
    *pos += 1;
    if sizes.len() <= depth {
        sizes.push(None);
    }
    let mut count = 0i32;
    if bytes.get(*pos) == Some(&b'}') {
        // Only the whole array may be empty (`{}`).
        *pos += 1;
        sizes[depth] = Some(0);
        return (depth == 0).then_some(());
    }
    loop {
        match bytes.get(*pos)? {
            b'{' => {
                if !items.is_empty() && sizes.len() == depth + 1 {
                    return None;
                }
                parse_level(text, bytes, pos, depth + 1, sizes, items)?
            }
            b'"' => {
                if !leaf(sizes) {
                    return None;
                }
                *pos += 1;
                let start = *pos;
                let mut owned: Option<String> = None;
                loop {
                    match bytes.get(*pos)? {
                        b'"' => break,
                        b'\\' => {
                            let s = owned.get_or_insert_with(|| text[start..*pos].to_string());
                            *pos += 1;
                            let c = text[*pos..].chars().next()?;
                            s.push(c);
                            *pos += c.len_utf8();
                        }
                        _ => {
                            let c = text[*pos..].chars().next()?;
                            if let Some(s) = owned.as_mut() {
                                s.push(c);
                            }
                            *pos += c.len_utf8();
                        }
                    }
                }
                items.push(Some(match owned {
                    Some(s) => std::borrow::Cow::Owned(s),
                    None => std::borrow::Cow::Borrowed(&text[start..*pos]),
                }));
                *pos += 1;
            }
            _ => {
                if !leaf(sizes) {
                    return None;
                }
                let start = *pos;
                while !matches!(bytes.get(*pos)?, b',' | b'}') {
                    *pos += 1;
                }
                let raw = &text[start..*pos];
                if raw.is_empty() || raw.contains(['{', '"', '\\']) {
                    return None;
                }
                items.push(if raw.eq_ignore_ascii_case("NULL") {
                    None
                } else {
                    Some(std::borrow::Cow::Borrowed(raw))
                });
            }
        }
        count += 1;
        match bytes.get(*pos)? {
            b',' => *pos += 1,
            b'}' => {
                *pos += 1;
                break;
            }
            _ => return None,
        }
    }
    // Every sub-array of a level has the same length; elements sit at the
    // deepest level only.
    match sizes[depth] {
        None => sizes[depth] = Some(count),
        Some(n) if n == count => {}
        Some(_) => return None,
    }
    Some(())
}

/// Appends the binary array for the literal `text`.
/// Appends the binary array for the literal `text`.
fn array(text: &str, elem_oid: u32, elem: Elem, out: &mut Vec<u8>) -> Option<()> {
    let at = out.len();
    if let Some(()) = array_1d(text, elem_oid, elem, out) {
        return Some(());
    }
    out.truncate(at);
    array_full(text, elem_oid, elem, out)
}

/// Any literal: parsed in full first.
fn array_full(text: &str, elem_oid: u32, elem: Elem, out: &mut Vec<u8>) -> Option<()> {
    let lit = parse_array(text)?;
    let has_null = lit.items.iter().any(Option::is_none);
    for v in [
        i32::try_from(lit.dims.len()).ok()?,
        i32::from(has_null),
        elem_oid as i32,
    ] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    for (size, lower) in &lit.dims {
        out.extend_from_slice(&size.to_be_bytes());
        out.extend_from_slice(&lower.to_be_bytes());
    }
    for item in &lit.items {
        match item {
            None => out.extend_from_slice(&(-1i32).to_be_bytes()),
            Some(v) => element(v, elem, out)?,
        }
    }
    Some(())
}

/// One array element's length and binary value.
fn element(v: &str, elem: Elem, out: &mut Vec<u8>) -> Option<()> {
    match elem {
        Elem::Text => field(out, v.as_bytes()),
        Elem::Bool => field(
            out,
            &[match v {
                "t" => 1,
                "f" => 0,
                _ => return None,
            }],
        ),
        Elem::Int2 => field(out, &v.parse::<i16>().ok()?.to_be_bytes()),
        Elem::Int4 => field(out, &v.parse::<i32>().ok()?.to_be_bytes()),
        Elem::Int8 => field(out, &v.parse::<i64>().ok()?.to_be_bytes()),
        Elem::Float4 => field(out, &v.parse::<f32>().ok()?.to_be_bytes()),
        Elem::Float8 => field(out, &v.parse::<f64>().ok()?.to_be_bytes()),
    }
    Some(())
}

/// The common case in one pass and without allocating: a one-dimensional
/// literal with default bounds (`{a,"b c",NULL}`), elements written as
/// they are read. `None` for anything else (the caller then parses the
/// literal in full, which also rejects what is malformed).
fn array_1d(text: &str, elem_oid: u32, elem: Elem, out: &mut Vec<u8>) -> Option<()> {
    let b = text.as_bytes();
    if b.first() != Some(&b'{') || b.get(1) == Some(&b'{') {
        return None;
    }
    let header = out.len();
    // ndim, has_null, element type, size, lower bound: patched at the end.
    out.extend_from_slice(&[0; 20]);
    if text == "{}" {
        out.truncate(header);
        for v in [0i32, 0, elem_oid as i32] {
            out.extend_from_slice(&v.to_be_bytes());
        }
        return Some(());
    }
    let (mut pos, mut count, mut has_null) = (1usize, 0i32, false);
    loop {
        if b.get(pos) == Some(&b'"') {
            pos += 1;
            let start = pos;
            while !matches!(b.get(pos)?, b'"' | b'\\') {
                pos += 1;
            }
            if b[pos] == b'\\' {
                // Escapes: rare in practice; the full parser handles them.
                return None;
            }
            element(&text[start..pos], elem, out)?;
            pos += 1;
        } else {
            let start = pos;
            while !matches!(b.get(pos)?, b',' | b'}') {
                if matches!(b[pos], b'{' | b'"' | b'\\') {
                    return None;
                }
                pos += 1;
            }
            let raw = &text[start..pos];
            if raw.is_empty() {
                return None;
            }
            if raw.eq_ignore_ascii_case("NULL") {
                has_null = true;
                out.extend_from_slice(&(-1i32).to_be_bytes());
            } else {
                element(raw, elem, out)?;
            }
        }
        count += 1;
        match b.get(pos)? {
            b',' => pos += 1,
            b'}' if pos + 1 == b.len() => break,
            _ => return None,
        }
    }
    for (i, v) in [1, i32::from(has_null), elem_oid as i32, count, 1]
        .into_iter()
        .enumerate()
    {
        out[header + 4 * i..header + 4 * i + 4].copy_from_slice(&v.to_be_bytes());
    }
    Some(())
}

/// Hex digit values; 0x80 marks a byte that is not one.
const HEX_VALUE: [u8; 256] = {
    let mut t = [0x80u8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

/// The 16 bytes of a uuid in text form (hyphens anywhere, any case, as
/// PostgreSQL's own canonical output has them).
#[inline(never)]
fn uuid(text: &str) -> Option<[u8; 16]> {
    let b = text.as_bytes();
    let mut out = [0u8; 16];
    // The canonical 8-4-4-4-12 form, by table.
    if b.len() == 36 && b[8] == b'-' && b[13] == b'-' && b[18] == b'-' && b[23] == b'-' {
        const STARTS: [usize; 16] = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];
        let mut bad = 0u8;
        for (byte, at) in out.iter_mut().zip(STARTS) {
            let (hi, lo) = (
                HEX_VALUE[usize::from(b[at])],
                HEX_VALUE[usize::from(b[at + 1])],
            );
            bad |= hi | lo;
            *byte = hi << 4 | (lo & 15);
        }
        return (bad & 0x80 == 0).then_some(out);
    }
    let mut nibbles = text
        .bytes()
        .filter(|b| *b != b'-')
        .map(|b| (b as char).to_digit(16));
    for byte in &mut out {
        let hi = nibbles.next()??;
        let lo = nibbles.next()??;
        *byte = (hi << 4 | lo) as u8;
    }
    nibbles.next().is_none().then_some(out)
}

/// Appends the binary numeric for `text` (`-12.340`, `NaN`, `Infinity`,
/// `-Infinity`): base-10000 digits, weight, sign and display scale.
#[inline(never)]
fn numeric(text: &str, out: &mut Vec<u8>) -> Option<()> {
    let special = |sign: u16, out: &mut Vec<u8>| {
        for v in [0u16, 0, sign, 0] {
            out.extend_from_slice(&v.to_be_bytes());
        }
    };
    match text {
        "NaN" => {
            special(0xC000, out);
            return Some(());
        }
        "Infinity" => {
            special(0xD000, out);
            return Some(());
        }
        "-Infinity" => {
            special(0xF000, out);
            return Some(());
        }
        _ => {}
    }
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (int_part, frac_part) = match unsigned.bytes().position(|b| b == b'.') {
        Some(dot) => (&unsigned[..dot], &unsigned[dot + 1..]),
        None => (unsigned, ""),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    let digits_only = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !digits_only(int_part) || !digits_only(frac_part) {
        return None;
    }
    let int_part = int_part.trim_start_matches('0');
    // Base-10000 groups: the integer part aligned on the decimal point from
    // the right, the fraction from the left.
    let lead = (4 - int_part.len() % 4) % 4;
    let int_groups = (int_part.len() + lead) / 4;
    // On the stack for the usual sizes (up to 256 decimal digits).
    let groups = int_groups + frac_part.len().div_ceil(4);
    let mut stack = [0i16; 64];
    let mut heap = Vec::new();
    let digits: &mut [i16] = if groups <= stack.len() {
        &mut stack[..groups]
    } else {
        heap.resize(groups, 0);
        &mut heap
    };
    let padded =
        |s: &str, i: usize| -> i16 { s.as_bytes().get(i).map_or(0, |b| i16::from(*b - b'0')) };
    for (g, slot) in digits[..int_groups].iter_mut().enumerate() {
        let mut v = 0i16;
        for k in 0..4 {
            let pos = (g * 4 + k) as isize - lead as isize;
            v = v * 10
                + if pos < 0 {
                    0
                } else {
                    padded(int_part, pos as usize)
                };
        }
        *slot = v;
    }
    for (g, slot) in digits[int_groups..].iter_mut().enumerate() {
        let mut v = 0i16;
        for k in 0..4 {
            v = v * 10 + padded(frac_part, g * 4 + k);
        }
        *slot = v;
    }
    let mut weight = int_groups as i32 - 1;
    // Drop leading and trailing zero groups.
    let first = digits.iter().position(|d| *d != 0);
    let (digits, weight) = match first {
        None => (&digits[..0], 0),
        Some(f) => {
            weight -= f as i32;
            let last = digits.iter().rposition(|d| *d != 0).unwrap_or(f);
            (&digits[f..=last], weight)
        }
    };
    let header = [
        i16::try_from(digits.len()).ok()?,
        i16::try_from(weight).ok()?,
    ];
    for v in header {
        out.extend_from_slice(&v.to_be_bytes());
    }
    let sign: u16 = if negative && !digits.is_empty() {
        0x4000
    } else {
        0
    };
    out.extend_from_slice(&sign.to_be_bytes());
    out.extend_from_slice(&u16::try_from(frac_part.len()).ok()?.to_be_bytes());
    for d in digits.iter() {
        out.extend_from_slice(&d.to_be_bytes());
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(text: &str) -> Vec<i16> {
        let mut out = Vec::new();
        numeric(text, &mut out).unwrap();
        out.chunks(2)
            .map(|c| i16::from_be_bytes([c[0], c[1]]))
            .collect()
    }

    #[test]
    fn numeric_groups_base_10000() {
        // ndigits, weight, sign, dscale, digits...
        assert_eq!(num("0"), vec![0, 0, 0, 0]);
        assert_eq!(num("0.00"), vec![0, 0, 0, 2]);
        assert_eq!(num("12345.678"), vec![3, 1, 0, 3, 1, 2345, 6780]);
        assert_eq!(num("-0.0001"), vec![1, -1, 0x4000, 4, 1]);
        assert_eq!(num("10000"), vec![1, 1, 0, 0, 1]);
        assert_eq!(num("1.25"), vec![2, 0, 0, 2, 1, 2500]);
        assert_eq!(num("NaN"), vec![0, 0, 0xC000u16 as i16, 0]);
        // Longer than the stack buffer: 1 then 300 zeros, and 300 fraction digits.
        assert_eq!(num(&format!("1{}", "0".repeat(300))), vec![1, 75, 0, 0, 1]);
        let long = num(&format!("0.{}7", "0".repeat(299)));
        assert_eq!(long, vec![1, -75, 0, 300, 7]);
        assert!(numeric("1e5", &mut Vec::new()).is_none());
        assert!(numeric("", &mut Vec::new()).is_none());
    }

    fn items(text: &str) -> (Vec<(i32, i32)>, Vec<Option<String>>) {
        let lit = parse_array(text).unwrap();
        (
            lit.dims,
            lit.items
                .into_iter()
                .map(|i| i.map(|s| s.into_owned()))
                .collect(),
        )
    }

    #[test]
    fn array_literals() {
        let s = |v: &str| Some(v.to_string());
        assert_eq!(items("{}"), (vec![], vec![]));
        assert_eq!(
            items(r#"{a,NULL,"b c","q\"uote","",null}"#),
            (
                vec![(6, 1)],
                vec![s("a"), None, s("b c"), s("q\"uote"), s(""), None]
            )
        );
        assert_eq!(
            items("{{1,2},{3,NULL}}"),
            (vec![(2, 1), (2, 1)], vec![s("1"), s("2"), s("3"), None])
        );
        assert_eq!(items("[0:1]={x,y}").0, vec![(2, 0)]);
        assert_eq!(
            items(r#"{"back\\slash","ü"}"#).1,
            vec![s("back\\slash"), s("ü")]
        );
        for bad in [
            "{1,{2}}",
            "{{1,2},{3}}",
            "{1,2",
            "{1}}",
            "{{}}",
            "[1:3]={a}",
            "x",
            "{a b\"c}",
        ] {
            assert!(parse_array(bad).is_none(), "{bad}");
        }
        let mut out = Vec::new();
        array("{1,NULL}", 23, Elem::Int4, &mut out).unwrap();
        let words: Vec<i32> = out
            .chunks(4)
            .map(|c| i32::from_be_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        // ndim, has-null, elem oid, size, lower bound, len, 1, NULL
        assert_eq!(words, vec![1, 1, 23, 2, 1, 4, 1, -1]);
    }

    #[test]
    fn one_pass_arrays_match_the_full_parser() {
        let cases = [
            ("{}", Elem::Text),
            ("{a,b}", Elem::Text),
            ("{\"a b\",NULL,\"\",c}", Elem::Text),
            ("{null,\"NULL\"}", Elem::Text),
            ("{\"x\\\"y\",z}", Elem::Text),
            ("{1,-2,NULL}", Elem::Int4),
            ("{t,f}", Elem::Bool),
            ("{{1,2},{3,4}}", Elem::Int8),
            ("[0:1]={x,y}", Elem::Text),
            ("{1.5,NaN}", Elem::Float8),
        ];
        for (text, elem) in cases {
            let (mut fast, mut full) = (Vec::new(), Vec::new());
            assert!(array(text, 25, elem, &mut fast).is_some(), "{text}");
            assert!(array_full(text, 25, elem, &mut full).is_some(), "{text}");
            assert_eq!(fast, full, "{text}");
        }
        for bad in ["{a,}", "{,a}", "{a}x", "{\"a\"b}", "{a", "{x,y}", "{1,{2}}"] {
            let elem = if bad == "{x,y}" {
                Elem::Int4
            } else {
                Elem::Text
            };
            assert!(array(bad, 25, elem, &mut Vec::new()).is_none(), "{bad}");
        }
    }

    #[test]
    fn uuid_from_text() {
        let u = uuid("12345678-9abc-DEF0-0123-456789abcdef").unwrap();
        assert_eq!(u[0], 0x12);
        assert_eq!(u[15], 0xef);
        assert!(uuid("1234").is_none());
        assert!(uuid("12345678-9abc-def0-0123-456789abcdef00").is_none());
        assert!(uuid("1234567g-9abc-def0-0123-456789abcdef").is_none());
        assert_eq!(
            uuid("123456789abcdef00123456789abcdef"),
            uuid("12345678-9abc-def0-0123-456789abcdef")
        );
    }

    #[test]
    fn batches_encode_row_by_row_with_nulls_widening_and_slices() {
        use arrow_array::{Int16Array, StringArray};
        use arrow_schema::{Field, Schema};
        use std::sync::Arc;
        let schema = Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int16, true),
            Field::new("t", DataType::Utf8, true),
            Field::new("j", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int16Array::from(vec![Some(9), Some(1), None])),
                Arc::new(StringArray::from(vec![Some("zz"), None, Some("é")])),
                Arc::new(StringArray::from(vec![Some("0"), Some("{}"), Some("[]")])),
            ],
        )
        .unwrap()
        .slice(1, 2);
        let mut out = Vec::new();
        encode_batch(&batch, &[Wire::Int4, Wire::Text, Wire::Jsonb], &mut out).unwrap();
        let mut want = Vec::new();
        // Row 1: 1 as int4, NULL, jsonb {}.
        want.extend_from_slice(&3i16.to_be_bytes());
        want.extend_from_slice(&4i32.to_be_bytes());
        want.extend_from_slice(&1i32.to_be_bytes());
        want.extend_from_slice(&(-1i32).to_be_bytes());
        want.extend_from_slice(&3i32.to_be_bytes());
        want.extend_from_slice(b"\x01{}");
        // Row 2: NULL, é, jsonb [].
        want.extend_from_slice(&3i16.to_be_bytes());
        want.extend_from_slice(&(-1i32).to_be_bytes());
        want.extend_from_slice(&2i32.to_be_bytes());
        want.extend_from_slice("é".as_bytes());
        want.extend_from_slice(&3i32.to_be_bytes());
        want.extend_from_slice(b"\x01[]");
        assert_eq!(out, want);
        // Reserved from the values of the slice, not from its buffers.
        assert!(out.capacity() >= out.len() && out.capacity() <= out.len() + 16);
    }
}
