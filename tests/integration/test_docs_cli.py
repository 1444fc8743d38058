"""Every ``agentcache ...`` command line in README.md and docs/*.md is run here.

The lines are extracted from the docs (inline code, indented and fenced code
blocks) and each is assigned to one test below, which turns it into argv
(``[--opt X]`` groups once with and once without, ``a|b`` alternatives each,
placeholders like ``T`` or ``FILE`` filled in) and runs it in-process through
``cli.main`` against the real test Redis. A new or changed line in the docs
fails ``test_every_doc_command_is_covered`` until it is assigned here.

Run for real: demo, info, stats, migrate, warm, tune, server (as a subprocess,
on a free port instead of 6379, which may be taken on a test machine). Checked
at parsing level only: ``bench`` and ``eval`` (benchmarks of minutes; their
``-- --help`` runs the checkout's argument parser) and ``cluster``, which needs
an OSS Redis Cluster (tests/cluster/test_cluster_command.py runs it on one);
here it runs against the standalone test server and must fail in one line.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from agentcache import cli
from agentcache.semantic import SemanticCache
from agentcache.settings import AgentCacheSettings
from agentcache.testing.vectors import HashingVectorizer

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# Doc line (whitespace collapsed) -> the test below that runs it.
COVERAGE = {
    "agentcache demo": "test_demo",
    "agentcache info": "test_info",
    "agentcache server --port 6379": "test_server",
    "agentcache stats": "test_stats",
    "agentcache stats [--tenant T]": "test_stats",
    "agentcache stats [--tenant T] [--agents] [--json] [--url URL]": "test_stats",
    "agentcache migrate": "test_migrate",
    "agentcache migrate plan|apply|rollback|status|cleanup": "test_migrate",
    "agentcache migrate plan --schema schema/semantic_cache.yaml": "test_migrate",
    "agentcache migrate apply --datatype float16 [--dry-run] [--batch-size 500]": "test_migrate",
    "agentcache migrate status": "test_migrate",
    "agentcache migrate rollback [--dry-run]": "test_migrate",
    "agentcache migrate cleanup [--dry-run]": "test_migrate",
    "agentcache warm FILE --tenant T --agent A": "test_warm",
    "agentcache warm faq.jsonl --tenant acme --agent support [--model M] [--batch-size 256]": (
        "test_warm"
    ),
    "agentcache tune": "test_tune",
    "agentcache tune DATASET": "test_tune",
    "agentcache eval": "test_bench_and_eval_parse",
    "agentcache bench": "test_bench_and_eval_parse",
    "agentcache cluster": "test_cluster",
    "agentcache cluster [--nodes H:P,H:P] [--tenant T]": "test_cluster",
}

_COMMAND = re.compile(r"^(?:\$ )?agentcache [a-z]")


def _normalise(line: str) -> str:
    return " ".join(line.replace("\\|", "|").split())


def doc_commands() -> dict[str, list[str]]:
    """Each ``agentcache ...`` line of the docs -> the files that show it."""
    found: dict[str, list[str]] = {}
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        candidates: list[str] = []
        # Fenced blocks first, then removed so their backticks do not pair with inline ones.
        for block in re.findall(r"^```[^\n]*\n(.*?)^```", text, flags=re.S | re.M):
            candidates += block.splitlines()
        text = re.sub(r"^```[^\n]*\n.*?^```", "", text, flags=re.S | re.M)
        candidates += [line[4:] for line in text.splitlines() if line.startswith("    ")]
        for paragraph in text.split("\n\n"):
            candidates += paragraph.replace("\n", " ").split("`")[1::2]
        for candidate in candidates:
            line = _normalise(candidate.strip())
            if _COMMAND.match(line):
                line = line.removeprefix("$ ")
                found.setdefault(line, []).append(path.name)
    return found


def lines_for(test: str) -> list[str]:
    return sorted(line for line, owner in COVERAGE.items() if owner == test)


def expand(line: str, values: dict[str, str]) -> list[list[str]]:
    """The argv (after ``agentcache``) a doc line stands for: alternatives each, optional
    groups all in and all out, placeholders replaced by ``values``."""
    variants = []
    for include in (True, False):
        text = re.sub(r"\[([^\]]*)\]", (lambda m: m.group(1)) if include else "", line)
        words = [values.get(word, word) for word in shlex.split(text)[1:]]
        options = [word.split("|") if "|" in word else [word] for word in words]
        combos: list[list[str]] = [[]]
        for choices in options:
            combos = [[*combo, choice] for combo in combos for choice in choices]
        variants += [combo for combo in combos if combo not in variants]
    return variants


def test_every_doc_command_is_covered() -> None:
    found = doc_commands()
    assert set(found) == set(COVERAGE), (
        f"not covered: {sorted(set(found) - set(COVERAGE))}; "
        f"no longer in the docs: {sorted(set(COVERAGE) - set(found))}"
    )
    module = sys.modules[__name__]
    assert all(callable(getattr(module, name, None)) for name in COVERAGE.values())


def test_expand_reads_the_doc_syntax() -> None:
    line = "agentcache migrate plan|status [--dry-run] [--tenant T]"
    assert expand(line, {"T": "acme"}) == [
        ["migrate", "plan", "--dry-run", "--tenant", "acme"],
        ["migrate", "status", "--dry-run", "--tenant", "acme"],
        ["migrate", "plan"],
        ["migrate", "status"],
    ]


@pytest.fixture
def env(redis_url: str, key_prefix: str, monkeypatch: pytest.MonkeyPatch) -> AgentCacheSettings:
    """The docs' commands run as a user's would: configured by the environment."""
    monkeypatch.setenv("AGENTCACHE_REDIS__URL", redis_url)
    monkeypatch.setenv("AGENTCACHE_REDIS__KEY_PREFIX", key_prefix)
    monkeypatch.setenv("AGENTCACHE_REDIS__SOCKET_TIMEOUT", "10")
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    return AgentCacheSettings()


def _all_keys(client: redis.Redis, pattern: str) -> list[bytes]:
    return list(client.scan_iter(match=pattern, count=1000))


def test_demo(
    env: AgentCacheSettings, redis_client: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    for argv in expand(*lines_for("test_demo"), {}):
        assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert out.count("cross-tenant hits") == 2 and "isolation: 0 cross-tenant hits" in out
    assert "3/6 hit" in out  # the cached LLM session ran (simulated provider)
    assert re.search(r"note: call 1 saved \$-[0-9.]+.*cache-write premium", out)
    assert _all_keys(redis_client, "acdemo-*") == []  # it removed what it created


def test_info(env: AgentCacheSettings, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in expand(*lines_for("test_info"), {}):
        assert cli.main(argv) == 0
        out = capsys.readouterr().out
        assert f"server      {env.redis.url}" in out and "module      search " in out


@pytest.fixture
def counters(env: AgentCacheSettings) -> Iterator[None]:
    """Counters of one hit and one store for tenant acme under the test's prefix."""
    with SemanticCache(env, vectorizer=HashingVectorizer(env.embeddings.dims)) as cache:
        cache.store("How do I reset my password?", "Use the link.", tenant="acme", agent="bot")
        assert cache.check("How do I reset my password?", tenant="acme", agent="bot")
        cache.metrics.flush()
        yield
        cache.drop()


