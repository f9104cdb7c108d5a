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
from .features import Feature, FeatureSpec, compute, training_rows
from .replay import AgentReplay, Observation, ReplayDecision

__all__ = [
    "SOURCE_FEED",
    "SOURCE_POOL",
    "SOURCE_PYTH",
    "AgentClient",
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
    "mark_to_market",
    "training_rows",
]
