// A minimal Arrow IPC stream writer in plain JavaScript (no Arrow library
// inside a component): a schema message, record batches of Int64 and Utf8
// columns with validity bitmaps, and the end-of-stream marker. The
// flatbuffers are laid out front to back, every offset pointing forward,
// as the format allows.

const V5 = 4;
const HEADER_SCHEMA = 1;
const HEADER_RECORD_BATCH = 3;
const TYPE_INT = 2;
const TYPE_UTF8 = 5;
const SIZES = { bool: 1, u8: 1, i16: 2, i32: 4, i64: 8, off: 4 };

// A growable little-endian byte buffer.
class Bytes {
  constructor() {
    this.buf = new Uint8Array(256);
    this.len = 0;
  }
  reserve(n) {
    if (this.len + n > this.buf.length) {
      let size = this.buf.length * 2;
      while (size < this.len + n) size *= 2;
      const next = new Uint8Array(size);
      next.set(this.buf.subarray(0, this.len));
      this.buf = next;
    }
  }
  push(bytes) {
    this.reserve(bytes.length);
    this.buf.set(bytes, this.len);
    this.len += bytes.length;
  }
  zeros(n) {
    this.reserve(n);
    this.buf.fill(0, this.len, this.len + n);
    this.len += n;
  }
  pad(align) {
    this.zeros((align - (this.len % align)) % align);
  }
  view() {
    return new DataView(this.buf.buffer, 0, this.len);
  }
  u32(v) {
    this.reserve(4);
    new DataView(this.buf.buffer).setUint32(this.len, v, true);
    this.len += 4;
  }
  bytes() {
    return this.buf.slice(0, this.len);
  }
}

const table = (...fields) => ({ kind: 'table', fields });
const vector = (items) => ({ kind: 'vector', items });
const structs = (count, packed) => ({ kind: 'structs', count, packed });

function setScalar(view, at, kind, value) {
  switch (kind) {
    case 'bool':
    case 'u8':
      view.setUint8(at, Number(value));
      break;
    case 'i16':
      view.setInt16(at, value, true);
      break;
    case 'i32':
      view.setInt32(at, value, true);
      break;
    case 'i64':
      view.setBigInt64(at, BigInt(value), true);
      break;
    default:
      throw new Error(`unknown field kind ${kind}`);
  }
}

// Appends `obj`; returns its position. Children go to `pending`.
function write(b, obj, pending) {
  if (typeof obj === 'string') {
    b.pad(4);
    const pos = b.len;
    const data = new TextEncoder().encode(obj);
    b.u32(data.length);
    b.push(data);
    b.zeros(1);
    return pos;
  }
  if (obj.kind === 'structs') {
    b.zeros((8 - ((b.len + 4) % 8)) % 8);
    const pos = b.len;
    b.u32(obj.count);
    b.push(obj.packed);
    return pos;
  }
  if (obj.kind === 'vector') {
    b.pad(4);
    const pos = b.len;
    b.u32(obj.items.length);
    for (const item of obj.items) {
      pending.push([b.len, item]);
      b.zeros(4);
    }
    return pos;
  }
  // A table: fields after the 4-byte vtable offset, largest first, each
  // aligned to its size (the table starts 8-aligned).
  const present = obj.fields.map((f, i) => [i, f]).filter(([, f]) => f);
  const order = [...present].sort((a, b2) => SIZES[b2[1][0]] - SIZES[a[1][0]]);
  const offsets = new Map();
  let at = 4;
  for (const [i, [kind]] of order) {
    const size = SIZES[kind];
    at = Math.ceil(at / size) * size;
    offsets.set(i, at);
    at += size;
  }
  const tableSize = Math.ceil(at / 4) * 4;
  b.pad(2);
  const vtPos = b.len;
  const vt = new DataView(new ArrayBuffer(4 + 2 * obj.fields.length));
  vt.setUint16(0, 4 + 2 * obj.fields.length, true);
  vt.setUint16(2, tableSize, true);
  obj.fields.forEach((_, i) => vt.setUint16(4 + 2 * i, offsets.get(i) || 0, true));
  b.push(new Uint8Array(vt.buffer));
  b.pad(8);
  const pos = b.len;
  b.zeros(tableSize);
  const view = new DataView(b.buf.buffer);
  view.setInt32(pos, pos - vtPos, true);
  for (const [i, [kind, value]] of present) {
    if (kind === 'off') pending.push([pos + offsets.get(i), value]);
    else setScalar(view, pos + offsets.get(i), kind, value);
  }
  return pos;
}

