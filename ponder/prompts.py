"""Every prompt ponder sends, as named templates.

A `PromptTemplate` declares its variables and has two renderings: ``chat`` (system and user
messages, for instruction-tuned chat models) and ``base`` (few-shot completion text for base
models such as Gemma 3 270M, which have no chat template). Nodes take a template as a
parameter, so any of these can be replaced by the user's own.

Example:
    >>> messages = STEP_BY_STEP.render("chat", problem="What is 2 + 3?")
    >>> messages[-1].text.startswith("What is 2 + 3?")
    True
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from typing import Literal

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from ponder.errors import ConfigurationError

__all__ = (
    "ANALOGY",
    "ATTEMPT_PROMPTS",
    "CODE",
    "CRITIQUE",
    "DIFFICULTY",
    "DIRECT",
    "EDGE_CASES",
    "EXPAND",
    "FEW_SHOT",
    "JUDGE",
    "PROGRAM",
    "PROMPTS",
    "REFINE",
    "SUBPROBLEMS",
    "VALUE",
    "WORK_BACKWARDS",
    "STEP_BY_STEP",
    "AttemptPromptName",
    "PromptName",
    "PromptStyle",
    "PromptTemplate",
    "resolve_prompt",
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
    output: Literal["text", "program"] = "text"
    """``program``: the reply is Python code, run in the sandbox; what it prints is the
    answer."""
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

EDGE_CASES = PromptTemplate(
    name="edge_cases",
    description="Solve, checking the edge cases and units before answering.",
    user=(
        "{problem}\n"
        "Solve this carefully. Check edge cases, units and what exactly is asked before you "
        "answer. End with: The answer is <answer>."
    ),
    base=_BASE_SHOTS + "Question: {problem}\nAnswer: Check what is asked.",
)
"""Solve with attention to edge cases and to what is actually asked."""

WORK_BACKWARDS = PromptTemplate(
    name="work_backwards",
    description="Start from what is asked and work back to the givens.",
    user=(
        "{problem}\n"
        "Start from what the question asks for and work backwards to the numbers given. "
        "End with: The answer is <answer>."
    ),
    base=_BASE_SHOTS + "Question: {problem}\nAnswer: We want",
)
"""Work backwards from the goal."""

SUBPROBLEMS = PromptTemplate(
    name="subproblems",
    description="Break the problem into smaller steps and solve each.",
    user=(
        "{problem}\n"
        "Break this into smaller subproblems, solve each one, then combine them. "
        "End with: The answer is <answer>."
    ),
    base=_BASE_SHOTS + "Question: {problem}\nAnswer: First,",
)
"""Decompose into subproblems."""

ANALOGY = PromptTemplate(
    name="analogy",
    description="Recall a similar solved problem and solve this one the same way.",
    user=(
        "{problem}\n"
        "Think of a similar problem you know how to solve, then solve this one the same way. "
        "End with: The answer is <answer>."
    ),
    base=_BASE_SHOTS + "Question: {problem}\nAnswer: This is like",
)
"""Reason by analogy."""

_PROGRAM_SHOTS = (
    (
        "Tom has 3 apples and buys 5 more. How many apples does he have?",
        "```python\napples = 3 + 5\nprint(apples)\n```",
    ),
    (
        "A box holds 6 rows of 4 eggs. How many eggs are in the box?",
        "```python\neggs = 6 * 4\nprint(eggs)\n```",
    ),
)

PROGRAM = PromptTemplate(
    name="program",
    description="Write a short Python program that prints the answer (program-aided).",
    system="Answer with a short Python program in a code block that prints the answer.",
    user="{problem}",
    examples=_PROGRAM_SHOTS,
    base="".join(f"Question: {q}\nProgram:\n{a}\n\n" for q, a in _PROGRAM_SHOTS)
    + "Question: {problem}\nProgram:\n```python\n",
    base_stop=("```", "\nQuestion:"),
    output="program",
)
"""Program-aided reasoning (PAL, program of thought): the model writes code, ponder runs it
in the sandbox and takes what it prints as the answer."""

CODE = PromptTemplate(
    name="code",
    description="Complete a Python function; the reply is the whole function in a code block.",
    system="You are an expert Python programmer.",
    user=(
        "Complete this Python function. Reply with the complete function, including its "
        "signature, in one ```python code block.\n\n```python\n{problem}\n```"
    ),
    base="# A complete, correct implementation.\n{problem}",
    base_stop=("\ndef ", "\nclass ", "\nif __name__"),
)
"""Code writing, for problems whose answer is a function (the answer is the code; verify
it with `ponder.verify.CodeTests`)."""

CRITIQUE = PromptTemplate(
    name="critique",
    description="Find the errors, unjustified assumptions and possible improvements.",
    user=(
        "Problem: {problem}\n\nProposed solution:\n{solution}\n\n"
        "Check the solution step by step. List any calculation error, wrong assumption or "
        "missing step. If it is fully correct, reply exactly: No errors."
    ),
    base=(
        "Problem: {problem}\nProposed solution: {solution}\nReview of the solution, step by step:"
    ),
    base_stop=("\nProblem:",),
    variables=("problem", "solution"),
)
"""A critique of a candidate; ``No errors`` means the critic found nothing to fix."""

REFINE = PromptTemplate(
    name="refine",
    description="Rewrite the solution so that it addresses the critique.",
    user=(
        "Problem: {problem}\n\nPrevious solution:\n{solution}\n\n"
        "Review:\n{critique}\n\n"
        "Write a corrected solution that fixes these issues. "
        "End with: The answer is <answer>."
    ),
    base=(
        _BASE_SHOTS + "Question: {problem}\nA first attempt: {solution}\n"
        "A review: {critique}\nAnswer (corrected):"
    ),
    variables=("problem", "solution", "critique"),
)
"""A refined candidate that addresses a critique of its parent."""

DIFFICULTY = PromptTemplate(
    name="difficulty",
    description="Rate how hard the problem is, from 1 (trivial) to 10 (very hard).",
    user=(
        "How hard is this problem to solve correctly? Reply with one number from 1 (trivial) "
        "to 10 (very hard) and nothing else.\n\nProblem: {problem}"
    ),
    base=(
        "Problem: What is 2 + 2?\nDifficulty (1-10): 1\n\n"
        "Problem: Prove that there are infinitely many primes.\nDifficulty (1-10): 7\n\n"
        "Problem: {problem}\nDifficulty (1-10):"
    ),
    base_stop=("\n",),
)
"""An LLM rating of difficulty; the number is parsed from the text."""

JUDGE = PromptTemplate(
    name="judge",
    description="Score a solution from 0 to 10 for correctness.",
    user=(
        "Problem: {problem}\n\nSolution:\n{solution}\n\n"
        "Is this solution correct? Give a score from 0 (wrong) to 10 (certainly correct). "
        "Reply in the form: Score: <number>"
    ),
    base="Problem: {problem}\nSolution: {solution}\nCorrectness score (0-10):",
    base_stop=("\n",),
    variables=("problem", "solution"),
)
"""An LLM judge; the score is parsed from text, since a local server may refuse structured
output."""

EXPAND = PromptTemplate(
    name="expand",
    description="Write the next step of a partial solution.",
    user=(
        "Problem: {problem}\n\nSolution so far:\n{partial}\n\n"
        "Write only the next step of the solution, in one or two sentences. If the solution "
        "is complete, write the final line: The answer is <answer>."
    ),
    base=_BASE_SHOTS + "Question: {problem}\nAnswer:{partial}",
    base_stop=("\n", "\nQuestion:"),
    variables=("problem", "partial"),
)
"""One more reasoning step, for tree search."""

VALUE = PromptTemplate(
    name="value",
    description="Rate how promising a partial solution is, from 0 to 10.",
    user=(
        "Problem: {problem}\n\nPartial solution:\n{partial}\n\n"
        "How likely is this partial solution to lead to the correct answer? Reply with one "
        "number from 0 (certainly wrong) to 10 (certainly right) in the form: Score: <number>"
    ),
    base="Problem: {problem}\nPartial solution: {partial}\nPromise (0-10):",
    base_stop=("\n",),
    variables=("problem", "partial"),
)
"""A value estimate of a partial solution, for tree search without a verifier."""

AttemptPromptName = Literal[
    "few_shot",
    "step_by_step",
    "edge_cases",
    "work_backwards",
    "subproblems",
    "analogy",
    "direct",
]
"""The attempt prompts shipped with ponder, by name.

