"""The blocking twins are generated from their asyncio sources; a stale one fails here."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("unasync", ROOT / "scripts" / "unasync.py")
assert _spec and _spec.loader
unasync = importlib.util.module_from_spec(_spec)
sys.modules["unasync"] = unasync
_spec.loader.exec_module(unasync)


def test_every_generated_twin_matches_its_source() -> None:
    stale = [
        target
        for source, target in unasync.PAIRS
        if (ROOT / target).read_text(encoding="utf-8")
        != unasync.unasync_text((ROOT / source).read_text(encoding="utf-8"), source)
    ]
    assert not stale, f"stale generated files {stale}: run python scripts/unasync.py"


def test_async_syntax_and_names_become_blocking() -> None:
    source = (
        "import asyncio  # sync: import time\n"
        "async def fetch(self) -> AsyncClient:\n"
        "    async with self.lock:\n"
        "        await asyncio.sleep(1)\n"
        "        return await self.guard.arun('x', self.aembed)\n"
        "    await self.aclose()  # async only\n"
    )
    assert unasync.unasync_text(source, "src.py").splitlines()[2:] == [
        "import time",
        "def fetch(self) -> SyncClient:",
        "    with self.lock:",
        "        time.sleep(1)",
        "        return self.guard.run('x', self.embed)",
    ]


def test_names_are_replaced_as_whole_words_only() -> None:
    assert unasync.unasync_line("self.arun_count = aclose_all + arun") == (
        "self.arun_count = aclose_all + run"
    )
