"""A minimal Arrow IPC stream writer in pure Python (no pyarrow inside a
component): a schema message, record batches of Int64 and Utf8 columns with
validity bitmaps, and the end-of-stream marker. The flatbuffers are laid out
front to back, every offset pointing forward, as the format allows."""

import struct

# Arrow enums used here (Schema.fbs, Message.fbs).
_V5 = 4
_HEADER_SCHEMA = 1
_HEADER_RECORD_BATCH = 3
_TYPE_INT = 2
_TYPE_UTF8 = 5


class _Table:
    """A flatbuffer table: `fields[i]` is slot i as (kind, value) or None.
    Kinds: 'bool', 'u8', 'i16', 'i32', 'i64', or 'off' (value: a child)."""

    def __init__(self, *fields):
        self.fields = fields


class _Vector:
    """A vector of child objects (tables or strings)."""

    def __init__(self, items):
        self.items = items


class _Structs:
    """A vector of 8-byte-aligned structs, already packed."""

    def __init__(self, count, packed):
        self.count = count
        self.packed = packed


_SIZES = {"bool": 1, "u8": 1, "i16": 2, "i32": 4, "i64": 8, "off": 4}
_FORMATS = {"bool": "<?", "u8": "<B", "i16": "<h", "i32": "<i", "i64": "<q"}


def _pad(buf, align):
    while len(buf) % align:
        buf.append(0)


def _write(buf, obj, pending):
    """Appends `obj`; returns its position. Children go to `pending` as
    (placeholder position, child)."""
    if isinstance(obj, str):
        _pad(buf, 4)
        pos = len(buf)
        data = obj.encode("utf-8")
        buf += struct.pack("<I", len(data)) + data + b"\0"
        return pos
    if isinstance(obj, _Structs):
        while (len(buf) + 4) % 8:
            buf.append(0)
        pos = len(buf)
        buf += struct.pack("<I", obj.count) + obj.packed
        return pos
    if isinstance(obj, _Vector):
        _pad(buf, 4)
        pos = len(buf)
        buf += struct.pack("<I", len(obj.items))
        for item in obj.items:
            pending.append((len(buf), item))
            buf += b"\0\0\0\0"
        return pos
    # A table: lay out the fields after the 4-byte vtable offset, largest
    # first, each aligned to its size (the table starts 8-aligned).
    present = [(i, f) for i, f in enumerate(obj.fields) if f is not None]
    order = sorted(present, key=lambda p: -_SIZES[p[1][0]])
    offsets = {}
    at = 4
    for i, (kind, _) in order:
        size = _SIZES[kind]
        at = (at + size - 1) // size * size
        offsets[i] = at
        at += size
    table_size = (at + 3) // 4 * 4
    vtable = struct.pack("<HH", 4 + 2 * len(obj.fields), table_size)
    for i in range(len(obj.fields)):
        vtable += struct.pack("<H", offsets.get(i, 0))
    _pad(buf, 2)
    vt_pos = len(buf)
    buf += vtable
    _pad(buf, 8)
    pos = len(buf)
    buf += b"\0" * table_size
    struct.pack_into("<i", buf, pos, pos - vt_pos)
    for i, (kind, value) in present:
        if kind == "off":
            pending.append((pos + offsets[i], value))
        else:
            struct.pack_into(_FORMATS[kind], buf, pos + offsets[i], value)
    return pos


def _flatbuffer(root):
    buf = bytearray(b"\0\0\0\0")
    pending = [(0, root)]
    while pending:
        at, obj = pending.pop(0)
        pos = _write(buf, obj, pending)
        struct.pack_into("<I", buf, at, pos - at)
    return bytes(buf)


def _message(header_type, header, body_length):
    meta = _flatbuffer(_Table(("i16", _V5), ("u8", header_type), ("off", header), ("i64", body_length)))
    meta += b"\0" * (-len(meta) % 8)
    return struct.pack("<Ii", 0xFFFFFFFF, len(meta)) + meta


def _field(name, kind, nullable):
    if kind == "int64":
        type_type, type_table = _TYPE_INT, _Table(("i32", 64), ("bool", True))
    elif kind == "utf8":
        type_type, type_table = _TYPE_UTF8, _Table()
    else:
        raise ValueError("unsupported column kind " + kind)
    return _Table(("off", name), ("bool", nullable), ("u8", type_type), ("off", type_table), None, ("off", _Vector([])))


def schema_message(columns):
    """`columns`: [(name, 'int64' | 'utf8', nullable)]."""
    fields = _Vector([_field(n, k, nullable) for n, k, nullable in columns])
    return _message(_HEADER_SCHEMA, _Table(("i16", 0), ("off", fields)), 0)


def _bitmap(values):
    out = bytearray((len(values) + 7) // 8)
    for i, v in enumerate(values):
        if v is not None:
            out[i // 8] |= 1 << (i % 8)
    return bytes(out)


def batch_message(columns, data, rows):
    """`data[i]` is the list of values of `columns[i]` (None is NULL)."""
    nodes = b""
    buffers = []
    for (_, kind, _), values in zip(columns, data):
        nulls = sum(1 for v in values if v is None)
        nodes += struct.pack("<qq", rows, nulls)
        buffers.append(_bitmap(values) if nulls else b"")
        if kind == "int64":
            buffers.append(struct.pack("<%dq" % rows, *[v or 0 for v in values]))
        else:
            encoded = [(v or "").encode("utf-8") for v in values]
            offsets = [0]
            for e in encoded:
                offsets.append(offsets[-1] + len(e))
            buffers.append(struct.pack("<%di" % (rows + 1), *offsets))
            buffers.append(b"".join(encoded))
    body = bytearray()
    layout = b""
    for b in buffers:
        layout += struct.pack("<qq", len(body), len(b))
        body += b
        body += b"\0" * (-len(body) % 8)
    header = _Table(("i64", rows), ("off", _Structs(len(columns), nodes)), ("off", _Structs(len(buffers), layout)))
    return _message(_HEADER_RECORD_BATCH, header, len(body)) + bytes(body)


END_OF_STREAM = struct.pack("<Ii", 0xFFFFFFFF, 0)


def stream(columns, data, rows):
    """One batch as a complete IPC stream: schema, batch, end marker."""
    return schema_message(columns) + batch_message(columns, data, rows) + END_OF_STREAM
