"""Asyncio trading bots: market feed, scheduler, exactly-once step sender, metrics, runtime."""

from .feed import AccountUpdate, FeedConfig, LogsUpdate, MarketFeed, SlotUpdate
from .logs import EventLogger, JsonFormatter, configure_logging
from .metrics import BotMetrics, LatencySummary, MetricsSnapshot, percentile
from .runtime import Bot, BotConfig, BotReport, StepRecord
from .schedule import Schedule, StepClock
from .sender import (
    CounterMoved,
    FeePolicy,
    FixedFee,
    RecentFeePercentile,
    SendFailed,
    SendReceipt,
    StepSender,
)
from .steps import PingCrank, StepMismatch, StepOutcome, StepPlan, StepProgram, TradeFill

__all__ = [
    "AccountUpdate",
    "Bot",
    "BotConfig",
    "BotMetrics",
    "BotReport",
    "CounterMoved",
    "EventLogger",
    "FeePolicy",
    "FeedConfig",
    "FixedFee",
    "JsonFormatter",
    "LatencySummary",
    "LogsUpdate",
    "MarketFeed",
    "MetricsSnapshot",
    "PingCrank",
    "RecentFeePercentile",
    "Schedule",
    "SendFailed",
    "SendReceipt",
    "SlotUpdate",
    "StepClock",
    "StepMismatch",
    "StepOutcome",
    "StepPlan",
    "StepProgram",
    "StepRecord",
    "StepSender",
    "TradeFill",
    "configure_logging",
    "percentile",
]
