"""A deterministic embedder for tests that are about something other than embeddings."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

from agentcache.vectorizers import BaseVectorizer, Vector

_WORD = re.compile(r"\w+", re.UNICODE)


class HashingVectorizer(BaseVectorizer):
    """Bag of words hashed into ``dims`` signed buckets, L2-normalised.

    Texts sharing most words get a high cosine similarity, unrelated texts a
    low one; the same text always gives the same vector. ``calls`` counts
    texts embedded, so tests can assert an embedding was (not) computed.
    """

    def __init__(self, dims: int = 32, model: str = "test-hash") -> None:
        super().__init__(model, dims)
        self.calls = 0

    def embed_many(self, texts: Sequence[str]) -> list[Vector]:
        self.calls += len(texts)
        return [self._one(text) for text in texts]

    def _one(self, text: str) -> Vector:
        vec = np.zeros(self.dims, dtype=np.float32)
        words = _WORD.findall(text.lower()) or [text]
        for word in words:
            h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "big")
            vec[h % self.dims] += 1.0 if (h >> 32) & 1 else -1.0
        norm = float(np.linalg.norm(vec))
        if norm == 0.0:
            vec[0] = 1.0
            norm = 1.0
        return (vec / norm).astype(np.float32)
