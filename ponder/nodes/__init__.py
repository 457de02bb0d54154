"""The scaling steps, one module each; every node reads the state and the run context.

- `prepare`: validate the input and set the starting state.
- `attempt_node`: draw candidate solutions.
- `verify_node`: judge candidates with the run's verifier.
- `select_node`: choose the final answer (majority vote or best score).
"""

from ponder.nodes.attempt import attempt_node, extract_answer
from ponder.nodes.prepare import prepare
from ponder.nodes.select import SelectMethod, best_scored, majority, select_node, tally
from ponder.nodes.verify import verify_node

__all__ = (
    "SelectMethod",
    "attempt_node",
    "best_scored",
    "extract_answer",
    "majority",
    "prepare",
    "select_node",
    "tally",
    "verify_node",
)
