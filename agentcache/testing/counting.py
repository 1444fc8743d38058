"""A real redis-py client that counts its round trips (instrumentation, not a mock)."""

from __future__ import annotations

from typing import Any

import redis
import redis.client


class CountingPipeline(redis.client.Pipeline):
    """A real pipeline that counts its executions (one round trip each)."""

    owner: CountingRedis

    def execute(self, raise_on_error: bool = True) -> list[Any]:
        self.owner.round_trips += 1
        self.owner.commands += len(self.command_stack)
        return super().execute(raise_on_error)


class CountingRedis(redis.Redis):
    """A real client that counts round trips (single commands and pipeline
    executions) and commands (each one a pipeline carried counts too).

    Example::

        client = CountingRedis.from_url(url)
        cache = EmbeddingCache(settings, client)
        before = client.round_trips
        cache.get_many(texts)
        assert client.round_trips - before == 1
    """

    round_trips = 0
    commands = 0

    def execute_command(self, *args: Any, **options: Any) -> Any:
        self.round_trips += 1
        self.commands += 1
        return super().execute_command(*args, **options)

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> CountingPipeline:
        pipe = CountingPipeline(
            self.connection_pool, self.response_callbacks, transaction, shard_hint
        )
        pipe.owner = self
        return pipe