function flatbuffer(root) {
  const b = new Bytes();
  b.zeros(4);
  const pending = [[0, root]];
  while (pending.length) {
    const [at, obj] = pending.shift();
    const pos = write(b, obj, pending);
    new DataView(b.buf.buffer).setUint32(at, pos - at, true);
  }
  return b.bytes();
}

function message(headerType, header, bodyLength) {
  const meta = flatbuffer(table(['i16', V5], ['u8', headerType], ['off', header], ['i64', bodyLength]));
  const padded = Math.ceil(meta.length / 8) * 8;
  const out = new Bytes();
  out.u32(0xffffffff);
  out.u32(padded);
  out.push(meta);
  out.zeros(padded - meta.length);
  return out.bytes();
}

function field([name, kind, nullable]) {
  let typeType;
  let typeTable;
  if (kind === 'int64') {
    typeType = TYPE_INT;
    typeTable = table(['i32', 64], ['bool', true]);
  } else if (kind === 'utf8') {
    typeType = TYPE_UTF8;
    typeTable = table();
  } else {
    throw new Error(`unsupported column kind ${kind}`);
  }
  return table(['off', name], ['bool', nullable], ['u8', typeType], ['off', typeTable], null, ['off', vector([])]);
}

/** `columns`: [[name, 'int64' | 'utf8', nullable]]. */
export function schemaMessage(columns) {
  return message(HEADER_SCHEMA, table(['i16', 0], ['off', vector(columns.map(field))]), 0);
}

function bitmap(values) {
  const out = new Uint8Array(Math.ceil(values.length / 8));
  values.forEach((v, i) => {
    if (v !== null && v !== undefined) out[i >> 3] |= 1 << (i & 7);
  });
  return out;
}

function packLongs(pairs) {
  const v = new DataView(new ArrayBuffer(16 * pairs.length));
  pairs.forEach(([a, c], i) => {
    v.setBigInt64(16 * i, BigInt(a), true);
    v.setBigInt64(16 * i + 8, BigInt(c), true);
  });
  return new Uint8Array(v.buffer);
}

/** `data[i]` holds the values of `columns[i]` (null is NULL). */
export function batchMessage(columns, data, rows) {
  const nodes = [];
  const buffers = [];
  columns.forEach(([, kind], c) => {
    const values = data[c];
    const nulls = values.filter((v) => v === null || v === undefined).length;
    nodes.push([rows, nulls]);
    buffers.push(nulls ? bitmap(values) : new Uint8Array(0));
    if (kind === 'int64') {
      const v = new DataView(new ArrayBuffer(8 * rows));
      values.forEach((x, i) => v.setBigInt64(8 * i, BigInt(x ?? 0), true));
      buffers.push(new Uint8Array(v.buffer));
    } else {
      const enc = new TextEncoder();
      const encoded = values.map((x) => enc.encode(x ?? ''));
      const offsets = new DataView(new ArrayBuffer(4 * (rows + 1)));
      let total = 0;
      encoded.forEach((e, i) => {
        offsets.setInt32(4 * i, total, true);
        total += e.length;
      });
      offsets.setInt32(4 * rows, total, true);
      buffers.push(new Uint8Array(offsets.buffer));
      const joined = new Uint8Array(total);
      let at = 0;
      for (const e of encoded) {
        joined.set(e, at);
        at += e.length;
      }
      buffers.push(joined);
    }
  });
  const body = new Bytes();
  const layout = [];
  for (const b of buffers) {
    layout.push([body.len, b.length]);
    body.push(b);
    body.pad(8);
  }
  const header = table(['i64', rows], ['off', structs(nodes.length, packLongs(nodes))], ['off', structs(layout.length, packLongs(layout))]);
  const head = message(HEADER_RECORD_BATCH, header, body.len);
  const out = new Uint8Array(head.length + body.len);
  out.set(head, 0);
  out.set(body.bytes(), head.length);
  return out;
}

export const END_OF_STREAM = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The schema alone as an IPC stream. */
export function schemaStream(columns) {
  return concat(schemaMessage(columns), END_OF_STREAM);
}

/** One batch as a complete IPC stream: schema, batch, end marker. */
export function batchStream(columns, data, rows) {
  return concat(schemaMessage(columns), batchMessage(columns, data, rows), END_OF_STREAM);
}
