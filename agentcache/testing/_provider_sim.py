"""The simulated model side of the local provider server: tokens, answers, latency and
both prompt caches. No HTTP here (``_provider_http`` serves it, ``provider`` wires it).

Both prompt caches are simulated: Anthropic's from the ``cache_control`` breakpoints
it sees (prefixes over the model's minimum, 20-block lookback, 5-minute or 1-hour
TTL) and OpenAI's automatic one (prompts of 1024+ tokens, hits in 128-token steps).
A token here is 4 characters, rounded up.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from agentcache.prompt_caching.anthropic import min_cacheable_tokens
from agentcache.testing._provider_events import compact

_LOOKBACK_BLOCKS = 20  # Anthropic checks this many blocks back from each breakpoint
_TTL_SECONDS = {"5m": 300.0, "1h": 3600.0}
_OPENAI_MIN = 1024
_OPENAI_STEP = 128
_OPENAI_TTL = 600.0

Responder = Callable[[str, Mapping[str, Any]], str]
# (path, request body) -> the tool calls the model makes as (name, input), or None: answer text
ToolResponder = Callable[[str, Mapping[str, Any]], "list[tuple[str, dict[str, Any]]] | None"]


class _HTTPError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def count_tokens(text: str) -> int:
    """The simulated tokenizer: one token per 4 characters, rounded up."""
    return math.ceil(len(text) / 4)


def text_of(content: Any) -> str:
    """The plain text of a content value (string, block list or block)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(text_of(part) for part in content)
    if isinstance(content, Mapping):
        kind = content.get("type")
        if kind == "text" or "text" in content:
            return str(content.get("text", ""))
        if kind == "tool_use":
            return compact(content.get("input", {}))
        if kind == "tool_result":
            return text_of(content.get("content"))
        if kind == "document":
            source = content.get("source") or {}
            if source.get("type") == "text":
                return str(source.get("data", ""))
            return text_of(source.get("content"))
        return compact({k: v for k, v in content.items() if k != "cache_control"})
    return str(content)


def default_responder(endpoint: str, body: Mapping[str, Any]) -> str:
    """A deterministic answer that echoes the last user turn."""
    question = ""
    for message in reversed(list(body.get("messages") or [])):
        if isinstance(message, Mapping) and message.get("role") == "user":
            question = " ".join(text_of(message.get("content")).split())
            break
    return f"Simulated answer from {body.get('model', 'a model')} to: {question[:200]}"


def limit(text: str, max_tokens: int, done: str, cut: str) -> tuple[str, str, int]:
    """Truncate ``text`` to ``max_tokens``: (text, stop reason, output tokens)."""
    tokens = count_tokens(text)
    if tokens <= max_tokens:
        return text, done, max(tokens, 1)
    return text[: max_tokens * 4], cut, max_tokens


def tool_output_tokens(calls: list[tuple[str, dict[str, Any]]]) -> int:
    """Output tokens of a tool-use answer: its calls' names and inputs, plus framing."""
    return sum(count_tokens(name + compact(args)) + 10 for name, args in calls)


@dataclass(frozen=True)
class LatencyModel:
    """Provider time of one model call: time to first token, prefill and decode.

    ``seconds`` is what a real provider would take for a call with this usage; the
    server records it per call (``ProviderServer.latencies``) and sleeps it only when
    asked to (``sleep=True``), so a replay can be timed without waiting for it.
    """

    ttft: float = 0.40
    prefill_per_token: float = 0.08e-3
    cached_prefill_per_token: float = 0.008e-3
    per_output_token: float = 0.015
    sleep: bool = False

    def seconds(self, uncached_input: int, cached_input: int, output: int) -> float:
        return (
            self.ttft
            + self.prefill_per_token * uncached_input
            + self.cached_prefill_per_token * cached_input
            + self.per_output_token * output
        )


