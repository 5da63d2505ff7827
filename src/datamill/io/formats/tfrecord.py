"""TFRecord files of ``tf.train.Example`` records, read and written without TensorFlow.

A TFRecord file is a sequence of frames: ``uint64 length`` (little endian), ``uint32`` masked
CRC-32C of those 8 bytes, the payload, ``uint32`` masked CRC-32C of the payload. The payload
here is a serialized ``Example{features{feature: map<string, Feature>}}`` where a ``Feature``
holds one of ``bytes_list`` (1), ``float_list`` (2, float32) or ``int64_list`` (3).

Arrow mapping: a feature whose every record holds exactly one value becomes a scalar column
(``int64``, ``float32``, ``string`` when all bytes are UTF-8, else ``binary``); otherwise a list
column. A feature missing from a record is null. Writing maps integers and booleans to
``int64_list``, floats to ``float_list`` (float32: doubles lose precision), strings and binary
to ``bytes_list``; list columns become multi-value features; nulls are left out.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO

from datamill.errors import UsageError

# ----------------------------------------------------------------------------- CRC-32C


def _make_table() -> list[int]:
    poly = 0x82F63B78  # Castagnoli, reflected
    table = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
        table.append(crc)
    return table


_T0 = _make_table()
# slicing-by-4 tables: four bytes per loop turn instead of one
_T1 = [(_T0[c] >> 8) ^ _T0[_T0[c] & 0xFF] for c in range(256)]
_T2 = [(_T1[c] >> 8) ^ _T0[_T1[c] & 0xFF] for c in range(256)]
_T3 = [(_T2[c] >> 8) ^ _T0[_T2[c] & 0xFF] for c in range(256)]


def crc32c(data: bytes, crc: int = 0) -> int:
    """CRC-32C (Castagnoli) of ``data``, as used by TFRecord, iSCSI and ext4."""
    crc ^= 0xFFFFFFFF
    n = len(data)
    head = n - n % 4
    t0, t1, t2, t3 = _T0, _T1, _T2, _T3
    for (word,) in struct.iter_unpack("<I", memoryview(data)[:head]):
        crc ^= word
        crc = t3[crc & 0xFF] ^ t2[(crc >> 8) & 0xFF] ^ t1[(crc >> 16) & 0xFF] ^ t0[crc >> 24]
    for b in data[head:]:
        crc = t0[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    """TFRecord's masked CRC: rotate right by 15 and add a constant (mod 2**32)."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


# ----------------------------------------------------------------------------- framing


def frame(payload: bytes) -> bytes:
    """One TFRecord frame around ``payload``."""
    length = struct.pack("<Q", len(payload))
    return (length + struct.pack("<I", masked_crc32c(length)) + payload
            + struct.pack("<I", masked_crc32c(payload)))


def read_frames(f: BinaryIO, name: str = "<stream>", verify: bool = True) -> Iterator[bytes]:
    """The payloads of a TFRecord stream; a bad CRC or a cut-off frame raises UsageError."""
    offset = 0
    while True:
        head = f.read(12)
        if not head:
            return
        if len(head) < 12:
            raise UsageError(f"{name}: truncated TFRecord frame header at byte {offset}")
        length_bytes, crc = head[:8], struct.unpack("<I", head[8:])[0]
        if verify and masked_crc32c(length_bytes) != crc:
            raise UsageError(f"{name}: corrupt TFRecord at byte {offset}: the length CRC does "
                             "not match (the file is damaged or not a TFRecord file)")
        (length,) = struct.unpack("<Q", length_bytes)
        payload = f.read(length)
        tail = f.read(4)
        if len(payload) < length or len(tail) < 4:
            raise UsageError(f"{name}: truncated TFRecord at byte {offset}: the record says "
                             f"{length} bytes but the file ends first")
        if verify and masked_crc32c(payload) != struct.unpack("<I", tail)[0]:
            raise UsageError(f"{name}: corrupt TFRecord at byte {offset}: the data CRC does "
                             "not match (the record was damaged)")
        offset += 16 + length
        yield payload


# ----------------------------------------------------------------------------- protobuf


def _varint(n: int) -> bytes:
    n &= 0xFFFFFFFFFFFFFFFF  # negative int64 -> two's complement, ten bytes
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def encode_feature(kind: str, values: list[Any]) -> bytes:
    """A serialized ``Feature``; ``kind`` is ``bytes``, ``float`` or ``int64``."""
    if kind == "bytes":
        inner = b"".join(_field(1, v.encode() if isinstance(v, str) else bytes(v))
                         for v in values)
        return _field(1, inner)
    if kind == "float":
        inner = _field(1, struct.pack(f"<{len(values)}f", *values)) if values else b""
        return _field(2, inner)
    if kind == "int64":
        inner = _field(1, b"".join(_varint(int(v)) for v in values)) if values else b""
        return _field(3, inner)
    raise ValueError(f"unknown feature kind {kind!r}")


