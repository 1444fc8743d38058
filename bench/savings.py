"""``python -m bench.savings``: what each cache layer saves on a replayed support agent.

A support-agent workload (BANKING77 questions over many tenants, exact repeats and
paraphrases, a large static system prompt and tools, a knowledge-base tool) is
replayed through ``CachedAnthropic`` and ``CachedOpenAI`` against the local provider
server, once per configuration, each on a fresh cache: no caching; + provider
prompt caching; + tool cache; + semantic cache; + the verified policy learning from
its explore step. Per configuration: cost, p50/p95 latency per turn (modeled
provider time, see ``--latency``), hit rate per layer and false hits from the labels.

``--quick`` (500 turns, 5 tenants) prints the table; the full run (2,000 turns, 20
tenants) also writes docs/savings.md and docs/savings.png. Redis: AGENTCACHE_REDIS__URL,
or an embedded server when it is unset.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agentcache.testing.provider import LatencyModel
from bench._savings_agent import (
    ANTHROPIC_MODEL,
    ANTHROPIC_TOOLS,
    OPENAI_MODEL,
    SYSTEM,
    Model,
    PrecomputedVectorizer,
    tenant_header,
)
from bench._savings_replay import CONFIGS, Config, Costs, replay
from bench._savings_report import LONG_MARKERS, merge_report, write_long, write_plot, write_report
from bench._savings_traffic import article, generate, load_intents, norm, stats

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"


def _vectors(texts: list[str], fallback: Any) -> dict[str, Any]:
    """Every text's vector, embedded once in one batch and kept in bench/results."""
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in fallback.model)
    path = RESULTS_DIR / f"savings_vectors_{safe}.npz"
    keys = {hashlib.sha1(t.encode()).hexdigest(): t for t in texts}
    stored: dict[str, Any] = dict(np.load(path)) if path.exists() else {}
    missing = [t for k, t in keys.items() if k not in stored]
    if missing:
        for text, vec in zip(missing, fallback.embed_many(missing), strict=True):
            stored[hashlib.sha1(text.encode()).hexdigest()] = np.asarray(vec, dtype=np.float32)
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        np.savez(path, **stored)
    return {t: stored[k] for k, t in keys.items()}


def _calibrate(vectorizer: Any, questions: list[str], articles: list[str]) -> tuple[float, float]:
    """p50 seconds of one single-text embedding: a question, a KB article."""

    def p50(texts: list[str]) -> float:
        times = []
        for text in texts:
            started = time.perf_counter()
            vectorizer.embed(text)
            times.append(time.perf_counter() - started)
        return statistics.median(times) if times else 0.0

    vectorizer.embed("warm up")
    return p50(questions[:30]), p50(articles[:10])


