"""The savings benchmark's agent: prompt, tools, the simulated model and one turn.

The simulated model is an oracle (it never misreads an intent), so every wrong
answer in a replay is the cache's. For a knowledge-base intent it calls
``kb_search {"topic": intent}`` first and answers from the article it gets back;
otherwise it answers from the prompt. The tenant comes from the system prompt.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agentcache.testing.provider import CHAT, MESSAGES
from agentcache.vectorizers import BaseVectorizer, Vector
from bench._savings_traffic import Turn, answer, article, norm

ANTHROPIC_MODEL = "claude-sonnet-4-5"
OPENAI_MODEL = "gpt-4.1"
MAX_TOKENS = 400
LONG_TEXT = 400  # characters: longer texts are charged the article embedding time
_TAG = re.compile(r"\[(t\d+)/([^\]\s]+?)(?: ref \d+)?\]")  # intents hold ? and capitals
_TENANT = re.compile(r"TENANT_ID: (t\d+)")

_POLICY_TOPICS = (
    "identity checks", "card delivery", "top-ups", "transfers", "exchange rates", "refunds",
    "disputed payments", "account closure", "fees", "ATM withdrawals", "PIN changes",
    "virtual cards", "fraud reports", "beneficiaries", "statements", "contactless limits",
)  # fmt: skip


def static_policy() -> str:
    """The large static system prompt (~4,000 tokens): one policy section per topic."""
    parts = ["You are the customer support assistant of a retail bank. Follow this policy."]
    for i, topic in enumerate(_POLICY_TOPICS, 1):
        parts.append(
            f"\n\n## {i}. {topic.capitalize()}\n"
            f"When a customer asks about {topic}, first confirm which product they mean. "
            f"Explain the standard process for {topic} in plain words, give the timeline and "
            "any fee exactly as the knowledge base states it, and never guess a number. "
            f"If the customer reports a problem with {topic}, apologise once, collect the "
            "reference of the transaction, and offer to open a ticket. Do not ask for a full "
            "card number, a PIN or a password. Escalate to a human when the customer is upset "
            f"twice, when {topic} involves a suspected fraud, or when the policy does not cover "
            "the case. Keep answers short, friendly and specific to the customer's tenant brand. "
        )
    text = "".join(parts)
    while len(text) < 16_000:
        text += "\nReminder: cite the knowledge-base reference of every fact you give. "
    return text


SYSTEM = static_policy()


def tenant_header(tenant: str) -> str:
    """The per-tenant system block (~300 tokens): brand, tone and the tenant id."""
    head = f"TENANT_ID: {tenant}\nBrand: Bank {tenant.upper()}. Tone: warm, concise. "
    while len(head) < 1_200:
        head += f"Always sign as the {tenant.upper()} support team and use the brand's app names. "
    return head[:1_200]


def _schema(props: dict[str, str], why: str) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {k: {"type": "string", "description": v} for k, v in props.items()},
        "required": list(props),
        "description": why,
    }


_TOOL_SPECS = (
    ("kb_search", "Search this tenant's knowledge base for the policy article on a support "
     "topic. Use it before answering any question about processes, timelines or fees.",
     {"topic": "The support topic, normalised to one of the bank's intent names."}),
    ("get_account_status", "Read the customer's account status: open, frozen, closed, "
     "pending verification, with the date of the last change.",
     {"account_ref": "The customer's account reference, never the card number."}),
    ("escalate_to_human", "Hand the conversation to a human agent with a short summary.",
     {"summary": "Two sentences on what the customer needs.", "urgency": "low|normal|high"}),
    ("create_ticket", "Open a support ticket for a problem that needs back-office work.",
     {"category": "The support topic.", "details": "What happened, with references."}),
)  # fmt: skip


def _padded(text: str, chars: int) -> str:
    while len(text) < chars:
        text += " Only call this tool when the policy says so; never invent arguments."
    return text[:chars]


ANTHROPIC_TOOLS = [
    {"name": n, "description": _padded(d, 1_200), "input_schema": _schema(p, d[:80])}
    for n, d, p in _TOOL_SPECS
]
OPENAI_TOOLS = [
    {"type": "function", "function": {"name": t["name"], "description": t["description"],
                                      "parameters": t["input_schema"]}}
    for t in ANTHROPIC_TOOLS
]  # fmt: skip


# -- the simulated model ------------------------------------------------------------------


@dataclass
class Model:
    """The oracle behind the provider server: text answers and tool calls."""

    intent_of: dict[str, str]
    kb_intents: set[str]
    answer_scale: float = 1.0

    def _parse(self, body: Mapping[str, Any]) -> tuple[str, str | None, str]:
        """(tenant, article or None, last question)."""
        system = json.dumps(body.get("system") or "") + json.dumps(body.get("messages")[:1])
        found = _TENANT.search(system)
        tenant = found.group(1) if found else "t??"
        last = body["messages"][-1]
        content = last.get("content")
        if last.get("role") == "tool":
            return tenant, str(content), ""
        if isinstance(content, list) and content and content[0].get("type") == "tool_result":
            return tenant, str(content[0].get("content")), ""
        return tenant, None, content if isinstance(content, str) else json.dumps(content)

    def text(self, path: str, body: Mapping[str, Any]) -> str:
        tenant, art, question = self._parse(body)
        if art is not None:  # answer from the article it got, not from the label
            tag = _TAG.search(art)
            return answer(tenant, tag.group(2) if tag else "unknown", self.answer_scale)
        return answer(tenant, self.intent_of.get(norm(question), "unknown"), self.answer_scale)

    def tools(self, path: str, body: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]] | None:
        _, art, question = self._parse(body)
        intent = self.intent_of.get(norm(question))
        if art is not None or intent not in self.kb_intents:
            return None
        return [("kb_search", {"topic": intent})]


def tag_of(text: str) -> tuple[str, str] | None:
    found = _TAG.search(text)
    return (found.group(1), found.group(2)) if found else None


# -- embeddings ---------------------------------------------------------------------------


class PrecomputedVectorizer(BaseVectorizer):
    """Vectors looked up from a precomputed table (the real model for unknown text).

    ``short`` / ``long`` count the texts the cache asked for (questions / KB articles):
    each is charged the calibrated single-text embedding time, as if embedded live.
    """

    def __init__(self, table: Mapping[str, Vector], fallback: BaseVectorizer) -> None:
        super().__init__(fallback.model, fallback.dims)
        self.table = table
        self.fallback = fallback
        self.short = self.long = 0

    def embed_many(self, texts: Sequence[str]) -> list[Vector]:
        long = sum(len(t) > LONG_TEXT for t in texts)
        self.long += long
        self.short += len(texts) - long
        missing = [t for t in texts if t not in self.table]
        extra = (
            dict(zip(missing, self.fallback.embed_many(missing), strict=True)) if missing else {}
        )
        return [np.asarray(self.table.get(t, extra.get(t)), dtype=np.float32) for t in texts]


# -- one turn -----------------------------------------------------------------------------


@dataclass
class TurnResult:
    calls: list[Any] = field(default_factory=list)  # CacheInfo per model call
    kb_ran: int = 0
    answer: str = ""


def anthropic_turn(
    client: Any, turn: Turn, kb: Callable[..., str], mode: str, counter: list[int]
) -> TurnResult:
    from agentcache.llm import cache_info

    out = TurnResult()
    system = [
        {"type": "text", "text": SYSTEM},
        {"type": "text", "text": tenant_header(turn.tenant)},
    ]
    ask = {"role": "user", "content": turn.text}
    common = {"model": ANTHROPIC_MODEL, "max_tokens": MAX_TOKENS, "system": system,
              "tools": ANTHROPIC_TOOLS, "tenant": turn.tenant, "agent": "support",
              "cache": mode}  # fmt: skip
    first = client.messages.create(messages=[ask], **common)
    out.calls.append(cache_info(first))
    uses = [b for b in first.content if b.type == "tool_use"]
    if not uses:
        out.answer = "".join(getattr(b, "text", "") for b in first.content)
        return out
    use = uses[0]
    before = counter[0]
    result = kb(topic=str(use.input.get("topic")), tenant=turn.tenant)
    out.kb_ran = counter[0] - before
    back = {"type": "tool_result", "tool_use_id": use.id, "content": result}
    messages = [
        ask,
        {"role": "assistant", "content": [use.model_dump(exclude_none=True)]},
        {"role": "user", "content": [back]},
    ]
    second = client.messages.create(messages=messages, **common)
    out.calls.append(cache_info(second))
    out.answer = "".join(getattr(b, "text", "") for b in second.content)
    return out


def openai_turn(
    client: Any, turn: Turn, kb: Callable[..., str], mode: str, counter: list[int]
) -> TurnResult:
    from agentcache.llm import cache_info

    out = TurnResult()
    base = [{"role": "system", "content": SYSTEM + "\n\n" + tenant_header(turn.tenant)},
            {"role": "user", "content": turn.text}]  # fmt: skip
    common = {"model": OPENAI_MODEL, "max_tokens": MAX_TOKENS, "tools": OPENAI_TOOLS,
              "tenant": turn.tenant, "agent": "support", "cache": mode}  # fmt: skip
    first = client.chat.completions.create(messages=base, **common)
    out.calls.append(cache_info(first))
    message = first.choices[0].message
    if not message.tool_calls:
        out.answer = message.content or ""
        return out
    call = message.tool_calls[0]
    before = counter[0]
    result = kb(topic=str(json.loads(call.function.arguments).get("topic")), tenant=turn.tenant)
    out.kb_ran = counter[0] - before
    messages = [
        *base,
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump(exclude_none=True)]},
        {"role": "tool", "tool_call_id": call.id, "content": result},
    ]
    second = client.chat.completions.create(messages=messages, **common)
    out.calls.append(cache_info(second))
    out.answer = second.choices[0].message.content or ""
    return out


def make_kb(counter: list[int]) -> Callable[[str, str], str]:
    """The knowledge-base tool; ``counter[0]`` counts the times its body ran."""

    def kb_search(topic: str, tenant: str) -> str:
        counter[0] += 1
        return article(tenant, topic)

    return kb_search


PATHS = {"anthropic": MESSAGES, "openai": CHAT}
TURNS = {"anthropic": anthropic_turn, "openai": openai_turn}
