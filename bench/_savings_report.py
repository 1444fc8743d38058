"""The savings benchmark's report (docs/savings.md's generated part) and plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

START, END = "<!-- bench.savings: generated from here -->", "<!-- bench.savings: end -->"


LONG_MARKERS = ("<!-- bench.savings --long: generated from here -->",
                "<!-- bench.savings --long: end -->")  # fmt: skip


def merge_report(path: Path, generated: str, markers: tuple[str, str] = (START, END)) -> str:
    """The report file with its generated part replaced; hand-written text around it stays."""
    start, end = markers
    block = f"{start}\n{generated}\n{end}"
    old = path.read_text() if path.exists() else ""
    if start in old and end in old:
        return old[: old.index(start)] + block + old[old.index(end) + len(end) :]
    return old + ("\n" if old else "") + block + "\n"


def write_long(data: dict[str, Any]) -> str:
    """The learning-curve section: C4 vs C5 per quarter over a long replay."""
    return "\n".join([
        f"## Learning curve ({data['turns']:,} turns, {data['tenants']} tenants, Anthropic)",
        "",
        f"Command: `{data['command']}`; the run took {data['elapsed_s']:.0f} s. Repeat-intent "
        f"share by quarter: {' → '.join(_pct(x) for x in data['repeat_share_quarters'])}.",
        "",
        *_quarters(data),
        "",
        "| config | served turns | false hits | explores | cost $ |",
        "|---|---:|---:|---:|---:|",
        *(f"| {r['config']} | {r['served_turns']} | {r['false_hits']} | {r['explores']} "
          f"| {r['cost']:.2f} |" for r in data["results"]),
        "",
    ])  # fmt: skip


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def saving(data: dict[str, Any], r: dict[str, Any]) -> float | None:
    base = [x["cost"] for x in data["results"] if x["provider"] == r["provider"]
            and x["config"] == "C1"]  # fmt: skip
    return 1 - r["cost"] / base[0] if base and base[0] else None


def _table(data: dict[str, Any], provider: str) -> list[str]:
    lines = [
        "| config | cost $ | $/turn | saving vs C1 | p50 s | p95 s | prompt-cache read share "
        "| tool hits | semantic hits (exact / semantic, of calls) | turns fully / partly served "
        "| false hits (n, % turns, % served) | of which label-noise pairs | explores |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in data["results"]:
        if r["provider"] != provider:
            continue
        s = saving(data, r)
        tool = r["tool_hits"] + r["tool_misses"]
        served = r["exact"] + r["semantic"]
        tools = f"{r['tool_hits']}/{tool}" if tool else "-"
        fhr = _pct(r["false_hits"] / r["served_turns"]) if r["served_turns"] else "-"
        lines.append(
            f"| {r['config']} {r['name']} | {r['cost']:.2f} | {r['cost_per_turn']:.4f} "
            f"| {_pct(s) if s is not None else 'n/a'} | {r['p50']:.2f} | {r['p95']:.2f} "
            f"| {_pct(r['prompt_read_share'])} "
            f"| {tools} "
            f"| {served}/{r['calls']} ({r['exact']} / {r['semantic']}) "
            f"| {r['fully_served']} / {r['served_turns'] - r['fully_served']} "
            f"| {r['false_hits']}, {_pct(r['false_hits'] / r['turns'])}, "
            f"{fhr} "
            f"| {r['label_noise']} | {r['explores']} |"
        )
    return lines


def _quarters(data: dict[str, Any]) -> list[str]:
    lines = [
        "| provider | config | served turns Q1 → Q4 | served / repeat-intent turns Q1 → Q4 "
        "| false hits Q1 → Q4 | explores Q1 → Q4 |",
        "|---|---|---|---|---|---|",
    ]
    for r in data["results"]:
        if r["config"] not in ("C4", "C5"):
            continue
        q = r["quarters"]
        lines.append(
            f"| {r['provider']} | {r['config']} "
            f"| {' → '.join(_pct(x['served']) for x in q)} "
            f"| {' → '.join(_pct(x['served_of_repeat']) for x in q)} "
            f"| {' → '.join(_pct(x['false_hits']) for x in q)} "
            f"| {' → '.join(str(x['explores']) for x in q)} |"
        )
    return lines


def headline(data: dict[str, Any], provider: str, config: str = "C5") -> dict[str, Any] | None:
    rows = {r["config"]: r for r in data["results"] if r["provider"] == provider}
    if config not in rows or "C1" not in rows:
        return None
    r, base = rows[config], rows["C1"]
    return {"saving": saving(data, r), "p50": r["p50"], "p50_c1": base["p50"],
            "false_hits": r["false_hits"], "turns": r["turns"]}  # fmt: skip


def write_report(data: dict[str, Any], plot_name: str) -> str:
    lat = data["latency"]
    t = data["traffic"]
    providers = sorted({r["provider"] for r in data["results"]})
    out = [
        "## Results",
        "",
        f"Command: `{data['command']}` (seed {data['seed']}), on a shared 2-core machine; "
        f"the run took {data['elapsed_s']:.0f} s. Embeddings: `{data['vectorizer']}` (local, $0).",
        "",
        f"![cost and p50 latency per configuration]({plot_name})",
        "",
        "### Assumptions (flags of the command)",
        "",
        f"- Provider latency per call, modeled, not slept: {lat['ttft']:.2f} s to the first "
        f"token + {lat['prefill_per_token'] * 1e3:.3f} ms per uncached input token + "
        f"{lat['cached_prefill_per_token'] * 1e3:.3f} ms per cached input token + "
        f"{lat['per_output_token'] * 1e3:.1f} ms per output token (`--latency ttft,per_token`); "
        "the same constants for both providers.",
        f"- kb_search takes {data['tool_s']:.2f} s when its body runs (`--tool-latency`); a "
        "tool-cache hit costs only its measured Redis round trip.",
        f"- Embedding one text, calibrated on this machine at the start of the run (p50 of "
        f"single-text calls): {data['embed_short_s'] * 1e3:.1f} ms for a question, "
        f"{data['embed_long_s'] * 1e3:.1f} ms for a KB article; charged for every text the "
        "semantic layer embeds (vectors are precomputed once so replays do not re-embed).",
        "- Everything else in a turn is measured wall time: the SDK, the local HTTP round trip, "
        "Redis lookups and stores, the tool cache. Only this part depends on the machine's load.",
        f"- {_pct(data['kb_share'])} of intents go through kb_search (`--kb-share`); answers are "
        f"60-220 tokens x {data['answer_scale']} (`--answer-scale`).",
        f"- Prompt: static system policy ~{data['prompt_tokens']['system']:,} tokens, tenant "
        f"header ~{data['prompt_tokens']['tenant_header']} tokens, 4 tool definitions "
        f"~{data['prompt_tokens']['tools']:,} tokens (a token is 4 characters here). Models and "
        f"prices: `{data['models']['anthropic']}` and `{data['models']['openai']}` from the "
        "default price table (per million tokens: Sonnet 4.5 $3 in / $15 out, cache read $0.30, "
        "5-minute write $3.75; gpt-4.1 $2 in / $8 out, cached input $0.50).",
        "- Prompt-cache TTLs follow the traffic's virtual hour (5 minutes Anthropic, 10 minutes "
        "OpenAI); the semantic (7 days) and tool (1 hour) TTLs run in real time and do not "
        "expire within a replay.",
        "",
        "### Traffic",
        "",
        f"{t['turns']:,} turns over {t['tenants']} tenants (turns per tenant min / median / max: "
        f"{t['turns per tenant min/median/max']}); {t['unique intents']} intents, "
        f"{t['unique (tenant, intent) pairs']} (tenant, intent) pairs, "
        f"{t['unique question texts']:,} distinct questions; novel "
        f"{_pct(t['novel share (first time in tenant)'])}, exact repeats "
        f"{_pct(t['exact repeat share'])}, paraphrases {_pct(t['paraphrase share'])}; "
        f"{_pct(t['turns via kb_search'])} of turns call kb_search; "
        f"{t['same words asked earlier in another tenant']} turns repeat words first asked in "
        "another tenant (a hit on one would be a cross-tenant leak). Repeat-intent share by "
        f"quarter: {' → '.join(_pct(x) for x in data['repeat_share_quarters'])}.",
        "",
    ]  # fmt: skip
    for provider in providers:
        out += [f"### {provider}", "", *_table(data, provider), ""]
    out += [
        "### First vs last quarter (C4 guarded vs C5 verified)",
        "",
        *_quarters(data),
        "",
        "The traffic itself warms up (the repeat-intent share rises, see Traffic), so a rise of "
        "the served share is mostly warm-up; learning is the C5 - C4 difference.",
        "",
        "### The false hits",
        "",
        "| provider | config | turn | question | label | served answer for | served calls "
        "(layer, similarity, cached prompt) |",
        "|---|---|---:|---|---|---|---|",
    ]
    for r in data["results"]:
        for e in r.get("false_hit_examples", []):
            calls = "; ".join(
                f"{layer} {sim:.3f} `{prompt[:60]}`" for layer, sim, prompt in e["calls"]
            )
            out.append(
                f"| {r['provider']} | {r['config']} | {e['n']} | {e['question']} | {e['label']} "
                f"| {e['served']} | {calls} |"
            )
    out.append("")
    return "\n".join(out)


def write_plot(data: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    providers = sorted({r["provider"] for r in data["results"]})
    configs = list(dict.fromkeys(r["config"] for r in data["results"]))
    rows = {(r["provider"], r["config"]): r for r in data["results"]}
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    width = 0.8 / len(providers)
    colors = {"anthropic": "tab:orange", "openai": "tab:green"}
    for k, provider in enumerate(providers):
        xs = [i + (k - (len(providers) - 1) / 2) * width for i in range(len(configs))]
        got = [rows.get((provider, c)) for c in configs]
        cost = [1000 * r["cost_per_turn"] if r else 0.0 for r in got]
        bars = left.bar(xs, cost, width, label=provider, color=colors.get(provider))
        for bar, r in zip(bars, got, strict=True):
            s = saving(data, r) if r else None
            if s is not None and r and r["config"] != "C1":
                left.annotate(f"-{100 * s:.0f}%", (bar.get_x() + bar.get_width() / 2,
                              bar.get_height()), ha="center", va="bottom", fontsize=7)  # fmt: skip
        p50 = [r["p50"] if r else 0.0 for r in got]
        p95 = [r["p95"] - r["p50"] if r else 0.0 for r in got]
        right.bar(xs, p50, width, yerr=[[0] * len(p95), p95], capsize=3, label=provider,
                  color=colors.get(provider))  # fmt: skip
    for ax, title in (
        (left, "cost per 1,000 turns (USD)"),
        (right, "p50 latency per turn (s), whisker: p95"),
    ):
        ax.set_xticks(range(len(configs)), configs)
        ax.set_title(title, fontsize=10)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"Replayed support agent: {data['turns']:,} turns, {data['tenants']} tenants")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
