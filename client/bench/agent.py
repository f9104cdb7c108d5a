"""`agent_step` compute units on LiteSVM: one iris-size model, a 4-model ensemble, and a model
over a 120 x 5 feature window (the agent's feature history, issue 15).

Each case builds a market (two SPL mints, a pool with 1,000 A + 1,000 B of liquidity), deploys
its models (4-8-3 ReLU MLPs, INT8, softmax, biased to BUY so every post-warm-up step trades, i.e.
pays for both swap transfers) and an agent with the features `return:1,sma_ratio:4,volatility:3,
position`, then cranks it. Reported: the worst `agent_step` CU of the trading steps (both token
CPIs included), of a warm-up step (no models run) and the issue's target.

The window case gives the agent a 120-step feature history of 5 features
(`return:1,return:3,sma_ratio:8,volatility:4,volatility:12`) and one 600-16-3 ReLU MLP, INT8,
biased to BUY, fed the flattened window (time-major, oldest first); its warm-up column is the
worst step that pushes a vector while the window fills (no model runs).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from ..agent import AgentClient, FeatureSpec, ModelSlot, Risk, StepResult
from ..chain.base import Chain, next_slot
from ..market import MarketClient
from ..model.compiler import compile_model
from ..model.format import encode
from ..model.ir import Activation, ActivationLayer, DenseLayer, FloatModel, Head
from ..registry import ModelRegistry

SPEC = "return:1,sma_ratio:4,volatility:3,position"
LIQUIDITY = 1_000_000_000
TARGETS = {"single": 30_000, "ensemble4": 60_000, "window120x5": 1_400_000}
WINDOW_SPEC = "return:1,return:3,sma_ratio:8,volatility:4,volatility:12"
WINDOW = 120


@dataclass
class AgentStepReport:
    name: str
    description: str
    models: int
    step_cu: int  # worst trading step (model(s) + decision + two token transfers)
    step_cu_mean: float
    warmup_cu: int  # a step before the history is long enough (price read + ring update)
    trades: int
    target: int
    target_met: bool


@dataclass
class AgentBenchReport:
    cases: list[AgentStepReport] = field(default_factory=list)


def buy_mlp(seed: int) -> bytes:
    """A 4-8-3 ReLU MLP (iris-size) with random hidden weights whose output favours BUY."""
    rng = np.random.default_rng(seed)
    w1 = rng.normal(0, 0.7, (8, 4))
    w2 = rng.normal(0, 0.1, (3, 8))
    fm = FloatModel(
        4,
        (
            DenseLayer(w1, rng.normal(0, 0.1, 8)),
            ActivationLayer(Activation.RELU),
            DenseLayer(w2, np.asarray([0.0, 0.0, 3.0])),
        ),
        Head.SOFTMAX,
        ("sell", "hold", "buy"),
        name=f"bench-agent-{seed}",
    )
    calib = rng.uniform(-0.3, 0.3, (256, 4))
    calib[:, 3] = rng.uniform(0, 1, 256)
    return encode(compile_model(fm, calib, 8, input_range=([-1.0] * 3 + [0.0], [1.0] * 3 + [2.0])))


def window_mlp(n_in: int, hidden: int = 16, seed: int = 5) -> bytes:
    """An n_in-hidden-3 ReLU MLP (INT8) whose output favours BUY: the window case's model."""
    rng = np.random.default_rng(seed)
    fm = FloatModel(
        n_in,
        (
            DenseLayer(rng.normal(0, 1.0 / np.sqrt(n_in), (hidden, n_in)), np.zeros(hidden)),
            ActivationLayer(Activation.RELU),
            DenseLayer(rng.normal(0, 0.1, (3, hidden)), np.asarray([0.0, 0.0, 3.0])),
        ),
        Head.SOFTMAX,
        ("sell", "hold", "buy"),
        name="bench-agent-window",
    )
    calib = rng.uniform(-0.05, 0.05, (256, n_in))
    bounds = ([-1.0] * n_in, [1.0] * n_in)
    # 600 inputs fit no `infer` transaction; the agent reads them from its history account.
    return encode(compile_model(fm, calib, 8, input_range=bounds, check_feasible=False))


def bench_risk() -> Risk:
    return Risk(
        trade_size=1_000_000,
        max_position=10_000_000_000,
        max_trade=5_000_000,
        max_turnover_per_day=10**15,
        min_slots_between_trades=0,
        max_price_age=50,
        threshold_q16=30_000,
        max_conf_bps=100,
        slippage_bps=200,
    )


