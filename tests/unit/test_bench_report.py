"""docs/benchmarks.md regeneration keeps a 1,000,000-entry row this run did not measure."""

from __future__ import annotations

from pathlib import Path

from bench._report import BEGIN, END, carry_million, write_docs

HEAD = "| entries | p50 |\n| ---: | ---: |"
OLD = (
    "Command: `python -m bench --million`; started 2026-11-26 12:59:26.\n\n"
    f"{HEAD}\n| 1,000 | 0.7 |\n| 1,000,000 | 1.6 |\n\n"
    "| entries | rate |\n| ---: | ---: |\n| 1,000 | 900 |\n| 1,000,000 | 600 |\n"
)


def test_the_previous_million_row_is_kept_marked_under_its_own_table() -> None:
    rates = "| entries | rate |\n| ---: | ---: |\n| 1,000 | 3,000 |"
    new = f"Command: x.\n\n{HEAD}\n| 1,000 | 0.4 |\n\n{rates}"
    out = carry_million(new, OLD)
    first, second = out.split("\n\n")[1:]
    assert first.splitlines()[-1] == (
        "| 1,000,000 (measured 2026-11-26, before the #14 lookup path) | 1.6 |"
    )
    assert second.splitlines()[-1].endswith("| 600 |")
    assert "| 1,000 | 0.4 |" in first and "0.7" not in out
    # Carried once more, the row keeps its first date and mark.
    assert carry_million(new, out.replace("2026-11-26 12:59", "2026-12-01 10:00")) == out


def test_a_run_with_its_own_million_row_replaces_the_old_one() -> None:
    new = f"{HEAD}\n| 1,000,000 | 0.3 |"
    assert carry_million(new, OLD) == new


def test_write_docs_keeps_the_hand_written_sections(tmp_path: Path) -> None:
    path = tmp_path / "benchmarks.md"
    path.write_text(f"# B\n\nintro\n\n{BEGIN}\n{OLD}{END}\n\n## Notes\n\nkept\n")
    results = {
        "command": "python -m bench --no-sizes",
        "started": "2026-11-29 15:00:00",
        "server": "8.2.3",
        "load_average": [1.0],
        "sizes": {},
        "workloads": {},
    }
    write_docs(results, path)
    text = path.read_text()
    assert text.startswith("# B\n\nintro\n\n" + BEGIN) and text.endswith("## Notes\n\nkept\n")
    assert "--no-sizes" in text and "`python -m bench --million`" not in text
    # A workloads-only run keeps the last size sweep, dated.
    assert "from the run started 2026-11-26 12:59:26:" in text and "| 1,000,000 | 600 |" in text
    # ... and keeps its date when a second workloads-only run regenerates the block.
    write_docs({**results, "started": "2026-11-30 09:00:00"}, path)
    again = path.read_text()
    assert "from the run started 2026-11-26 12:59:26:" in again and "2026-11-29" not in again
