"""Reading LangChain's (prompt, llm_string) into a semantic key and an exact scope (no server)."""

from __future__ import annotations

from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.load import dumps
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
)
from langchain_core.outputs import ChatGeneration, ChatResult

from agentcache.integrations._lc_scope import read_request


class SerialModel(BaseChatModel):
    """Serializable like ChatOpenAI: its llm_string is the JSON of its parameters."""

    model_name: str = "gpt-x"
    temperature: float = 0.0
    streaming: bool = False
    api_key: str = "sk-secret"

    @classmethod
    def is_lc_serializable(cls) -> bool:
        return True

    @property
    def lc_secrets(self) -> dict[str, str]:
        return {"api_key": "FAKE_API_KEY"}

    @property
    def _llm_type(self) -> str:
        return "serial"

    def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:  # fmt: skip
        return ChatResult(generations=[ChatGeneration(message=AIMessage("x"))])


def prompt(*messages: BaseMessage) -> str:
    return dumps(list(messages))  # what a chat model hands its cache


def llm(**fields: Any) -> str:
    kwargs = fields.pop("call", {})
    return SerialModel(**fields)._get_llm_string(stop=None, **kwargs)


BASE = prompt(SystemMessage("sys"), HumanMessage("How do I reset my password?"))


def test_key_is_the_last_user_turn_and_model_is_named() -> None:
    req = read_request(
        prompt(SystemMessage("sys"), HumanMessage("first"), AIMessage("a"), HumanMessage("last")),
        llm(),
    )
    assert req.key_text == "last" and not req.reason
    assert req.model == "gpt-x" and req.scope.startswith("langchain:gpt-x:")


def test_scope_covers_system_model_parameters_and_tools() -> None:
    base = read_request(BASE, llm()).scope
    other_system = prompt(SystemMessage("other"), HumanMessage("How do I reset my password?"))
    assert read_request(other_system, llm()).scope != base
    assert read_request(BASE, llm(model_name="gpt-y")).scope != base
    assert read_request(BASE, llm(temperature=0.5)).scope != base
    assert read_request(BASE, llm(call={"tools": [{"name": "t"}]})).scope != base
    # The user's question is the semantic key, not part of the scope.
    other_question = prompt(SystemMessage("sys"), HumanMessage("Where is my order?"))
    assert read_request(other_question, llm()).scope == base


def test_transport_fields_and_secrets_stay_out() -> None:
    base = read_request(BASE, llm()).scope
    assert "sk-secret" not in llm()
    assert read_request(BASE, llm(streaming=True)).scope == base
    assert read_request(BASE, llm(api_key="sk-other")).scope == base


def test_earlier_turns_without_ids_metadata_or_chunk_type() -> None:
    def with_earlier(ai: BaseMessage) -> str:
        return prompt(SystemMessage("s"), HumanMessage("hi"), ai, HumanMessage("q"))

    plain = read_request(with_earlier(AIMessage("hello")), llm()).scope
    noisy = AIMessage(
        "hello",
        id="run-1",
        response_metadata={"id": "chatcmpl-1", "system_fingerprint": "fp"},
        usage_metadata={"input_tokens": 1, "output_tokens": 1, "total_tokens": 2},
    )
    assert read_request(with_earlier(noisy), llm()).scope == plain
    assert read_request(with_earlier(AIMessageChunk(content="hello")), llm()).scope == plain
    blocks = AIMessage(content=[{"type": "text", "text": "hello"}])
    assert read_request(with_earlier(blocks), llm()).scope == plain
    assert read_request(with_earlier(AIMessage("goodbye")), llm()).scope != plain


def test_temperature_is_read_from_fields_and_call() -> None:
    assert read_request(BASE, llm(temperature=0.3)).temperature == 0.3
    assert read_request(BASE, llm(call={"temperature": 1.5})).temperature == 1.5
    fake = "[('_type', 'fake'), ('stop', None), ('temperature', 1.2)]"
    assert read_request(BASE, fake).temperature == 1.2


def test_uncacheable_prompts_say_why() -> None:
    image = HumanMessage(
        content=[{"type": "text", "text": "what is this"},
                 {"type": "image_url", "image_url": {"url": "data:x"}}]
    )  # fmt: skip
    assert read_request(prompt(image), llm()).key_text is None
    assert read_request(prompt(image), llm()).reason
    assert read_request(prompt(SystemMessage("only a system prompt")), llm()).reason
    assert read_request(prompt(HumanMessage("  ")), llm()).reason


def test_a_plain_llm_prompt_is_its_own_key() -> None:
    req = read_request("Translate: hello", "[('_type', 'fake-llm'), ('stop', None)]")
    assert req.key_text == "Translate: hello" and not req.reason and req.model == "-"
    assert read_request("[1, 2]", "x").key_text == "[1, 2]"  # JSON, but not messages
