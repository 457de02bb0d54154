from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from ponder.errors import ConfigurationError
from ponder.graphs import BestOfNConfig, SelfConsistencyConfig
from ponder.prompts import ATTEMPT_PROMPTS, FEW_SHOT, PROMPTS, PromptTemplate


@pytest.mark.parametrize("template", list(PROMPTS.values()), ids=list(PROMPTS))
def test_every_template_renders_in_both_styles(template: PromptTemplate) -> None:
    problem = "What is {not a field} 7 + 5?"  # braces in the problem are kept as text
    values = {name: f"<{name} text>" for name in template.variables} | {"problem": problem}
    chat = template.render("chat", **values)
    assert isinstance(chat[-1], HumanMessage) and problem in chat[-1].text
    base = template.render("base", **values)
    assert len(base) == 1 and problem in base[0].text
    for value in values.values():
        assert value in chat[-1].text and value in base[0].text
    assert not any(isinstance(m, SystemMessage) for m in base)
    assert template.stop("base") and template.stop("chat") is None


def test_few_shot_sends_examples_as_earlier_turns() -> None:
    messages = FEW_SHOT.render("chat", problem="1 + 1 =")
    kinds = [type(m) for m in messages]
    assert kinds[:2] == [HumanMessage, AIMessage]
    assert len(messages) == 2 * len(FEW_SHOT.examples) + 1
    assert all("The answer is" in m.text for m in messages if isinstance(m, AIMessage))


def test_undeclared_variables_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="undeclared"):
        PromptTemplate(name="x", description="x", user="{problem} {hint}", base="{problem}")


def test_missing_values_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="needs values"):
        FEW_SHOT.render("chat")


def test_strategies_take_a_prompt_by_name() -> None:
    assert SelfConsistencyConfig(prompt="direct").prompt is ATTEMPT_PROMPTS["direct"]
    with pytest.raises(ConfigurationError, match="prompt"):
        BestOfNConfig(prompt="shout")  # type: ignore[arg-type]
