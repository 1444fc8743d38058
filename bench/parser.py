"""check() latency with redis-py's pure-Python reply parser vs hiredis, one process.

    python -m bench.parser

10,000 random 384-dim entries over 50 tenants (200 each), near-duplicate queries
(exact-repeat path off, plain threshold policy), interleaved rounds of 300 lookups
per parser; medians of the per-round p50. hiredis comes with ``agentcache[fast]``.
"""

import statistics
import time

import numpy as np
import redis
from redis._parsers import _HiredisParser, _RESP2Parser

from agentcache._server import EmbeddedRedis
from agentcache.semantic import SemanticCache
from agentcache.settings import AgentCacheSettings
from agentcache.testing.vectors import HashingVectorizer

rng = np.random.default_rng(1)
with EmbeddedRedis() as srv:
    s = AgentCacheSettings(
        redis={"url": srv.url, "socket_timeout": 10},
        embeddings={"dims": 384, "model": "r"},
        semantic={"ttl_seconds": None, "policy": "threshold", "exact_match": False},
    )
    vecs = rng.standard_normal((10000, 384)).astype(np.float32)
    base = SemanticCache(s, vectorizer=HashingVectorizer(384, model="r"))
    for t in range(50):  # 50 tenants x 200 entries: a realistic spread
        rows = [(f"q{t}-{i}", "x" * 200) for i in range(200)]
        base.store_many(
            rows, tenant=f"t{t}", agent="a", vectors=list(vecs[t * 200 : (t + 1) * 200])
        )
    caches = {}
    for name, pc in (("python", _RESP2Parser), ("hiredis", _HiredisParser)):
        client = redis.Redis.from_url(srv.url, parser_class=pc, protocol=2)
        caches[name] = SemanticCache(s, client=client, vectorizer=HashingVectorizer(384, model="r"))
    res = {k: [] for k in caches}
    for rnd in range(6):
        for name, c in caches.items():
            ts = []
            for j in range(300):
                t = j % 50
                v = vecs[t * 200 + (j % 200)] + 0.01 * rng.standard_normal(384).astype(np.float32)
                a = time.perf_counter()
                c.check("zz", tenant=f"t{t}", agent="a", vector=v)
                ts.append(time.perf_counter() - a)
            res[name].append(statistics.median(ts))
    for k, v in res.items():
        print(k, "p50 ms", round(statistics.median(v) * 1000, 3))
    print(
        "ratio hiredis/python", statistics.median(res["hiredis"]) / statistics.median(res["python"])
    )
