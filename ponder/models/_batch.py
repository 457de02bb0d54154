"""Batched decoding for the embedded model: many sequences in one llama.cpp batch.

llama-cpp-python's high-level API decodes one sequence at a time. On a CPU a decode step is
bound by reading the weights, so decoding several sequences in the same step costs little
more than one: `BatchEngine` keeps a second llama.cpp context of the same model with a
*unified* KV cache holding up to ``n_seq_max`` sequences, and a driver thread that runs
continuous batching:

- every call submits a `SampleRequest` (prompt tokens, output cap, temperature, seed, stop
  strings, deadline) and waits for its `SampleOutcome`;
- at every step the driver admits what is queued (as many sequences as the ids and the KV
  cache allow), then decodes one ``llama_batch`` holding the next token of every sequence
  that is generating and the prompt tokens of those that just arrived;
- a prompt that shares a prefix with a sequence already in the cache (another sample of the
  same prompt, or an earlier call that a refine or tree-search step extends) is not decoded
  again: the prefix's cells are shared with ``llama_memory_seq_cp`` and only the suffix is
  decoded. Samples of one prompt submitted together decode it once;
- each sequence has its own sampler chain and seed, built exactly as llama-cpp-python builds
  it for ``create_completion`` (top-k 40, typical 1, top-p 0.95, min-p 0.05, temperature,
  then a seeded draw; greedy at temperature 0), its own stop strings, output cap and
  deadline, and its usage is counted as a separate call would count it;
- for every generated token the driver also reads, from the logits it computed anyway, the
  token's log-probability under the model (temperature 1, before any truncation), the mean
  log-probability of the ``TOP_K_CONFIDENCE`` most likely tokens (DeepConf's token
  confidence is its negative) and the mean log-probability over the whole vocabulary
  (self-certainty's ingredient): three floats per token, from one pass over the logits.

The driver owns the context: nothing else touches it, so no lock of the engine is held while
decoding. It decodes only in its turn (`ponder.models._decode_lock`), which it keeps across
steps for a quantum while it has work, so that several processes on the same cores decode one
after another instead of all at once.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ponder.errors import ModelError
from ponder.models._decode_lock import decode_turn, decoding, release_turn
from ponder.models.confidence import WINDOW

__all__ = ("BatchEngine", "PendingSample", "SampleFinish", "SampleOutcome", "SampleRequest")

logger = logging.getLogger(__name__)

SampleFinish = Literal["stop", "length", "timeout", "low_confidence"]
"""How a sample ended: an end token or stop string, the output cap, its deadline, or its
confidence falling below its floor (`SampleRequest.min_confidence`)."""

_TOP_K = 40
"""llama-cpp-python's ``create_completion`` defaults, so both paths sample the same way."""
_TOP_P = 0.95
_MIN_P = 0.05
_TYPICAL_P = 1.0
_PIECE_BYTES = 64
"""Room for one token's text; llama.cpp says how much it needs when a piece is longer."""
PREFILL_CHUNK = 128
"""Most prompt tokens of a sample with a deadline decoded in one step: its deadline is
checked between steps, so a long prompt's prefill overshoots it by one such chunk at most."""
TOP_K_CONFIDENCE = 5
"""How many of the most likely tokens a token's confidence averages over."""
CONFIDENCE_WINDOW = WINDOW
"""Tokens whose mean confidence `SampleRequest.min_confidence` bounds (the window of
``lowest_group`` in `ponder.models.confidence`)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class SampleRequest:
    """One sample to draw."""

    prompt: tuple[int, ...]
    """The prompt's tokens (at least one)."""
    max_tokens: int
    """Most tokens to generate (at least one)."""
    temperature: float = 0.0
    """Sampling temperature; 0 is greedy."""
    seed: int = 0
    """Seed of the sample's own random draws."""
    stop: tuple[str, ...] = ()
    """Strings that end the sample; the text is cut before the first one found."""
    deadline: float | None = None
    """`time.monotonic` past which the sample ends with ``timeout``."""
    min_confidence: float | None = None
    """End the sample with ``low_confidence`` once the mean confidence of its last
    `CONFIDENCE_WINDOW` tokens falls below this (DeepConf's online early stop; a token's
    confidence is minus the mean log-probability of the `TOP_K_CONFIDENCE` most likely)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class SampleOutcome:
    """What a sample produced and what it cost."""

    text: str
    """The generated text (cut before a stop string)."""
    prompt_tokens: int
    """The prompt's tokens, charged in full as a separate call would be."""
    completion_tokens: int
    """Tokens generated (an end token is not counted; a token completing a stop string is)."""
    finish_reason: SampleFinish
    """How the sample ended."""
    reused_tokens: int = 0
    """Prompt tokens whose KV cells were shared from the cache instead of decoded."""
    batch_peak: int = 1
    """The most sequences decoded together in one step while this sample was generated."""
    tokens: tuple[int, ...] = ()
    """The generated tokens (as counted in `completion_tokens`)."""
    logprobs: tuple[float, ...] = ()
    """Each generated token's log-probability under the model (temperature 1)."""
    top_logprobs: tuple[float, ...] = ()
    """Each step's mean log-probability of the `TOP_K_CONFIDENCE` most likely tokens."""
    mean_logprobs: tuple[float, ...] = ()
    """Each step's mean log-probability over the whole vocabulary."""