def encode_example(features: dict[str, tuple[str, list[Any]]]) -> bytes:
    """A serialized ``Example`` from ``{name: (kind, values)}``, keys in sorted order
    (protobuf's deterministic map serialization)."""
    entries = b"".join(
        _field(1, _field(1, name.encode()) + _field(2, encode_feature(kind, values)))
        for name, (kind, values) in sorted(features.items())
    )
    return _field(1, entries)


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _fields(buf: bytes) -> Iterator[tuple[int, int, Any]]:
    """(field number, wire type, value) of a message; length-delimited values are bytes."""
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _read_varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _read_varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos:pos + 8], pos + 8
        elif wire == 2:
            size, pos = _read_varint(buf, pos)
            value, pos = buf[pos:pos + size], pos + size
            if pos > end:
                raise ValueError("truncated field")
        elif wire == 5:
            value, pos = buf[pos:pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        yield number, wire, value


def _signed(n: int) -> int:
    return n - (1 << 64) if n >= 1 << 63 else n


def decode_feature(buf: bytes) -> tuple[str, list[Any]]:
    """(kind, values) of a serialized ``Feature`` (packed and unpacked lists both accepted)."""
    for number, _wire, value in _fields(buf):
        if number == 1:
            return "bytes", [bytes(v) for n, _w, v in _fields(value) if n == 1]
        if number == 2:
            out: list[Any] = []
            for n, w, v in _fields(value):
                if n != 1:
                    continue
                if w == 2:
                    out.extend(struct.unpack(f"<{len(v) // 4}f", v))
                else:
                    out.append(struct.unpack("<f", v)[0])
            return "float", out
        if number == 3:
            out = []
            for n, w, v in _fields(value):
                if n != 1:
                    continue
                if w == 2:
                    pos = 0
                    while pos < len(v):
                        x, pos = _read_varint(v, pos)
                        out.append(_signed(x))
                else:
                    out.append(_signed(v))
            return "int64", out
    return "bytes", []  # an empty Feature (no kind set)


def decode_example(buf: bytes) -> dict[str, tuple[str, list[Any]]]:
    """``{name: (kind, values)}`` of a serialized ``Example``."""
    out: dict[str, tuple[str, list[Any]]] = {}
    for number, _w, features in _fields(buf):
        if number != 1:
            continue
        for n, _w2, entry in _fields(features):
            if n != 1:
                continue
            name, feature = "", b""
            for k, _w3, v in _fields(entry):
                if k == 1:
                    name = bytes(v).decode()
                elif k == 2:
                    feature = v
            out[name] = decode_feature(feature)
    return out


# ----------------------------------------------------------------------------- Arrow


def read_batches(f: BinaryIO, name: str, columns: list[str] | None,
                 batch_size: int) -> Iterator[Any]:
    """Record batches of the Examples in a TFRecord stream.

    Batches are built per ``batch_size`` records; a feature that is a single value in every
    record of the whole file is a scalar column, so the file is decoded before the first batch.
    """
    import pyarrow as pa

    rows: list[dict[str, tuple[str, list[Any]]]] = []
    for i, payload in enumerate(read_frames(f, name)):
        try:
            rows.append(decode_example(payload))
        except (ValueError, UnicodeDecodeError, struct.error) as exc:
            raise UsageError(f"{name}: record {i} is not a tf.train.Example ({exc})") from exc
    kinds: dict[str, str] = {}
    scalar: dict[str, bool] = {}
    utf8: dict[str, bool] = {}
    for row in rows:
        for key, (kind, values) in row.items():
            kinds.setdefault(key, kind)
            scalar[key] = scalar.get(key, True) and len(values) == 1
            if kind == "bytes" and utf8.get(key, True):
                try:
                    for v in values:
                        v.decode()
                    utf8[key] = True
                except UnicodeDecodeError:
                    utf8[key] = False
    names = [k for k in kinds if columns is None or k in columns]
    fields = []
    for key in names:
        base = {"int64": pa.int64(), "float": pa.float32(),
                "bytes": pa.string() if utf8.get(key, True) else pa.binary()}[kinds[key]]
        fields.append(pa.field(key, base if scalar[key] else pa.list_(base)))
    schema = pa.schema(fields)
    for start in range(0, len(rows), batch_size):
        chunk = rows[start:start + batch_size]
        arrays = []
        for fld in schema:
            is_str = fld.type == pa.string() or fld.type == pa.list_(pa.string())
            vals = []
            for row in chunk:
                item = row.get(fld.name)
                if item is None:
                    vals.append(None)
                    continue
                v = [x.decode() for x in item[1]] if is_str else item[1]
                vals.append(v if pa.types.is_list(fld.type) else v[0])
            arrays.append(pa.array(vals, type=fld.type))
        yield pa.RecordBatch.from_arrays(arrays, schema=schema)


def _kind(t: Any) -> str:
    import pyarrow as pa

    if pa.types.is_integer(t) or pa.types.is_boolean(t):
        return "int64"
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "float"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t) \
            or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return "bytes"
    raise UsageError(f"TFRecord cannot hold a {t} column: convert it to numbers or strings")


def write_batches(out: BinaryIO, batches: Iterable[Any]) -> int:
    """Write record batches as Examples; returns the row count."""
    import pyarrow as pa

    rows = 0
    for batch in batches:
        plan = []
        for fld, col in zip(batch.schema, batch.columns, strict=True):
            is_list = pa.types.is_list(fld.type) or pa.types.is_large_list(fld.type) \
                or pa.types.is_fixed_size_list(fld.type)
            kind = _kind(fld.type.value_type if is_list else fld.type)
            plan.append((fld.name, kind, is_list, col.to_pylist()))
        for i in range(batch.num_rows):
            features = {}
            for name, kind, is_list, values in plan:
                v = values[i]
                if v is None:
                    continue
                items = [x for x in v if x is not None] if is_list else [v]
                if kind == "int64":
                    items = [int(x) for x in items]
                elif kind == "float":
                    items = [float(x) for x in items]
                features[name] = (kind, items)
            out.write(frame(encode_example(features)))
        rows += batch.num_rows
    return rows
