"""The semantic cache's pure parts (no server): validation, decisions, queries, scope binding."""

from __future__ import annotations

import random
from typing import Any

import pytest

from agentcache._redis import keys as _keys
from agentcache.exceptions import ConfigurationError, InvalidInputError, SerializationError
from agentcache.metrics._counters import ERRORS, Metrics, current_scope, scoped
from agentcache.semantic import AsyncSemanticCache, SemanticCache
from agentcache.semantic._core import DISTANCE_ALIAS, IndexState, SemanticCore
from agentcache.semantic._decide import LOOSE_BAND
from agentcache.semantic._policy import Candidate, ThresholdPolicy, VerifiedPolicy
from agentcache.semantic._queries import SemanticQueries
from agentcache.semantic._scripts import STORE_SCRIPT
from agentcache.semantic._types import Scope
from agentcache.settings import AgentCacheSettings
from agentcache.testing.vectors import HashingVectorizer

# Nothing listens on port 1: every Redis call is a connection fault.
UNREACHABLE = "redis://127.0.0.1:1"


def make_settings(**semantic: Any) -> AgentCacheSettings:
    return AgentCacheSettings(
        redis={"url": UNREACHABLE, "key_prefix": "unit"},
        embeddings={"dims": 8},
        semantic=semantic,
        metrics={"enabled": False},
    )


def make_core(
    policy: Any = None, rng: random.Random | None = None, **semantic: Any
) -> SemanticCore:
    return SemanticCore(make_settings(**semantic), policy or ThresholdPolicy(), rng=rng)


def candidate(similarity: float, entry_id: str = "e1") -> Candidate:
    fields = {"tenant_id": "t", "agent_id": "a", "model_name": ""}
    return Candidate(entry_id=entry_id, prompt="p", similarity=similarity, fields=fields)


# -- scope binding: the shell binds for one call, then restores ---------------
def test_core_scope_validates_without_binding_the_metrics_scope() -> None:
    core = make_core()
    with scoped("outer", "agent"):
        assert core.scope("acme", "support", None) == Scope("acme", "support", None)
        assert current_scope() == ("outer", "agent")
    with pytest.raises(InvalidInputError, match="tenant"):
        core.scope("", "support", None)


def test_a_call_binds_its_scope_for_faults_and_restores_the_previous_one() -> None:
    metrics = Metrics()
    cache = SemanticCache(make_settings(), vectorizer=HashingVectorizer(8), metrics=metrics)
    with scoped("outer", "caller"):
        result = cache.lookup("q", tenant="acme", agent="support", vector=[1.0] * 8)
        assert current_scope() == ("outer", "caller")
    assert result.reason == "unavailable"
    assert current_scope() == ("", "")
    # The connection fault inside the call was counted for the call's tenant.
    assert metrics.snapshot().total(ERRORS, layer="semantic", tenant="acme") >= 1
    assert metrics.snapshot().total(ERRORS, layer="semantic", tenant="outer") == 0
    cache.close()


async def test_an_async_call_restores_the_previous_scope() -> None:
    metrics = Metrics()
    cache = AsyncSemanticCache(make_settings(), vectorizer=HashingVectorizer(8), metrics=metrics)
    assert await cache.store("q", "r", tenant="acme", agent="support", vector=[1.0] * 8) is None
    assert current_scope() == ("", "")
    assert await cache.count() == 0  # no scope of its own: the faults stay unattributed
    assert current_scope() == ("", "")
    assert metrics.snapshot().total(ERRORS, layer="semantic", tenant="acme") >= 1
    await cache.aclose()


def test_the_constructor_does_no_io_and_create_tries_the_index() -> None:
    cache = SemanticCache(make_settings(), vectorizer=HashingVectorizer(8))
    assert cache.core.state is None and cache.guard.faults == 0
    cache.close()
    created = SemanticCache.create(make_settings(), vectorizer=HashingVectorizer(8))
    assert created.core.state is None and created.guard.faults == 1  # fail-open: retried later
    created.close()


