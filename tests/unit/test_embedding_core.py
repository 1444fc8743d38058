"""The embedding cache's pure core: keys, packing and batching, without a server."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from agentcache import ConfigurationError, InvalidInputError
from agentcache._redis import keys as _keys
from agentcache.embeddings import EmbeddingCacheInfo, _core
from agentcache.embeddings._core import EmbeddingCore
from agentcache.settings import AgentCacheSettings


@pytest.fixture
def core() -> EmbeddingCore:
    return EmbeddingCore(AgentCacheSettings(redis={"key_prefix": "p"}), "org/model v1", 4)


def test_keys_name_the_encoded_model_and_dims(core: EmbeddingCore) -> None:
    key = core.key("hello")
    assert key == f"p:emb:org%2Fmodel%20v1:4:{_keys.digest('hello')}"
    other = EmbeddingCore(AgentCacheSettings(redis={"key_prefix": "p"}), "org/model v1", 8)
    assert other.key("hello") != key


def test_a_model_and_dims_are_required() -> None:
    with pytest.raises(ConfigurationError):
        EmbeddingCore(AgentCacheSettings(), "", 4)


def test_only_strings_are_keyed(core: EmbeddingCore) -> None:
    with pytest.raises(InvalidInputError, match="str"):
        core.key(3)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="sequence"):
        core.batch("one string")


def test_pack_round_trips_and_a_wrong_length_is_a_miss(core: EmbeddingCore) -> None:
    raw = core.pack([0.5, -1.0, 2.0, 0.25])
    assert len(raw) == 16
    unpacked = core.unpack(raw)
    assert unpacked is not None and unpacked.tolist() == [0.5, -1.0, 2.0, 0.25]
    assert core.unpack(raw[:12]) is None and core.unpack(None) is None
    assert core.unpack_all(None, 3) == [None, None, None]
    with pytest.raises(InvalidInputError):
        core.pack([1.0, 2.0])


def test_pack_many_needs_as_many_vectors_as_texts(core: EmbeddingCore) -> None:
    with pytest.raises(InvalidInputError, match="2 texts but 1 vectors"):
        core.pack_many(["a", "b"], [[1.0, 1.0, 1.0, 1.0]])


def test_a_batch_is_deduplicated_and_spread_back_in_order(core: EmbeddingCore) -> None:
    batch = core.batch(["a", "b", "a", "c"])
    assert batch.unique == ["a", "b", "c"] and batch.positions == [0, 1, 0, 2]
    found: list[object] = [np.ones(4, dtype=np.float32), None, None]
    missing = _core.missing_of(found)  # type: ignore[arg-type]
    assert missing == [1, 2]
    packed = core.fill(found, missing, [[2.0] * 4, [3.0] * 4])  # type: ignore[arg-type]
    assert len(packed) == 2 and core.unpack(packed[1]) is not None
    ordered = _core.in_order(batch, found)  # type: ignore[arg-type]
    assert [v[0] for v in ordered] == [1.0, 2.0, 1.0, 3.0]


def test_fill_refuses_a_short_compute_result(core: EmbeddingCore) -> None:
    with pytest.raises(InvalidInputError, match="1 vectors for 2 texts"):
        core.fill([None, None], [0, 1], [[1.0] * 4])


def test_slot_groups_and_scatter_restore_key_order() -> None:
    keys = [f"p:emb:m:4:{i}" for i in range(20)]
    groups = _core.slot_groups(keys)
    replies = [[keys[i].encode() for i in group] for group in groups]
    assert _core.scatter(groups, replies, len(keys)) == [k.encode() for k in keys]


def test_resolve_awaits_only_awaitables() -> None:
    async def value() -> int:
        return 2

    assert asyncio.run(_core.resolve(1)) == 1
    assert asyncio.run(_core.resolve(value())) == 2


def test_tally(core: EmbeddingCore) -> None:
    core.tally(2, 1)
    core.tally(0, 3)
    assert core.info() == EmbeddingCacheInfo(hits=2, misses=4)
