"""Every prompt ponder sends, as named templates.

A `PromptTemplate` declares its variables and has two renderings: ``chat`` (system and user
messages, for instruction-tuned chat models) and ``base`` (few-shot completion text for base
models such as Gemma 3 270M, which have no chat template). Nodes take a template as a
parameter, so any of these can be replaced by the user's own.

Example:
    >>> messages = STEP_BY_STEP.render("chat", problem="What is 2 + 3?")
    >>> messages[-1].content.endswith("What is 2 + 3?")
    True
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from typing import Literal

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from ponder.errors import ConfigurationError

__all__ = (
    "ATTEMPT_PROMPTS",
    "DIRECT",
    "FEW_SHOT",
    "STEP_BY_STEP",
    "AttemptPromptName",
    "PromptStyle",
    "PromptTemplate",
)

PromptStyle = Literal["chat", "base"]
"""How a model wants its prompts: role-tagged chat messages, or plain completion text."""


@dataclass(frozen=True, kw_only=True, slots=True)
class PromptTemplate:
    """A named prompt with its variables and its chat and base renderings.

    Templates use `str.format` fields (``{problem}``); literal braces are doubled.
    """

    name: str
    """The name recorded with every candidate it produces."""
    description: str
    """One line on what the prompt asks for."""
    user: str
    """The user message of the chat rendering."""
    system: str | None = None
    """The system message of the chat rendering, if any."""
    base: str
    """The completion text of the base rendering; the model continues where it ends."""
    base_stop: tuple[str, ...] = ("\n\nQuestion:", "\nQuestion:")
    """Stop sequences for the base rendering, so a base model does not invent the next
    few-shot question."""
    variables: tuple[str, ...] = field(default=("problem",))
    """The variables every rendering needs."""
    examples: tuple[tuple[str, str], ...] = ()
    """Worked examples (question, answer), sent before the user message as earlier chat
    turns. Tiny chat models follow a shown answer format far better than a described one."""

    def __post_init__(self) -> None:
        for text in (self.user, self.base, self.system or ""):
            used = {f for _, f, _, _ in string.Formatter().parse(text) if f}
            unknown = used - set(self.variables)
            if unknown:
                raise ConfigurationError(
                    f"prompt {self.name!r} uses undeclared variables {sorted(unknown)}"
                )

    def render(self, style: PromptStyle, **values: str) -> list[BaseMessage]:
        """Return the messages for a model of this ``style``.

        Raises:
            ConfigurationError: A declared variable is missing.
        """
        missing = [name for name in self.variables if name not in values]
        if missing:
            raise ConfigurationError(f"prompt {self.name!r} needs values for {missing}")
        if style == "base":
            return [HumanMessage(self.base.format(**values))]
        messages: list[BaseMessage] = []
        if self.system is not None:
            messages.append(SystemMessage(self.system.format(**values)))
        for question, answer in self.examples:
            messages += [HumanMessage(question), AIMessage(answer)]
        messages.append(HumanMessage(self.user.format(**values)))
        return messages

    def stop(self, style: PromptStyle) -> list[str] | None:
        """Return the stop sequences for ``style`` (none for chat models)."""
        return list(self.base_stop) if style == "base" else None


_SHOTS = (
    (
        "Tom has 3 apples and buys 5 more. How many apples does he have?",
        "He starts with 3 and adds 5. 3 + 5 = 8. The answer is 8.",
    ),
    ("12 - 4 =", "12 minus 4 is 8. The answer is 8."),
    (
        "A box holds 6 rows of 4 eggs. How many eggs are in the box?",
        "6 rows times 4 eggs is 6 * 4 = 24. The answer is 24.",
    ),
)
"""Worked examples with short reasoning, shared by the few-shot renderings."""

_BASE_SHOTS = "".join(f"Question: {q}\nAnswer: {a}\n\n" for q, a in _SHOTS)

DIRECT = PromptTemplate(
    name="direct",
    description="Answer at once, with no reasoning.",
    system="You are a careful assistant. Reply with the final answer only.",
    user="{problem}\nReply with the answer only.",
    base="".join(f"Question: {q}\nAnswer: {a[a.index('The answer') :]}\n\n" for q, a in _SHOTS)
    + "Question: {problem}\nAnswer: The answer is",
)
"""Ask for the answer only: cheapest, and the baseline the others are measured against."""

STEP_BY_STEP = PromptTemplate(
    name="step_by_step",
    description="Reason step by step, then state the answer.",
    system=None,
    user=(
        "{problem}\nSolve this step by step. End with a line of the form: The answer is <answer>."
    ),
    base=_BASE_SHOTS + "Question: {problem}\nAnswer:",
)
"""Chain-of-thought: reason in steps, end with ``The answer is ...``."""

FEW_SHOT = PromptTemplate(
    name="few_shot",
    description="Worked examples as earlier chat turns, then the problem.",
    user="{problem}",
    examples=_SHOTS,
    base=_BASE_SHOTS + "Question: {problem}\nAnswer:",
)
"""Few-shot chain-of-thought: three worked examples (short reasoning, then ``The answer is
...``) shown as earlier chat turns. The default attempt prompt: on SmolLM2-135M it is the
prompt that moved greedy accuracy most (see the README's benchmark)."""

AttemptPromptName = Literal["few_shot", "step_by_step", "direct"]
"""The attempt prompts shipped with ponder, by name.

- ``few_shot``: worked examples as chat turns, then the problem (the default).
- ``step_by_step``: zero-shot "solve this step by step", then ``The answer is ...``.
- ``direct``: answer only.
"""

ATTEMPT_PROMPTS: dict[AttemptPromptName, PromptTemplate] = {
    "few_shot": FEW_SHOT,
    "step_by_step": STEP_BY_STEP,
    "direct": DIRECT,
}
"""Attempt prompts by name."""