# -- validation ---------------------------------------------------------------
def test_inputs_are_checked_and_named() -> None:
    core = make_core(max_prompt_chars=5)
    assert core.validate_prompt("hello") == "hello"
    with pytest.raises(InvalidInputError, match="prompt is 6 characters"):
        core.validate_prompt("hello!")
    with pytest.raises(InvalidInputError, match="text is empty"):
        core.validate_prompt("  ", "text")
    with pytest.raises(InvalidInputError, match="response must be a string"):
        core.validate_response(b"x")
    with pytest.raises(InvalidInputError, match="threshold"):
        core.validate_threshold(True)  # type: ignore[arg-type]
    assert core.validate_threshold(None) == core.settings.semantic.threshold
    with pytest.raises(InvalidInputError, match="similarity"):
        core.validate_similarity(1.5)
    with pytest.raises(InvalidInputError, match="one string"):
        core.validate_tags("tag")  # type: ignore[arg-type]
    assert core.encode_metadata({"b": 1, "a": 2}) == '{"a": 2, "b": 1}'
    with pytest.raises(SerializationError, match="JSON"):
        core.encode_metadata({"x": object()})


def test_a_bad_vector_from_the_vectorizer_is_a_configuration_error() -> None:
    core = make_core()
    with pytest.raises(ConfigurationError, match="'m' returned an unusable embedding"):
        core.vectorizer_output([1.0, 2.0], "m")
    assert len(core.vector_bytes(core.vector([1.0] * 8))) == 8 * 4


# -- decisions ----------------------------------------------------------------
def test_a_hit_is_served_or_withheld_in_shadow_mode() -> None:
    scope = Scope("t", "a", None)
    served = make_core().resolve("q", [candidate(0.95)], 0.9, scope)
    assert served.hit is not None and served.accepted and not served.shadow
    shadow = make_core(shadow_mode=True).resolve("q", [candidate(0.95)], 0.9, scope)
    assert shadow.hit is None and shadow.accepted and shadow.candidate is not None


def test_a_declined_candidate_is_counted_and_explored_only_near_the_threshold() -> None:
    scope = Scope("t", "a", None)
    core = make_core(VerifiedPolicy(), random.Random(0), explore_rate=1.0)
    near = core.resolve("q", [candidate(0.9 - LOOSE_BAND / 2)], 0.9, scope)
    assert near.hit is None and not near.accepted and near.explore
    far = core.resolve("q", [candidate(0.9 - 2 * LOOSE_BAND)], 0.9, scope)
    assert not far.explore
    assert sum(core.stats.declined.values()) == 2


# -- queries ------------------------------------------------------------------
def test_queries_follow_the_index_state_and_the_scope() -> None:
    core = make_core(query="knn", top_k=3)
    queries = SemanticQueries(core)
    scope = Scope("acme", "support", None)
    command = queries.knn_command(scope, b"blob", planned=False)
    assert command[1] == core.alias
    tenant, agent = _keys.tag_value("acme"), _keys.tag_value("support")
    assert command[2].startswith(f"(@tenant:{{{tenant}}} @agent:{{{agent}}})=>[KNN $K")
    assert command[-4:] == [0, 3, "DIALECT", 2]
    state = core.initial_state()
    core.state = IndexState(**{**state.__dict__, "pinned": True})
    assert queries.knn_command(scope, b"blob", planned=False)[1] == state.physical


def test_the_range_radius_widens_only_when_near_misses_matter() -> None:
    scope = Scope("t", "a", None)
    plain = SemanticQueries(make_core()).nearby_command(scope, b"", 0.9)
    wide = SemanticQueries(make_core(shadow_mode=True)).nearby_command(scope, b"", 0.9)
    radius = plain[plain.index("R") + 1]
    assert radius == pytest.approx(0.1, abs=1e-5)
    assert wide[wide.index("R") + 1] == pytest.approx(0.1 + LOOSE_BAND, abs=1e-5)
    assert DISTANCE_ALIAS in plain[2]


def test_the_store_script_carries_the_ttl_bound() -> None:
    assert "MAX_TTL" not in STORE_SCRIPT and "315360000" in STORE_SCRIPT


# -- the pure parts import no I/O ---------------------------------------------
PURE = ("_core", "_validate", "_decide", "_queries", "_types", "_scripts")
IO = ("redis", "redisvl", "agentcache.metrics", "agentcache._redis.faults",
      "agentcache._redis.clients")  # fmt: skip


@pytest.mark.parametrize("name", PURE)
def test_the_pure_parts_import_no_client_metrics_or_fault_guard(name: str) -> None:
    import ast
    import importlib.util

    spec = importlib.util.find_spec(f"agentcache.semantic.{name}")
    assert spec is not None and spec.origin is not None
    with open(spec.origin, encoding="utf-8") as handle:
        tree = ast.parse(handle.read())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}  # fmt: skip
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not {m for m in imported for io in IO if m == io or m.startswith(f"{io}.")}
