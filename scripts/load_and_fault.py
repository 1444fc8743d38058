"""Many agents against an embedded Redis Stack that is killed, restarted and starved of memory.

Run::

    .venv/bin/python scripts/load_and_fault.py            # all three scenarios
    .venv/bin/python scripts/load_and_fault.py --only restart --threads 16 --tasks 32

Scenarios (each on its own embedded server):

* ``restart``: agents in threads (one shared SemanticCache) and asyncio tasks
  (one shared AsyncSemanticCache) run check-then-store loops; the server is
  SIGKILLed mid-run and restarted on the same port (no persistence, so the
  entries and the index are gone and must be recreated).
* ``maxmemory-lru``: ``maxmemory`` set low with ``allkeys-lru``: Redis evicts.
* ``maxmemory-noeviction``: ``maxmemory`` low with ``noeviction``: writes get OOM.

Reported per scenario: calls made, errors surfaced to callers (must be 0 in
fail-open mode), hit rate before/after the fault, entries expected vs present,
and for ``restart`` the recovery time: from the restart to the first call
served by Redis again, and to the first hit.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import redis

from agentcache import AgentCacheSettings, AsyncSemanticCache, EmbeddedRedis, SemanticCache
from agentcache._redis.replies import search_rows
from agentcache.testing.vectors import HashingVectorizer

TENANTS = ("acme", "globex", "initech", "umbrella")


@dataclass
class Tally:
    """Outcomes of agent calls, with timestamps for before/after figures."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    calls: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    checks: list[tuple[float, bool]] = field(default_factory=list)  # (time, hit)
    stored: set[tuple[str, str]] = field(default_factory=set)

    def check(self, hit: bool) -> None:
        with self.lock:
            self.calls += 1
            self.checks.append((time.perf_counter(), hit))

    def store(self, tenant: str, prompt: str) -> None:
        with self.lock:
            self.calls += 1
            self.stored.add((tenant, prompt))

    def error(self, exc: BaseException) -> None:
        with self.lock:
            self.calls += 1
            self.errors += 1
            if len(self.error_samples) < 5:
                self.error_samples.append(f"{type(exc).__name__}: {exc}")

    def hit_rate(self, start: float, end: float) -> tuple[float, int]:
        window = [hit for t, hit in self.checks if start <= t < end]
        return (sum(window) / len(window) if window else 0.0), len(window)

    def first_hit_after(self, when: float) -> float | None:
        return next((t - when for t, hit in self.checks if t >= when and hit), None)


def settings_for(server: EmbeddedRedis, prefix: str) -> AgentCacheSettings:
    return AgentCacheSettings(
        redis={"url": server.url, "key_prefix": prefix, "socket_timeout": 0.25,
               "socket_connect_timeout": 0.25},
        embeddings={"dims": 32, "model": "test-hash"},
        semantic={"ttl_seconds": None, "max_entries_per_tenant": None},
        reliability={"breaker_failures": 5, "breaker_cooldown_seconds": 1.0},
    )  # fmt: skip


def pick(rng: random.Random, prompts: int) -> tuple[str, str, str]:
    tenant = rng.choice(TENANTS)
    prompt = f"question {rng.randrange(prompts)} for the {tenant} support desk"
    return tenant, prompt, f"answer to {prompt} " + "x" * rng.randrange(200, 2000)


def thread_agent(cache: SemanticCache, tally: Tally, stop: threading.Event, seed: int,
                 prompts: int) -> None:  # fmt: skip
    rng = random.Random(seed)
    while not stop.is_set():
        tenant, prompt, answer = pick(rng, prompts)
        try:
            hit = cache.check(prompt, tenant=tenant, agent="agent")
            tally.check(hit is not None)
            if hit is None:
                cache.store(prompt, answer, tenant=tenant, agent="agent")
                tally.store(tenant, prompt)
        except Exception as exc:  # a caller-visible error: what fail-open must prevent
            tally.error(exc)
        time.sleep(0.001)


async def task_agent(cache: AsyncSemanticCache, tally: Tally, stop: threading.Event, seed: int,
                     prompts: int) -> None:  # fmt: skip
    rng = random.Random(seed)
    while not stop.is_set():
        tenant, prompt, answer = pick(rng, prompts)
        try:
            hit = await cache.check(prompt, tenant=tenant, agent="agent")
            tally.check(hit is not None)
            if hit is None:
                await cache.store(prompt, answer, tenant=tenant, agent="agent")
                tally.store(tenant, prompt)
        except Exception as exc:
            tally.error(exc)
        await asyncio.sleep(0.001)


def run_agents(server: EmbeddedRedis, args: argparse.Namespace, prefix: str,
               during: Any = None) -> tuple[Tally, SemanticCache, dict[str, float]]:  # fmt: skip
    """Run thread and task agents for ``args.duration`` s; ``during(marks)`` runs alongside."""
    settings = settings_for(server, prefix)
    tally, stop, marks = Tally(), threading.Event(), {"start": time.perf_counter()}
    cache = SemanticCache(settings, vectorizer=HashingVectorizer())
    threads = [
        threading.Thread(target=thread_agent, args=(cache, tally, stop, i, args.prompts))
        for i in range(args.threads)
    ]

    async def tasks() -> None:
        acache = await AsyncSemanticCache.create(settings, vectorizer=HashingVectorizer())
        try:
            await asyncio.gather(
                *(
                    task_agent(acache, tally, stop, 1000 + i, args.prompts)
                    for i in range(args.tasks)
                )
            )
        finally:
            await acache.aclose()

    loop_thread = threading.Thread(target=lambda: asyncio.run(tasks()))
    for t in [*threads, loop_thread]:
        t.start()
    try:
        if during is not None:
            during(marks)
        time.sleep(max(0.0, marks["start"] + args.duration - time.perf_counter()))
    finally:
        stop.set()
        for t in [*threads, loop_thread]:
            t.join()
    marks["end"] = time.perf_counter()
    return tally, cache, marks


