use std::sync::Arc;

use arrow_array::{Int64Array, RecordBatch, StringArray};
use arrow_ipc::writer::StreamWriter;
use arrow_schema::{DataType, Field, Schema};
use flatbuffers::FlatBufferBuilder;

use super::*;

fn int_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]))
}

fn frame_of(batches: &[RecordBatch], schema: &Arc<Schema>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut w = StreamWriter::try_new(&mut out, schema).unwrap();
    for b in batches {
        w.write(b).unwrap();
    }
    w.finish().unwrap();
    drop(w);
    out
}

fn ints(n: i64) -> RecordBatch {
    RecordBatch::try_new(
        int_schema(),
        vec![Arc::new(Int64Array::from_iter_values(0..n))],
    )
    .unwrap()
}

/// The schema message of `schema`, without the end-of-stream marker.
fn schema_message(schema: &Arc<Schema>) -> Vec<u8> {
    let mut bytes = frame_of(&[], schema);
    bytes.truncate(bytes.len() - 8);
    bytes
}

/// A record batch message with any header values, prefixed, no body.
fn batch_message(
    rows: i64,
    body_len: i64,
    nodes: &[(i64, i64)],
    buffers: &[(i64, i64)],
) -> Vec<u8> {
    let mut fbb = FlatBufferBuilder::new();
    let nodes: Vec<arrow_ipc::FieldNode> = nodes
        .iter()
        .map(|&(l, n)| arrow_ipc::FieldNode::new(l, n))
        .collect();
    let buffers: Vec<arrow_ipc::Buffer> = buffers
        .iter()
        .map(|&(o, l)| arrow_ipc::Buffer::new(o, l))
        .collect();
    let nodes = fbb.create_vector(&nodes);
    let buffers = fbb.create_vector(&buffers);
    let mut rb = arrow_ipc::RecordBatchBuilder::new(&mut fbb);
    rb.add_length(rows);
    rb.add_nodes(nodes);
    rb.add_buffers(buffers);
    let rb = rb.finish().as_union_value();
    let mut m = arrow_ipc::MessageBuilder::new(&mut fbb);
    m.add_version(arrow_ipc::MetadataVersion::V5);
    m.add_header_type(arrow_ipc::MessageHeader::RecordBatch);
    m.add_header(rb);
    m.add_bodyLength(body_len);
    let m = m.finish();
    fbb.finish(m, None);
    let meta = fbb.finished_data();
    let mut out = Vec::new();
    out.extend_from_slice(&0xFFFF_FFFFu32.to_le_bytes());
    out.extend_from_slice(&(meta.len() as u32).to_le_bytes());
    out.extend_from_slice(meta);
    out
}

fn eos() -> Vec<u8> {
    let mut v = 0xFFFF_FFFFu32.to_le_bytes().to_vec();
    v.extend_from_slice(&[0, 0, 0, 0]);
    v
}

/// A frame: the int schema, a batch message with the given header, `body`
/// bytes of body, the end marker.
fn crafted(
    rows: i64,
    body_len: i64,
    nodes: &[(i64, i64)],
    buffers: &[(i64, i64)],
    body: usize,
) -> Vec<u8> {
    let mut f = schema_message(&int_schema());
    f.extend(batch_message(rows, body_len, nodes, buffers));
    f.extend(std::iter::repeat_n(0u8, body));
    f.extend(eos());
    f
}

fn err(bytes: &[u8]) -> String {
    check_frame(bytes, Some(&int_schema())).unwrap_err().0
}

#[test]
fn a_valid_frame_is_counted_without_decoding() {
    let f = frame_of(&[ints(1000)], &int_schema());
    let info = check_frame(&f, Some(&int_schema())).unwrap();
    assert_eq!(info.rows, 1000);
    let batch = decode_frame(f, Some(&int_schema())).unwrap();
    assert_eq!(batch, ints(1000));
}

