"""What a bot counts while it runs: steps, decisions, trades, PnL, compute units, latency.

``BotMetrics`` is mutable and owned by one ``Bot``; ``snapshot()`` returns a frozen,
JSON-friendly ``MetricsSnapshot`` for progress displays, logs and reports.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100) of ``values``; None when empty."""
    if not values:
        return None
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, got {q}")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return float(ordered[rank - 1])


@dataclass(frozen=True)
class LatencySummary:
    """Send→confirmed latency over the run, in seconds."""

    count: int
    p50: float | None
    p95: float | None
    max: float | None

    @classmethod
    def of(cls, values: Sequence[float]) -> LatencySummary:
        return cls(
            count=len(values),
            p50=percentile(values, 50),
            p95=percentile(values, 95),
            max=max(values) if values else None,
        )


@dataclass(frozen=True)
class MetricsSnapshot:
    steps: int
    decisions: int
    trades: int
    pnl: float
    compute_units_total: int
    compute_units_mean: float | None
    latency: LatencySummary
    resigns: int
    send_retries: int
    ws_connects: int
    ws_drops: int
    polls: int
    events_seen: dict[str, int]
    errors: dict[str, int]


@dataclass
class BotMetrics:
    steps: int = 0
    decisions: int = 0
    trades: int = 0
    pnl: float = 0.0
    compute_units: list[int] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    # Transactions re-signed after their blockhash provably expired unlanded.
    resigns: int = 0
    # Same signed transaction sent again after a transport error (never a new signature).
    send_retries: int = 0
    ws_connects: int = 0
    ws_drops: int = 0
    polls: int = 0
    events_seen: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)

    def record_step(self, *, compute_units: int, latency: float | None) -> None:
        self.steps += 1
        self.compute_units.append(compute_units)
        if latency is not None:
            self.latencies.append(latency)

    def snapshot(self) -> MetricsSnapshot:
        cu = self.compute_units
        return MetricsSnapshot(
            steps=self.steps,
            decisions=self.decisions,
            trades=self.trades,
            pnl=self.pnl,
            compute_units_total=sum(cu),
            compute_units_mean=sum(cu) / len(cu) if cu else None,
            latency=LatencySummary.of(self.latencies),
            resigns=self.resigns,
            send_retries=self.send_retries,
            ws_connects=self.ws_connects,
            ws_drops=self.ws_drops,
            polls=self.polls,
            events_seen=dict(self.events_seen),
            errors=dict(self.errors),
        )