async def _market(chain: Chain, payer: Keypair) -> tuple[Pubkey, Pubkey, Pubkey]:
    market = MarketClient(chain, payer)
    mint_a = await market.create_mint(6)
    mint_b = await market.create_mint(6)
    pool = await market.create_pool(mint_a, mint_b, fee_bps=30)
    st = await market.pool(pool)
    user_a = await market.create_token_account(mint_a, payer.pubkey())
    user_b = await market.create_token_account(mint_b, payer.pubkey())
    user_lp = await market.create_token_account(st.lp_mint, payer.pubkey())
    await market.mint_to(mint_a, user_a, 10 * LIQUIDITY)
    await market.mint_to(mint_b, user_b, 10 * LIQUIDITY)
    await market.add_liquidity(pool, user_a, user_b, user_lp, amount_a=LIQUIDITY, max_b=LIQUIDITY)
    return pool, user_a, user_b


async def measure_case(
    chain: Chain,
    payer: Keypair,
    name: str,
    n_models: int,
    *,
    agent_id: int,
    steps: int = 12,
    window: int | None = None,
) -> AgentStepReport:
    pool, user_a, user_b = await _market(chain, payer)
    registry = ModelRegistry(chain, payer)
    spec = FeatureSpec.parse(WINDOW_SPEC if window else SPEC)
    if window:
        model = window_mlp(window * len(spec))
        slots = [ModelSlot((await registry.deploy(model, check_runnable=False)).model)]
    else:
        slots = [
            ModelSlot((await registry.deploy(buy_mlp(agent_id * 10 + i))).model)
            for i in range(n_models)
        ]
    agents = AgentClient(chain, payer)
    agent = await agents.create(
        agent_id=agent_id, pool=pool, models=slots, spec=spec, risk=bench_risk(), window=window
    )
    await agents.deposit(agent, user_a, user_b, amount_a=100_000_000, amount_b=100_000_000)
    warm: list[int] = []
    traded: list[int] = []
    for _ in range(steps):
        await next_slot(chain)  # one price sample per slot
        r = await agents.step(agent)
        assert isinstance(r, StepResult)
        if r.decision.reason == ("warming_up" if window else "warmup"):
            warm.append(r.compute_units)
        elif r.traded:
            traded.append(r.compute_units)
    if not traded:
        raise RuntimeError(f"bench agent {name} never traded; the CU would not include swaps")
    target = TARGETS[name]
    if window:
        desc = f"{window}x{len(spec)} window, MLP {window * len(spec)}-16-3 INT8"
    elif n_models == 1:
        desc = "1 model, MLP 4-8-3 INT8"
    else:
        desc = f"{n_models}-model ensemble of 4-8-3 MLPs"
    return AgentStepReport(
        name=name,
        description=desc + ", BUY each step (2 token transfers)",
        models=n_models,
        step_cu=max(traded),
        step_cu_mean=round(sum(traded) / len(traded), 1),
        warmup_cu=max(warm) if warm else 0,
        trades=len(traded),
        target=target,
        target_met=max(traded) <= target,
    )


async def run_agent_bench(chain: Chain, payer: Keypair) -> AgentBenchReport:
    report = AgentBenchReport()
    report.cases.append(await measure_case(chain, payer, "single", 1, agent_id=1))
    report.cases.append(await measure_case(chain, payer, "ensemble4", 4, agent_id=2))
    spec = FeatureSpec.parse(WINDOW_SPEC)
    report.cases.append(
        await measure_case(
            chain,
            payer,
            "window120x5",
            1,
            agent_id=3,
            steps=spec.lookback + WINDOW + 4,
            window=WINDOW,
        )
    )
    return report


def format_agent_report(r: AgentBenchReport) -> str:
    head = f"{'agent_step':<11} {'description':<61} {'CU':>7} {'mean':>8} {'warm-up':>8}  target"
    lines = ["", head, "-" * len(head)]
    for c in r.cases:
        verdict = f"<= {c.target:,}: {'met' if c.target_met else 'MISSED'}"
        lines.append(
            f"{c.name:<11} {c.description:<61} {c.step_cu:>7,} {c.step_cu_mean:>8,.0f} "
            f"{c.warmup_cu:>8,}  {verdict}"
        )
    return "\n".join(lines)
