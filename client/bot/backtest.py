"""Backtest: a price series through the simulator, the feature twin, the reference executor and
the decision/risk twin, tick by tick as the chain runs it.

Each tick (the same lockstep ``run_market`` drives on chain):

1. the simulator trades the pool toward the path's next price (``PoolTwin``, the pool's integer
   arithmetic, with the same ``amount_toward`` as the on-chain simulator);
2. the agent steps: ``AgentReplay.advance`` on the pool's price and reserves;
3. a trade moves the pool's reserves and the agent's balances.

So for the same path, model, spec, risk and starting balances the backtest's decisions are the
on-chain run's decisions, amount for amount (``tests/demo/test_backtest_equals_chain.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..agent import AgentReplay, FeatureSpec, Observation, Risk
from ..agent.decide import ACTION_NAMES, BUY, REASON_NAMES, TRADED
from ..model.format import decode
from .world import WorldConfig

Q32 = 1 << 32


@dataclass(frozen=True)
class BacktestStep:
    tick: int
    action: str
    reason: str
    class_id: int
    confidence_q16: int
    features: tuple[int, ...]
    amount_in: int
    amount_out: int
    price: float  # pool price the agent saw (quote per base)
    equity: float  # trading PnL so far, quote tokens, marked at the price the agent saw


@dataclass(frozen=True)
class BacktestReport:
    steps: int
    trades: int
    buys: int
    sells: int
    hits: int
    judged: int
    pnl: float  # quote tokens
    final_base: int
    final_quote: int
    decisions: dict[str, int]
    records: list[BacktestStep] = field(repr=False)

    @property
    def hit_rate(self) -> float | None:
        """Trades whose price ``horizon`` ticks later moved their way, over trades judged."""
        return self.hits / self.judged if self.judged else None


def backtest(
    path: Sequence[float],
    model: bytes,
    spec: FeatureSpec,
    risk: Risk,
    world: WorldConfig | None = None,
    *,
    horizon: int = 10,
    slots: Sequence[int] | None = None,
) -> BacktestReport:
    """Run the agent over ``path`` (one tick per price). ``slots`` are the slots each tick's
    step happens at (default 0, 1, 2, …; cooldowns and the TWAP windows read them)."""
    cfg = world or WorldConfig()
    pool = cfg.twin()
    replay = AgentReplay(
        spec, risk, [(decode(model), 1)], cfg.fee_bps, cfg.agent_base, cfg.agent_quote
    )
    one = 10**cfg.decimals
    records: list[BacktestStep] = []
    decisions: dict[str, int] = {}
    mark = pool.spot()
    for tick, target in enumerate(path):
        slot = slots[tick] if slots is not None else tick
        # On chain the simulator trades in the slot before the step's (the run warps one slot
        # between them), so the agent's TWAP window carries the new price from the next slot.
        pool.observe(max(slot - 1, 0))
        pool.trade_toward_sync(target)
        pool.observe(slot)
        ra, rb = pool.reserve_a, pool.reserve_b
        d = replay.advance(Observation(slot, 0, None, ra, rb, cumulative=pool.cumulative))
        if d.reason == TRADED:
            if d.action == BUY:
                pool.reserve_b += d.amount_in
                pool.reserve_a -= d.amount_out
            else:
                pool.reserve_a += d.amount_in
                pool.reserve_b -= d.amount_out
        # Marked at the price the agent saw, as the bot's PnL is.
        if d.price:
            mark = d.price / Q32
        pnl = (replay.quote_balance - cfg.agent_quote) + (
            replay.base_balance - cfg.agent_base
        ) * mark
        key = f"{ACTION_NAMES[d.action]}/{REASON_NAMES[d.reason]}"
        decisions[key] = decisions.get(key, 0) + 1
        records.append(
            BacktestStep(
                tick,
                ACTION_NAMES[d.action],
                REASON_NAMES[d.reason],
                d.class_id,
                d.confidence_q16,
                d.features[: len(spec)],
                d.amount_in,
                d.amount_out,
                d.price / Q32,
                pnl / one,
            )
        )
    traded = [r for r in records if r.reason == "traded"]
    hits = judged = 0
    for r in traded:
        if r.tick + horizon < len(records):
            judged += 1
            later = records[r.tick + horizon].price
            hits += (later > r.price) if r.action == "buy" else (later < r.price)
    return BacktestReport(
        steps=len(records),
        trades=len(traded),
        buys=sum(r.action == "buy" for r in traded),
        sells=sum(r.action == "sell" for r in traded),
        hits=hits,
        judged=judged,
        pnl=records[-1].equity if records else 0.0,
        final_base=replay.base_balance,
        final_quote=replay.quote_balance,
        decisions=decisions,
        records=records,
    )


def plot_equity(report: BacktestReport, out: Path, title: str = "backtest") -> Path:
    """A PNG of the trading PnL and the pool price per tick. Needs matplotlib (the ``plot``
    extra: ``pip install 'ml-agent[plot]'``)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise RuntimeError(
            "the equity curve needs matplotlib: pip install 'ml-agent[plot]' (or matplotlib)"
        ) from e
    ticks = [r.tick for r in report.records]
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    ax1.plot(ticks, [r.price for r in report.records], lw=0.8, color="tab:gray")
    for side, color in (("buy", "tab:green"), ("sell", "tab:red")):
        pts = [r for r in report.records if r.reason == "traded" and r.action == side]
        ax1.scatter([r.tick for r in pts], [r.price for r in pts], s=8, color=color, label=side)
    ax1.set_ylabel("pool price")
    ax1.legend(loc="best")
    ax2.plot(ticks, [r.equity for r in report.records], lw=1.0, color="tab:blue")
    ax2.axhline(0, lw=0.5, color="black")
    ax2.set_ylabel("trading PnL (quote)")
    ax2.set_xlabel("tick")
    hit = f"{report.hit_rate:.0%}" if report.hit_rate is not None else "-"
    fig.suptitle(f"{title}: {report.trades} trades, hit rate {hit}, PnL {report.pnl:+.2f}")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
