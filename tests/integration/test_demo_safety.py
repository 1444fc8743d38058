"""``agentcache demo`` on a user's Redis leaves the user's data alone, and fails loudly.

The user's cache is made the way a user would: a ``SemanticCache`` with the
default index name and key prefix, on the test server through
``AGENTCACHE_REDIS__URL``. The demo then runs in-process (it loads the local
MiniLM model, a few seconds).
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator

import pytest
import redis

from agentcache import cli
from agentcache.semantic import SemanticCache
from agentcache.settings import AgentCacheSettings
from agentcache.testing.vectors import HashingVectorizer

QUESTION = "What is our refund window for enterprise customers?"
ANSWER = "60 days, prorated."

# Other tests' keys on the shared server (fixture prefixes t<pid>x<n>), which their
# unclosed caches' background flushes may still write while the demo runs.
_OTHER_TESTS = re.compile(rb"^t\d+x\d+")


def _keys(client: redis.Redis) -> set[bytes]:
    return {key for key in client.scan_iter(count=1000) if not _OTHER_TESTS.match(key)}


def _indexes(client: redis.Redis) -> set[bytes]:
    return set(client.execute_command("FT._LIST"))


@pytest.fixture
def user_cache(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[SemanticCache]:
    """A user's cache under the default prefix ("ac") and index ("agentcache")."""
    monkeypatch.setenv("AGENTCACHE_REDIS__URL", redis_url)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    settings = AgentCacheSettings()
    assert (settings.redis.key_prefix, settings.semantic.index_name) == ("ac", "agentcache")
    cache = SemanticCache(settings, vectorizer=HashingVectorizer(settings.embeddings.dims))
    cache.clear()  # the default index of the shared server belongs to this test
    cache.store(QUESTION, ANSWER, tenant="user-co", agent="support")
    cache.check(QUESTION, tenant="user-co", agent="support")  # a hit count and LRU touch
    cache.metrics.flush()  # its counters exist now, not during the demo
    yield cache
    cache.drop()
    cache.close()


def test_demo_keeps_the_users_entries_and_keys(
    user_cache: SemanticCache, redis_client: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    keys_before = _keys(redis_client)
    user_keys = {key for key in keys_before if key.startswith(b"ac:")}
    assert len(user_keys) >= 2  # the entry and its side keys
    values_before = {key: redis_client.dump(key) for key in user_keys}
    indexes_before = _indexes(redis_client)

    assert cli.main(["demo", "--no-llm"]) == 0
    out = capsys.readouterr().out

    # The demo's own keys and indexes are gone, everything else is as it was.
    assert _keys(redis_client) == keys_before
    assert _indexes(redis_client) == indexes_before
    assert {key: redis_client.dump(key) for key in user_keys} == values_before
    assert user_cache.count() == 1
    hit = user_cache.check(QUESTION, tenant="user-co", agent="support")
    assert hit is not None and hit.response == ANSWER
    prefix = re.search(r"Key prefix  : (acdemo-[0-9a-f]+) ", out)
    assert prefix is not None, out

    # Its summary counts the rows of its table.
    results = [
        match.group(1)
        for line in out.splitlines()
        if (match := re.match(r"^\S+\s+.+?\s{2,}(HIT|EXACT|MISS)\s", line))
    ]
    summary = re.search(r"(\d+) questions: (\d+) HIT, (\d+) EXACT, (\d+) MISS", out)
    assert summary is not None, out
    total, hits, exact, misses = (int(g) for g in summary.groups())
    assert total == len(results) > 0
    assert (hits, exact, misses) == (
        results.count("HIT"),
        results.count("EXACT"),
        results.count("MISS"),
    )
    assert "isolation: 28 verbatim questions asked across tenants, 0 cross-tenant hits" in out


def test_demo_against_a_closed_port_fails_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"redis://127.0.0.1:{sock.getsockname()[1]}"
    monkeypatch.setenv("AGENTCACHE_REDIS__URL", url)
    assert cli.main(["demo", "--no-llm"]) == 1
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("agentcache: error: ") and url in errors[0]
    assert "stored" not in captured.out and "MISS" not in captured.out
