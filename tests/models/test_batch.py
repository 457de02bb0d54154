"""Batched sampling on the embedded model: equivalence with one-at-a-time sampling, usage,
stop strings and deadlines per sequence, prefix reuse, and the budget of concurrent calls."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

import ponder
from ponder.budget import Budget, Usage
from ponder.context import RunContext
from ponder.errors import ConfigurationError, ModelError
from ponder.models import EmbeddedChatModel
from ponder.models._batch import CONFIDENCE_WINDOW, PREFILL_CHUNK, SampleRequest, _common_prefix
from ponder.nodes.attempt import draw_candidates
from ponder.nodes.metered import Meter
from ponder.prompts import FEW_SHOT

_PROMPTS = [
    "What is 2 + 2?",
    "Name three colors.",
    "What is the capital of France?",
    "Count from 1 to 10.",
    "Write a haiku about rain.",
]


@pytest.fixture(scope="module")
def batched() -> EmbeddedChatModel:
    # A batch context of its own (another cache size): the prompts cached here do not
    # change what other test modules' calls reuse.
    return EmbeddedChatModel.from_name("smollm2", batch_ctx=6144)


@pytest.fixture(scope="module")
def sequential() -> EmbeddedChatModel:
    return EmbeddedChatModel.from_name("smollm2", batched=False)


def _first_word(text: str) -> str:
    words = text.strip().split()
    return words[0].strip(".,!:;").lower() if words else ""


def _distance(a: Sequence[str], b: Sequence[str]) -> float:
    """Total variation distance between the category frequencies of two samples."""
    ca, cb = Counter(a), Counter(b)
    return sum(abs(ca[k] / len(a) - cb[k] / len(b)) for k in set(ca) | set(cb)) / 2


def _permutation_p(a: Sequence[str], b: Sequence[str], rounds: int = 2000) -> float:
    """p-value of 'a and b come from one distribution' (two-sample permutation test)."""
    observed = _distance(a, b)
    pooled = list(a) + list(b)
    rng = random.Random(0)
    hits = 0
    for _ in range(rounds):
        rng.shuffle(pooled)
        if _distance(pooled[: len(a)], pooled[len(a) :]) >= observed - 1e-12:
            hits += 1
    return (hits + 1) / (rounds + 1)


def test_common_prefix() -> None:
    assert _common_prefix([1, 2, 3], [1, 2, 4, 5]) == 2
    assert _common_prefix([], [1]) == 0
    assert _common_prefix([7, 8], [7, 8]) == 2


def test_the_permutation_test_tells_distributions_apart() -> None:
    same = _permutation_p(["a"] * 30 + ["b"] * 18, ["a"] * 28 + ["b"] * 20)
    different = _permutation_p(["a"] * 40 + ["b"] * 8, ["a"] * 12 + ["b"] * 36)
    assert same > 0.3 and different < 0.001


# -- on the real model ---------------------------------------------------------------------


@pytest.mark.embedded
async def test_batched_greedy_decoding_matches_sequential_up_to_near_ties(
    batched: EmbeddedChatModel, sequential: EmbeddedChatModel
) -> None:
    """Greedy text is the same both ways, except where two tokens nearly tie.

    llama.cpp's arithmetic depends a little on how many rows a step decodes and where a
    sequence's cells sit in the cache (measured: logits move by up to about 1.0), so at a
    near tie greedy decoding can break the other way. The batched tokens are replayed through
    the high-level API, which is what a sequential greedy call computes: every token must be
    its argmax or within `margin` logits of it, nearly all must be the argmax, and most
    prompts must come out identical (all their tokens the argmax).
    """
    import llama_cpp
    import numpy as np

    margin = 1.5
    requests = [
        batched._request([HumanMessage(p)], None, {"max_tokens": 24, "temperature": 0.0})
        for p in _PROMPTS
    ]
    outcomes = await batched._batcher().asubmit(requests)
    assert max(o.batch_peak for o in outcomes) > 1  # really decoded together
    engine = sequential._engine()
    llama = engine.llama
    steps = exact = identical = 0
    with engine.lock:
        for request, outcome in zip(requests, outcomes, strict=True):
            llama.reset()
            llama.eval(list(request.prompt))
            agree = True
            for token in outcome.tokens:
                row = llama_cpp.llama_get_logits_ith(llama._ctx.ctx, -1)
                logits = np.ctypeslib.as_array(row, shape=(llama.n_vocab(),))
                best = int(logits.argmax())
                steps += 1
                exact += best == token
                agree = agree and best == token
                assert logits[best] - logits[token] <= margin, (request.prompt, token, best)
                llama.eval([token])
            identical += agree
    assert exact >= 0.9 * steps, (exact, steps)
    assert identical >= len(_PROMPTS) // 2 + 1, identical


@pytest.mark.embedded
def test_greedy_samples_of_one_prompt_are_all_the_sequential_text(
    batched: EmbeddedChatModel, sequential: EmbeddedChatModel
) -> None:
    messages = [HumanMessage("Count from 1 to 10.")]
    alone = sequential.invoke(messages, max_tokens=32, temperature=0.0).text
    samples = batched.generate_n(messages, 4, max_tokens=32, temperature=0.0)
    assert [s.text for s in samples] == [alone] * 4


@pytest.mark.embedded
async def test_sampled_answers_have_the_same_distribution_both_ways(
    batched: EmbeddedChatModel, sequential: EmbeddedChatModel
) -> None:
    messages = [HumanMessage("Name one animal. Answer with one word.")]
    n = 40
    options: dict[str, Any] = {"max_tokens": 2, "temperature": 1.0}
    together = await batched.agenerate_n(messages, n, seeds=list(range(n)), **options)
    alone = [sequential.invoke(messages, seed=1000 + i, **options).text for i in range(n)]
    a = [_first_word(m.text) for m in together]
    b = [_first_word(t) for t in alone]
    assert len(set(a)) > 2  # a real distribution, not a greedy answer
    p = _permutation_p(a, b)
    assert p > 0.01, (Counter(a), Counter(b), p)
    # The same test does see a different distribution (a colder temperature).
    cold = await batched.agenerate_n(
        messages, n, seeds=list(range(n)), max_tokens=2, temperature=0.1
    )
    assert _permutation_p(a, [_first_word(m.text) for m in cold]) < 0.01


@pytest.mark.embedded
def test_each_sample_is_charged_as_a_separate_call(
    batched: EmbeddedChatModel, sequential: EmbeddedChatModel
) -> None:
    messages = [HumanMessage("What is 3 + 4? Explain briefly.")]
    prompt = batched.count_prompt_tokens(messages)
    samples = batched.generate_n(messages, 5, seeds=[1, 2, 3, 4, 5], max_tokens=20)
    for seed, sample in zip([1, 2, 3, 4, 5], samples, strict=True):
        usage = sample.usage_metadata
        assert usage is not None
        assert usage["input_tokens"] == prompt  # the shared prompt, charged to each in full
        assert 1 <= usage["output_tokens"] <= 20
        assert usage["total_tokens"] == prompt + usage["output_tokens"]
        assert sample.response_metadata["seed"] == seed
    # Greedy: the same text and the same usage as one call on the sequential path.
    one = sequential.invoke(messages, max_tokens=20, temperature=0.0)
    many = batched.generate_n(messages, 3, max_tokens=20, temperature=0.0)
    assert [m.usage_metadata for m in many] == [one.usage_metadata] * 3
    assert [m.response_metadata["finish_reason"] for m in many] == [
        one.response_metadata["finish_reason"]
    ] * 3


@pytest.mark.embedded
def test_samples_of_one_prompt_decode_it_once(batched: EmbeddedChatModel) -> None:
    messages = [HumanMessage("Describe a sunrise over the ocean in detail, please.")]
    engine = batched._batcher()
    before = engine.decoded_tokens
    samples = batched.generate_n(messages, 8, max_tokens=4, temperature=0.7)
    decoded = engine.decoded_tokens - before
    prompt = batched.count_prompt_tokens(messages)
    generated = sum(s.usage_metadata["output_tokens"] for s in samples if s.usage_metadata)
    # Once the prompt (its last token once per sample), plus the generated tokens.
    assert decoded <= prompt + 8 + generated
    assert max(s.response_metadata["batch_peak"] for s in samples) == 8


@pytest.mark.embedded
async def test_stop_strings_caps_and_deadlines_are_per_sequence(
    batched: EmbeddedChatModel, sequential: EmbeddedChatModel
) -> None:
    count = "Count from 1 to 50, one number per line."
    stopped, capped, slow = await asyncio.gather(
        batched.ainvoke(count, max_tokens=60, temperature=0.0, stop=["4"]),
        batched.ainvoke("Write a long story about a dragon.", max_tokens=7, temperature=0.0),
        batched.ainvoke(count, max_tokens=400, temperature=0.0, timeout=0.3),
    )
    reference = sequential.invoke(count, max_tokens=60, temperature=0.0, stop=["4"])
    assert stopped.text == reference.text and "4" not in stopped.text
    assert stopped.response_metadata["finish_reason"] == "stop"
    assert stopped.usage_metadata == reference.usage_metadata
    assert capped.response_metadata["finish_reason"] == "length"
    assert capped.usage_metadata is not None and capped.usage_metadata["output_tokens"] == 7
    assert slow.response_metadata["finish_reason"] == "timeout"
    assert slow.usage_metadata is not None and slow.usage_metadata["output_tokens"] < 400


@pytest.mark.embedded
async def test_a_deadline_cuts_a_long_prompt_in_its_prefill(batched: EmbeddedChatModel) -> None:
    # About 1,700 prompt tokens, decoded PREFILL_CHUNK at a time: the deadline is checked
    # between chunks, so the call ends near it instead of after the whole prefill.
    long = " ".join(f"Item {i} costs {i % 7} dollars." for i in range(180)) + " Total?"
    engine = batched._batcher()
    before = engine.decoded_tokens
    started = time.monotonic()
    reply = await batched.ainvoke(long, max_tokens=8, temperature=0.0, timeout=0.05)
    assert reply.response_metadata["finish_reason"] == "timeout"
    assert reply.usage_metadata is not None and reply.usage_metadata["output_tokens"] == 0
    assert engine.decoded_tokens - before <= 3 * PREFILL_CHUNK < engine.n_batch
    assert time.monotonic() - started < 30  # a bound for a loaded machine, not a timing


@pytest.mark.embedded
def test_a_prompt_prefix_in_the_cache_is_not_decoded_again(batched: EmbeddedChatModel) -> None:
    first: list[BaseMessage] = [HumanMessage("Think about the number 48. What is half of it?")]
    reply = batched.invoke(first, max_tokens=16, temperature=0.0)
    follow = [*first, AIMessage(reply.text), HumanMessage("And half of that?")]
    engine = batched._batcher()
    before = engine.decoded_tokens
    extended = batched.invoke(follow, max_tokens=8, temperature=0.0)
    reused = extended.response_metadata["reused_prompt_tokens"]
    assert reused >= batched.count_prompt_tokens(first) - 1
    assert extended.usage_metadata is not None
    assert extended.usage_metadata["input_tokens"] == batched.count_prompt_tokens(follow)
    decoded = engine.decoded_tokens - before
    assert decoded <= extended.usage_metadata["input_tokens"] - reused + 8


@pytest.mark.embedded
async def test_a_cancelled_call_ends_its_sample_early(batched: EmbeddedChatModel) -> None:
    engine = batched._batcher()
    request = SampleRequest(prompt=(1, 2, 3, 4), max_tokens=1500, temperature=0.0)
    task = asyncio.ensure_future(engine.asubmit([request]))
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    started = time.monotonic()
    reply = await batched.ainvoke("Say hi.", max_tokens=4, temperature=0.0)
    assert reply.text and time.monotonic() - started < 10


@pytest.mark.embedded
def test_bad_requests_are_refused(batched: EmbeddedChatModel) -> None:
    with pytest.raises(ConfigurationError, match="n must be"):
        batched.generate_n([HumanMessage("hi")], 0)
    with pytest.raises(ConfigurationError, match="seeds"):
        batched.generate_n([HumanMessage("hi")], 2, seeds=[1])
    with pytest.raises(ModelError, match="output cap"):
        batched._batcher().submit([SampleRequest(prompt=(), max_tokens=3)])
    small = EmbeddedChatModel.from_name("smollm2", n_ctx=64)
    with pytest.raises(ModelError, match="context window"):
        small.generate_n([HumanMessage("word " * 200)], 2, max_tokens=4)


@pytest.mark.embedded
async def test_a_sampling_node_draws_its_samples_in_one_batch(batched: EmbeddedChatModel) -> None:
    context = RunContext(model=batched)
    meter = Meter({}, context, node="attempt", budget=Budget(tokens=5000), usage=Usage())
    update = await draw_candidates(
        meter, "What is 6 + 7?", prompt=FEW_SHOT, indices=range(4), temperature=0.7,
        max_tokens=24,
    )  # fmt: skip
    assert [c["id"] for c in update["candidates"]] == ["c0", "c1", "c2", "c3"]
    assert [c["seed"] for c in update["candidates"]] == [0, 1, 2, 3]
    prompt = batched.count_prompt_tokens(FEW_SHOT.render("chat", problem="What is 6 + 7?"))
    assert all(e["tokens_in"] == prompt for e in update["ledger"])


@pytest.mark.embedded
async def test_an_isolated_group_draws_the_same_samples_whatever_the_engine_did_before(
    batched: EmbeddedChatModel,
) -> None:
    """Before isolation, a sample's log-probabilities changed from its second or third token
    when other samples shared its batch or its prompt came from the cache: the cells its
    tokens sat in changed llama.cpp's sums."""
    engine = batched._batcher()
    prompts = [
        tuple(batched._prompt_tokens(batched._engine(), FEW_SHOT.render("chat", problem=p)))
        for p in ("What is 17 + 25?", "What is 6 * 7?")
    ]
    group = [
        SampleRequest(prompt=prompts[i % 2], max_tokens=24, temperature=0.7, seed=i)
        for i in range(4)
    ]

    def fingerprint(outcomes: Sequence[Any]) -> list[tuple[float, ...]]:
        return [o.logprobs for o in outcomes]

    engine.clear_cache()
    reference = await engine.asubmit(group, isolated=True)
    again = await engine.asubmit(group, isolated=True)  # the first prompt from the cache
    assert again[0].reused_tokens == len(prompts[0]) - 1
    other = SampleRequest(prompt=prompts[1], max_tokens=24, temperature=0.7, seed=9)
    await engine.asubmit([other, other])  # not isolated: anywhere in the cache
    noise = asyncio.ensure_future(engine.asubmit([other] * 3))  # decoding meanwhile
    await asyncio.sleep(0.05)
    beside = await engine.asubmit(group, isolated=True)
    await noise
    # Not isolated, the same requests beside other calls: other log-probabilities.
    mixed, _ = await asyncio.gather(engine.asubmit(group), engine.asubmit([other] * 3))
    assert fingerprint(again) == fingerprint(reference)
    assert fingerprint(beside) == fingerprint(reference)
    assert all(o.batch_peak <= len(group) for o in beside)
    assert fingerprint(mixed) != fingerprint(reference)


