"""Input checks of the semantic cache: every argument is checked before any I/O.

Bad input raises ``InvalidInputError`` (or ``SerializationError``) naming what
was wrong; a vectorizer returning an unusable vector is a ``ConfigurationError``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from agentcache._limits import MAX_METADATA_BYTES, check_text, check_ttl
from agentcache._redis import keys as _keys
from agentcache.exceptions import ConfigurationError, InvalidInputError, SerializationError
from agentcache.semantic._types import Scope
from agentcache.settings import AgentCacheSettings
from agentcache.vectorizers import Vector, as_vector


def bad_embedding(model: str, exc: BaseException) -> ConfigurationError:
    """The error for a vectorizer that returned an unusable vector (wrong dims, NaN...)."""
    return ConfigurationError(
        f"vectorizer {model!r} returned an unusable embedding: {exc} "
        "(a bug in the vectorizer or its dims setting, AGENTCACHE_EMBEDDINGS__DIMS)"
    )


class InputChecks:
    """Validation and vector conversion (a part of ``SemanticCore``)."""

    settings: AgentCacheSettings
    dtype: type[np.float16] | type[np.float32]

    def scope(self, tenant: object, agent: object, model: object) -> Scope:
        """The checked scope; the I/O shell binds it to the metrics for one call only."""
        tenant_id = _keys.validate_id(tenant, "tenant")
        agent_id = _keys.validate_id(agent, "agent")
        if model is not None:
            model = _keys.validate_id(model, "model")
        return Scope(tenant_id, agent_id, model)

    def validate_prompt(self, prompt: object, what: str = "prompt") -> str:
        if not isinstance(prompt, str):
            raise InvalidInputError(f"{what} must be a string, got {type(prompt).__name__}")
        if not prompt.strip():
            raise InvalidInputError(f"{what} is empty or whitespace")
        limit = self.settings.semantic.max_prompt_chars
        if len(prompt) > limit:
            raise InvalidInputError(
                f"{what} is {len(prompt)} characters; the limit is {limit} "
                "(AGENTCACHE_SEMANTIC__MAX_PROMPT_CHARS)"
            )
        return check_text(prompt, what)

    def validate_response(self, response: object) -> str:
        if not isinstance(response, str):
            raise InvalidInputError(
                f"response must be a string, got {type(response).__name__} "
                "(serialise structured responses to JSON first)"
            )
        size = len(check_text(response, "response").encode("utf-8"))
        if size > self.settings.semantic.max_response_bytes:
            raise InvalidInputError(
                f"response is {size} bytes; the limit is "
                f"{self.settings.semantic.max_response_bytes} "
                "(AGENTCACHE_SEMANTIC__MAX_RESPONSE_BYTES)"
            )
        return response

    def encode_metadata(self, metadata: Mapping[str, Any] | None) -> str:
        if metadata is None:
            return "{}"
        if not isinstance(metadata, Mapping):
            raise InvalidInputError(f"metadata must be a mapping, got {type(metadata).__name__}")
        try:
            encoded = json.dumps(dict(metadata), sort_keys=True, allow_nan=False)
        except (TypeError, ValueError, RecursionError) as exc:
            raise SerializationError(f"metadata is not JSON-serialisable: {exc}") from None
        # ensure_ascii (the default) made it ASCII: its length is its size in bytes.
        if len(encoded) > MAX_METADATA_BYTES:
            raise InvalidInputError(
                f"metadata is {len(encoded)} bytes as JSON; the limit is {MAX_METADATA_BYTES} "
                "(keep bulk in the response)"
            )
        return encoded

    def validate_tags(self, tags: Sequence[str] | None) -> list[str]:
        if tags is None:
            return []
        if isinstance(tags, str):
            raise InvalidInputError("tags must be a list of strings, not one string")
        return [_keys.validate_id(tag, "tag") for tag in tags]

    def validate_threshold(self, threshold: float | None) -> float:
        if threshold is None:
            return self.settings.semantic.threshold
        if (
            isinstance(threshold, bool)  # True would pass as 1.0
            or not isinstance(threshold, int | float)
            or not 0.0 <= float(threshold) <= 1.0
        ):
            raise InvalidInputError(
                f"threshold is a minimum cosine similarity in [0, 1], got {threshold!r}"
            )
        return float(threshold)

    def validate_max_age(self, max_age: float | None) -> float | None:
        """Seconds an entry may have been stored for to be served; None: any age."""
        if max_age is None:
            return None
        if (
            isinstance(max_age, bool)  # True would pass as 1 second
            or not isinstance(max_age, int | float)
            or not math.isfinite(max_age)
            or max_age <= 0
        ):
            raise InvalidInputError(
                f"max_age is a number of seconds, finite and > 0, got {max_age!r}"
            )
        return float(max_age)

    def validate_ttl(self, ttl: int | None) -> int:
        """Whole seconds in [1, ``MAX_TTL_SECONDS``]; None: the settings' (0: no expiry)."""
        if ttl is None:
            return self.settings.semantic.ttl_seconds or 0
        return int(check_ttl(ttl, "ttl", whole=True))

    def validate_similarity(self, similarity: object) -> float | None:
        """A feedback similarity: None (the last hit's) or a cosine similarity in [-1, 1]."""
        if similarity is None:
            return None
        if (
            isinstance(similarity, bool)
            or not isinstance(similarity, int | float)
            or not -1.0 <= float(similarity) <= 1.0
        ):
            raise InvalidInputError(
                f"similarity is a cosine similarity in [-1, 1], got {similarity!r}"
            )
        return float(similarity)

    def validate_entry_id(self, entry_id: object) -> str:
        """An entry id as ``store`` returned it (checked before it becomes a key)."""
        return _keys.validate_id(entry_id, "entry_id")

    def vectorizer_output(self, value: Any, model: str) -> Vector:
        """A vector the vectorizer returned; a bad one is a setup bug, not a cache fault."""
        try:
            return self.vector(value)
        except InvalidInputError as exc:
            raise bad_embedding(model, exc) from None

    def vector(self, value: Any) -> Vector:
        return as_vector(value, self.settings.embeddings.dims, what="embedding")

    def vector_bytes(self, vector: Vector) -> bytes:
        return np.asarray(vector, dtype=self.dtype).tobytes()
