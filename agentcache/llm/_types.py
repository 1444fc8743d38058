"""What the cached clients need from a response cache, as protocols.

The clients (``_async``/``_sync``) talk to the semantic cache only through
these few methods, so they depend on this contract, not on the cache's
construction. The per-request controls reach the cache as optional keyword
arguments, passed only when a call sets them: ``threshold`` and ``max_age`` to
``lookup``, ``ttl`` to ``store`` (a cache without them still serves calls that
do not use those controls). A ``SemanticCache`` / ``AsyncSemanticCache`` satisfies them;
the composer (``AgentCache.anthropic()``, or a client's convenience
constructor given only settings) hands one in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from agentcache.semantic import CheckResult
from agentcache.vectorizers import Vectorizer

__all__ = ["AsyncResponseCache", "ResponseCache"]


class ResponseCache(Protocol):
    """A blocking response cache: look up an answer, store one, learn from feedback."""

    @property
    def vectorizer(self) -> Vectorizer:
        """Embeds two answers for the explore step's comparison."""
        ...

    def lookup(
        self, prompt: str, *, tenant: str, agent: str, model: str | None = None
    ) -> CheckResult: ...

    def store(
        self,
        prompt: str,
        response: str,
        *,
        tenant: str,
        agent: str,
        model: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> str | None: ...

    def feedback(
        self, entry_id: str, correct: bool, *, tenant: str, similarity: float | None = None
    ) -> bool: ...

    def close(self) -> None: ...


class AsyncResponseCache(Protocol):
    """The asyncio form of ``ResponseCache`` (same methods, awaited; ``aclose``)."""

    @property
    def vectorizer(self) -> Vectorizer: ...

    async def lookup(
        self, prompt: str, *, tenant: str, agent: str, model: str | None = None
    ) -> CheckResult: ...

    async def store(
        self,
        prompt: str,
        response: str,
        *,
        tenant: str,
        agent: str,
        model: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> str | None: ...

    async def feedback(
        self, entry_id: str, correct: bool, *, tenant: str, similarity: float | None = None
    ) -> bool: ...

    async def aclose(self) -> None: ...
