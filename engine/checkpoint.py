"""Read a TensorFlow checkpoint (a tensor bundle: `prefix.index` and `prefix.data-*`) into numpy.

No TensorFlow: a worker reads the model's weights with this in milliseconds instead of importing
TensorFlow for seconds. The index is a LevelDB-format table whose values are `BundleEntryProto`
messages (dtype, shape, shard, offset, size); the data files hold the tensors' bytes, little-endian.
Only what checkpoints of this project use is read: uncompressed tables of whole (unsliced) tensors.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from engine.errors import ModelError

SHIPPED_CHECKPOINT = Path(__file__).resolve().parent / "model" / "cat-mel_2bar_small" / "model.ckpt"
DEFAULT_CONFIG = "cat-mel_2bar_small"
CHECKPOINT_HINT = "set MUSICVAE_CHECKPOINT to a checkpoint prefix or folder, or write one with `breeder export`"

TABLE_MAGIC = 0xDB4775248B80FB57
FOOTER_BYTES = 48
BLOCK_TRAILER_BYTES = 5  # a compression byte and a CRC
# DataType enum values of tensorflow/core/framework/types.proto that checkpoints of this project hold.
DTYPES = {1: np.float32, 2: np.float64, 3: np.int32, 9: np.int64, 10: np.bool_, 19: np.float16}


class CheckpointError(ValueError):
    """The files are not a tensor bundle this reader understands."""


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(data):
            raise CheckpointError("a number runs past the end of its record")
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
        shift += 7


def _message(value: int | bytes, name: str) -> bytes:
    """A field that holds a nested message; CheckpointError when the index holds a number there."""
    if not isinstance(value, bytes):
        raise CheckpointError(f"{name}'s entry in the index is not a shape message")
    return value


def _fields(message: bytes) -> dict[int, list[int | bytes]]:
    """The fields of a protobuf message by number: varints as ints, the rest as bytes."""
    fields: dict[int, list[int | bytes]] = {}
    at = 0
    while at < len(message):
        key, at = _varint(message, at)
        number, wire = key >> 3, key & 7
        value: int | bytes
        if wire == 0:
            value, at = _varint(message, at)
        elif wire == 1:
            value, at = message[at : at + 8], at + 8
        elif wire == 2:
            size, at = _varint(message, at)
            value, at = message[at : at + size], at + size
        elif wire == 5:
            value, at = message[at : at + 4], at + 4
        else:
            raise CheckpointError(f"unexpected protobuf wire type {wire}")
        fields.setdefault(number, []).append(value)
    return fields


def _block(table: bytes, offset: int, size: int) -> list[tuple[bytes, bytes]]:
    """The (key, value) entries of one table block."""
    if offset + size + BLOCK_TRAILER_BYTES > len(table):
        raise CheckpointError("a block runs past the end of the index")
    if table[offset + size] != 0:
        raise CheckpointError("the index is compressed; only uncompressed tables are read")
    block = table[offset : offset + size]
    (restarts,) = struct.unpack_from("<I", block, len(block) - 4)
    end = len(block) - 4 - 4 * restarts
    entries, key, at = [], b"", 0
    while at < end:
        shared, at = _varint(block, at)
        unshared, at = _varint(block, at)
        value_size, at = _varint(block, at)
        key = key[:shared] + block[at : at + unshared]
        at += unshared
        entries.append((key, block[at : at + value_size]))
        at += value_size
    return entries


def _index_entries(index: bytes) -> list[tuple[bytes, bytes]]:
    if len(index) < FOOTER_BYTES:
        raise CheckpointError("the index is too short to be a table")
    footer = index[-FOOTER_BYTES:]
    (magic,) = struct.unpack_from("<Q", footer, FOOTER_BYTES - 8)
    if magic != TABLE_MAGIC:
        raise CheckpointError("the index is not a checkpoint table")
    _meta_offset, at = _varint(footer, 0)
    _meta_size, at = _varint(footer, at)
    index_offset, at = _varint(footer, at)
    index_size, _ = _varint(footer, at)
    entries = []
    for _last_key, handle in _block(index, index_offset, index_size):
        offset, at = _varint(handle, 0)
        size, _ = _varint(handle, at)
        entries.extend(_block(index, offset, size))
    return entries


def read(prefix: Path | str) -> dict[str, NDArray[np.generic]]:
    """Every tensor of the checkpoint `prefix` by name; CheckpointError (or OSError) when it cannot be read."""
    prefix = Path(prefix)
    index = Path(f"{prefix}.index").read_bytes()
    tensors: dict[str, NDArray[np.generic]] = {}
    shards: dict[int, bytes] = {}
    shard_count = 1
    for key, value in _index_entries(index):
        fields = _fields(value)
        if key == b"":  # the bundle's header
            shard_count = int(fields.get(1, [1])[0])
            continue
        name = key.decode()
        if 7 in fields:
            raise CheckpointError(f"{name} is stored in slices; only whole tensors are read")
        dtype_id = int(fields.get(1, [0])[0])
        if dtype_id not in DTYPES:
            raise CheckpointError(f"{name} has a data type ({dtype_id}) this reader does not know")
        shape = []
        for shape_proto in fields.get(2, []):
            for dim in _fields(_message(shape_proto, name)).get(2, []):
                shape.append(int(_fields(_message(dim, name)).get(1, [0])[0]))
        shard = int(fields.get(3, [0])[0])
        offset = int(fields.get(4, [0])[0])
        size = int(fields.get(5, [0])[0])
        if shard not in shards:
            shards[shard] = Path(f"{prefix}.data-{shard:05d}-of-{shard_count:05d}").read_bytes()
        data = shards[shard][offset : offset + size]
        dtype = np.dtype(DTYPES[dtype_id]).newbyteorder("<")
        if len(data) != size or size != dtype.itemsize * int(np.prod(shape, dtype=np.int64)):
            raise CheckpointError(f"{name} is truncated in the data file")
        tensors[name] = np.frombuffer(data, dtype=dtype).reshape(shape).astype(DTYPES[dtype_id])
    return tensors


def resolve_checkpoint(checkpoint: Path | str | None) -> Path:
    """The checkpoint prefix of a prefix or folder (None: the shipped model); ModelError if none is there."""
    path = SHIPPED_CHECKPOINT if checkpoint is None else Path(checkpoint)
    if path.suffix == ".index" or path.suffix.startswith(".data-"):  # a file of the checkpoint named instead
        path = path.with_suffix("")
    if path.is_dir():
        latest = _latest(path)
        if latest is not None:
            return latest
        indexes = sorted(path.glob("*.index"), key=lambda p: p.stat().st_mtime)
        if indexes:
            return indexes[-1].with_suffix("")
        raise ModelError(f"no MusicVAE checkpoint in folder {path}; {CHECKPOINT_HINT}")
    if not Path(f"{path}.index").is_file():
        raise ModelError(f"no MusicVAE checkpoint at {path} ({path.name}.index is missing); {CHECKPOINT_HINT}")
    return path


def _latest(folder: Path) -> Path | None:
    """The checkpoint a folder's `checkpoint` state file names (as TensorFlow's latest_checkpoint), if it is there."""
    try:
        state = (folder / "checkpoint").read_text()
    except (OSError, UnicodeDecodeError):
        return None
    found = re.search(r'^model_checkpoint_path:\s*"((?:[^"\\]|\\.)*)"', state, re.MULTILINE)
    if found is None:
        return None
    prefix = Path(found.group(1))
    prefix = prefix if prefix.is_absolute() else folder / prefix
    return prefix if Path(f"{prefix}.index").is_file() else None