def restart_scenario(args: argparse.Namespace) -> dict[str, Any]:
    with EmbeddedRedis() as server:
        cache_ref: list[SemanticCache] = []

        def fault(marks: dict[str, float]) -> None:
            time.sleep(args.kill_at)
            marks["entries_before_kill"] = _count(server, "lf")
            marks["kill"] = time.perf_counter()
            server.kill()
            time.sleep(args.down)
            server.start()
            marks["restart"] = time.perf_counter()
            _wait_served(server, marks)

        tally, cache, marks = run_agents(server, args, "lf", fault)
        cache_ref.append(cache)
        resumed = cache.guard.state
        before, n_before = tally.hit_rate(marks["start"], marks["kill"])
        after, n_after = tally.hit_rate(marks["restart"] + args.down, marks["end"])
        out = {
            "calls": tally.calls,
            "caller_visible_errors": tally.errors,
            "error_samples": tally.error_samples,
            "cache_faults_absorbed (thread cache)": cache.stats.errors,
            "hit_rate_before_kill": f"{before:.1%} of {n_before} checks",
            "hit_rate_after_restart": f"{after:.1%} of {n_after} checks",
            "entries_before_kill": marks["entries_before_kill"],
            "entries_lost_on_restart": marks["entries_before_kill"],  # no persistence: all
            "entries_at_end": _count(server, "lf"),
            "recovery_first_redis_call_s": round(marks.get("served", float("nan")), 3),
            "recovery_first_hit_s": _round(tally.first_hit_after(marks["restart"])),
            "breaker_state_at_end": resumed,
        }
        cache.close()
        return out


def _wait_served(server: EmbeddedRedis, marks: dict[str, float]) -> None:
    """Time until the semantic index is back: the caches recreated it themselves."""
    client = redis.Redis.from_url(server.url, socket_timeout=0.5)
    deadline = time.perf_counter() + 30
    while time.perf_counter() < deadline:
        try:
            client.execute_command("FT.INFO", "lf:idx:agentcache")
            marks["served"] = time.perf_counter() - marks["restart"]
            break
        except redis.RedisError:
            time.sleep(0.005)
    client.close()


def memory_scenario(args: argparse.Namespace, policy: str) -> dict[str, Any]:
    with EmbeddedRedis(maxmemory_policy=policy) as server:
        admin = redis.Redis.from_url(server.url)
        base = int(admin.info("memory")["used_memory"])
        admin.config_set("maxmemory-policy", policy)
        admin.config_set("maxmemory", base + args.headroom_kb * 1024)
        tally, cache, _ = run_agents(server, args, "mm")
        info = admin.info("stats")
        present = _count(server, "mm")
        out = {
            "maxmemory": f"{base // 1024 + args.headroom_kb} KB ({policy})",
            "calls": tally.calls,
            "caller_visible_errors": tally.errors,
            "error_samples": tally.error_samples,
            "cache_faults_absorbed (thread cache)": cache.stats.errors,
            "breaker_state_at_end": cache.guard.state,
            "hit_rate": f"{tally.hit_rate(0, float('inf'))[0]:.1%}",
            "entries_expected (distinct stores tried)": len(tally.stored),
            "entries_present": present,
            "entries_lost": len(tally.stored) - present,
            "server_evicted_keys": info.get("evicted_keys"),
        }
        cache.close()
        admin.close()
        return out


def _count(server: EmbeddedRedis, prefix: str) -> int:
    client = redis.Redis.from_url(server.url, socket_timeout=2)
    try:
        reply = client.execute_command("FT.SEARCH", f"{prefix}:idx:agentcache", "*", "LIMIT", 0, 0)
        return search_rows(reply)[0]
    except redis.RedisError:
        return 0
    finally:
        client.close()


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=8, help="agents in threads")
    parser.add_argument("--tasks", type=int, default=16, help="agents as asyncio tasks")
    parser.add_argument("--duration", type=float, default=12.0, help="seconds per scenario")
    parser.add_argument("--kill-at", type=float, default=4.0, help="seconds before the kill")
    parser.add_argument("--down", type=float, default=2.0, help="seconds the server stays down")
    parser.add_argument("--prompts", type=int, default=150, help="distinct prompts per tenant")
    parser.add_argument("--headroom-kb", type=int, default=1536, help="maxmemory above baseline")
    parser.add_argument("--only", choices=("restart", "maxmemory-lru", "maxmemory-noeviction"))
    args = parser.parse_args()
    scenarios = {
        "restart": lambda: restart_scenario(args),
        "maxmemory-lru": lambda: memory_scenario(args, "allkeys-lru"),
        "maxmemory-noeviction": lambda: memory_scenario(args, "noeviction"),
    }
    failed = False
    for name, scenario in scenarios.items():
        if args.only and name != args.only:
            continue
        print(f"== {name}: {args.threads} thread agents + {args.tasks} asyncio agents, "
              f"{args.duration:g}s")  # fmt: skip
        result = scenario()
        for key, value in result.items():
            print(f"  {key:<36} {value}")
        failed |= result["caller_visible_errors"] != 0
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