#[test]
fn the_crafted_frame_is_valid_when_it_tells_the_truth() {
    let f = crafted(4, 32, &[(4, 0)], &[(0, 0), (0, 32)], 32);
    assert_eq!(check_frame(&f, Some(&int_schema())).unwrap().rows, 4);
    let batch = decode_frame(f, None).unwrap();
    assert_eq!(batch.num_rows(), 4);
}

#[test]
fn a_huge_body_length_is_refused_without_allocating() {
    let e = err(&crafted(4, 1 << 45, &[(4, 0)], &[(0, 0), (0, 32)], 32));
    assert!(e.contains("body of 35184372088832 bytes but only"), "{e}");
}

#[test]
fn a_negative_body_length_is_refused() {
    let e = err(&crafted(4, -8, &[(4, 0)], &[(0, 0), (0, 32)], 32));
    assert!(e.contains("body of -8 bytes"), "{e}");
}

#[test]
fn huge_metadata_is_refused() {
    let mut f = schema_message(&int_schema());
    f.extend_from_slice(&0xFFFF_FFFFu32.to_le_bytes());
    f.extend_from_slice(&0x7FFF_0000u32.to_le_bytes());
    f.extend_from_slice(&[0u8; 64]);
    let e = err(&f);
    assert!(
        e.contains("bytes of metadata but only 64 bytes follow"),
        "{e}"
    );
    let mut g = schema_message(&int_schema());
    g.extend_from_slice(&0xFFFF_FFFFu32.to_le_bytes());
    g.extend_from_slice(&0x8000_0000u32.to_le_bytes());
    assert!(err(&g).contains("bytes of metadata"));
}

#[test]
fn buffers_outside_the_body_are_refused() {
    for (off, len) in [
        (0, 64),
        (24, 16),
        (-8, 8),
        (i64::MAX, 16),
        (8, -1),
        (1, i64::MAX),
    ] {
        let e = err(&crafted(4, 32, &[(4, 0)], &[(0, 0), (off, len)], 32));
        assert!(e.contains("buffer 1 declares offset"), "{off} {len}: {e}");
    }
}

#[test]
fn node_lies_are_refused() {
    let e = err(&crafted(4, 32, &[(4, 0), (4, 0)], &[(0, 0), (0, 32)], 32));
    assert!(e.contains("lists 2 field nodes; its schema has 1"), "{e}");
    let e = err(&crafted(4, 32, &[(5, 0)], &[(0, 0), (0, 32)], 32));
    assert!(e.contains("declares 5 rows in a batch of 4"), "{e}");
    let e = err(&crafted(4, 32, &[(4, 9)], &[(0, 0), (0, 32)], 32));
    assert!(e.contains("with 9 nulls"), "{e}");
    let e = err(&crafted(-1, 32, &[(-1, 0)], &[(0, 0), (0, 32)], 32));
    assert!(e.contains("-1 rows"), "{e}");
}

#[test]
fn a_row_count_the_body_cannot_hold_is_refused() {
    let n = 1 << 40;
    let e = err(&crafted(n, 32, &[(n, 0)], &[(0, 0), (0, 32)], 32));
    assert!(e.contains("cannot hold them"), "{e}");
}

#[test]
fn many_buffers_cost_only_what_was_sent() {
    // 100k buffer entries are 1.6 MB of metadata that really is there: the
    // headers are walked, the nodes do not match, nothing else happens.
    let buffers = vec![(0, 0); 100_000];
    let e = err(&crafted(4, 32, &[(4, 0); 50_000], &buffers, 32));
    assert!(e.contains("field nodes"), "{e}");
}

#[test]
fn a_truncated_frame_is_refused() {
    let f = frame_of(&[ints(100)], &int_schema());
    for cut in [3, 7, f.len() / 2, f.len() - 20] {
        let e = check_frame(&f[..cut], Some(&int_schema())).unwrap_err().0;
        assert!(
            e.contains("follow") || e.contains("truncated"),
            "cut {cut}: {e}"
        );
    }
}

#[test]
fn two_batches_are_refused() {
    let f = frame_of(&[ints(1), ints(2)], &int_schema());
    assert!(err(&f).contains("holds 2"));
}

