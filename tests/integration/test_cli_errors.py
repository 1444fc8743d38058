"""The ``agentcache`` command ends a failure with one ``agentcache: error: ...`` line.

Exit 2 for usage and configuration, 1 for runtime; ``--debug`` (or ``-v``) adds the
traceback. Run in-process through ``cli.main`` against the real test server and a
port nobody listens on.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from agentcache import cli


@pytest.fixture
def closed_url() -> str:
    """A loopback URL with nothing listening (the port was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"redis://127.0.0.1:{port}"


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("agentcache: error: ")
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize(
    "argv", [["info"], ["stats"], ["migrate", "status"], ["migrate", "plan", "--dims", "8"]]
)
def test_a_closed_port_is_one_line_naming_the_url(
    argv: list[str],
    closed_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("AGENTCACHE_REDIS__URL", closed_url)
    assert cli.main(argv) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert closed_url in line and "AGENTCACHE_REDIS__URL" in line


def test_stats_names_the_url_given_on_the_command_line(
    closed_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["stats", "--url", closed_url]) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert f"{closed_url} (--url)" in line


def test_warm_against_a_closed_port(
    closed_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    faq = tmp_path / "faq.jsonl"
    faq.write_text('{"question": "q", "answer": "a"}\n')
    monkeypatch.setenv("AGENTCACHE_REDIS__URL", closed_url)
    argv = ["warm", str(faq), "--tenant", "t", "--agent", "a", "--hashing-vectorizer"]
    assert cli.main(argv) == 1
    assert closed_url in _one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize(
    ("name", "value"),
    [("AGENTCACHE_SEMANTIC__THRESHOLD", "abc"), ("AGENTCACHE_REDIS__URL", "notaurl")],
)
def test_bad_configuration_is_one_line_and_exit_2(
    name: str, value: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(name, value)
    assert cli.main(["info"]) == 2
    assert name in _one_error_line(capsys.readouterr().err)


def test_cluster_against_a_standalone_server(
    redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["cluster", "--url", redis_url]) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert redis_url in line and "standalone" in line


def test_stats_without_a_url_is_a_configuration_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["stats"]) == 2
    assert "AGENTCACHE_REDIS__URL" in _one_error_line(capsys.readouterr().err)


def test_a_missing_file_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "nope.jsonl"
    assert cli.main(["tune", str(missing)]) == 1
    assert str(missing) in _one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize("flag_first", [True, False])
def test_debug_shows_the_traceback(
    flag_first: bool,
    closed_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("AGENTCACHE_REDIS__URL", closed_url)
    argv = ["--debug", "info"] if flag_first else ["info", "--debug"]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "redis.exceptions.ConnectionError" in err
    assert err.strip().splitlines()[-1].startswith("agentcache: error: ")


def test_verbose_shows_the_traceback_too(
    closed_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AGENTCACHE_REDIS__URL", closed_url)
    assert cli.main(["-v", "info"]) == 1
    assert "Traceback (most recent call last)" in capsys.readouterr().err


def test_a_misspelt_variable_is_a_one_line_warning(
    redis_url: str,
    key_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("AGENTCACHE_REDIS__URL", redis_url)
    monkeypatch.setenv("AGENTCACHE_REDIS__KEY_PREFIX", key_prefix)
    monkeypatch.setenv("AGENTCACHE_SEMANTIC__THRESHHOLD", "0.9")
    assert cli.main(["info"]) == 0
    captured = capsys.readouterr()
    warnings = [line for line in captured.err.splitlines() if "THRESHHOLD" in line]
    assert warnings == [
        "agentcache: warning: unknown agentcache setting AGENTCACHE_SEMANTIC__THRESHHOLD is "
        "ignored; did you mean AGENTCACHE_SEMANTIC__THRESHOLD?"
    ]
    assert "module      search" in captured.out


def test_the_migrate_script_shares_the_boundary(
    closed_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from agentcache.cli.migrate import main

    monkeypatch.setenv("AGENTCACHE_REDIS__URL", closed_url)
    assert main(["status"]) == 1
    assert closed_url in _one_error_line(capsys.readouterr().err)