def run(
    turns: int,
    tenants: int,
    seed: int,
    providers: Sequence[str],
    configs: Sequence[Config],
    url: str,
    vectorizer: Any,
    latency: LatencyModel,
    tool_s: float,
    kb_share: float,
    answer_scale: float,
    calibrate: bool = True,
) -> dict[str, Any]:
    """Generate the traffic and replay it through every (provider, configuration)."""
    traffic = generate(turns, seed, tenants, kb_share)
    intent_of = {norm(t): i for i, texts in load_intents().items() for t in texts}
    kb_intents = {t.intent for t in traffic if t.via_kb}
    model = Model(intent_of, kb_intents, answer_scale)
    questions = sorted({t.text for t in traffic})
    articles = sorted({article(t.tenant, t.intent) for t in traffic if t.via_kb})
    table = _vectors(questions + articles, vectorizer)
    short_s, long_s = _calibrate(vectorizer, questions, articles) if calibrate else (0.0, 0.0)
    costs = Costs(latency, tool_s, short_s, long_s)
    run_id = uuid.uuid4().hex[:8]
    results = []
    for provider in providers:
        for config in configs:
            started = time.perf_counter()
            pre = PrecomputedVectorizer(table, vectorizer)
            result = replay(provider, config, traffic, model, pre, url, run_id, costs, seed)
            result["replay_s"] = time.perf_counter() - started
            results.append(result)
            print(_line(result), flush=True)
    return {
        "traffic": stats(traffic),
        "repeat_share_quarters": _repeat_quarters(traffic),
        "turns": turns, "tenants": tenants, "seed": seed, "kb_share": kb_share,
        "answer_scale": answer_scale, "latency": latency.__dict__, "tool_s": tool_s,
        "embed_short_s": short_s, "embed_long_s": long_s, "vectorizer": vectorizer.model,
        "prompt_tokens": {"system": len(SYSTEM) // 4,
                          "tenant_header": len(tenant_header("t00")) // 4,
                          "tools": len(json.dumps(ANTHROPIC_TOOLS)) // 4},
        "models": {"anthropic": ANTHROPIC_MODEL, "openai": OPENAI_MODEL},
        "results": results,
    }  # fmt: skip


def _repeat_quarters(traffic: list[Any]) -> list[float]:
    q = max(1, len(traffic) // 4)
    parts = [traffic[i * q : (i + 1) * q if i < 3 else len(traffic)] for i in range(4)]
    return [round(sum(t.kind != "novel" for t in p) / max(1, len(p)), 3) for p in parts]


def _line(r: dict[str, Any]) -> str:
    return (
        f"{r['provider']:9} {r['config']:4} ${r['cost']:8.3f} ${r['cost_per_turn']:.5f}/turn "
        f"p50 {r['p50']:5.2f}s p95 {r['p95']:5.2f}s  served turns {r['served_turns']:4d} "
        f"false hits {r['false_hits']} (noise {r['label_noise']}, cross-tenant "
        f"{r['cross_tenant']})  explores {r['explores']}  [{r['replay_s']:.0f}s]"
    )


def print_table(data: dict[str, Any]) -> None:
    base = {r["provider"]: r["cost"] for r in data["results"] if r["config"] == "C1"}
    print("\nprovider  config  saving vs C1  p50      false hits / served turns")
    for r in data["results"]:
        c1 = base.get(r["provider"])
        saving = f"{1 - r['cost'] / c1:6.1%}" if c1 else "   n/a"
        print(f"{r['provider']:9} {r['config']:6}  {saving}        {r['p50']:5.2f}s   "
              f"{r['false_hits']} / {r['served_turns']}")  # fmt: skip


def _redis_url() -> tuple[str, Any]:
    url = os.environ.get("AGENTCACHE_REDIS__URL")
    if url:
        return url, None
    from agentcache._redis.server import EmbeddedRedis

    server = EmbeddedRedis().start()
    return server.url, server


def _local_vectorizer() -> Any:
    import torch

    from agentcache.vectorizers import LocalVectorizer

    torch.set_num_threads(1)  # a shared 2-core box: more threads oversubscribe it
    return LocalVectorizer(batch_size=64)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.savings", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="500 turns, 5 tenants, no docs")
    parser.add_argument("--turns", type=int, default=None)
    parser.add_argument("--tenants", type=int, default=None)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--providers", default="anthropic,openai")
    parser.add_argument("--configs", default=None, help="e.g. C1,C4 (default: all of the run)")
    parser.add_argument("--latency", default="0.40,0.015",
                        help="TTFT seconds, seconds per output token (assumption)")  # fmt: skip
    parser.add_argument("--tool-latency", type=float, default=0.3, help="kb_search seconds")
    parser.add_argument("--kb-share", type=float, default=0.6, help="intents answered via KB")
    parser.add_argument("--answer-scale", type=float, default=1.0,
                        help="answer length factor (1.0: 60-220 tokens)")  # fmt: skip
    parser.add_argument("--no-docs", action="store_true", help="full run without writing docs/")
    parser.add_argument("--long", type=int, default=0,
                        help="the learning curve: C4 vs C5 over this many turns (Anthropic), "
                        "written to its own section of docs/savings.md")  # fmt: skip
    args = parser.parse_args(argv)
    if args.long:
        args.turns, args.providers, args.configs = args.long, "anthropic", "C4,C5"
    turns = args.turns or (500 if args.quick else 2000)
    tenants = args.tenants or (5 if args.quick else 20)
    wanted = args.configs.split(",") if args.configs else None
    configs = [
        c for c in CONFIGS if (c.key in wanted if wanted else not (args.quick and c.full_only))
    ]
    ttft, per_token = (float(x) for x in args.latency.split(","))
    latency = LatencyModel(ttft=ttft, per_output_token=per_token)
    started = time.perf_counter()
    url, server = _redis_url()
    try:
        data = run(turns, tenants, args.seed, args.providers.split(","), configs, url,
                   _local_vectorizer(), latency, args.tool_latency, args.kb_share,
                   args.answer_scale)  # fmt: skip
    finally:
        if server is not None:
            server.stop()
    data["elapsed_s"] = time.perf_counter() - started
    data["command"] = "python -m bench.savings" + (" " + " ".join(argv or sys.argv[1:])).rstrip()
    print_table(data)
    print(f"\ndone in {data['elapsed_s']:.0f}s")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    name = "savings_quick.json" if args.quick else "savings.json"
    name = "savings_long.json" if args.long else name
    (RESULTS_DIR / name).write_text(json.dumps(data, indent=1, default=str))
    if args.long and not args.no_docs:
        doc = ROOT / "docs" / "savings.md"
        doc.write_text(merge_report(doc, write_long(data), LONG_MARKERS))
        print(f"wrote the learning-curve section of {doc}")
    elif not args.quick and not args.no_docs:
        doc = ROOT / "docs" / "savings.md"
        doc.write_text(merge_report(doc, write_report(data, "savings.png")))
        write_plot(data, ROOT / "docs" / "savings.png")
        print(f"wrote {doc} and docs/savings.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
