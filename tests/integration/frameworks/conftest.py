"""Shared set-up of the agent-framework tests: the local provider and the vectorizers."""

from __future__ import annotations

import itertools
import warnings
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import openai
import pytest

from agentcache.testing.provider import ProviderServer
from agentcache.vectorizers import LocalVectorizer


class ToolAwareServer(ProviderServer):
    """The local server, answering in text once the last message is a tool result."""

    def openai_completion(self, body: Mapping[str, Any]) -> dict[str, Any]:
        messages = body.get("messages") or []
        if messages and messages[-1].get("role") == "tool":
            body = {k: v for k, v in body.items() if k != "tool_choice"}
        return super().openai_completion(body)


@pytest.fixture(autouse=True)
def _quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


@pytest.fixture
def server() -> Iterator[ProviderServer]:
    """Numbered answers, so a served answer shows which provider call made it."""
    counter = itertools.count(1)

    def responder(path: str, body: Mapping[str, Any]) -> str:
        last = body["messages"][-1].get("content")
        text = last if isinstance(last, str) else str(last)
        return f"answer #{next(counter)} from {body['model']} to {text}"

    with ToolAwareServer(responder=responder) as srv:
        yield srv


@pytest.fixture
async def client(server: ProviderServer) -> AsyncIterator[openai.AsyncOpenAI]:
    sdk = openai.AsyncOpenAI(base_url=server.openai_base_url, api_key="k", max_retries=0)
    yield sdk
    await sdk.close()


@pytest.fixture(scope="module")
def minilm() -> LocalVectorizer:
    return LocalVectorizer()  # loads once per module (~10 s)
