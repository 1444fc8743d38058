"""``agentcache cluster``: tenants per node with entry counts, on the real cluster."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from agentcache.cli import main
from agentcache.semantic import SemanticCache
from agentcache.settings import AgentCacheSettings
from agentcache.testing.cluster import ClusterNodeProcess, LocalCluster
from agentcache.testing.vectors import HashingVectorizer


def test_cluster_command_places_tenants_with_entry_counts(
    cluster: LocalCluster,
    cluster_settings: AgentCacheSettings,
    tenant_owner: Callable[[str], ClusterNodeProcess],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cache = SemanticCache(cluster_settings, vectorizer=HashingVectorizer(dims=32))
    tenants = {f"co-{i}": i + 1 for i in range(5)}
    tenants["odd {tenant}:x"] = 2  # encoded in keys, shown decoded
    try:
        for tenant, n in tenants.items():
            for j in range(n):
                cache.store(f"q{j}", "a", tenant=tenant, agent="bot")
        monkeypatch.setenv("AGENTCACHE_REDIS__KEY_PREFIX", cluster_settings.redis.key_prefix)
        assert main(["cluster", "--nodes", ",".join(cluster.seeds), "--json"]) == 0
        reports = json.loads(capsys.readouterr().out)
        assert len(reports) == 3 and sum(r["slots"] for r in reports) == 16384
        placed = {t["tenant"]: (r["node"], t["entries"]) for r in reports for t in r["tenants"]}
        assert placed == {t: (f"127.0.0.1:{tenant_owner(t).port}", n) for t, n in tenants.items()}
        assert sum(r["index_docs"] for r in reports) == sum(tenants.values())
        assert main(["cluster", "--nodes", cluster.seeds[0], "--tenant", "co-4"]) == 0
        table = capsys.readouterr().out
        assert "co-4" in table and "entries 5" in table and "co-3" not in table
    finally:
        cache.drop()
        cache.close()
