"""The scaling steps, one module each; every node reads the state and the run context.

Every node that calls the model spends through the metered call (`Meter`), which a user's own
node can use too, so that its calls are planned within the budget and charged to the ledger.
Every node factory returns a LangGraph node that runs under ``invoke`` and ``ainvoke`` alike.

- `prepare`: validate the input and set the starting state.
- `difficulty_node`: estimate difficulty (an LLM rating, or the disagreement of probes).
- `attempt_node`, `fan_out_attempts` + `attempt_branch_node`: draw candidate solutions, from
  one prompt or several in parallel branches (program-aided prompts run in the sandbox).
- `critique_node`, `refine_node`: find what is wrong with a solution, and rewrite it.
- `expand_node`, `evaluate_node`: tree search: draw next steps, and score them.
- `choose_node`, `backup`: Monte Carlo tree search: pick the leaf by UCT, back values up.
- `prune_node`: beam search: keep the best few of the newest steps.
- `plan_node`: the adaptive strategy's spending plan (`PlanPolicy`).
- `verify_node`, `judge_node`: judge candidates with the run's verifier, or the model.
- `select_node`: choose the final answer (majority vote, best score, or the fitted
  `AnswerRanker`).
- `pause`, `approve_node`: wait for a budget top-up, or for approval.
"""

from ponder.nodes.attempt import AttemptTask, attempt_branch_node, attempt_node, fan_out_attempts
from ponder.nodes.backup import backup, iterations_done
from ponder.nodes.choose import choose_leaf, choose_node, uct
from ponder.nodes.critique import critique_node, finds_nothing
from ponder.nodes.difficulty import DifficultyMethod, difficulty_node
from ponder.nodes.evaluate import evaluate_node
from ponder.nodes.expand import expand_node
from ponder.nodes.interrupts import ApprovalRequest, PauseRequest, TopUp, approve_node, pause
from ponder.nodes.judge import judge_node
from ponder.nodes.metered import CallRequest, CallResult, Meter, call_candidate
from ponder.nodes.plan import PHASES, PlanPolicy, plan_node
from ponder.nodes.prepare import prepare
from ponder.nodes.prune import next_frontier, prune_node
from ponder.nodes.rank import AnswerRanker
from ponder.nodes.refine import refine_node
from ponder.nodes.select import (
    ConfidenceVote,
    SelectMethod,
    best_scored,
    majority,
    provisional_answer,
    select_node,
    tally,
    weighted_tally,
)
from ponder.nodes.tree import depth, is_terminal, latest_leaf, path_text, steps
from ponder.nodes.verify import verify_node

__all__ = (
    "PHASES",
    "AnswerRanker",
    "ApprovalRequest",
    "AttemptTask",
    "CallRequest",
    "CallResult",
    "ConfidenceVote",
    "DifficultyMethod",
    "Meter",
    "PauseRequest",
    "PlanPolicy",
    "SelectMethod",
    "TopUp",
    "approve_node",
    "attempt_branch_node",
    "attempt_node",
    "backup",
    "best_scored",
    "call_candidate",
    "choose_leaf",
    "choose_node",
    "critique_node",
    "depth",
    "difficulty_node",
    "evaluate_node",
    "expand_node",
    "fan_out_attempts",
    "finds_nothing",
    "is_terminal",
    "iterations_done",
    "judge_node",
    "latest_leaf",
    "majority",
    "next_frontier",
    "path_text",
    "pause",
    "plan_node",
    "prepare",
    "provisional_answer",
    "prune_node",
    "refine_node",
    "select_node",
    "steps",
    "tally",
    "uct",
    "verify_node",
    "weighted_tally",
)
