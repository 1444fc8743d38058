"""Index migrations, the Redis side: the lock, copying entries, counting and sampling."""

from __future__ import annotations

import contextlib
import functools
import os
import random
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import redis
from redisvl.schema import IndexSchema

from agentcache._redis.clients import SyncClient
from agentcache._redis.index_meta import PENDING_FIELDS, VECTOR_FIELD, Version
from agentcache._redis.replies import (
    aggregate_rows,
    info_dict,
    is_missing_index,
    reply_text,
    search_rows,
    search_rows_total,
)
from agentcache.exceptions import MigrationError, MigrationLockedError
from agentcache.migrations._plan import (
    COPY_SCRIPT,
    LOCK_REFRESH_SCRIPT,
    LOCK_RELEASE_SCRIPT,
    Transform,
    target_key,
)
from agentcache.semantic._core import DISTANCE_ALIAS
from agentcache.vectorizers import Vectorizer

Tick = Callable[[int], None]
# progress(phase, done, total or None): drives a progress bar (or a test's hook).
Progress = Callable[[str, int, int | None], None]


def _dtype(datatype: str) -> type[np.floating[Any]]:
    return np.float16 if datatype == "float16" else np.float32


class MigrationLock:
    """A Redis key holding a random token with a TTL; refreshed while the holder works.

    A crashed holder's lock expires after ``ttl`` seconds, so an interrupted
    migration can be resumed by the next ``apply``.
    """

    def __init__(self, client: SyncClient, key: str, ttl: float = 30.0) -> None:
        self.client = client
        self.key = key
        self.ttl_ms = max(1000, int(ttl * 1000))
        self.token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex}"
        self._refreshed = 0.0
        self._refresh = client.register_script(LOCK_REFRESH_SCRIPT)
        self._release = client.register_script(LOCK_RELEASE_SCRIPT)

    def holder(self) -> str | None:
        raw = self.client.get(self.key)
        return None if raw is None else reply_text(raw)

    def acquire(self) -> None:
        if not self.client.set(self.key, self.token, nx=True, px=self.ttl_ms):
            raise MigrationLockedError(
                f"another migration holds {self.key} ({self.holder()}); it expires "
                f"{self.ttl_ms // 1000}s after its holder stops refreshing it"
            )
        self._refreshed = time.monotonic()

    def refresh(self) -> None:
        """Extend the lock (at most every third of its TTL); raise if it was lost."""
        now = time.monotonic()
        if (now - self._refreshed) * 3000 < self.ttl_ms:
            return
        if not self._refresh(keys=[self.key], args=[self.token, self.ttl_ms]):
            raise MigrationLockedError(f"lost the migration lock {self.key}; stopping")
        self._refreshed = now

    def release(self) -> None:
        self._release(keys=[self.key], args=[self.token])

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (none if negative), keeping the lock alive meanwhile."""
        end = time.monotonic() + max(0.0, seconds)
        while time.monotonic() < end:
            self.refresh()
            time.sleep(min(0.05, max(0.0, end - time.monotonic())))

    def ticker(self, progress: Progress, phase: str, total: int | None = None) -> Tick:
        """A ``tick(n)`` for a long pass: counts ``n`` done, refreshes the lock, reports it."""
        done = 0

        def tick(n: int) -> None:
            nonlocal done
            done += n
            self.refresh()
            progress(phase, done, total)

        return tick

    def __enter__(self) -> MigrationLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class EntryCopier:
    """Copies entries from one version's prefix to another's, transforming the vectors."""

    def __init__(
        self,
        ops: IndexOps,
        source: Version,
        target: Version,
        transform: Transform,
        vectorizer: Vectorizer | None,
        batch_size: int,
    ) -> None:
        if transform == "reembed" and vectorizer is None:
            raise MigrationError("re-embedding needs a vectorizer for the target model")
        if transform == "reembed" and vectorizer is not None and vectorizer.dims != target.dims:
            raise MigrationError(
                f"vectorizer {vectorizer.model} gives {vectorizer.dims} dims, "
                f"the target index wants {target.dims}"
            )
        self.ops = ops
        self.client = client = ops.client
        self.source = source
        self.target = target
        self.transform = transform
        self.vectorizer = vectorizer
        self.batch_size = batch_size
        self._copy = client.register_script(COPY_SCRIPT)

    def _vectors(self, rows: Sequence[dict[bytes, bytes]]) -> list[bytes]:
        out_type = _dtype(self.target.datatype)
        if self.transform == "reembed":
            assert self.vectorizer is not None
            prompts = [row.get(b"prompt", b"").decode("utf-8", "replace") for row in rows]
            vectors = self.vectorizer.embed_many(prompts)
            return [np.asarray(v, dtype=out_type).tobytes() for v in vectors]
        in_type = _dtype(self.source.datatype)
        return [
            np.frombuffer(row[VECTOR_FIELD.encode()], dtype=in_type).astype(out_type).tobytes()
            for row in rows
        ]

    def copy_keys(self, keys: Sequence[str]) -> int:
        """Copy these source entries (gone or malformed ones are skipped); return how many."""
        if not keys:
            return 0
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.hgetall(key)
            pipe.pttl(key)
            pipe.hget(target_key(key, self.source, self.target), "inserted_at")
        replies = pipe.execute()
        rows: list[tuple[str, dict[bytes, bytes], int]] = []
        needed = b"prompt" if self.transform == "reembed" else VECTOR_FIELD.encode()
        for i, key in enumerate(keys):
            row, pttl, copied_at = replies[3 * i], int(replies[3 * i + 1]), replies[3 * i + 2]
            if not row or needed not in row:
                continue  # gone meanwhile
            if copied_at is not None and float(copied_at) >= float(row.get(b"inserted_at", 0)):
                continue  # this store was copied already: do not embed it again
            rows.append((key, row, pttl))
        if not rows:
            return 0
        blobs = self._vectors([row for _, row, _ in rows])
        calls: list[tuple[list[str], list[Any]]] = []
        for (key, row, pttl), blob in zip(rows, blobs, strict=True):
            fields: list[Any] = []
            row[VECTOR_FIELD.encode()] = blob
            for name, value in row.items():
                fields += [name, value]
            dest = target_key(key, self.source, self.target)
            stored_at = row.get(b"inserted_at", b"0")
            calls.append(([dest], [stored_at, pttl, *fields]))
        return sum(int(n) for n in self.write(calls))

    def write(self, calls: list[tuple[list[str], list[Any]]]) -> list[Any]:
        """Run the copy script once per ``(keys, args)`` in one pipeline."""
        pipe = self.client.pipeline(transaction=False)
        for keys, args in calls:
            self._copy(keys=keys, args=args, client=pipe)
        return list(pipe.execute())

    def backfill(self, cursor: str, tick: Callable[[str, int], None]) -> int:
        """Copy every source entry, SCAN page by page from ``cursor``.

        ``tick(next_cursor, copied)`` runs after each page (the checkpoint);
        SCAN cursors are stateless, so a later run resumes from the saved one.
        """
        total = 0
        at = int(cursor or 0)
        match = f"{self.source.entry_prefix}*"
        while True:
            at, keys = self.client.scan(cursor=at, match=match, count=self.batch_size)
            copied = self.copy_keys([reply_text(k) for k in keys])
            total += copied
            tick(str(int(at)), copied)
            if int(at) == 0:
                return total

    def catch_up(self, since: float, tick: Tick) -> int:
        """Copy entries stored at or after ``since`` (the index's ``inserted_at``)."""
        return self.catch_up_on(self.client.execute_command, self.source.physical, since, tick)

    def catch_up_on(self, run: Callable[..., Any], index: str, since: float, tick: Tick) -> int:
        """``catch_up`` through one index, its commands sent by ``run``, a page at a time."""
        total, offset = 0, 0
        while True:
            reply = run(
                "FT.SEARCH", index, f"@inserted_at:[{since:.6f} +inf]",
                "NOCONTENT", "LIMIT", offset, self.batch_size, "DIALECT", 2,
            )  # fmt: skip
            keys = [key for key, _ in search_rows(reply)[1]]
            copied = self.copy_keys(keys)
            total += copied
            tick(copied)
            if len(keys) < self.batch_size or search_rows_total(reply) <= offset + len(keys):
                return total
            offset += len(keys)

    def reconcile(self, tick: Tick) -> int:
        """Delete target entries whose source entry is gone (invalidated or evicted meanwhile)."""
        removed = 0
        for names in scan_pages(self.client, f"{self.target.entry_prefix}*", self.batch_size):
            if names:
                sources = [
                    self.source.entry_prefix + n[len(self.target.entry_prefix) :] for n in names
                ]
                pipe = self.client.pipeline(transaction=False)
                for key in sources:
                    pipe.exists(key)
                gone = [n for n, alive in zip(names, pipe.execute(), strict=True) if not alive]
                if gone:
                    removed += int(self.client.unlink(*gone))
                tick(len(gone))
        return removed


def index_info(client: SyncClient, name: str) -> dict[str, Any]:
    return info_dict(client.execute_command("FT.INFO", name))


def wait_indexed(
    client: SyncClient, physical: str, tick: Callable[[float], None], timeout: float = 3600.0
) -> None:
    """Block until RediSearch has indexed every existing key of ``physical``."""
    deadline = time.monotonic() + timeout
    late = f"index {physical} still indexing after {timeout:.0f}s"
    poll_indexed(lambda: index_info(client, physical), deadline, tick, late)


def poll_indexed(
    read_info: Callable[[], dict[str, Any]],
    deadline: float,
    tick: Callable[[float], None],
    late: str,
) -> None:
    """Poll FT.INFO (``read_info``) until indexing is done; past ``deadline``, raise ``late``."""
    while True:
        info = read_info()
        percent = float(info.get("percent_indexed", 1) or 0)
        if int(info.get("indexing", 0) or 0) == 0 and percent >= 1.0:
            return
        if time.monotonic() > deadline:
            raise MigrationError(late)
        tick(percent)
        time.sleep(0.05)


def tenant_counts(client: SyncClient, physical: str) -> dict[str, int]:
    """Entries per tenant (TAG digest) in one index."""
    reply = client.execute_command(
        "FT.AGGREGATE", physical, "*", "GROUPBY", 1, "@tenant", "REDUCE", "COUNT", 0, "AS", "n",
        "TIMEOUT", 0, "DIALECT", 2,  # no timeout: a partial count would fail verification
    )  # fmt: skip
    return parse_tenant_counts(reply)


def parse_tenant_counts(reply: Any) -> dict[str, int]:
    """An ``FT.AGGREGATE ... GROUPBY @tenant REDUCE COUNT AS n`` reply as a dict."""
    return {row.get("tenant", ""): int(row.get("n", 0)) for row in aggregate_rows(reply)}


def scan_pages(conn: Any, match: str, count: int) -> Iterator[list[str]]:
    """SCAN ``conn`` (one server or node) from the start, a page of key names at a time."""
    cursor = 0
    while True:
        cursor, keys = conn.scan(cursor=cursor, match=match, count=count)
        yield [reply_text(k) for k in keys]
        if int(cursor) == 0:
            return


def sample_keys_on(conns: Iterable[Any], prefix: str, n: int, seed: int = 0) -> list[str]:
    """Up to ``n`` entry keys under ``prefix``, chosen from the first SCAN pages of
    ``conns`` (one server, or a cluster's primaries in turn)."""
    seen: list[str] = []
    for conn in conns:
        if len(seen) >= n * 5:
            break
        for page in scan_pages(conn, f"{prefix}*", 1000):
            seen += page
            if len(seen) >= n * 5:
                break
    return random.Random(seed).sample(seen, min(n, len(seen)))


# Reads of a sample entry for verification: its scope and its own vector, in one HMGET.
SAMPLE_FIELDS = ["tenant", "agent", "model", VECTOR_FIELD]
# knn(version, entry key, k): the entry ids that version's index returns for the entry's
# own vector in its own scope; None when the entry is gone (expired while verifying).
KnnIds = Callable[[Version, str, int], "list[str] | None"]


def knn_sample_command(index: str, values: Sequence[Any], k: int) -> list[Any] | None:
    """The FT.SEARCH of one sample (``SAMPLE_FIELDS`` values), or None if it is gone."""
    if any(v is None for v in values):
        return None
    *scope, blob = values
    tenant, agent, model = (reply_text(v) for v in scope)
    query = (
        f"(@tenant:{{{tenant}}} @agent:{{{agent}}} @model:{{{model}}})"
        f"=>[KNN {k} @{VECTOR_FIELD} $B AS {DISTANCE_ALIAS}]"
    )
    return [
        "FT.SEARCH", index, query, "PARAMS", 2, "B", blob,
        "SORTBY", DISTANCE_ALIAS, "ASC", "NOCONTENT", "LIMIT", 0, k, "DIALECT", 2,
    ]  # fmt: skip


def found_ids(version: Version, reply: Any) -> list[str]:
    return [key[len(version.entry_prefix) :] for key, _ in search_rows(reply)[1]]


def _knn_ids(client: SyncClient, version: Version, key: str, k: int) -> list[str] | None:
    command = knn_sample_command(version.physical, client.hmget(key, SAMPLE_FIELDS), k)
    return None if command is None else found_ids(version, client.execute_command(*command))


def verify_samples(
    knn: KnnIds, source: Version, target: Version, keys: Sequence[str], k: int = 5
) -> list[str]:
    """Query both versions with each sample entry's own vector; return the failures.

    A sample passes when each version returns that very entry among its top
    ``k`` for the entry's tenant/agent/model.
    """
    failures = []
    for key in keys:
        rest = key[len(source.entry_prefix) :]
        before = knn(source, key, k)
        if before is None:
            continue
        after = knn(target, target.entry_prefix + rest, k)
        if after is None or rest not in after:
            failures.append(f"{rest}: source top-{k} {before[:1]}, target top-{k} {after}")
    return failures


def delete_prefix(client: SyncClient, prefix: str, batch: int = 1000) -> int:
    """UNLINK every key under ``prefix`` (a dropped version's entries)."""
    return sum(
        int(client.unlink(*keys)) for keys in scan_pages(client, f"{prefix}*", batch) if keys
    )


class IndexOps:
    """The per-index steps of a migration on one Redis (one index, one alias).

    ``ClusterIndexOps`` (_migrate_cluster.py) runs the same steps on every
    primary of an OSS cluster.
    """

    # The copier of this topology (one server here; per primary on a cluster).
    copier_type: type[EntryCopier] = EntryCopier

    def __init__(self, client: SyncClient) -> None:
        self.client = client

    def check_ready(self) -> None:
        return None

    def info(self, name: str) -> dict[str, Any]:
        return index_info(self.client, name)

    def docs(self, name: str) -> int | None:
        """Documents in index ``name``; None if there is no such index."""
        try:
            return int(self.info(name).get("num_docs", 0))
        except redis.ResponseError as exc:
            if is_missing_index(exc):
                return None
            raise

    def alias_target(self, alias: str, active: Version | None) -> str | None:
        try:
            found = self.info(alias).get("index_name")
        except redis.ResponseError as exc:
            if is_missing_index(exc):
                return None
            raise
        return reply_text(found)

    def create(self, version: Version, schema_for: Callable[[str], IndexSchema]) -> None:
        from redisvl.exceptions import RedisVLError
        from redisvl.index import SearchIndex

        try:
            SearchIndex(schema_for(version.physical), redis_client=self.client).create(
                overwrite=False
            )
        except (RedisVLError, redis.RedisError) as exc:  # resumed: it exists already
            if "already exists" not in str(exc).lower():
                raise MigrationError(f"could not create {version.physical}: {exc}") from exc

    def ensure(self, version: Version, schema_for: Callable[[str], IndexSchema]) -> None:
        """Before indexing is awaited: nothing to add on one node (created by ``create``)."""
        return None

    def wait_indexed(self, physical: str, tick: Callable[[float], None]) -> None:
        wait_indexed(self.client, physical, tick)

    def tenant_counts(self, physical: str) -> dict[str, int]:
        return tenant_counts(self.client, physical)

    def sample_keys(self, prefix: str, n: int) -> list[str]:
        return sample_keys_on([self.client], prefix, n)

    def verify_samples(
        self, source: Version, target: Version, keys: Sequence[str], k: int = 5
    ) -> list[str]:
        return verify_samples(functools.partial(_knn_ids, self.client), source, target, keys, k)

    def swap(self, alias: str, meta_key: str, to: Version, fields: dict[Any, Any]) -> None:
        """Point the alias at ``to`` and record it, atomically (MULTI/EXEC)."""
        pipe = self.client.pipeline(transaction=True)
        pipe.execute_command("FT.ALIASUPDATE", alias, to.physical)
        pipe.hset(meta_key, mapping=fields)
        pipe.hdel(meta_key, *PENDING_FIELDS)
        pipe.execute()

    def drop(self, physical: str) -> None:
        with contextlib.suppress(redis.ResponseError):
            self.client.execute_command("FT.DROPINDEX", physical)  # never DD

    def delete_prefix(self, prefix: str) -> int:
        return delete_prefix(self.client, prefix)

    def copier(
        self,
        source: Version,
        target: Version,
        transform: Transform,
        vectorizer: Vectorizer | None,
        batch_size: int,
    ) -> EntryCopier:
        return self.copier_type(self, source, target, transform, vectorizer, batch_size)