#[test]
fn a_dictionary_batch_is_refused() {
    let mut fbb = FlatBufferBuilder::new();
    let rb = arrow_ipc::RecordBatchBuilder::new(&mut fbb).finish();
    let mut d = arrow_ipc::DictionaryBatchBuilder::new(&mut fbb);
    d.add_id(0);
    d.add_data(rb);
    let d = d.finish().as_union_value();
    let mut m = arrow_ipc::MessageBuilder::new(&mut fbb);
    m.add_version(arrow_ipc::MetadataVersion::V5);
    m.add_header_type(arrow_ipc::MessageHeader::DictionaryBatch);
    m.add_header(d);
    m.add_bodyLength(0);
    let m = m.finish();
    fbb.finish(m, None);
    let meta = fbb.finished_data().to_vec();
    let mut f = 0xFFFF_FFFFu32.to_le_bytes().to_vec();
    f.extend_from_slice(&(meta.len() as u32).to_le_bytes());
    f.extend_from_slice(&meta);
    assert!(err(&f).contains("starts with a dictionary batch message"));
    let mut g = schema_message(&int_schema());
    g.extend(f);
    assert!(err(&g).contains("found a dictionary batch message"));
}

#[test]
fn a_schema_only_frame_has_no_rows() {
    let f = frame_of(&[], &int_schema());
    assert_eq!(check_frame(&f, Some(&int_schema())).unwrap().rows, 0);
    assert_eq!(decode_frame(f, None).unwrap().num_rows(), 0);
}

#[test]
fn bytes_after_the_end_marker_are_refused() {
    let mut f = frame_of(&[ints(1)], &int_schema());
    f.extend_from_slice(b"junk");
    assert!(err(&f).contains("follow the end-of-stream marker"));
}

#[test]
fn garbage_is_refused() {
    assert!(err(b"this is not an arrow ipc frame").contains("metadata"));
    assert!(err(b"").contains("empty"));
    assert!(read_schema(b"\xff\xff\xff\xff\x08\x00\x00\x00garbage!").is_err());
}

#[test]
fn a_different_schema_is_refused() {
    let s = Arc::new(Schema::new(vec![Field::new("x", DataType::Utf8, false)]));
    let b = RecordBatch::try_new(s.clone(), vec![Arc::new(StringArray::from(vec!["a"]))]).unwrap();
    assert!(err(&frame_of(&[b], &s)).contains("does not match the discovered schema"));
}

#[test]
fn decoding_validates_what_the_headers_cannot() {
    // A Utf8 column whose offsets point past its values.
    let s = Arc::new(Schema::new(vec![Field::new("s", DataType::Utf8, false)]));
    let mut f = schema_message(&s);
    f.extend(batch_message(1, 16, &[(1, 0)], &[(0, 0), (0, 8), (8, 8)]));
    let mut body = Vec::new();
    body.extend_from_slice(&0i32.to_le_bytes());
    body.extend_from_slice(&1000i32.to_le_bytes());
    body.extend_from_slice(b"abcdefgh");
    f.extend(body);
    f.extend(eos());
    assert!(check_frame(&f, Some(&s)).is_ok(), "headers are consistent");
    let e = decode_frame(f, Some(&s)).unwrap_err().0;
    assert!(e.contains("malformed Arrow IPC batch"), "{e}");
}

#[test]
fn catalog_schemas_are_read_from_their_first_message() {
    let s = read_schema(&frame_of(&[], &int_schema())).unwrap();
    assert_eq!(s.as_ref(), int_schema().as_ref());
    assert!(read_schema(&batch_message(1, 0, &[], &[])).is_err());
}

#[test]
fn a_panic_in_a_guarded_section_is_an_error() {
    install_panic_hook();
    let e = guarded(|| -> u32 { panic!("boom {}", 7) }).unwrap_err();
    assert_eq!(e, "boom 7");
    assert_eq!(guarded(|| 3).unwrap(), 3);
}
