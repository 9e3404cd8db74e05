"""Documents' `_source` on disk as JSON lines with an offsets array, decoded only when read.

Decoding all 62k sources of the catalog (57 MB of JSON) took ~1.5 s of every cold start,
while a search reads the sources of a few hundred candidates. The file is memory-mapped and a
source is decoded on first use, then kept among the `MAX_DECODED` most recently read: kept
without a bound, every source a Q2E memory update iterates stayed decoded, and a 20,000-search
soak of the full catalog grew the process from 808 to 1,450 MB (`es-ltrr bench --soak`).
"""

from __future__ import annotations

import json
import mmap
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

SOURCES = "sources.jsonl"
OFFSETS = "sources.offsets.npy"
#: Decoded sources kept per index (~4 KB each in Python objects): the hot candidates of many
#: queries, a fraction of the catalog.
MAX_DECODED = 8192


def write_sources(path: Path, sources: Sequence[dict], default: Callable[[Any], Any]) -> None:
    """`sources.jsonl` + byte offsets (n + 1) in directory `path`; each file replaced atomically."""
    lines = [json.dumps(s, default=default).encode() + b"\n" for s in sources]
    offsets = np.zeros(len(lines) + 1, np.int64)
    np.cumsum([len(line) for line in lines], out=offsets[1:])
    replace_file(path / SOURCES, lambda f: f.write(b"".join(lines)))
    replace_file(path / OFFSETS, lambda f: np.save(f, offsets))


def replace_file(path: Path, write: Callable[[Any], Any]) -> None:
    """Write to a new file and rename it over `path`: a process that memory-mapped the old
    file keeps reading it (truncating a mapped file in place kills readers with SIGBUS)."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        write(f)
    tmp.replace(path)


class StoredSources(Sequence):
    """The sources of a saved index: row i → its `_source` dict (shared: callers copy)."""

    def __init__(self, blob: bytes | mmap.mmap, offsets: np.ndarray, changed: Mapping[int, dict] | None = None,
                 path: Path | None = None):
        self._blob, self._offsets = blob, offsets
        self._changed = dict(changed or {})
        self._decoded = _Recent(MAX_DECODED)
        self._path = path  # named in the error when a line turns out damaged

    @classmethod
    def load(cls, path: Path) -> "StoredSources":
        """The sources in directory `path`; a truncated or visibly damaged file is a ValueError
        naming it (a line that only fails to decode is reported when read)."""
        try:
            offsets = np.load(path / OFFSETS)
        except (OSError, ValueError, EOFError) as exc:
            raise ValueError(f"{path / OFFSETS}: {exc}") from exc
        with open(path / SOURCES, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if offsets.ndim != 1 or not offsets.size or int(offsets[-1]) != size:
                raise ValueError(f"{path / SOURCES} has {size} bytes, its offsets say {int(offsets[-1]) if offsets.size else '?'}")
            blob = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        _check_lines(path / SOURCES, blob, offsets)
        return cls(blob, offsets, path=path / SOURCES)

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def __getitem__(self, i: int) -> dict:  # type: ignore[override]
        if not isinstance(i, (int, np.integer)) or not -len(self) <= i < len(self):
            raise IndexError(f"source index {i!r} out of range")
        i = int(i) % len(self)
        if i in self._changed:
            return self._changed[i]
        found = self._decoded.get(i)
        if found is None:  # two threads may both decode; setdefault keeps one, no KeyError
            found = self._decoded.setdefault(i, self._decode(i))
        return found

    def _decode(self, i: int) -> dict:
        try:
            return json.loads(self._blob[int(self._offsets[i]):int(self._offsets[i + 1])])
        except ValueError as exc:  # also UnicodeDecodeError
            raise ValueError(f"{self._path}: line {i + 1} is damaged ({exc}); re-index with `es-ltrr index`") from None

    def replace(self, changed: Mapping[int, dict]) -> "StoredSources":
        """A new value with rows `changed` replaced; this one is unchanged (snapshots share it)."""
        return StoredSources(self._blob, self._offsets, {**self._changed, **changed}, self._path)


def _check_lines(path: Path, blob: bytes | mmap.mmap, offsets: np.ndarray) -> None:
    """Every line is `{...}` + newline where the offsets say: catches a damaged or shifted file at start
    for the price of two bytes per document (decoding all of them would cost seconds)."""
    if len(offsets) < 2:
        return
    data = np.frombuffer(blob, np.uint8)
    starts, ends = offsets[:-1], offsets[1:]
    lengths = ends - starts
    if lengths.min() < 3:
        bad = int(np.argmax(lengths < 3))
    else:
        broken = (data[starts] != ord("{")) | (data[ends - 2] != ord("}")) | (data[ends - 1] != ord("\n"))
        if not broken.any():
            return
        bad = int(np.argmax(broken))
    raise ValueError(f"{path}: line {bad + 1} is not where its offsets say or not a JSON object (the file is damaged)")


class _Recent:
    """The `size` most recently read decoded sources; a lock, since searches read from threads."""

    def __init__(self, size: int):
        self._items: OrderedDict[int, dict] = OrderedDict()
        self._size, self._lock = size, threading.Lock()

    def get(self, i: int) -> dict | None:
        with self._lock:
            found = self._items.get(i)
            if found is not None:
                self._items.move_to_end(i)
            return found

    def setdefault(self, i: int, value: dict) -> dict:
        with self._lock:
            found = self._items.setdefault(i, value)
            self._items.move_to_end(i)
            if len(self._items) > self._size:
                self._items.popitem(last=False)
            return found


def with_changes(sources: Sequence[dict], changed: Mapping[int, dict]) -> Sequence[dict]:
    """`sources` with rows replaced, as a new value of the same kind (stored or built in memory)."""
    if isinstance(sources, StoredSources):
        return sources.replace(changed)
    out = list(sources)
    for i, source in changed.items():
        out[i] = source
    return out