- ``few_shot``: worked examples as chat turns, then the problem (the default).
- ``step_by_step``: zero-shot "solve this step by step", then ``The answer is ...``.
- ``edge_cases``: check edge cases, units and what is asked.
- ``work_backwards``: work backwards from the goal.
- ``subproblems``: break into subproblems.
- ``analogy``: solve like a similar known problem.
- ``direct``: answer only.
"""

ATTEMPT_PROMPTS: dict[AttemptPromptName, PromptTemplate] = {
    "few_shot": FEW_SHOT,
    "step_by_step": STEP_BY_STEP,
    "edge_cases": EDGE_CASES,
    "work_backwards": WORK_BACKWARDS,
    "subproblems": SUBPROBLEMS,
    "analogy": ANALOGY,
    "direct": DIRECT,
}
"""Attempt prompts by name."""

PromptName = Literal[AttemptPromptName, Literal["program", "code"]]
"""What a strategy's ``prompt`` option may name: an attempt prompt, ``program`` (program-aided:
the model writes Python whose output is the answer) or ``code`` (a function, for code
problems)."""


def resolve_prompt(value: PromptTemplate | PromptName, owner: str = "prompt") -> PromptTemplate:
    """Return the prompt ``value`` names (a `PromptTemplate` or a `PromptName`).

    Raises:
        ConfigurationError: ``value`` is neither.

    Example:
        >>> resolve_prompt("step_by_step").name
        'step_by_step'
    """
    if isinstance(value, PromptTemplate):
        return value
    if isinstance(value, str) and value in ATTEMPT_PROMPTS:
        return ATTEMPT_PROMPTS[value]
    if value == "program":
        return PROGRAM
    if value == "code":
        return CODE
    raise ConfigurationError(
        f"{owner} must be a PromptTemplate or one of "
        f"{', '.join([*ATTEMPT_PROMPTS, 'program', 'code'])}; got {value!r}"
    )


PROMPTS: dict[str, PromptTemplate] = {
    **{name: template for name, template in ATTEMPT_PROMPTS.items()},
    "program": PROGRAM,
    "code": CODE,
    "critique": CRITIQUE,
    "refine": REFINE,
    "difficulty": DIFFICULTY,
    "judge": JUDGE,
    "expand": EXPAND,
    "value": VALUE,
}
"""Every prompt ponder ships, by name."""
