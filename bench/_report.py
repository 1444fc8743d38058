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


def _ms(value: Any, fmt: str = "{:.3f}") -> str:
    return "-" if value is None else fmt.format(value) + " ms"


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
    parts = []
    if results.get("workloads"):
        parts.append(workload_tables(results["workloads"]))
    if results["sizes"]:
        parts += ["\n".join(rows), "\n".join(rows2), "\n".join(rows3)]
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
        f"at end {results.get('load_average_end', [0.0])[0]:.1f} (2 shared cores)"
        + (f"; took {results['seconds'] / 60:.0f} min." if "seconds" in results else ".")
    )
    return head + "\n\n" + "\n\n".join(parts) + "\n"


def workload_tables(workloads: dict[str, Any]) -> str:
    """Markdown: the multi-tenant workloads (latency and agreement; round trips and rate)."""
    rows = [
        "| workload | agentcache check p50 / p99 | agreement (exact hits) | redisvl p50 "
        "(agreement) | agentcache faster than redisvl | linear scan p50 | than linear |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    rows2 = [
        "| workload | entries: how filled | round trips per check, cache embeds: hit / miss "
        "| caller passes the vector: hit / miss | lookups/s 1 thread / 4 threads / asyncio 32 |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for r in workloads.values():
        ac50 = _get(r, "agentcache_check", "p50_ms")
        rvl50 = _get(r, "redisvl_check", "p50_ms")
        lin50 = _get(r, "linear_check", "p50_ms")
        agree = r["agentcache_agreement"]
        parts = [f"{agree['agreement']:.4f} ({agree['exact_hits']:,.0f})"]
        for kind in ("own", "faq"):
            sub = r.get(f"agentcache_agreement_{kind}")
            if sub:
                parts.append(f"{kind} {sub['agreement']:.4f} ({sub['exact_hits']:,.0f})")
        rvl_agree = _get(r, "redisvl_agreement", "agreement")
        rows.append(
            f"| {r['shape']} | {_f(ac50)} / {_f(_get(r, 'agentcache_check', 'p99_ms'))} ms "
            f"| {'; '.join(parts)} "
            f"| {_ms(rvl50)} ({_f(rvl_agree, '{:.4f}')}) | {_ratio(rvl50, ac50)} "
            f"| {_ms(lin50, '{:,.1f}')} | {_ratio(lin50, ac50)} |"
        )
        rt = r["round_trips"]
        t = r["throughput"]
        rows2.append(
            f"| {r['shape']} | {r['entries']:,}: {r['fill']} "
            f"| {_f(rt.get('embeds_hit'), '{:.2f}')} / {_f(rt.get('embeds_miss'), '{:.2f}')} "
            f"| {_f(rt.get('vector_hit'), '{:.2f}')} / {_f(rt.get('vector_miss'), '{:.2f}')} "
            f"| {t['threads_1']:,.0f} / {t['threads_4']:,.0f} / {t['asyncio_32']:,.0f} |"
        )
    return "\n".join(rows) + "\n\n" + "\n".join(rows2)


def _last_e2e(results: dict[str, Any]) -> dict[str, Any] | None:
    found = None
    for entry in results["sizes"].values():
        found = _get(entry, "real", "end_to_end") or found
    return found


MILLION = "| 1,000,000"


def carry_million(new: str, old: str) -> str:
    """Keep the previous block's 1,000,000-entry rows when this run has none, marked
    with the date they were measured, each under the same table header as before."""
    if f"\n{MILLION}" in new or MILLION not in old:
        return new
    found = re.search(r"started (\d{4}-\d{2}-\d{2})", old)
    when = found.group(1) if found else "earlier"
    mark = f"| 1,000,000 (measured {when}, before the #14 lookup path)"
    old_tables = {t.splitlines()[0]: t for t in old.split("\n\n") if t.startswith("|")}
    out = []
    for table in new.split("\n\n"):
        prior = old_tables.get(table.splitlines()[0]) if table.startswith("|") else None
        if prior is not None:
            for line in prior.splitlines():
                if line.startswith(MILLION):
                    marked = (
                        line if "measured" in line.split("|")[1] else line.replace(MILLION, mark, 1)
                    )
                    table = table.rstrip("\n") + "\n" + marked
        out.append(table)
    return "\n\n".join(out)


def write_docs(results: dict[str, Any], path: Path) -> None:
    """Replace the generated section of docs/benchmarks.md (between the markers)."""
    text = (
        path.read_text(encoding="utf-8") if path.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    )
    if BEGIN not in text:
        text = text.rstrip() + f"\n\n{BEGIN}\n{END}\n"
    pattern = re.compile(re.escape(BEGIN) + "(.*?)" + re.escape(END), re.S)
    found = pattern.search(text)
    old = found.group(1) if found else ""
    generated = carry_million(tables(results), old)
    kept = [t for t in old.split("\n\n") if t.startswith(("| entries |", "| end to end"))]
    if not results["sizes"] and kept:  # a workloads-only run keeps the last size sweep
        stamp = r"started (\d{4}-\d{2}-\d{2} [\d:]+)"
        when = re.search("from the run " + stamp, old) or re.search(stamp, old)
        generated = generated.rstrip() + (
            f"\n\nThe size sweep (one tenant), from the run started "
            f"{when.group(1) if when else 'before'}:\n\n" + "\n\n".join(kept)
        )
    block = f"{BEGIN}\n{generated.rstrip()}\n{END}"
    path.write_text(pattern.sub(lambda _: block, text), encoding="utf-8")
    print(f"updated {path}")
