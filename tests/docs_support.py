"""The runnable examples of docs/integrations.md, for the tests that run them as written."""

from __future__ import annotations

import re
from pathlib import Path

INTEGRATIONS = Path(__file__).resolve().parents[1] / "docs" / "integrations.md"


def doc_example(section: str) -> str:
    """The first python block under ``## {section}`` in docs/integrations.md."""
    text = INTEGRATIONS.read_text(encoding="utf-8")
    start = text.find(f"## {section}\n")
    assert start >= 0, f"docs/integrations.md has no {section!r} section"
    end = text.find("\n## ", start + 1)
    blocks = re.findall(r"```python\n(.*?)```", text[start : end if end > 0 else None], re.S)
    assert blocks, f"no python example in the {section!r} section"
    return str(blocks[0])
