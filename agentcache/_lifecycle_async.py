"""What every layer's I/O shell owns (the asyncio source; the sync twin is generated).

A shell uses the client and metrics it is given, or builds them from the
settings; it closes only what it built, and as a context manager it
returns itself and closes on exit. Written once here so the layers (which
never import each other) behave the same.
"""

from __future__ import annotations

from typing import Self

from agentcache._redis.clients import AsyncClient, async_client
from agentcache.metrics._counters import Metrics
from agentcache.settings import AgentCacheSettings


class AsyncShell:
    """The client and metrics of a cache shell, and closing them."""

    client: AsyncClient
    metrics: Metrics
    _owns_client: bool
    _owns_metrics: bool

    def _own(
        self, settings: AgentCacheSettings, client: AsyncClient | None, metrics: Metrics | None
    ) -> None:
        """Use ``client``/``metrics`` when given (never closed here), else build them."""
        self._owns_client = client is None
        self.client = client if client is not None else async_client(settings)
        self._owns_metrics = metrics is None
        self.metrics = metrics or Metrics.from_settings(settings, client=self.client)

    async def aclose(self) -> None:
        """Flush and close the metrics and the client, if this cache made them."""
        if self._owns_metrics:
            await self.metrics.aclose()
        if self._owns_client:
            await self.client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


__all__ = ["AsyncShell"]
