"""Generate the blocking twins from the asyncio sources (the way httpcore does).

Each layer's I/O shell is written once, async, in ``_async.py``; this script
writes ``_sync.py`` beside it by dropping ``async``/``await`` and renaming the
async-only names below. Lines that must differ carry a marker:

- ``...  # async only``: the line is left out of the sync file;
- ``...  # sync: CODE``: the sync file has ``CODE`` there instead (same indent).

Run ``python scripts/unasync.py`` after editing an ``_async.py``;
``--check`` exits 1 when a generated file is stale (a unit test runs it).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# (asyncio source, generated blocking twin); each layer adds its I/O shell here.
PAIRS: list[tuple[str, str]] = [
    ("agentcache/semantic/_index_async.py", "agentcache/semantic/_index_sync.py"),
    ("agentcache/semantic/_async.py", "agentcache/semantic/_sync.py"),
]
# async name -> sync name, replaced as whole words.
NAMES = {
    "AsyncClient": "SyncClient",
    "async_client": "sync_client",
    "AsyncSearchIndex": "SearchIndex",
    "AsyncSemanticCache": "SemanticCache",
    "AsyncSemanticIndex": "SemanticIndex",
    "_index_async": "_index_sync",
    "AsyncClusterSearch": "ClusterSearch",
    "async_cluster_search": "cluster_search",
    "AsyncToolCache": "ToolCache",
    "AsyncCachedTool": "CachedTool",
    "AsyncEmbeddingCache": "EmbeddingCache",
    "AsyncIterator": "Iterator",
    "AsyncGenerator": "Generator",
    "acheck_modules": "check_modules",
    "aeval_pipelined": "eval_pipelined",
    "arun": "run",
    "aembed": "embed",
    "aembed_many": "embed_many",
    "aclose": "close",
    "__aenter__": "__enter__",
    "__aexit__": "__exit__",
    "asyncio.sleep": "time.sleep",
    "StopAsyncIteration": "StopIteration",
    "__anext__": "__next__",
    "__aiter__": "__iter__",
}
_LONGEST_FIRST = sorted(NAMES, key=len, reverse=True)
_WORDS = re.compile(r"(?<!\w)(" + "|".join(re.escape(n) for n in _LONGEST_FIRST) + r")(?!\w)")
_SYNC_LINE = re.compile(r"^(\s*).*#\s*sync:\s?(.*)$")


def unasync_line(line: str) -> str | None:
    """The sync form of one line of async source, or None to leave it out."""
    if re.search(r"#\s*async only\s*$", line):
        return None
    swap = _SYNC_LINE.match(line)
    if swap:
        return f"{swap.group(1)}{swap.group(2)}".rstrip()
    line = re.sub(r"\basync (def|with|for) ", r"\1 ", line)
    line = re.sub(r"\bawait ", "", line)
    return _WORDS.sub(lambda m: NAMES[m.group(1)], line)


def unasync_text(source: str, origin: str) -> str:
    lines = [unasync_line(line) for line in source.splitlines()]
    body = "\n".join(line for line in lines if line is not None)
    header = f"# Generated from {origin} by scripts/unasync.py: edit that file, then rerun it.\n"
    if len(header) > 101:  # keep within the line length (a long source path)
        header = (
            f"# Generated from {origin} by scripts/unasync.py:\n# edit that file, then rerun it.\n"
        )
    return header + body + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a generated file is stale")
    args = parser.parse_args(argv)
    stale = []
    for source, target in PAIRS:
        wanted = unasync_text((ROOT / source).read_text(encoding="utf-8"), source)
        path = ROOT / target
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == wanted:
            continue
        if args.check:
            stale.append(target)
        else:
            path.write_text(wanted, encoding="utf-8")
            print(f"wrote {target}")
    for target in stale:
        print(f"stale: {target} (run python scripts/unasync.py)", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
