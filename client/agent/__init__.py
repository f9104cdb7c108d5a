"""Trading agent SDK: the agent client, the bit-exact feature twin, the decision twin and the
offline replay."""

from .client import (
    SOURCE_FEED,
    SOURCE_POOL,
    SOURCE_PYTH,
    AgentClient,
    AgentState,
    Decision,
    ModelSlot,
    ModelUnavailable,
    StepResult,
    Valuation,
    agent_address,
    agent_vault,
    mark_to_market,
)
from .decide import Risk
from .features import Feature, FeatureSpec, compute, flatten_window, training_rows, window_rows
from .history import AgentHistoryState, decode_history, history_address
from .replay import AgentReplay, Observation, ReplayDecision

__all__ = [
    "SOURCE_FEED",
    "SOURCE_POOL",
    "SOURCE_PYTH",
    "AgentClient",
    "AgentHistoryState",
    "AgentReplay",
    "AgentState",
    "Decision",
    "Feature",
    "FeatureSpec",
    "ModelSlot",
    "ModelUnavailable",
    "Observation",
    "ReplayDecision",
    "Risk",
    "StepResult",
    "Valuation",
    "agent_address",
    "agent_vault",
    "compute",
    "decode_history",
    "flatten_window",
    "history_address",
    "mark_to_market",
    "training_rows",
    "window_rows",
]