class _Group:
    """The mark of one isolated submission (`BatchEngine.submit` with ``isolated``)."""

    __slots__ = ("admitted",)

    def __init__(self) -> None:
        self.admitted = 0
        """Its requests admitted so far (none: the cache is laid out for it first)."""


@dataclass(eq=False, slots=True)
class _Ticket:
    """A submitted request and, once done, its outcome or error."""

    request: SampleRequest
    on_done: Callable[[], None] | None = None
    group: _Group | None = None
    """Set for the requests of an isolated submission: decoded alone, in a canonical layout
    (`BatchEngine._canonical_start`)."""
    outcome: SampleOutcome | None = None
    error: BaseException | None = None
    cancelled: bool = False
    done: threading.Event = field(default_factory=threading.Event)


@dataclass(eq=False, slots=True)
class _Seq:
    """A request being decoded in the batch context, under its sequence id."""

    ticket: _Ticket
    seq_id: int
    kv: list[int]
    """The tokens whose cells this sequence holds in the KV cache (positions 0..len-1)."""
    pending: list[int]
    """Tokens to decode next (the prompt's rest, then each sampled token)."""
    sampler: Any
    reused: int = 0
    leader: _Seq | None = None
    """A sequence admitted with it whose prompt it will share once that one is decoded."""
    share: int = 0
    """Tokens to share from `leader`."""
    generated: list[int] = field(default_factory=list)
    text: bytearray = field(default_factory=bytearray)
    scanned: int = 0
    multibyte: int = 0
    logit_index: int | None = None
    inflight: int = 0
    peak: int = 1
    canonical: bool = False
    """The first request of an isolated group: its cells are its positions."""
    logprobs: list[float] = field(default_factory=list)
    top_logprobs: list[float] = field(default_factory=list)
    mean_logprobs: list[float] = field(default_factory=list)


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def _timed_out(request: SampleRequest) -> SampleOutcome:
    """The outcome of a request that ended (cancelled or past its deadline) before it ran."""
    return SampleOutcome(
        text="", prompt_tokens=len(request.prompt), completion_tokens=0, finish_reason="timeout"
    )


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class PendingSample:
    """A queued request of `BatchEngine.enqueue`: await `outcome` for its sample."""

    __slots__ = ("_engine", "future", "ticket")

    def __init__(self, engine: BatchEngine, ticket: _Ticket, future: asyncio.Future[None]):
        self._engine, self.ticket, self.future = engine, ticket, future

    async def outcome(self) -> SampleOutcome:
        """Wait for the sample; cancelling the wait ends the sample early.

        Raises:
            ModelError: The batch failed (llama.cpp refused it, or the engine is closed).
        """
        try:
            await asyncio.shield(self.future)
        except asyncio.CancelledError:
            self.cancel()
            raise
        return self._engine._result(self.ticket)

    def cancel(self) -> None:
        """End the sample early (it finishes with ``timeout``), if it is not done."""
        self._engine._cancel(self.ticket)


