"""The per-tenant ACL recipe of docs/operations.md, on the real server.

The user is created from ``agentcache.acl.tenant_acl_rules``, the same rules
the docs print (checked below), under a unique name that is deleted at the
end. Destructive commands are really sent: each must be refused and the data
must still be there afterwards. ``SHUTDOWN`` is only checked with
``ACL DRYRUN`` (if it were allowed, sending it would stop the shared server).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis
from redis.exceptions import NoPermissionError

from agentcache.acl import tenant_acl_rules, tenant_acl_setuser
from agentcache.embeddings import EmbeddingCache
from agentcache.metrics._flush import read_counters
from agentcache.metrics._types import STORES, Series
from agentcache.semantic import SemanticCache
from agentcache.settings import AgentCacheSettings
from agentcache.testing.vectors import HashingVectorizer
from agentcache.tools import ToolCache, cached_tool

DOCS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
TENANT, OTHER = "acme", "globex"

# Keyless commands (no key for ACL to check) the tenant user may run: connection
# set-up, transactions, the module/index probes, script loading, SCAN/DBSIZE
# (which the docs say ACL cannot scope). Nothing here writes data or config.
HARMLESS_KEYLESS = {
    "auth", "hello", "ping", "quit", "reset", "select", "client|setname", "client|setinfo",
    "multi", "exec", "discard", "unwatch", "module|list", "FT._LIST", "script|load",
    "script|exists", "scan", "dbsize", "lolwut", "object|help",
}  # fmt: skip

DESTRUCTIVE: list[tuple[str, ...]] = [
    ("FLUSHALL",),
    ("FLUSHALL", "ASYNC"),
    ("FLUSHDB",),
    ("SWAPDB", "0", "1"),
    ("SCRIPT", "FLUSH"),
    ("SCRIPT", "KILL"),
    ("FUNCTION", "FLUSH"),
    ("FUNCTION", "DELETE", "agentcache"),
    ("FUNCTION", "RESTORE", "x"),
    ("FUNCTION", "LOAD", "#!lua name=evil\nredis.register_function('f', function() end)"),
    ("FCALL", "f", "0"),
    ("CONFIG", "SET", "maxmemory", "1"),
    ("CONFIG", "GET", "requirepass"),
    ("CONFIG", "RESETSTAT"),
    ("KEYS", "*"),
    ("RANDOMKEY",),
    ("ACL", "LIST"),
    ("ACL", "SETUSER", "evil", "on", "nopass", "+@all", "~*"),
    ("ACL", "DELUSER", "default"),
    ("SAVE",),
    ("BGSAVE",),
    ("BGREWRITEAOF",),
    ("INFO",),
    ("CLIENT", "LIST"),
    ("CLIENT", "KILL", "TYPE", "normal"),
    ("MONITOR",),
    ("REPLICAOF", "127.0.0.1", "1"),
    ("FT.DROPINDEX", "x"),
    ("FT.CONFIG", "SET", "TIMEOUT", "1"),
]


@pytest.fixture
def admin(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def tenant_user(admin: redis.Redis, key_prefix: str) -> Iterator[tuple[str, str]]:
    """(user, password) of a fresh tenant user for ``TENANT``; deleted afterwards."""
    user, password = f"agentcache-test-{uuid.uuid4().hex}", uuid.uuid4().hex
    admin.execute_command(
        "ACL", "SETUSER", user, "on", f">{password}", *tenant_acl_rules(TENANT, key_prefix)
    )
    yield user, password
    admin.execute_command("ACL", "DELUSER", user)


@pytest.fixture
def tenant(redis_url: str, tenant_user: tuple[str, str]) -> Iterator[redis.Redis]:
    user, password = tenant_user
    client = redis.Redis.from_url(redis_url, username=user, password=password)
    yield client
    client.close()


def _as_tenant(
    settings: AgentCacheSettings, tenant_user: tuple[str, str], *, strict: bool = True
) -> AgentCacheSettings:
    """``settings`` connecting as the tenant user; strict by default, so that a
    refusal surfaces instead of hiding as a miss."""
    user, password = tenant_user
    assert settings.redis.url is not None
    data = settings.model_dump()
    data["redis"]["url"] = settings.redis.url.replace("redis://", f"redis://{user}:{password}@")
    data["reliability"]["strict"] = strict
    return AgentCacheSettings(**data)


def test_the_docs_print_exactly_the_tested_recipe() -> None:
    text = DOCS.read_text(encoding="utf-8")
    blocks = re.findall(r"```\n(ACL SETUSER tenant-acme .*?)\n```", text, re.S)
    assert blocks == [tenant_acl_setuser("tenant-acme", "acme")]
    assert "-@dangerous" in blocks[0] and "-function" in blocks[0]


def test_every_destructive_or_admin_command_is_refused_and_nothing_is_lost(
    admin: redis.Redis, tenant: redis.Redis, key_prefix: str
) -> None:
    mine, theirs = f"{key_prefix}:tool:{{{TENANT}}}:k", f"{key_prefix}:tool:{{{OTHER}}}:k"
    admin.set(mine, b"1")
    admin.set(theirs, b"2")
    admin.function_load("#!lua name=aclprobe\nredis.register_function('aclprobe', function() end)")
    size = admin.dbsize()
    try:
        for command in DESTRUCTIVE:
            # Never send one the server would run: a regression must fail here,
            # not wipe the shared test server.
            verdict = admin.execute_command("ACL", "DRYRUN", tenant_user_name(tenant), *command)
            assert verdict != b"OK", f"the tenant user may run {command}"
            with pytest.raises(NoPermissionError):
                tenant.execute_command(*command)
        assert admin.get(mine) == b"1" and admin.get(theirs) == b"2"
        assert admin.dbsize() == size
        assert admin.fcall("aclprobe", 0) is None  # the function library survived
        assert admin.config_get("maxmemory")["maxmemory"] != "1"
        # SHUTDOWN would stop the shared server if allowed, and the server refuses
        # DEBUG and MODULE to everyone before ACL is consulted: ask ACL itself instead.
        for args in (
            ("SHUTDOWN",),
            ("SHUTDOWN", "NOSAVE"),
            ("FAILOVER",),
            ("DEBUG", "SLEEP", "0"),
            ("MODULE", "UNLOAD", "search"),
        ):
            verdict = admin.execute_command("ACL", "DRYRUN", tenant_user_name(tenant), *args)
            assert verdict != b"OK" and b"no permissions" in verdict
    finally:
        admin.function_delete("aclprobe")
        admin.delete(mine, theirs)


def tenant_user_name(client: redis.Redis) -> str:
    return str(client.connection_pool.connection_kwargs["username"])


def _keyless_commands(admin: redis.Redis) -> Iterator[tuple[str, int]]:
    """(name, arity) of every command and subcommand that names no key."""
    conn = admin.connection_pool.get_connection()
    try:
        conn.send_command("COMMAND", "INFO")
        entries: list[Any] = conn.read_response()
    finally:
        admin.connection_pool.release(conn)

    def walk(rows: list[Any]) -> Iterator[tuple[str, int]]:
        for row in rows:
            name, arity, flags, first = row[0].decode(), row[1], row[2], row[3]
            subcommands = row[9] if len(row) > 9 else []
            if subcommands:
                yield from walk(subcommands)
            elif first == 0 and b"movablekeys" not in flags:
                yield name, arity

    yield from walk(entries)


def test_no_keyless_command_beyond_a_harmless_few_is_granted(
    admin: redis.Redis, tenant: redis.Redis
) -> None:
    user = tenant_user_name(tenant)
    granted, checked = set(), 0
    for name, arity in _keyless_commands(admin):
        words = name.split("|")
        args = words + ["x"] * max(0, abs(arity) - len(words))
        checked += 1
        if admin.execute_command("ACL", "DRYRUN", user, *args) == b"OK":
            granted.add(name)
    assert checked > 150  # the sweep really covered the server's command table
    assert granted <= HARMLESS_KEYLESS, granted - HARMLESS_KEYLESS
    assert {"flushall", "flushdb", "swapdb", "shutdown", "keys", "debug"} & granted == set()


def test_another_tenants_keys_are_refused_even_inside_a_script(
    admin: redis.Redis, tenant: redis.Redis, key_prefix: str
) -> None:
    mine, theirs = f"{key_prefix}:tool:{{{TENANT}}}:k", f"{key_prefix}:tool:{{{OTHER}}}:k"
    admin.set(theirs, b"theirs")
    try:
        tenant.set(mine, b"mine")
        assert tenant.get(mine) == b"mine"
        for attempt in (
            lambda: tenant.get(theirs),
            lambda: tenant.delete(theirs),
            lambda: tenant.set(theirs, b"x"),
            lambda: tenant.rename(mine, theirs),
            lambda: tenant.copy(mine, theirs, replace=True),
        ):
            with pytest.raises(NoPermissionError):
                attempt()
        # A script that reaches a key it did not declare is checked all the same.
        sha = tenant.script_load("return redis.call('SET', ARGV[1], 'owned')")
        with pytest.raises(redis.ResponseError, match="No permissions"):
            tenant.evalsha(sha, 1, mine, theirs)
        wipe = tenant.script_load("return redis.call('FLUSHALL')")
        with pytest.raises(redis.ResponseError, match="no permissions"):
            tenant.evalsha(wipe, 0)
        with pytest.raises(NoPermissionError):  # plain EVAL is not granted at all
            tenant.eval("return 1", 0)
        assert admin.get(theirs) == b"theirs" and admin.get(mine) == b"mine"
    finally:
        admin.delete(mine, theirs)


def test_the_tenants_library_calls_work_with_its_credentials(
    settings: AgentCacheSettings, tenant_user: tuple[str, str], admin: redis.Redis
) -> None:
    vectorizer = HashingVectorizer()
    # An admin creates the index once at deploy time, and stores another tenant's entry.
    with SemanticCache(settings, vectorizer=vectorizer) as owner:
        owner.store("What is the refund window?", "globex secret", tenant=OTHER, agent="a")
    mine = _as_tenant(settings, tenant_user)

    with SemanticCache(mine, vectorizer=vectorizer) as cache:
        entry = cache.store("What is the refund window?", "30 days", tenant=TENANT, agent="a")
        assert entry is not None
        hit = cache.check("What is the refund window?", tenant=TENANT, agent="a")
        assert hit is not None and hit.response == "30 days"
        near = cache.check("What's the refund window?", tenant=TENANT, agent="a", threshold=0.0)
        assert near is not None and near.response == "30 days"
        assert cache.invalidate(entry, tenant=TENANT)
        assert cache.check("What is the refund window?", tenant=TENANT, agent="a") is None
        assert cache.metrics.flush()
    # Its own counters were written (shared-scope ones are refused and dropped).
    counted = read_counters(admin, settings.redis.key_prefix, TENANT)
    assert counted[Series("semantic", TENANT, "a")][STORES] == 1
    with SemanticCache(settings, vectorizer=vectorizer) as owner:
        other = owner.check("What is the refund window?", tenant=OTHER, agent="a")
        assert other is not None and other.response == "globex secret"

    calls: list[str] = []
    with ToolCache(mine) as tools:

        @cached_tool(tools, tenant_arg="tenant")
        def lookup(order: str, tenant: str) -> str:
            calls.append(order)
            return f"order {order} of {tenant}"

        assert lookup("1", tenant=TENANT) == lookup("1", tenant=TENANT) == "order 1 of acme"
        assert calls == ["1"]
        assert tools.invalidate_tenant(TENANT) == 1

    # A tool shared by all tenants lives under {~global}: lookup and store are
    # refused. The tool still answers (fail-open), uncached, and nothing shared is written.
    with ToolCache(_as_tenant(settings, tenant_user, strict=False)) as tools:

        @cached_tool(tools)
        def rate(currency: str) -> str:
            calls.append(currency)
            return f"rate of {currency}"

        assert rate("EUR") == rate("EUR") == "rate of EUR"
        assert calls == ["1", "EUR", "EUR"]
    for layer in ("tool", "lock"):
        shared = f"{settings.redis.key_prefix}:{layer}:{{~global}}:*"
        assert list(admin.scan_iter(match=shared)) == []


def test_shared_embeddings_are_read_only_for_a_tenant(
    settings: AgentCacheSettings, tenant_user: tuple[str, str], admin: redis.Redis
) -> None:
    vectorizer = HashingVectorizer()
    shared = vectorizer.embed("shared text")
    with EmbeddingCache(settings) as trusted:  # a trusted process warms the shared vectors
        trusted.set("shared text", shared)
        key = trusted.key("shared text")
    mine = _as_tenant(settings, tenant_user)
    lenient = _as_tenant(settings, tenant_user, strict=False)
    with EmbeddingCache(mine) as strict, EmbeddingCache(lenient) as cache:
        got = cache.get("shared text")
        assert got is not None
        np.testing.assert_array_equal(got, shared)
        # A tenant cannot plant a vector every other tenant would search with.
        with pytest.raises(NoPermissionError):
            strict.client.set(key, np.ones(32, dtype="<f4").tobytes())
        # Fail-open: a miss is computed and returned, its write refused.
        fresh = cache.get_or_compute_many(["new text"], lambda ts: vectorizer.embed_many(ts))
        np.testing.assert_array_equal(fresh[0], vectorizer.embed("new text"))
    assert admin.get(key) == shared.astype("<f4").tobytes()
    assert admin.exists(cache.key("new text")) == 0
