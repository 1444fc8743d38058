"""Cache warming from JSONL and CSV on a real Redis Stack."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from agentcache.migrations.warm import read_pairs, warm_cache
from agentcache.semantic import SemanticCache
from agentcache.settings import AgentCacheSettings
from agentcache.testing.vectors import HashingVectorizer

ROOT = Path(__file__).resolve().parents[2]


def write_jsonl(path: Path, rows: list[object]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\nnot json\n", encoding="utf-8")
    return path


def test_warm_jsonl_skips_present_and_invalid(settings: AgentCacheSettings, tmp_path: Path) -> None:
    rows: list[object] = [
        {"question": f"how do I reset device {i}", "answer": f"hold {i}"} for i in range(10)
    ]
    rows += [
        {"prompt": "how do I reset device 3", "response": "dupe"},
        {"prompt": "no answer"},
        [1],
    ]
    path = write_jsonl(tmp_path / "faq.jsonl", rows)
    cache = SemanticCache(settings, vectorizer=HashingVectorizer(32))
    cache.store("how do I reset device 0", "already here", tenant="acme", agent="support")
    seen: list[int] = []
    report = warm_cache(
        cache, path, tenant="acme", agent="support", batch_size=4, progress=seen.append
    )
    assert (report.read, report.stored, report.skipped, report.invalid) == (14, 9, 2, 3)
    assert seen[-1] == 14 and len(seen) >= 3
    assert cache.count(tenant="acme") == 10
    hit = cache.check("how do I reset device 7", tenant="acme", agent="support")
    assert hit is not None and hit.response == "hold 7"
    assert (
        cache.check("how do I reset device 0", tenant="acme", agent="support").response
        == "already here"
    )  # type: ignore[union-attr]
    assert cache.count(tenant="other") == 0
    again = warm_cache(cache, path, tenant="acme", agent="support")
    assert (again.stored, again.skipped) == (0, 11)


def test_read_pairs_csv(tmp_path: Path) -> None:
    path = tmp_path / "faq.csv"
    path.write_text('question,answer\n"a, b?",yes\nempty,\n', encoding="utf-8")
    assert list(read_pairs(path)) == [("a, b?", "yes"), None]


def test_warm_cli(settings: AgentCacheSettings, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "faq.jsonl", [{"question": "q one", "answer": "a one"}])
    env = {
        "AGENTCACHE_REDIS__URL": str(settings.redis.url),
        "AGENTCACHE_REDIS__KEY_PREFIX": settings.redis.key_prefix,
        "AGENTCACHE_EMBEDDINGS__DIMS": "32",
        "AGENTCACHE_EMBEDDINGS__MODEL": "test-hash",
        "PATH": "/usr/bin:/bin",
    }
    script = str(ROOT / "scripts" / "warm_cache.py")
    command = [
        sys.executable,
        script,
        str(path),
        "--tenant",
        "acme",
        "--agent",
        "support",
        "--hashing-vectorizer",
        "--no-progress",
    ]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "stored 1" in result.stdout
    cache = SemanticCache(settings, vectorizer=HashingVectorizer(32))
    assert cache.count(tenant="acme") == 1
