"""Lucene's numbers, reproduced so scores match a one-shard cluster: BM25 constants and idf,
one-byte norm quantization, FeatureField's 9-bit values, and the hash behind random_score."""

from __future__ import annotations

import hashlib

import numpy as np

K1, B = 1.2, 0.75
#: Elasticsearch/OpenSearch score with LegacyBM25Similarity, which keeps the (k1 + 1) factor
LEGACY_BM25_GAIN = K1 + 1
POSITION_GAP = 100  # Lucene's position_increment_gap between values of an array
def lucene_lengths(lengths: np.ndarray) -> np.ndarray:
    """Field lengths as Lucene's one-byte norms decode them (`SmallFloat.intToByte4`)."""
    return _LENGTH_TABLE[np.searchsorted(_LENGTH_TABLE, lengths, side="right") - 1]


def _length_table() -> np.ndarray:
    table = []
    for byte in range(256):  # 24 exact values, then 4-significant-bit floats
        if byte < 24:
            table.append(byte)
        else:
            bits, shift = (byte - 24) & 7, ((byte - 24) >> 3) - 1
            table.append(24 + (bits if shift < 0 else (bits | 8) << shift))
    return np.array(table, dtype=np.float64)


_LENGTH_TABLE = _length_table()


def bm25_idf(df: np.ndarray | int, doc_count: int) -> np.ndarray:
    return np.log1p((doc_count - np.asarray(df, np.float64) + 0.5) / (np.asarray(df) + 0.5))


def quantize_feature(values: np.ndarray) -> np.ndarray:
    """Keep 9 significant bits, as Lucene FeatureField stores rank features."""
    bits = np.asarray(values, np.float32).view(np.uint32) >> 15 << 15
    return bits.view(np.float32)


def hash64(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


def uniform(hashes: np.ndarray, seed: int) -> np.ndarray:
    """splitmix64(hash ^ seed) → floats in [0, 1)."""
    z = hashes ^ np.uint64(seed)
    z = z + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * 2.0**-53
