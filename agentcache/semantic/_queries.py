"""The FT.SEARCH commands of the semantic cache (built here, sent by the I/O shell)."""

from __future__ import annotations

from typing import Any

from agentcache._redis import keys as _keys
from agentcache._redis.index_meta import VECTOR_FIELD
from agentcache._redis.replies import search_rows
from agentcache.semantic._core import DISTANCE_ALIAS, SemanticCore
from agentcache.semantic._decide import LOOSE_BAND
from agentcache.semantic._types import Scope


class SemanticQueries:
    """Query builders over a ``SemanticCore`` (its index state, planner and policy fields)."""

    def __init__(self, core: SemanticCore) -> None:
        self.core = core

    def filter_expr(
        self,
        tenant: str,
        agent: str | None = None,
        model: str | None = None,
        tag: str | None = None,
        since: float | None = None,
    ) -> str:
        parts = [f"@tenant:{{{_keys.tag_value(tenant)}}}"]
        if agent is not None:
            parts.append(f"@agent:{{{_keys.tag_value(agent)}}}")
        if model is not None:
            parts.append(f"@model:{{{_keys.tag_value(model)}}}")
        if tag is not None:
            parts.append(f"@tags:{{{_keys.tag_value(tag)}}}")
        if since is not None:  # max_age: only entries stored since then
            parts.append(f"@inserted_at:[{since!r} +inf]")
        return "(" + " ".join(parts) + ")"

    def knn_command(
        self,
        scope: Scope,
        blob: bytes,
        k: int | None = None,
        index_key: str = "",
        planned: bool = True,
        since: float | None = None,
    ) -> list[Any]:
        """The filtered KNN; ``planned``: with the hybrid planner's policy (``_hybrid``);
        ``since``: only entries inserted at or after that time (``max_age``)."""
        k = k or self.core.settings.semantic.top_k
        scope_filter = self.filter_expr(scope.tenant, scope.agent, scope.model, since=since)
        policy = self.core.planner.policy(scope, index_key) if planned else None
        hybrid = f" HYBRID_POLICY {policy}" if policy else ""
        query = (
            f"{scope_filter}"
            f"=>[KNN $K @{VECTOR_FIELD} $BLOB{hybrid} EF_RUNTIME $EF AS {DISTANCE_ALIAS}]"
        )
        fields = (*self.core.return_fields, DISTANCE_ALIAS)
        return [
            "FT.SEARCH", self.core.search_name, query,
            "PARAMS", 6, "BLOB", blob, "K", k, "EF", self.core.settings.semantic.ef_runtime,
            "SORTBY", DISTANCE_ALIAS, "ASC",
            "RETURN", len(fields), *fields,
            "LIMIT", 0, k,
            "DIALECT", 2,
        ]  # fmt: skip

    def lookup_command(
        self,
        scope: Scope,
        blob: bytes,
        threshold: float,
        index_key: str = "",
        since: float | None = None,
    ) -> list[Any]:
        """The candidate query of a lookup, in the configured form."""
        if self.core.settings.semantic.query == "knn":
            return self.knn_command(scope, blob, index_key=index_key, since=since)
        return self.nearby_command(scope, blob, threshold, since)

    def nearby_command(
        self, scope: Scope, blob: bytes, threshold: float, since: float | None = None
    ) -> list[Any]:
        """The scope's top-k entries within a radius of the threshold, nearest first.

        The radius is the threshold itself, widened by ``LOOSE_BAND`` when near
        misses matter (a learning policy, shadow mode or exploring), so the
        policy sees every candidate it could accept and nothing far beyond.
        """
        cfg = self.core.settings.semantic
        query = (
            f"@{VECTOR_FIELD}:[VECTOR_RANGE $R $BLOB]=>{{$EPSILON: {cfg.query_epsilon}; "
            f"$YIELD_DISTANCE_AS: {DISTANCE_ALIAS}}} "
            f"{self.filter_expr(scope.tenant, scope.agent, scope.model, since=since)}"
        )
        fields = (*self.core.return_fields, DISTANCE_ALIAS)
        return [
            "FT.SEARCH", self.core.search_name, query,
            "PARAMS", 4, "R", self.radius(threshold), "BLOB", blob,
            "SORTBY", DISTANCE_ALIAS, "ASC",
            "RETURN", len(fields), *fields,
            "LIMIT", 0, cfg.top_k,
            "DIALECT", 2,
        ]  # fmt: skip

    def radius(self, threshold: float) -> float:
        """The distance within which a candidate could be served or verified: the
        threshold, widened by ``LOOSE_BAND`` when near misses matter."""
        cfg = self.core.settings.semantic
        wide = self.core.learns or cfg.shadow_mode or cfg.explore_rate > 0
        return 1.0 - max(0.0, threshold - (LOOSE_BAND if wide else 0.0)) + 1e-6

    def scripted(
        self, command: list[Any], scope: Scope, threshold: float
    ) -> tuple[list[str], list[Any]]:
        """SEARCH_SCRIPT's keys and arguments running ``command`` (an FT.SEARCH): the
        hit counts of its rows and the payloads of those within ``radius`` come back
        with it."""
        keys = [self.core.hits_key(scope.tenant)]
        return keys, [self.radius(threshold), DISTANCE_ALIAS, *command[1:]]

    def range_command(
        self, tenant: str, agent: str | None, blob: bytes, threshold: float, offset: int, limit: int
    ) -> list[Any]:
        radius = 1.0 - threshold
        query = (
            f"@{VECTOR_FIELD}:[VECTOR_RANGE $R $BLOB]=>{{$EPSILON: 0.5; $YIELD_DISTANCE_AS: "
            f"{DISTANCE_ALIAS}}} {self.filter_expr(tenant, agent)}"
        )
        return [
            "FT.SEARCH", self.core.search_name, query,
            "PARAMS", 4, "R", radius, "BLOB", blob,
            "NOCONTENT", "LIMIT", offset, limit, "DIALECT", 2,
        ]  # fmt: skip

    # -- hybrid planner (the I/O layer counts, in this order, when asked) ----
    def index_count_command(self, index_key: str) -> list[Any] | None:
        """The whole index's count, when the planner's figure is missing or stale."""
        if self.core.settings.semantic.query != "knn":
            return None
        if not self.core.planner.needs_index_count(index_key):
            return None
        return self.count_command("*")

    def scope_count_command(self, scope: Scope, index_key: str) -> list[Any] | None:
        """The scope's count, when the planner needs it (its index is big enough)."""
        if self.core.settings.semantic.query != "knn":
            return None
        if not self.core.planner.needs_scope_count(scope, index_key):
            return None
        return self.count_command(self.filter_expr(scope.tenant, scope.agent, scope.model))

    def record_index(self, index_key: str, reply: Any) -> None:
        self.core.planner.record_index(index_key, search_rows(reply)[0])

    def record_scope(self, scope: Scope, reply: Any) -> None:
        self.core.planner.record_scope(scope, search_rows(reply)[0])

    def planner_failed(self, scope: Scope, index_key: str) -> None:
        self.core.planner.record_failure(scope, index_key)

    def ids_command(self, filter_expr: str, limit: int) -> list[Any]:
        name = self.core.search_name
        return ["FT.SEARCH", name, filter_expr, "NOCONTENT", "LIMIT", 0, limit, "DIALECT", 2]

    def count_command(self, filter_expr: str) -> list[Any]:
        return ["FT.SEARCH", self.core.search_name, filter_expr, "LIMIT", 0, 0, "DIALECT", 2]
