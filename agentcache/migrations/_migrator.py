"""Semantic index migrations with zero downtime: plan, apply, rollback, status, cleanup.

The cache reads and writes through the alias ``{prefix}:idx:{index_name}``;
each physical index is a version ``{alias}:vN`` recorded in the metadata hash
``{prefix}:meta:{index_name}``. Two strategies:

* **re-index in place** (fields added or removed, HNSW parameters): a new
  index over the same keys, built by RediSearch in the background while the
  old one serves; then the alias is swapped. Writes keep landing on the same
  keys, which both indexes see, so none is lost.
* **copy with transform** (float32 -> float16, or a new embedding model and
  dims): every entry is copied under ``{prefix}:semN:`` with its vector
  converted or its prompt re-embedded, then a **catch-up pass** copies every
  entry stored since the backfill began (found by the indexed ``inserted_at``),
  deletions are reconciled, counts and sample queries are verified and the
  alias is swapped. After the swap (and a settle delay longer than the caches'
  metadata refresh) a last catch-up copies writes that reached the old prefix
  before each cache noticed. No dual-write: caches change nothing until the
  swap, and a re-embedding cache could not compute the new vectors anyway.

Example::

    migrator = Migrator(new_settings, vectorizer=new_vectorizer)
    print(migrator.plan().describe())
    migrator.apply()
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agentcache._redis import keys as _keys
from agentcache._redis.clients import SyncClient, sync_client
from agentcache._redis.index_meta import (
    PENDING_FIELDS,
    PREVIOUS,
    VECTOR_FIELD,
    Version,
    decode,
    version_fields,
    version_from_meta,
)
from agentcache.exceptions import MigrationError
from agentcache.migrations._cluster import cluster_ops
from agentcache.migrations._copy import EntryCopier, IndexOps, MigrationLock, Progress
from agentcache.migrations._plan import (
    MigrationPlan,
    MigrationReport,
    MigrationStatus,
    Transform,
    checkpoint_fields,
    fields_from_info,
    fields_from_schema,
    make_plan,
    plan_from_checkpoint,
)
from agentcache.semantic._schema import build_schema
from agentcache.settings import AgentCacheSettings
from agentcache.vectorizers import Vectorizer

logger = logging.getLogger("agentcache.migrations")

__all__ = ["MigrationPlan", "MigrationReport", "MigrationStatus", "Migrator", "Progress"]


def _no_progress(phase: str, done: int, total: int | None) -> None:
    return None


class Migrator:
    """Plans and runs migrations of the semantic index to ``settings``' schema.

    Args:
        settings: the *new* configuration (schema path, dims, datatype, HNSW
            parameters); its redis and key prefix name the cache to migrate.
        client: a redis-py client (not closed); built from settings otherwise.
        vectorizer: the new model, for re-embedding (wrap it in the embedding
            cache so repeated runs embed nothing twice).
        schema_path: a YAML schema other than ``settings.semantic.schema_path``.
        batch_size: entries per SCAN page and per pipelined copy.
        settle_seconds: wait this long around a copy swap so every cache has
            re-read the metadata (they do so at most once a second).
        clock_slack: seconds subtracted from catch-up marks, for clock skew
            between the hosts that write ``inserted_at``.
        reembed: re-embed even when the model name and dims look unchanged.
    """

    def __init__(
        self,
        settings: AgentCacheSettings,
        *,
        client: SyncClient | None = None,
        vectorizer: Vectorizer | None = None,
        schema_path: Path | None = None,
        batch_size: int = 500,
        lock_ttl: float = 30.0,
        settle_seconds: float = 2.5,
        clock_slack: float = 30.0,
        sample_size: int = 20,
        progress: Progress | None = None,
        reembed: bool = False,
    ) -> None:
        self.settings = settings
        self.client: SyncClient = client if client is not None else sync_client(settings)
        self._owns_client = client is None
        self.vectorizer = vectorizer
        self.schema_path = schema_path
        self.batch_size = batch_size
        self.settle_seconds = settle_seconds
        self.clock_slack = clock_slack
        self.sample_size = sample_size
        self.progress: Progress = progress or _no_progress
        self.reembed = reembed
        prefix, name = settings.redis.key_prefix, settings.semantic.index_name
        self.key_prefix = prefix
        self.alias = _keys.index_alias(prefix, name)
        self.meta_key = _keys.meta_key(prefix, name)
        self.checkpoint_key = _keys.migration_checkpoint_key(prefix, name)
        self.lock = MigrationLock(self.client, _keys.migration_lock_key(prefix, name), lock_ttl)
        # Every per-index step goes through ops: one index and an alias, or one index per
        # primary of an OSS cluster with the metadata hash as the switch.
        self.ops: IndexOps = cluster_ops(self.client) or IndexOps(self.client)

    # -- reading ------------------------------------------------------------
    def _meta(self) -> dict[str, str]:
        return decode(self.client.hgetall(self.meta_key))

    def _active(self, meta: dict[str, str]) -> Version:
        active = version_from_meta(meta)
        if active is None:
            raise MigrationError(
                f"no semantic index recorded at {self.meta_key}; start the cache once first"
            )
        return active

    def _checkpoint(self) -> dict[str, str]:
        return decode(self.client.hgetall(self.checkpoint_key))

    def plan(self) -> MigrationPlan:
        """Compare the live index with the schema and settings; choose a strategy."""
        meta = self._meta()
        source = self._active(meta)
        live = fields_from_info(self.ops.info(source.physical))
        schema = build_schema(
            self.settings,
            index_name="plan",
            key_prefix=source.entry_prefix,
            path=self.schema_path,
        )
        wanted = fields_from_schema(schema)
        new_dims = int(wanted[VECTOR_FIELD]["dims"])
        if self.vectorizer is None and (self.reembed or new_dims != source.dims):
            self.vectorizer = default_vectorizer(self.settings, self.client)
        versions = [source.version]
        previous = version_from_meta(meta, PREVIOUS)
        if previous is not None:
            versions.append(previous.version)
        return make_plan(
            source,
            live,
            wanted,
            alias=self.alias,
            key_prefix=self.key_prefix,
            index_name=self.settings.semantic.index_name,
            next_version=max(versions) + 1,
            # Only a vectorizer given (or needed) names the model; else it is kept as recorded.
            target_model=self.vectorizer.model if self.vectorizer is not None else "",
            force_reembed=self.reembed,
        )

    def status(self) -> MigrationStatus:
        """Versions, alias target, entry counts and any running migration."""
        meta = self._meta()
        active = version_from_meta(meta)
        previous = version_from_meta(meta, PREVIOUS)
        docs: dict[str, int] = {}
        checkpoint = self._checkpoint()
        names = [v.physical for v in (active, previous) if v is not None]
        names += [checkpoint["target_physical"]] if checkpoint.get("target_physical") else []
        target = self.ops.alias_target(self.alias, active)
        for name in names:
            count = self.ops.docs(name)
            if count is not None:
                docs[name] = count
        return MigrationStatus(
            self.alias, target, active, previous, docs, checkpoint, self.lock.holder()
        )

    # -- apply --------------------------------------------------------------
    def apply(self, *, dry_run: bool = False) -> MigrationReport:
        """Build, backfill, verify and swap to the schema's index (resuming a checkpoint)."""
        checkpoint = self._checkpoint()
        plan = self._resumed_plan(checkpoint) if checkpoint else self.plan()
        report = MigrationReport(plan, dry_run=dry_run, resumed=bool(checkpoint))
        if dry_run or (plan.strategy == "none" and not checkpoint):
            return report
        started = time.monotonic()
        self.ops.check_ready()
        with self.lock:
            checkpoint = self._checkpoint()  # re-read under the lock
            if not checkpoint:
                checkpoint = self._start(plan)
            self._run(plan, checkpoint, report)
        report.seconds = time.monotonic() - started
        return report

    def _resumed_plan(self, checkpoint: dict[str, str]) -> MigrationPlan:
        resumed = plan_from_checkpoint(checkpoint)
        if resumed is None:
            raise MigrationError(f"unreadable migration checkpoint {self.checkpoint_key}")
        target, wanted = resumed.target, self.plan()
        if (wanted.target.dims, wanted.target.datatype) != (target.dims, target.datatype):
            raise MigrationError(
                f"a migration to {target.physical} ({target.dims} dims, {target.datatype}) "
                "was interrupted; run `agentcache migrate rollback` to abandon it first"
            )
        return resumed

    def _start(self, plan: MigrationPlan) -> dict[str, str]:
        total = self.ops.docs(plan.source.physical) or 0
        checkpoint: dict[Any, Any] = checkpoint_fields(plan, total, time.time())
        self.client.hset(self.checkpoint_key, mapping=checkpoint)
        self._create_index(plan.target)
        if plan.strategy == "copy":
            # Caches stay on the physical source index from now on (see SemanticCore).
            self.client.hset(
                self.meta_key,
                mapping={
                    "pending": plan.target.physical,
                    "pending_transform": "1",
                    "announced_at": f"{time.time():.6f}",
                },
            )
        logger.info("migration to %s started (%s)", plan.target.physical, plan.strategy)
        return checkpoint

    def _create_index(self, version: Version) -> None:
        self.ops.create(version, self._schema_for(version))

    def _schema_for(self, version: Version) -> Callable[[str], Any]:
        """``index name -> schema`` of ``version`` (one name, or one per cluster primary)."""
        settings = self.settings.model_copy(deep=True)
        settings.embeddings.dims = version.dims
        settings.semantic.vector_datatype = version.datatype  # type: ignore[assignment]

        def schema(name: str) -> Any:
            return build_schema(
                settings, index_name=name, key_prefix=version.entry_prefix, path=self.schema_path
            )

        return schema

    def _phase(self, phase: str) -> None:
        self.client.hset(self.checkpoint_key, "phase", phase)
        logger.info("migration phase: %s", phase)

    def _run(
        self, plan: MigrationPlan, checkpoint: dict[str, str], report: MigrationReport
    ) -> None:
        source, target = plan.source, plan.target
        copier = None
        if plan.strategy == "copy":
            copier = self.ops.copier(
                source, target, plan.transform, self.vectorizer, self.batch_size
            )
            report.copied = self._backfill(copier, checkpoint)
            mark = float(checkpoint["started_at"]) - self.clock_slack
            mark, report.caught_up = self._catch_up(copier, mark)
            self._phase("reconcile")
            report.reconciled = copier.reconcile(lambda n: self.lock.refresh())
        self._phase("index")
        self.ops.ensure(target, self._schema_for(target))  # a primary may have joined meanwhile
        self.ops.wait_indexed(target.physical, self._index_tick)
        self._phase("verify")
        report.counts, report.samples = self._verify(plan, copier)
        self._phase("swap")
        if copier is not None:
            self._settle(float(self._meta().get("announced_at", 0)))
        self._swap(target, source)
        if copier is not None:
            # Caches that had not yet seen the swap may still have written to the source.
            self.lock.sleep(self.settle_seconds)
            mark = time.time() - self.settle_seconds * 2 - self.clock_slack
            report.caught_up += copier.catch_up(mark, self.lock.ticker(self.progress, "catch-up"))
        self.client.delete(self.checkpoint_key)
        logger.info("migration to %s done", target.physical)

    def _index_tick(self, percent: float) -> None:
        self.lock.refresh()
        self.progress("index", int(percent * 100), 100)

    def _backfill(self, copier: EntryCopier, checkpoint: dict[str, str]) -> int:
        if checkpoint.get("phase") not in ("build", "backfill"):
            return int(checkpoint.get("copied", 0))
        self._phase("backfill")
        copied = int(checkpoint.get("copied", 0))
        total = int(checkpoint.get("total", 0)) or None
        self.progress("backfill", copied, total)

        def tick(cursor: str, n: int) -> None:
            nonlocal copied
            copied += n
            self.client.hset(self.checkpoint_key, mapping={"cursor": cursor, "copied": str(copied)})
            self.lock.refresh()
            self.progress("backfill", copied, total)

        copier.backfill(checkpoint.get("cursor", "0"), tick)
        self._phase("catch-up")
        return copied

    def _catch_up(self, copier: EntryCopier, mark: float) -> tuple[float, int]:
        """Copy what was stored since ``mark`` until a pass finds (almost) nothing new."""
        self._phase("catch-up")
        total = 0
        for _ in range(5):
            started = time.time()
            n = copier.catch_up(mark, self.lock.ticker(self.progress, "catch-up"))
            total += n
            mark = started - self.clock_slack
            if n <= self.batch_size // 10:
                break
        return mark, total

    def _verify(
        self, plan: MigrationPlan, copier: EntryCopier | None
    ) -> tuple[dict[str, int], int]:
        source, target = plan.source, plan.target
        for attempt in range(3):
            before = self.ops.tenant_counts(source.physical)
            after = self.ops.tenant_counts(target.physical)
            if before == after:
                break
            if attempt == 2:
                diff = {t: (before.get(t, 0), after.get(t, 0)) for t in before.keys() | after.keys()
                        if before.get(t, 0) != after.get(t, 0)}  # fmt: skip
                raise MigrationError(f"per-tenant counts differ (source, target): {diff}")
            # Writes landed while counting (or indexing lagged): catch up and look again.
            if copier is not None:
                copier.catch_up(
                    time.time() - 60 - self.clock_slack, self.lock.ticker(self.progress, "catch-up")
                )
                copier.reconcile(lambda n: self.lock.refresh())
            self.lock.sleep(1.0)
            self.ops.wait_indexed(target.physical, self._index_tick)
        samples = self.ops.sample_keys(source.entry_prefix, self.sample_size)
        failures = self.ops.verify_samples(source, target, samples, self.settings.semantic.top_k)
        if failures:
            raise MigrationError(
                f"{len(failures)} of {len(samples)} sample queries differ: {failures[:3]}"
            )
        return after, len(samples)

    def _settle(self, since: float) -> None:
        self.lock.sleep(since + self.settle_seconds - time.time())

    def _swap(self, to: Version, previous: Version) -> None:
        """Point the alias at ``to`` and record it, atomically (MULTI/EXEC)."""
        fields: dict[Any, Any] = {
            **to.as_meta(),
            **previous.as_meta(PREVIOUS),
            "swapped_at": f"{time.time():.6f}",
        }
        self.ops.swap(self.alias, self.meta_key, to, fields)
        logger.info("alias %s -> %s", self.alias, to.physical)

    # -- rollback and cleanup -----------------------------------------------
    def rollback(self, *, dry_run: bool = False) -> str:
        """Abandon a running migration, or point the alias back at the previous version."""
        checkpoint = self._checkpoint()
        meta = self._meta()
        if checkpoint:
            target = version_from_meta(checkpoint, "target_")
            source = version_from_meta(checkpoint, "source_")
            assert target is not None and source is not None
            text = f"abandon the migration to {target.physical} (drop it and its copied entries)"
            if dry_run:
                return text + " [dry run]"
            with self.lock:
                self._drop(target, keep_prefix=source.entry_prefix)
                self.client.hdel(self.meta_key, *PENDING_FIELDS)
                self.client.delete(self.checkpoint_key)
            return text
        active, previous = version_from_meta(meta), version_from_meta(meta, PREVIOUS)
        if active is None or previous is None:
            raise MigrationError("nothing to roll back: no previous version is retained")
        text = f"point {self.alias} back at {previous.physical} (from {active.physical})"
        if dry_run:
            return text + " [dry run]"
        with self.lock:
            shaped = (active.dims, active.datatype) != (previous.dims, previous.datatype)
            if active.entry_prefix != previous.entry_prefix and shaped:
                self.client.hset(self.meta_key, "pending_transform", "1")
                self.lock.sleep(self.settle_seconds)
            swapped_at = float(meta.get("swapped_at", 0) or 0)
            self._swap(previous, active)
            caught = 0
            if active.entry_prefix != previous.entry_prefix:
                caught = self._copy_back(active, previous, swapped_at)
        return text + (f"; copied {caught} entries written since the swap" if caught else "")

    def _copy_back(self, source: Version, target: Version, since: float) -> int:
        """Copy entries stored in ``source`` since ``since`` to ``target``, if transformable."""
        self.lock.sleep(self.settle_seconds)
        transform: Transform
        if source.dims == target.dims and source.model == target.model:
            transform = "datatype"
        elif self.vectorizer is not None and self.vectorizer.dims == target.dims:
            transform = "reembed"
        else:
            logger.warning(
                "entries written to %s since the swap are not copied back: pass a vectorizer "
                "for %s", source.physical, target.model,
            )  # fmt: skip
            return 0
        copier = self.ops.copier(source, target, transform, self.vectorizer, self.batch_size)
        return copier.catch_up(
            since - self.clock_slack, self.lock.ticker(self.progress, "copy-back")
        )

    def cleanup(self, *, dry_run: bool = False) -> str:
        """Drop the retained previous version (its index and, if separate, its entries)."""
        if self._checkpoint():
            raise MigrationError("a migration is running or interrupted; apply or rollback first")
        meta = self._meta()
        active, previous = version_from_meta(meta), version_from_meta(meta, PREVIOUS)
        if active is None or previous is None:
            return "nothing to clean up"
        text = f"drop {previous.physical}"
        if previous.entry_prefix != active.entry_prefix:
            text += f" and its entries under {previous.entry_prefix}*"
        if dry_run:
            return text + " [dry run]"
        with self.lock:
            if previous.entry_prefix != active.entry_prefix:
                # Caches still on the old model may have written there since the swap.
                self._copy_back(previous, active, float(meta.get("swapped_at", 0) or 0))
            self.client.hdel(self.meta_key, *version_fields(PREVIOUS))
            self._drop(previous, keep_prefix=active.entry_prefix)
        return text

    def _drop(self, version: Version, *, keep_prefix: str) -> None:
        self.ops.drop(version.physical)  # never DD
        if version.entry_prefix != keep_prefix:
            self.ops.delete_prefix(version.entry_prefix)

    def close(self) -> None:
        if self._owns_client:
            self.client.close()

    def __enter__(self) -> Migrator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def default_vectorizer(settings: AgentCacheSettings, client: SyncClient) -> Any:
    """The settings' vectorizer behind the embedding cache (on ``client``)."""
    from agentcache.stack import embedding_vectorizer  # the composer (it imports every layer)

    return embedding_vectorizer(settings, client=client)[0]