def test_stats(env: AgentCacheSettings, counters: None, capsys: pytest.CaptureFixture[str]) -> None:
    values = {"T": "acme", "URL": str(env.redis.url)}
    runs = [argv for line in lines_for("test_stats") for argv in expand(line, values)]
    assert ["stats", "--tenant", "acme", "--agents", "--json", "--url", env.redis.url] in runs
    for argv in runs:
        assert cli.main(argv) == 0, argv
        out = capsys.readouterr().out
        if "--json" in argv:
            (row,) = json.loads(out)["rows"]
            assert (row["tenant"], row["agent"], row["hits"], row["stores"]) == (
                "acme", "bot", 1, 1
            )  # fmt: skip
        else:
            assert "'acme'" in out and "100.0%" in out


@pytest.fixture
def populated(env: AgentCacheSettings, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """30 entries in the default index under the test's prefix, 32-dim hashing vectors."""
    monkeypatch.setenv("AGENTCACHE_EMBEDDINGS__DIMS", "32")
    monkeypatch.setenv("AGENTCACHE_EMBEDDINGS__MODEL", "test-hash")
    settings = AgentCacheSettings()
    with SemanticCache(settings, vectorizer=HashingVectorizer(32)) as cache:
        for n in range(30):
            cache.store(f"question number {n}", f"answer {n}", tenant=f"t{n % 3}", agent="a")
        yield
        cache.drop()


_ORDER = ("plan", "apply", "status", "rollback", "cleanup")


def test_migrate(
    env: AgentCacheSettings,
    populated: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(ROOT)  # the docs' paths are relative to the repository root
    runs = [argv for line in lines_for("test_migrate") for argv in expand(line, {})]
    assert ["migrate"] in runs  # the bare command: its usage
    with pytest.raises(SystemExit) as usage:
        cli.main(["migrate", "--help"])
    assert usage.value.code == 0 and "plan,apply,rollback,status,cleanup" in capsys.readouterr().out
    runs.remove(["migrate"])
    # A migration's life in order: plans, dry runs before the real step, float16 first.
    runs.sort(key=lambda a: (_ORDER.index(a[1]), "--dry-run" not in a, "float16" not in a))
    seen = []
    for argv in runs:
        assert cli.main(argv) == 0, argv
        out = capsys.readouterr().out
        seen.append(" ".join(argv[1:]))
        if "--dry-run" in argv:
            assert "dry run" in out, (argv, out)
        elif argv[1] == "status":
            assert "30 entries" in out and ":v" in out, out
    assert "apply --datatype float16" in seen and "rollback" in seen and "cleanup" in seen


def test_warm(
    env: AgentCacheSettings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    faq = tmp_path / "faq.jsonl"
    faq.write_text(
        '{"question": "How do I reset my password?", "answer": "Use the link."}\n'
        '{"question": "Do you ship to Canada?", "answer": "Yes, in 5 to 10 days."}\n'
    )
    monkeypatch.chdir(tmp_path)  # the docs name faq.jsonl in the working directory
    values = {"FILE": str(faq), "T": "acme", "A": "support", "M": "gpt-4o-mini"}
    runs = [argv for line in lines_for("test_warm") for argv in expand(line, values)]
    outputs = []
    for argv in runs:
        assert cli.main(argv) == 0, argv
        outputs.append(capsys.readouterr().out)
    assert "stored 2" in outputs[0]  # the first run stores, the later ones find them present
    with SemanticCache(AgentCacheSettings()) as cache:
        assert cache.count("acme") >= 2
        hit = cache.check("Do you ship to Canada?", tenant="acme", agent="support")
        assert hit is not None and "5 to 10" in hit.response
        cache.drop()


def test_tune(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pairs = [
        ("How do I reset my password?", "How can I reset my password?", True),
        ("Do you ship to Canada?", "Can you ship to Canada?", True),
        ("What is the ATM limit?", "What is the daily ATM limit?", True),
        ("How do I reset my password?", "Do you ship to Canada?", False),
        ("What is the ATM limit?", "How do I close my account?", False),
        ("Do you ship to Canada?", "What are your opening hours?", False),
    ]
    dataset = tmp_path / "pairs.jsonl"
    dataset.write_text(
        "".join(json.dumps({"q1": a, "q2": b, "duplicate": d}) + "\n" for a, b, d in pairs)
    )
    for line in lines_for("test_tune"):
        argv = expand(line, {"DATASET": str(dataset)})[0]
        if argv == ["tune"]:  # the bare command: its usage
            with pytest.raises(SystemExit) as usage:
                cli.main(["tune", "--help"])
            assert usage.value.code == 0 and "dataset" in capsys.readouterr().out
            continue
        assert cli.main(argv) == 0
        out = capsys.readouterr().out
        assert "6 pairs (3 duplicates)" in out
        assert re.search(r"^AGENTCACHE_SEMANTIC__THRESHOLD=0\.\d{4}$", out, flags=re.M)


def test_bench_and_eval_parse(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(ROOT)  # both run the checkout's bench/ folder
    expected = {"bench": "--quick", "eval": "--limit"}
    for line in lines_for("test_bench_and_eval_parse"):
        (argv,) = expand(line, {})
        with pytest.raises(SystemExit) as info:
            cli.main([*argv, "--", "--help"])
        assert info.value.code == 0
        assert expected[argv[0]] in capsys.readouterr().out


def test_cluster(redis_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    host_port = redis_url.removeprefix("redis://")
    for line in lines_for("test_cluster"):
        for argv in expand(line, {"H:P,H:P": host_port, "T": "acme"}):
            with pytest.raises(SystemExit) as usage:
                cli.main([argv[0], "--help"])
            assert usage.value.code == 0 and "--nodes" in capsys.readouterr().out
            if "--nodes" not in argv:  # no cluster configured: a usage error, one line
                assert cli.main(argv) == 2
                assert "--nodes" in capsys.readouterr().err
                continue
            assert cli.main(argv) == 1  # a standalone server is no cluster: one line
            err = capsys.readouterr().err.strip().splitlines()
            assert len(err) == 1 and "standalone" in err[0] and host_port in err[0]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_server(tmp_path: Path) -> None:
    (line,) = lines_for("test_server")
    port = str(_free_port())
    argv = [a if a != "6379" else port for a in expand(line, {})[0]]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTCACHE_")}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.Popen(
        [sys.executable, "-u", "-m", "agentcache", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline(), proc.stdout.readline()]
        assert lines[1].strip() == f"export AGENTCACHE_REDIS__URL=redis://127.0.0.1:{port}"
        client = redis.Redis(port=int(port))
        assert client.ping() and client.execute_command("MODULE", "LIST")
        client.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