class PromptCaches:
    """Both providers' simulated prompt caches (``enabled=False``: no reads, no writes)."""

    def __init__(self, clock: Callable[[], float], enabled: bool = True) -> None:
        self.clock = clock
        self.enabled = enabled
        self._lock = threading.Lock()
        self._anthropic: dict[str, tuple[float, float]] = {}  # hash -> (expiry, ttl)
        self._openai: dict[str, float] = {}  # hash -> expiry

    def clear(self) -> None:
        with self._lock:
            self._anthropic.clear()
            self._openai.clear()

    def anthropic_usage(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Messages API usage for ``body`` (input, cache writes and reads); stores its writes."""
        model = str(body["model"])
        segments: list[tuple[str, int, str | None]] = []  # (key text, tokens, ttl if marked)

        def add(key: str, text: str, block: Any) -> None:
            marker = block.get("cache_control") if isinstance(block, Mapping) else None
            ttl = str(marker.get("ttl", "5m")) if isinstance(marker, Mapping) else None
            segments.append((key, count_tokens(text), ttl))

        for tool in body.get("tools") or []:
            clean = {k: v for k, v in tool.items() if k != "cache_control"}
            add(compact(clean), compact(clean), tool)
        system = body.get("system")
        for block in (
            [{"type": "text", "text": system}] if isinstance(system, str) else (system or [])
        ):
            add("s" + text_of(block), text_of(block), block)
        for message in body.get("messages") or []:
            content = message.get("content")
            blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
            for block in blocks or []:
                clean = {k: v for k, v in block.items() if k != "cache_control"}
                add(message.get("role", "") + compact(clean), text_of(block), block)
        auto = body.get("cache_control")
        if isinstance(auto, Mapping) and segments:  # automatic caching: the last block
            key, tokens, _ = segments[-1]
            segments[-1] = (key, tokens, str(auto.get("ttl", "5m")))

        hashes: list[str] = []
        prefix: list[int] = []
        h = hashlib.blake2b(model.encode(), digest_size=16)
        running = 0
        for key, tokens, _ in segments:
            h.update(hashlib.blake2b(key.encode(), digest_size=16).digest())
            hashes.append(h.hexdigest())
            running += tokens
            prefix.append(running)
        marked = [i for i, (_, _, ttl) in enumerate(segments) if ttl is not None]
        if not self.enabled:
            marked = []
        minimum = min_cacheable_tokens(model)
        now = self.clock()
        read_at = -1
        written = {"5m": 0, "1h": 0}
        with self._lock:
            for b in marked:
                for j in range(b, max(-1, b - _LOOKBACK_BLOCKS), -1):
                    entry = self._anthropic.get(hashes[j])
                    if entry is not None and entry[0] > now:
                        read_at = max(read_at, j)
                        break
            if read_at >= 0:  # a hit refreshes the entry's lifetime
                _, ttl_s = self._anthropic[hashes[read_at]]
                self._anthropic[hashes[read_at]] = (now + ttl_s, ttl_s)
            done = prefix[read_at] if read_at >= 0 else 0
            for b in marked:
                ttl = segments[b][2] or "5m"
                if b <= read_at or prefix[b] < minimum:
                    continue
                seconds = _TTL_SECONDS.get(ttl, 300.0)
                self._anthropic[hashes[b]] = (now + seconds, seconds)
                written["1h" if ttl == "1h" else "5m"] += prefix[b] - done
                done = prefix[b]
        read = prefix[read_at] if read_at >= 0 else 0
        write = written["5m"] + written["1h"]
        return {
            "input_tokens": (prefix[-1] if prefix else 0) - read - write,
            "cache_creation_input_tokens": write,
            "cache_read_input_tokens": read,
            "cache_creation": {
                "ephemeral_5m_input_tokens": written["5m"],
                "ephemeral_1h_input_tokens": written["1h"],
            },
            "service_tier": "standard",
        }

    def openai_prompt(self, body: Mapping[str, Any]) -> tuple[int, int]:
        """(prompt_tokens, cached_tokens) for a chat request; stores its prefixes."""
        parts = [compact(tool) for tool in body.get("tools") or []]
        for message in body.get("messages") or []:
            parts.append(f"<|{message.get('role', '')}|>{text_of(message.get('content'))}")
        text = "".join(parts)
        prompt_tokens = count_tokens(text)
        if not self.enabled:
            return prompt_tokens, 0
        h = hashlib.blake2b(str(body.get("model", "")).encode(), digest_size=16)
        boundaries: list[str] = []
        pos = 0
        for k in range(_OPENAI_MIN, prompt_tokens + 1, _OPENAI_STEP):
            h.update(text[pos : k * 4].encode())
            pos = k * 4
            boundaries.append(h.hexdigest())
        now = self.clock()
        cached = 0
        with self._lock:
            for i, digest in enumerate(boundaries):
                expiry = self._openai.get(digest)
                if expiry is not None and expiry > now:
                    cached = _OPENAI_MIN + i * _OPENAI_STEP
            for digest in boundaries:
                self._openai[digest] = now + _OPENAI_TTL
        return prompt_tokens, cached