@pytest.mark.embedded
def test_a_confidence_floor_stops_a_sample_after_its_window(batched: EmbeddedChatModel) -> None:
    engine = batched._batcher()
    messages = [HumanMessage("Write a long story about a dragon.")]
    prompt = tuple(batched._prompt_tokens(batched._engine(), messages))

    def draw(floor: float | None) -> Any:
        request = SampleRequest(prompt=prompt, max_tokens=40, min_confidence=floor)
        return engine.submit([request], isolated=True)[0]

    free, floored, passing = draw(None), draw(1e9), draw(0.0)
    assert free.completion_tokens > CONFIDENCE_WINDOW
    assert floored.finish_reason == "low_confidence"
    assert floored.tokens == free.tokens[:CONFIDENCE_WINDOW]
    assert passing.tokens == free.tokens  # a token's confidence is never negative
    reply = batched.invoke(messages, max_tokens=40, min_confidence=1e9)
    assert reply.response_metadata["finish_reason"] == "low_confidence"
    assert reply.usage_metadata is not None
    assert reply.usage_metadata["output_tokens"] == CONFIDENCE_WINDOW


@pytest.mark.embedded
async def test_self_consistency_with_early_stop_on_the_real_model(
    batched: EmbeddedChatModel,
) -> None:
    result = await ponder.asolve(
        "Sara had 15 pencils and gave away 6. How many pencils does she have left?",
        model=batched, budget=ponder.Budget(tokens=6000), max_samples=8, agreement=1.0,
        early_stop=0.5, select="majority", programs=0,
    )  # fmt: skip
    assert result.status == "done" and len(result.candidates) == 8
    for candidate in result.candidates:
        if candidate["finish_reason"] == "low_confidence":
            assert candidate["answer"] is None
            assert candidate["tokens_out"] >= CONFIDENCE_WINDOW
    assert sum(result.votes.values()) == sum(c["answer"] is not None for c in result.candidates)


@pytest.mark.embedded
def test_an_isolated_group_after_a_failed_decode_draws_as_before(
    batched: EmbeddedChatModel,
) -> None:
    # The failure path empties the cache; the canonical entry went with it (before: it was
    # still named, and the next isolated group failed looking it up).
    engine = batched._batcher()
    prompt = tuple(batched._prompt_tokens(batched._engine(), [HumanMessage("Name a color.")]))
    group = [SampleRequest(prompt=prompt, max_tokens=8, temperature=0.7, seed=s) for s in (1, 2)]
    reference = engine.submit(group, isolated=True)
    real = engine._lib

    class FailingOnce:
        failed = False

        def __getattr__(self, name: str) -> Any:
            if name == "llama_decode" and not FailingOnce.failed:
                FailingOnce.failed = True
                return lambda ctx, batch: -1
            return getattr(real, name)

    engine._lib = FailingOnce()
    try:
        with pytest.raises(ModelError, match="llama_decode failed"):
            engine.submit([SampleRequest(prompt=(7, 8, 9), max_tokens=4)])  # shares nothing
    finally:
        engine._lib = real
    again = engine.submit(group, isolated=True)
    assert [o.logprobs for o in again] == [o.logprobs for o in reference]