class BatchEngine:
    """Decodes concurrent sample requests together in one llama.cpp context.

    Args:
        llama: The loaded ``llama_cpp.Llama`` whose model (weights, vocabulary) is shared.
        n_ctx: Cells of the unified KV cache, shared by every sequence in it.
        n_seq_max: Most sequences decoded together (and sequence ids kept in the cache).
        n_threads: CPU threads for decoding.
        n_batch: Most tokens in one decode call.

    Example:
        >>> engine = BatchEngine(llama, n_ctx=8192, n_seq_max=16, n_threads=2)  # doctest: +SKIP
        >>> engine.submit([SampleRequest(prompt=(1, 2, 3), max_tokens=8)])  # doctest: +SKIP
    """

    def __init__(
        self, llama: Any, *, n_ctx: int, n_seq_max: int, n_threads: int, n_batch: int = 512
    ) -> None:
        import llama_cpp

        self._lib: Any = llama_cpp
        self.n_ctx = n_ctx
        self.n_seq_max = max(1, min(n_seq_max, int(llama_cpp.llama_max_parallel_sequences())))
        self.n_batch = max(n_batch, self.n_seq_max)
        # The high-level context's settings (flash attention, cache types, RoPE...), so both
        # paths compute the same logits; only the size and the sequences differ.
        base = llama.context_params
        params = type(base).from_buffer_copy(base)
        params.n_ctx = n_ctx
        params.n_batch = self.n_batch
        params.n_ubatch = self.n_batch
        params.n_seq_max = self.n_seq_max
        params.kv_unified = True  # one cache for all: a shared prefix occupies its cells once
        params.n_threads = n_threads
        params.n_threads_batch = n_threads
        params.no_perf = True
        self._vocab = llama._model.vocab
        self._n_vocab = int(llama_cpp.llama_vocab_n_tokens(self._vocab))
        ctx = llama_cpp.llama_init_from_model(llama._model.model, params)
        if not ctx:
            raise ModelError("llama.cpp could not create the batched context", model="embedded")
        self._ctx = ctx
        self._mem = llama_cpp.llama_get_memory(ctx)
        self._batch = llama_cpp.llama_batch_init(self.n_batch, 0, 1)
        self._piece = ctypes.create_string_buffer(_PIECE_BYTES)
        self._queue: list[_Ticket] = []
        self._active: list[_Seq] = []
        self._cache: dict[int, list[int]] = {}
        """Finished sequences whose cells are kept for prefix reuse: id -> tokens, LRU first."""
        self._canonical: int | None = None
        """The cached sequence at cells 0, 1, ... (an isolated group's first prompt), if any."""
        self._cond = threading.Condition()
        self._closed = False
        self._clear = False
        self.steps = 0
        """Decode calls made (for tests and benchmarks)."""
        self.decoded_tokens = 0
        """Tokens decoded, prompts included (shared prefixes are not decoded again)."""
        self._thread = threading.Thread(target=self._run, name="ponder-batch", daemon=True)
        self._thread.start()

    # -- submitting ------------------------------------------------------------------------

    def submit(
        self, requests: Sequence[SampleRequest], *, isolated: bool = False
    ) -> list[SampleOutcome]:
        """Draw every request's sample, together with whatever else is being decoded.

        With ``isolated``, the requests are decoded together and alone instead: once
        nothing else is decoding, laid out in the KV cache as in an empty one (the first
        prompt's prefix may come from the cache; see `_canonical_start`), with nothing else
        admitted until they are done. Their outcomes then depend only on the requests and
        their order, not on what else the engine was asked for, or when (see
        `ponder.models.embedded`).

        Raises:
            ModelError: The batch failed (llama.cpp refused it, or the engine is closed).
        """
        tickets = self._enqueue(requests, [None] * len(requests), isolated)
        for ticket in tickets:
            ticket.done.wait()
        return [self._result(t) for t in tickets]

    async def asubmit(
        self, requests: Sequence[SampleRequest], *, isolated: bool = False
    ) -> list[SampleOutcome]:
        """Async `submit`: waits without holding a thread; cancelling ends the samples early."""
        pending = self.enqueue(requests, isolated=isolated)
        try:
            await asyncio.gather(*(p.future for p in pending))
        except asyncio.CancelledError:
            for p in pending:
                p.cancel()
            raise
        return [self._result(p.ticket) for p in pending]

    def enqueue(
        self, requests: Sequence[SampleRequest], *, isolated: bool = False
    ) -> list[PendingSample]:
        """Queue the requests (as `asubmit` does) and return one handle per request.

        Each handle is awaited on its own (`PendingSample.outcome`), and cancelling one wait
        ends only that sample; call from a running event loop.
        """
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[None]] = [loop.create_future() for _ in requests]

        def settle(future: asyncio.Future[None]) -> Callable[[], None]:
            def done() -> None:
                try:
                    loop.call_soon_threadsafe(_resolve, future)
                except RuntimeError:  # the caller's loop closed while the sample ran
                    pass

            return done

        tickets = self._enqueue(requests, [settle(f) for f in futures], isolated)
        return [PendingSample(self, t, f) for t, f in zip(tickets, futures, strict=True)]

    def _enqueue(
        self,
        requests: Sequence[SampleRequest],
        on_done: Sequence[Callable[[], None] | None],
        isolated: bool,
    ) -> list[_Ticket]:
        for request in requests:
            need = len(request.prompt) + request.max_tokens
            if not request.prompt or request.max_tokens < 1 or need > self.n_ctx:
                raise ModelError(
                    f"a sample needs a prompt, an output cap of at least 1 and at most "
                    f"{self.n_ctx} tokens in all; got {len(request.prompt)} + "
                    f"{request.max_tokens}",
                    model="embedded",
                )
        group = _Group() if isolated and requests else None
        tickets = [
            _Ticket(request=r, on_done=d, group=group)
            for r, d in zip(requests, on_done, strict=True)
        ]
        with self._cond:
            if self._closed:
                raise ModelError("the batched engine is closed", model="embedded")
            self._queue.extend(tickets)
            self._cond.notify_all()
        return tickets

    def _cancel(self, ticket: _Ticket) -> None:
        ticket.cancelled = True
        with self._cond:
            self._cond.notify_all()

    @staticmethod
    def _result(ticket: _Ticket) -> SampleOutcome:
        if ticket.error is not None:
            if isinstance(ticket.error, ModelError):
                raise ticket.error
            raise ModelError(f"batched decoding failed: {ticket.error}", model="embedded")
        assert ticket.outcome is not None  # noqa: S101 - set before `done`
        return ticket.outcome

    def clear_cache(self) -> None:
        """Forget the cached prompts (before the next request is admitted); for benchmarks."""
        with self._cond:
            self._clear = True
            self._cond.notify_all()

    def close(self) -> None:
        """Stop the driver and free the context (idempotent)."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout=30)
        if self._thread.is_alive():  # a decode is stuck: leave the memory to the OS
            return
        for seq in self._active:
            self._lib.llama_sampler_free(seq.sampler)
        self._active.clear()
        self._lib.llama_batch_free(self._batch)
        self._lib.llama_free(self._ctx)

    # -- the driver ------------------------------------------------------------------------

    def _run(self) -> None:
        with decoding():  # the machine-wide turn is kept across steps while there is work
            self._drive()

    def _drive(self) -> None:
        while True:
            with self._cond:
                while not (self._closed or self._queue or self._active or self._clear):
                    release_turn()  # idle: let other processes decode
                    self._cond.wait()
                clear, self._clear = self._clear, False
                if self._closed:
                    failed = self._queue + [s.ticket for s in self._active]
                    self._queue.clear()
                    for ticket in failed:
                        ticket.error = ModelError("the batched engine closed", model="embedded")
                    self._notify(failed)
                    return
                arrived = self._queue
                self._queue = []
            finished: list[_Ticket] = []
            try:
                if clear:
                    for seq_id in list(self._cache):
                        self._evict(seq_id)
                self._resolve_followers()
                admitted, waiting = self._admissible(arrived, finished)
                left = self._admit(admitted) + waiting
                if left:
                    with self._cond:
                        self._queue[:0] = left
                self._step(finished)
            except Exception as exc:  # llama.cpp failed: fail every sample in flight, go on
                logger.exception("batched decoding failed")
                with self._cond:
                    waiting = list(self._queue)
                victims = [s.ticket for s in self._active]
                victims += [
                    t for t in arrived
                    if t.outcome is None and not any(t is w for w in waiting + victims)
                ]  # fmt: skip
                for ticket in victims:
                    ticket.error = exc
                finished += victims
                for seq in self._active:
                    self._lib.llama_sampler_free(seq.sampler)
                self._active.clear()
                self._cache.clear()
                self._canonical = None
                self._lib.llama_memory_clear(self._mem, True)
            self._notify(finished)

    def _notify(self, tickets: list[_Ticket]) -> None:
        for ticket in tickets:
            ticket.done.set()
            if ticket.on_done is not None:
                ticket.on_done()

    def _reserved(self) -> int:
        # A bound on the cells in use: every active sequence at its worst case (its whole
        # prompt, as if it shared nothing, plus its output cap) and every cached one.
        active = sum(
            len(s.ticket.request.prompt) + s.ticket.request.max_tokens for s in self._active
        )
        return active + sum(len(kv) for kv in self._cache.values())

    def _free_id(self, keep: int | None) -> int | None:
        used = self._ids()
        for seq_id in range(self.n_seq_max):
            if seq_id not in used:
                return seq_id
        for seq_id in self._cache:  # least recently used first
            if seq_id != keep:
                self._evict(seq_id)
                return seq_id
        return None

    def _evict(self, seq_id: int) -> None:
        del self._cache[seq_id]
        self._lib.llama_memory_seq_rm(self._mem, seq_id, -1, -1)
        if seq_id == self._canonical:
            self._canonical = None

    def _admissible(
        self, arrived: list[_Ticket], finished: list[_Ticket]
    ) -> tuple[list[_Ticket], list[_Ticket]]:
        """Split ``arrived`` into what may be admitted now and what waits, in order.

        An isolated group is decoded alone: while one is active only its requests are
        admitted; one at the head of the queue waits until nothing is active, then the
        cache is emptied and its requests start. Other requests are admitted up to the
        first isolated one (which is not overtaken). A request cancelled or past its
        deadline while it waits ends at once.
        """
        now = time.monotonic()
        live: list[_Ticket] = []
        for ticket in arrived:
            deadline = ticket.request.deadline
            if ticket.cancelled or (deadline is not None and now > deadline):
                ticket.outcome = _timed_out(ticket.request)
                finished.append(ticket)
            else:
                live.append(ticket)
        running = next((s.ticket.group for s in self._active if s.ticket.group), None)
        head = live[0].group if live else None
        if running is None and head is not None and self._active:
            return [], live  # the group waits for the requests being decoded to end
        if running is None and head is not None:
            if head.admitted == 0:
                self._canonical_start(live[0].request.prompt)
            running = head
        if running is not None:
            return (
                [t for t in live if t.group is running],
                [t for t in live if t.group is not running],
            )
        cut = next((i for i, t in enumerate(live) if t.group is not None), len(live))
        return live[:cut], live[cut:]

    def _canonical_start(self, prompt: Sequence[int]) -> None:
        """Empty the cache for an isolated group whose first request has ``prompt``.

        What llama.cpp computes for a token depends on the cells its sequence occupies, not
        on how its prompt was split into decode calls nor on the other rows of a batch. An
        isolated group lays its requests out as it would in an empty cache: the first one's
        prompt at cells 0, 1, ... (its position), each next one after it. The canonical
        cache entry (the first request of the group before, at those cells) is the one
        thing kept, cut to the prefix it shares with ``prompt``: the first request reuses
        it, and every cell after lands where it would have in an empty cache.
        """
        keep = self._canonical
        shared = 0
        if keep is not None:
            shared = min(_common_prefix(self._cache[keep], prompt), len(prompt) - 1)
        for seq_id in list(self._cache):
            if seq_id != keep or shared == 0:
                self._evict(seq_id)
        if shared == 0:
            self._lib.llama_memory_clear(self._mem, True)
            return
        assert keep is not None  # noqa: S101 - shared > 0
        self._lib.llama_memory_seq_rm(self._mem, keep, shared, -1)
        del self._cache[keep][shared:]

    def _admit(self, arrived: list[_Ticket]) -> list[_Ticket]:
        """Start what fits of ``arrived``; return the rest, in order, to wait.

        ``arrived`` holds live requests only: `_admissible` ended the cancelled and expired.
        """
        leaders: list[_Seq] = []
        for position, ticket in enumerate(arrived):
            request = ticket.request
            if len(self._active) >= self.n_seq_max:
                return arrived[position:]
            prompt = request.prompt
            limit = len(prompt) - 1  # the last prompt token is always decoded: its logits
            first = ticket.group is not None and ticket.group.admitted == 0
            if ticket.group is None or first:
                source, shared = self._best_source(prompt)
            else:  # in a group: follow an earlier request of it, as in an empty cache
                source, shared = None, 0
            leader, lead_shared = None, 0
            for candidate in leaders:
                common = _common_prefix(candidate.ticket.request.prompt, prompt)
                if common > lead_shared:
                    leader, lead_shared = candidate, common
            shared, lead_shared = min(shared, limit), min(lead_shared, limit)
            cached_source = source if source in self._cache else None
            fits, cached_source = self._make_room(len(prompt) + request.max_tokens, cached_source)
            if not fits:
                return arrived[position:]
            if source is not None and cached_source is None and source not in self._ids():
                source, shared = None, 0  # the cached source was evicted to make room
            seq = self._start(ticket, source, shared, cached_source, leader, lead_shared)
            if seq is None:
                return arrived[position:]
            seq.canonical = first
            if ticket.group is not None:
                ticket.group.admitted += 1
            self._active.append(seq)
            if seq.leader is None:
                leaders.append(seq)
        return []

    def _ids(self) -> set[int]:
        return {s.seq_id for s in self._active} | set(self._cache)

    def _make_room(self, need: int, keep: int | None) -> tuple[bool, int | None]:
        """Evict cached sequences until ``need`` more cells fit, ``keep`` last.

        Returns whether they fit, and ``keep`` if it is still cached.
        """
        for seq_id in list(self._cache):  # least recently used first
            if self._reserved() + need <= self.n_ctx:
                break
            if seq_id != keep:
                self._evict(seq_id)
        if self._reserved() + need > self.n_ctx and keep is not None:
            self._evict(keep)
            keep = None
        return self._reserved() + need <= self.n_ctx, keep

    def _best_source(self, prompt: Sequence[int]) -> tuple[int | None, int]:
        best: int | None = None
        shared = 0
        candidates = [(s.seq_id, s.kv) for s in self._active if s.leader is None]
        candidates += list(self._cache.items())
        for seq_id, kv in candidates:
            common = _common_prefix(kv, prompt)
            if common > shared:
                best, shared = seq_id, common
        return best, shared

    def _start(
        self,
        ticket: _Ticket,
        source: int | None,
        shared: int,
        cached_source: int | None,
        leader: _Seq | None,
        lead_shared: int,
    ) -> _Seq | None:
        request = ticket.request
        prompt = list(request.prompt)
        sampler = self._sampler(request)
        if leader is not None and lead_shared > shared:
            seq_id = self._free_id(None)
            if seq_id is None:
                self._lib.llama_sampler_free(sampler)
                return None
            return _Seq(ticket=ticket, seq_id=seq_id, kv=[], pending=[], sampler=sampler,
                        leader=leader, share=lead_shared)  # fmt: skip
        if cached_source is not None and shared > 0:
            # Take the cached sequence over: keep its shared prefix, drop the rest.
            kv = self._cache.pop(cached_source)[:shared]
            self._lib.llama_memory_seq_rm(self._mem, cached_source, shared, -1)
            if cached_source == self._canonical:
                self._canonical = None
            return _Seq(ticket=ticket, seq_id=cached_source, kv=kv, pending=prompt[shared:],
                        sampler=sampler, reused=shared)  # fmt: skip
        seq_id = self._free_id(source)
        if seq_id is None:
            self._lib.llama_sampler_free(sampler)
            return None
        if source is not None and shared > 0:
            if source in self._cache:  # recently used: evicted last
                self._cache[source] = self._cache.pop(source)
            self._lib.llama_memory_seq_cp(self._mem, source, seq_id, 0, shared)
            return _Seq(ticket=ticket, seq_id=seq_id, kv=prompt[:shared],
                        pending=prompt[shared:], sampler=sampler, reused=shared)  # fmt: skip
        return _Seq(ticket=ticket, seq_id=seq_id, kv=[], pending=prompt, sampler=sampler)

    def _resolve_followers(self) -> None:
        """Share a leader's prompt with the sequences waiting for it, once it is decoded."""
        for seq in self._active:
            leader = seq.leader
            if leader is None:
                continue
            if leader in self._active and len(leader.kv) < seq.share:
                continue  # still decoding the shared part
            share = seq.share
            if leader not in self._active:  # it ended early: share what it left, if anything
                kept = self._cache.get(leader.seq_id)
                share = min(share, len(kept)) if kept is leader.kv else 0
            prompt = list(seq.ticket.request.prompt)
            if share > 0:
                self._lib.llama_memory_seq_cp(self._mem, leader.seq_id, seq.seq_id, 0, share)
            seq.kv, seq.pending, seq.reused = prompt[:share], prompt[share:], share
            seq.leader = None

    def _sampler(self, request: SampleRequest) -> Any:
        lib = self._lib
        chain = lib.llama_sampler_chain_init(lib.llama_sampler_chain_default_params())
        # llama-cpp-python also adds a penalties sampler; with its defaults (repeat 1.0,
        # frequency and presence 0) llama.cpp skips it, so it is left out here.
        if request.temperature <= 0.0:
            lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_greedy())
            return chain
        for stage in (
            lib.llama_sampler_init_top_k(_TOP_K),
            lib.llama_sampler_init_typical(_TYPICAL_P, 1),
            lib.llama_sampler_init_top_p(_TOP_P, 1),
            lib.llama_sampler_init_min_p(_MIN_P, 1),
            lib.llama_sampler_init_temp(request.temperature),
            lib.llama_sampler_init_dist(request.seed & 0xFFFFFFFF),
        ):
            lib.llama_sampler_chain_add(chain, stage)
        return chain

    @staticmethod
    def _chunk(seq: _Seq, room: int) -> list[int]:
        """The tokens of ``seq`` to decode in this step, at most ``room``.

        A sample with a deadline prefills at most `PREFILL_CHUNK` prompt tokens per step, so
        its deadline is checked between the chunks of a long prompt.
        """
        if seq.ticket.request.deadline is not None:
            room = min(room, PREFILL_CHUNK)
        if seq.canonical and not seq.generated and len(seq.pending) > 1:
            # The first prompt of an isolated group ends with its last token decoded alone:
            # its logits depend on how many rows came with it (measured: for prompts of 161,
            # 180 and 200 tokens, not 160, 176, 181, 192 or 193), while the cells before do
            # not depend on how the prompt was split. So they are the same fresh or cached.
            room = min(room, len(seq.pending) - 1)
        return seq.pending[:room]

    def _ready(self) -> list[_Seq]:
        """The sequences with tokens to decode in this step, in batch order."""
        ready = [s for s in self._active if s.leader is None and s.pending]
        if not any(s.ticket.group is not None for s in self._active):
            ready.sort(key=lambda s: len(s.pending))  # the generating ones first: one token each
            return ready
        # An isolated group (alone in the batch, in its order): the first prompt alone, then
        # the other prompts, then every request's next token together. Only the first
        # prompt's decoding differs with what the cache held (`_canonical_start`); after it,
        # every cell is laid out as in an empty cache.
        prefilling = [s for s in ready if not s.generated]
        if prefilling:
            return prefilling[:1] if prefilling[0].canonical else prefilling
        return [] if any(not s.generated for s in self._active) else ready

    def _step(self, finished: list[_Ticket]) -> None:
        """Decode one batch and sample the next token of every sequence that completed."""
        lib = self._lib
        now = time.monotonic()
        for seq in list(self._active):  # a deadline passed while waiting or prefilling
            request = seq.ticket.request
            expired = request.deadline is not None and now > request.deadline
            if (seq.ticket.cancelled or expired) and (seq.leader is not None or seq.pending):
                if seq.leader is None and len(seq.pending) == 1 and seq.generated:
                    continue  # generating: its deadline is checked after sampling
                self._finish(seq, "timeout", finished)
        batch = self._batch
        count = 0
        ready = self._ready()
        for seq in ready:
            room = self.n_batch - count
            if room <= 0:
                seq.inflight, seq.logit_index = 0, None
                continue
            chunk = self._chunk(seq, room)
            start = len(seq.kv)
            for offset, token in enumerate(chunk):
                batch.token[count] = token
                batch.pos[count] = start + offset
                batch.n_seq_id[count] = 1
                batch.seq_id[count][0] = seq.seq_id
                batch.logits[count] = 0
                count += 1
            seq.inflight = len(chunk)
            seq.logit_index = None
            if len(chunk) == len(seq.pending):
                batch.logits[count - 1] = 1
                seq.logit_index = count - 1
        if count == 0:
            return
        batch.n_tokens = count
        with decode_turn():  # other processes on these cores wait, asleep
            status = lib.llama_decode(self._ctx, batch)
        if status != 0:
            raise ModelError(f"llama_decode failed with status {status}", model="embedded")
        self.steps += 1
        self.decoded_tokens += count
        sampling = [s for s in ready if s.logit_index is not None]
        for seq in ready:
            seq.kv.extend(seq.pending[: seq.inflight])
            del seq.pending[: seq.inflight]
            seq.peak = max(seq.peak, len(ready))
        now = time.monotonic()
        for seq in sampling:
            token = int(lib.llama_sampler_sample(seq.sampler, self._ctx, seq.logit_index))
            self._record(seq, token)
            self._advance(seq, token, now, finished)

    def _record(self, seq: _Seq, token: int) -> None:
        """Note the sampled token's log-probability and its step's confidence figures."""
        import numpy as np

        pointer = self._lib.llama_get_logits_ith(self._ctx, seq.logit_index)
        logits = np.ctypeslib.as_array(pointer, shape=(self._n_vocab,))
        top = float(logits.max())
        total = top + float(np.log(np.exp(logits - top).sum()))
        best = np.partition(logits, self._n_vocab - TOP_K_CONFIDENCE)[-TOP_K_CONFIDENCE:]
        seq.logprobs.append(float(logits[token]) - total)
        seq.top_logprobs.append(float(best.mean()) - total)
        seq.mean_logprobs.append(float(logits.mean()) - total)

    def _advance(self, seq: _Seq, token: int, now: float, finished: list[_Ticket]) -> None:
        """Take a sampled token, in the order llama-cpp-python's completion loop checks."""
        request = seq.ticket.request
        if seq.ticket.cancelled or (request.deadline is not None and now > request.deadline):
            self._finish(seq, "timeout", finished)
            return
        if self._lib.llama_vocab_is_eog(self._vocab, token):
            self._finish(seq, "stop", finished)
            return
        seq.generated.append(token)
        seq.text += self._token_bytes(token)
        # llama-cpp-python skips the stop check while a multi-byte character is incomplete.
        for k, char in enumerate(seq.text[-3:]):
            k = 3 - k
            for num, pattern in ((2, 192), (3, 224), (4, 240)):
                if num > k and pattern & char == pattern:
                    seq.multibyte = num - k
        if seq.multibyte > 0:
            seq.multibyte -= 1
        else:
            cut = self._stop_at(seq, request.stop)
            if cut is not None:
                del seq.text[cut:]
                self._finish(seq, "stop", finished)
                return
        if len(seq.generated) >= request.max_tokens:
            self._finish(seq, "length", finished)
            return
        if request.min_confidence is not None and len(seq.top_logprobs) >= CONFIDENCE_WINDOW:
            group = -sum(seq.top_logprobs[-CONFIDENCE_WINDOW:]) / CONFIDENCE_WINDOW
            if group < request.min_confidence:
                self._finish(seq, "low_confidence", finished)
                return
        seq.pending = [token]

    def _stop_at(self, seq: _Seq, stops: tuple[str, ...]) -> int | None:
        text = bytes(seq.text)
        found = None
        for stop in stops:  # the first stop string in list order wins, as in llama-cpp-python
            encoded = stop.encode("utf-8")
            if not encoded:
                continue
            at = text.find(encoded, max(0, seq.scanned - len(encoded) + 1))
            if at >= 0:
                found = at
                break
        seq.scanned = len(text)
        return found

    def _token_bytes(self, token: int) -> bytes:
        lib = self._lib
        size = lib.llama_token_to_piece(self._vocab, token, self._piece, _PIECE_BYTES, 0, False)
        if size < 0:  # the piece is longer than the buffer: llama.cpp says how long
            buffer = ctypes.create_string_buffer(-size)
            size = lib.llama_token_to_piece(self._vocab, token, buffer, -size, 0, False)
            return bytes(buffer.raw[:size])
        return bytes(self._piece.raw[:size])

    def _finish(self, seq: _Seq, reason: SampleFinish, finished: list[_Ticket]) -> None:
        request = seq.ticket.request
        seq.ticket.outcome = SampleOutcome(
            text=bytes(seq.text).decode("utf-8", errors="ignore"),
            prompt_tokens=len(request.prompt),
            completion_tokens=len(seq.generated),
            finish_reason=reason,
            reused_tokens=seq.reused,
            batch_peak=seq.peak,
            tokens=tuple(seq.generated),
            logprobs=tuple(seq.logprobs[: len(seq.generated)]),
            top_logprobs=tuple(seq.top_logprobs[: len(seq.generated)]),
            mean_logprobs=tuple(seq.mean_logprobs[: len(seq.generated)]),
        )
        finished.append(seq.ticket)
        self._lib.llama_sampler_free(seq.sampler)
        self._active.remove(seq)
        self._keep(seq)

    def _keep(self, seq: _Seq) -> None:
        """Cache a finished sequence's prompt for later prompts that extend it.

        Only the prompt's cells are kept: the generated tokens of samples decoded together
        are spread over the cache, and every kept cell widens the attention window of every
        later step (measured: one sequence decoded at 120 tokens/s with a clean cache, 76
        with 16 finished samples kept whole). A prompt that another cached one already
        starts with is not kept twice.
        """
        prompt = len(seq.ticket.request.prompt)
        kv = seq.kv[:prompt] if seq.leader is None else []
        if kv and len(seq.kv) > len(kv):
            self._lib.llama_memory_seq_rm(self._mem, seq.seq_id, len(kv), -1)
        for seq_id, cached in list(self._cache.items()):
            if not kv or seq.canonical:
                break  # the canonical entry is kept whatever else is cached
            if cached[: len(kv)] == kv:
                kv = []  # already cached as (part of) a longer prompt
            elif kv[: len(cached)] == cached and seq_id != self._canonical:
                self._evict(seq_id)  # this one covers it
        if kv:
            seq.kv = kv
            self._cache[seq.seq_id] = kv
            if seq.canonical:
                if self._canonical is not None:  # always cached (see `_evict`)
                    self._evict(self._canonical)
                self._canonical = seq.seq_id
        else:
            self._lib.llama_memory_seq_rm(self._mem, seq.seq_id, -1, -1)
