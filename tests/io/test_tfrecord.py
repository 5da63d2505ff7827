"""TFRecord without TensorFlow: CRC-32C, framing and the tf.train.Example encoding, checked
against bytes derived from the specs, plus round trips and corruption detection."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pyarrow as pa
import pytest

from datamill import io as dio
from datamill.errors import UsageError
from datamill.io.formats import tfrecord as T


def _crc32c_bitwise(data: bytes) -> int:
    """The textbook bit-at-a-time CRC-32C, independent of the table-driven version."""
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def test_crc32c_known_vectors() -> None:
    assert T.crc32c(b"") == 0
    assert T.crc32c(b"123456789") == 0xE3069283  # the CRC catalogue check value
    assert T.crc32c(bytes(32)) == 0x8A9136AA  # RFC 3720 B.4
    assert T.crc32c(b"\xff" * 32) == 0x62A8AB43  # RFC 3720 B.4
    assert T.crc32c(bytes(range(32))) == 0x46DD794E  # RFC 3720 B.4
    for n in range(0, 40):
        data = bytes((i * 37 + n) & 0xFF for i in range(n))
        assert T.crc32c(data) == _crc32c_bitwise(data)


def test_masked_crc_and_frame_layout() -> None:
    crc = T.crc32c(b"abc")
    assert T.masked_crc32c(b"abc") == (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF
    framed = T.frame(b"abc")
    assert framed[:8] == struct.pack("<Q", 3)
    assert framed[8:12] == struct.pack("<I", T.masked_crc32c(struct.pack("<Q", 3)))
    assert framed[12:15] == b"abc"
    assert framed[15:] == struct.pack("<I", T.masked_crc32c(b"abc"))
    assert list(T.read_frames(io.BytesIO(framed + T.frame(b"")))) == [b"abc", b""]


def test_example_bytes_match_the_protobuf_encoding() -> None:
    # Example{features{feature{key:"a" value{int64_list{value:[1]}}}}}, fields by number:
    # Int64List.value=1 packed: 0a 01 01; Feature.int64_list=3: 1a 03 ..; map entry key=1,
    # value=2: 0a 01 'a' 12 05 ..; Features.feature=1: 0a 0a ..; Example.features=1: 0a 0c ..
    expected = bytes.fromhex("0a0c" "0a0a" "0a0161" "1205" "1a03" "0a0101")
    assert T.encode_example({"a": ("int64", [1])}) == expected
    assert T.decode_example(expected) == {"a": ("int64", [1])}

    # FloatList [1.0] packed (float32 LE 0000803f), BytesList ["hi"]; keys sorted
    got = T.encode_example({"f": ("float", [1.0]), "b": ("bytes", [b"hi"])})
    entry_b = bytes.fromhex("0a0162" "1206" "0a04" "0a026869")
    entry_f = bytes.fromhex("0a0166" "1208" "1206" "0a040000803f")
    features = b"\x0a" + bytes([len(entry_b)]) + entry_b + b"\x0a" + bytes([len(entry_f)]) \
        + entry_f
    assert got == b"\x0a" + bytes([len(features)]) + features


def test_negative_and_large_int64_and_unpacked_lists() -> None:
    values = [-1, 0, 2**63 - 1, -(2**63), 300]
    enc = T.encode_feature("int64", values)
    assert T.encode_feature("int64", [-1]) == bytes.fromhex("1a0c" "0a0a" "ffffffffffffffffff01")
    assert T.decode_feature(enc) == ("int64", values)
    # an unpacked Int64List (older writers): field 1 as separate varints
    unpacked = bytes.fromhex("1a04" "0805" "0807")
    assert T.decode_feature(unpacked) == ("int64", [5, 7])
    unpacked_f = bytes.fromhex("120a" "0d0000803f" "0d00000040")
    assert T.decode_feature(unpacked_f) == ("float", [1.0, 2.0])


def test_round_trip_through_the_connector(tmp_path: Path) -> None:
    table = pa.table({
        "id": pa.array([1, -2, 3], pa.int64()),
        "label": ["cat", "dög", None],
        "raw": pa.array([b"\xff\x00", b"x", b"y"], pa.binary()),
        "score": pa.array([0.5, 1.25, -3.0], pa.float32()),
        "tags": pa.array([[1, 2], [], [3]], pa.list_(pa.int64())),
        "emb": pa.array([[0.5, 0.25], [1.0, 2.0], [0.0, 0.0]], pa.list_(pa.float32())),
    })
    path = tmp_path / "train.tfrecord"
    rep = dio.write(str(path), table, mode="replace")
    assert rep.rows == 3
    back = dio.read(str(path))
    assert back.schema.field("id").type == pa.int64()
    assert back.column("id").to_pylist() == [1, -2, 3]
    assert back.column("label").to_pylist() == ["cat", "dög", None]
    assert back.schema.field("raw").type == pa.binary()  # not UTF-8: stays bytes
    assert back.column("raw").to_pylist() == [b"\xff\x00", b"x", b"y"]
    assert back.column("score").to_pylist() == [0.5, 1.25, -3.0]
    assert back.column("tags").to_pylist() == [[1, 2], [], [3]]
    assert back.column("emb").to_pylist() == [[0.5, 0.25], [1.0, 2.0], [0.0, 0.0]]
    # the file is a plain sequence of frames of Examples
    frames = list(T.read_frames(io.BytesIO(path.read_bytes())))
    assert len(frames) == 3
    assert T.decode_example(frames[0])["label"] == ("bytes", [b"cat"])


def test_gzip_tfrecord(tmp_path: Path) -> None:
    table = pa.table({"x": [1, 2, 3]})
    dio.write(str(tmp_path / "d.tfrecord.gz"), table, mode="replace")
    assert (tmp_path / "d.tfrecord.gz").read_bytes()[:2] == b"\x1f\x8b"
    assert dio.read(str(tmp_path / "d.tfrecord.gz")).column("x").to_pylist() == [1, 2, 3]


@pytest.mark.parametrize("where, what", [(20, "data CRC"), (3, "length CRC"),
                                          (-2, "data CRC")])
def test_corruption_is_detected(tmp_path: Path, where: int, what: str) -> None:
    path = tmp_path / "c.tfrecord"
    dio.write(str(path), pa.table({"x": [1, 2], "s": ["hello", "world"]}), mode="replace")
    data = bytearray(path.read_bytes())
    data[where] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(UsageError, match=f"corrupt TFRecord at byte \\d+: the {what}"):
        dio.read(str(path))


def test_truncated_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "t.tfrecord"
    dio.write(str(path), pa.table({"x": [1, 2]}), mode="replace")
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(UsageError, match="truncated TFRecord"):
        dio.read(str(path))
