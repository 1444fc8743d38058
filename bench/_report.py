"""Console summary and the markdown tables of a speed run."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

BEGIN = "<!-- speed-table:begin -->"
END = "<!-- speed-table:end -->"


def _get(entry: dict[str, Any], *path: str) -> Any:
    value: Any = entry
    for part in path:
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _f(value: Any, fmt: str = "{:.3f}") -> str:
    return "-" if value is None else fmt.format(value)


def _ratio(slow: Any, fast: Any) -> str:
    if slow is None or not fast:
        return "-"
    ratio = slow / fast
    return f"{ratio:,.0f}x" if ratio >= 10 else f"{ratio:.1f}x"


def print_summary(n: int, entry: dict[str, Any]) -> None:
    r = entry["random"]
    ac = r["agentcache_check"]
    print(f"-- N = {n:,}")
    print(f"  agentcache check p50 {ac['p50_ms']:.3f} ms  p99 {ac['p99_ms']:.3f} ms")
    for name in ("redisvl", "linear"):
        other = r.get(f"{name}_check")
        if other:
            print(
                f"  {name:8s} p50 {other['p50_ms']:.3f} ms  "
                f"-> agentcache is {other['p50_ms'] / ac['p50_ms']:,.1f}x faster (p50)"
            )
    print(f"  throughput {r['throughput']}")
    print(f"  insert agentcache {r['agentcache_insert']}")
    print(f"  memory agentcache {r['agentcache_memory']}")
    for name in ("redisvl", "linear"):
        if f"{name}_memory" in r:
            print(f"  memory {name} {r[f'{name}_memory']}")
    print(f"  agreement random {r['agentcache_agreement']}")
    if "real" in entry:
        real = entry["real"]
        print(f"  agreement real {real['agreement']} (padded {real['padded']})")
        print(f"  real check {real['check']}")
        if "end_to_end" in real:
            for key, value in real["end_to_end"].items():
                print(f"  e2e {key}: {value}")


def tables(results: dict[str, Any]) -> str:
    """Markdown: lookups, throughput and inserts, memory and agreement."""
    rows = [
        "| entries | agentcache check p50 / p99 | redisvl SemanticCache p50 | linear scan p50 "
        "| vs redisvl | vs linear |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    rows2 = [
        "| entries | lookups/s 1 thread | 4 threads | asyncio 32 tasks | bulk insert/s near N "
        "(real MiniLM) | single insert/s | redisvl bulk / single insert/s |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    rows3 = [
        "| entries | bytes/entry agentcache (index part) | redisvl | linear scan "
        "| agreement random | agreement real MiniLM | real check p50 / p99 |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for n, entry in results["sizes"].items():
        r = entry["random"]
        label = f"{int(n):,}"
        ac50 = _get(r, "agentcache_check", "p50_ms")
        rvl50 = _get(r, "redisvl_check", "p50_ms")
        lin50 = _get(r, "linear_check", "p50_ms")
        rows.append(
            f"| {label} | {_f(ac50)} / {_f(_get(r, 'agentcache_check', 'p99_ms'))} ms "
            f"| {_f(rvl50)} ms | {_f(lin50, '{:,.1f}')} ms "
            f"| {_ratio(rvl50, ac50)} | {_ratio(lin50, ac50)} |"
        )
        t = r["throughput"]
        ins = r["agentcache_insert"]
        rvl_ins = r.get("redisvl_insert") or {}
        real_bulk = _f(_get(entry, "real", "insert", "bulk_per_s"), "{:,.0f}")
        rows2.append(
            f"| {label} | {t['threads_1']:,.0f} | {t['threads_4']:,.0f} | {t['asyncio_32']:,.0f} "
            f"| {ins['bulk_per_s']:,.0f} ({real_bulk}) | {ins['single_per_s']:,.0f} "
            f"| {_f(rvl_ins.get('bulk_per_s'), '{:,.0f}')} / "
            f"{_f(rvl_ins.get('single_per_s'), '{:,.0f}')} |"
        )
        mem = r["agentcache_memory"]
        real = entry.get("real") or {}
        real_agree = _get(real, "agreement", "agreement")
        padded = real.get("padded") or 0
        real_label = _f(real_agree, "{:.4f}") + (f" ({padded:,} padded)" if padded else "")
        rows3.append(
            f"| {label} | {mem['bytes_per_entry']:,.0f} ({mem['index_bytes_per_entry']:,.0f}) "
            f"| {_f(_get(r, 'redisvl_memory', 'bytes_per_entry'), '{:,.0f}')} "
            f"| {_f(_get(r, 'linear_memory', 'bytes_per_entry'), '{:,.0f}')} "
            f"| {r['agentcache_agreement']['agreement']:.4f} | {real_label} "
            f"| {_f(_get(real, 'check', 'p50_ms'))} / {_f(_get(real, 'check', 'p99_ms'))} ms |"
        )
    parts = ["\n".join(rows), "\n".join(rows2), "\n".join(rows3)]
    e2e = _last_e2e(results)
    if e2e:
        lines = ["| end to end (MiniLM on this CPU) | p50 | p99 |", "| --- | ---: | ---: |"]
        for key in ("exact_repeat", "paraphrase_hit", "miss", "embedding_only"):
            if e2e.get(key):
                lines.append(
                    f"| {key.replace('_', ' ')} | {e2e[key]['p50_ms']:.3f} ms "
                    f"| {e2e[key]['p99_ms']:.3f} ms |"
                )
        for key, value in (e2e.get("embedding_cache") or {}).items():
            if isinstance(value, dict) and value:
                lines.append(
                    f"| embedding cache {key.replace('_', ' ')} | {value['p50_ms']:.3f} ms "
                    f"| {value['p99_ms']:.3f} ms |"
                )
        parts.append("\n".join(lines))
    for n, entry in results["sizes"].items():
        sweep = _get(entry, "real", "query_sweep")
        if sweep:
            lines = [
                f"Query knobs on the real-embedding index at {int(n):,} entries (read path only, "
                "no hit write-back; knn = check(), raw = the FT.SEARCH alone):",
                "",
                "| query | agreement | extra serves | p50 | p99 |",
                "| --- | ---: | ---: | ---: | ---: |",
            ]
            for q in sweep:
                knob = (
                    f"range EPSILON {q['epsilon']}"
                    if q["form"] == "range"
                    else f"{q['form']} EF_RUNTIME {q['ef_runtime']} top_k {q['top_k']}"
                )
                lines.append(
                    f"| {knob} | {q['agreement']:.4f} | {q['served_not_exact']:.0f} "
                    f"| {q['p50_ms']:.3f} ms | {q['p99_ms']:.3f} ms |"
                )
            parts.append("\n".join(lines))
    head = (
        f"Command: `{results['command'].strip()}`; started {results['started']}; Redis "
        f"{results['server']}; load average at start {results['load_average'][0]:.1f}, "
        f"at end {results.get('load_average_end', [0.0])[0]:.1f} (2 shared cores)."
    )
    return head + "\n\n" + "\n\n".join(parts) + "\n"


def _last_e2e(results: dict[str, Any]) -> dict[str, Any] | None:
    found = None
    for entry in results["sizes"].values():
        found = _get(entry, "real", "end_to_end") or found
    return found


def write_docs(results: dict[str, Any], path: Path) -> None:
    """Replace the generated section of docs/benchmarks.md (between the markers)."""
    block = f"{BEGIN}\n{tables(results)}{END}"
    text = (
        path.read_text(encoding="utf-8") if path.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    )
    if BEGIN not in text:
        text = text.rstrip() + f"\n\n{BEGIN}\n{END}\n"
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    path.write_text(pattern.sub(lambda _: block, text), encoding="utf-8")
    print(f"updated {path}")
