"""Async agent client: create/configure/set-models/pause/resume/deposit/withdraw/close, the
`agent_step` crank, and reading the agent (state, decision log export)."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from solders.compute_budget import set_compute_unit_limit
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from ..chain.base import Chain, ChainError, TransactionFailed, TxResult
from ..program import PROGRAM_ID, build_ix, decode_account, find_pda, parse_events
from ..registry.accounts import ModelInfo
from .decide import ACTION_NAMES, REASON_NAMES, Risk
from .features import MAX_WINDOW, MIN_WINDOW, FeatureSpec
from .history import AgentHistoryState, decode_history, history_address

SOURCE_POOL, SOURCE_FEED, SOURCE_PYTH = 0, 1, 2
SOURCE_NAMES = {SOURCE_POOL: "pool", SOURCE_FEED: "feed", SOURCE_PYTH: "pyth"}
STEP_CU_LIMIT = 200_000
# A step that runs out of STEP_CU_LIMIT (costly models that still fit a transaction) is sent
# again with the largest limit.
MAX_STEP_CU_LIMIT = 1_400_000


def out_of_compute(res: TxResult) -> bool:
    """The transaction failed because it ran out of compute units."""
    text = " ".join([res.error or "", *res.logs])
    return "exceeded CUs meter" in text or "ComputationalBudgetExceeded" in text


def agent_address(authority: Pubkey, agent_id: int) -> Pubkey:
    return find_pda([b"agent", bytes(authority), struct.pack("<Q", agent_id)])[0]


def agent_vault(agent: Pubkey, mint: Pubkey) -> Pubkey:
    return find_pda([b"agent_vault", bytes(agent), bytes(mint)])[0]


@dataclass(frozen=True)
class ModelSlot:
    """One model of the agent: its header, a pinned version (0 = follow the active one) and its
    vote weight."""

    model: Pubkey
    version: int = 0
    weight: int = 1
    # The pinned version's weights account (weights accounts are not PDAs, so the client must
    # know it; the program checks it is that version of that model). The agent records it at
    # creation, so `AgentClient.state` fills it in for pinned slots.
    weights: Pubkey | None = None
    # The pinned version's chunk root as the agent recorded it (read back from the agent).
    root: bytes | None = None


@dataclass(frozen=True)
class ModelUnavailable:
    """A step that held because model slot `index` could not run; `error` is the program error
    code (e.g. 6043 PinnedVersionMismatch, 6038 FeatureSpecMismatch, 6060 ModelClosed)."""

    index: int
    model: Pubkey
    error: int


@dataclass(frozen=True)
class Decision:
    step: int
    slot: int
    price: int
    action: str
    reason: str
    class_id: int
    confidence_q16: int
    features: tuple[int, ...]
    amount_in: int
    amount_out: int


@dataclass(frozen=True)
class StepResult:
    decision: Decision
    traded: bool
    compute_units: int
    signature: str | None
    # Set when the decision's reason is "model_unavailable".
    unavailable: ModelUnavailable | None = None


@dataclass
class AgentState:
    address: Pubkey
    authority: Pubkey
    pool: Pubkey
    price_source: Pubkey
    source: str
    vault_a: Pubkey
    vault_b: Pubkey
    models: list[ModelSlot]
    spec: FeatureSpec
    risk: Risk
    step: int
    paused: bool
    trades: int
    buys: int
    sells: int
    quote_spent: int
    quote_received: int
    base_bought: int
    base_sold: int
    turnover_today: int
    last_price: int
    history: list[int]
    log: list[Decision] = field(default_factory=list)
    # Oracle exponent recorded at creation and B decimals minus A decimals.
    exponent: int = 0
    decimals_diff: int = 0
    # Price sampling: the last sample's slot, whether one was taken, the pool's cumulative
    # price then (pool agents) and the last accepted publish slot / time (feed / Pyth).
    last_price_slot: int = 0
    sampled: bool = False
    twap_cumulative: int = 0
    last_published: int = 0
    # Feature history: whether the agent has one (every step then passes it), its window T
    # (or the one its window models read), and how many model slots read the window.
    has_history: bool = False
    history_window: int = 0
    window_models: int = 0

    @property
    def oracle_shift(self) -> int | None:
        """Power of ten that turns this agent's oracle price into B atoms per A atom (the
        `AgentReplay.oracle_shift`); None for a pool-priced agent."""
        if self.source == "pool":
            return None
        return self.exponent + self.decimals_diff

    @property
    def cash_pnl(self) -> int:
        """Quote received minus quote spent (mark the base position to market separately)."""
        return self.quote_received - self.quote_spent


@dataclass(frozen=True)
class Valuation:
    """The agent marked to market at the pool's mid price (B atoms per A atom).

    `position_a` is the base the agent's trades added (bought minus sold), so
    `mark_to_market_pnl = cash_pnl + position_a * reserve_b / reserve_a` (floor) is the trading
    PnL in B atoms independent of deposits and withdrawals; `equity_b` values the vaults.
    """

    reserve_a: int
    reserve_b: int
    vault_a: int
    vault_b: int
    position_a: int
    cash_pnl: int
    position_value_b: int
    mark_to_market_pnl: int
    equity_b: int

    @property
    def price(self) -> float:
        return self.reserve_b / self.reserve_a if self.reserve_a else float("nan")


def mark_to_market(
    st: AgentState, reserve_a: int, reserve_b: int, vault_a: int, vault_b: int
) -> Valuation:
    """Value `st` at the pool price `reserve_b / reserve_a` (floor division, toward -inf)."""
    if reserve_a <= 0:
        raise ChainError(f"pool {st.pool} is empty: no price to mark the position at")
    position = st.base_bought - st.base_sold
    value = position * reserve_b // reserve_a
    return Valuation(
        reserve_a,
        reserve_b,
        vault_a,
        vault_b,
        position,
        st.cash_pnl,
        value,
        st.cash_pnl + value,
        vault_b + vault_a * reserve_b // reserve_a,
    )


def _class(d: Any) -> int:
    """anchorpy renames the `class` field (a Python keyword) to `class_`."""
    value: Any = d.class_ if hasattr(d, "class_") else getattr(d, "class")
    return int(value)


def decision_from_event(d: Any) -> Decision:
    n = int(d.n_features)
    return Decision(
        int(d.step),
        int(d.slot),
        int(d.price),
        ACTION_NAMES[int(d.action)],
        REASON_NAMES[int(d.reason)],
        _class(d),
        int(d.confidence_q16),
        tuple(int(v) for v in list(d.features)[:n]),
        int(d.amount_in),
        int(d.amount_out),
    )


def _risk(r: Any) -> Risk:
    return Risk(
        r.trade_size,
        r.max_position,
        r.max_trade,
        r.max_turnover_per_day,
        r.min_slots_between_trades,
        r.max_price_age,
        r.threshold_q16,
        r.max_conf_bps,
        r.slippage_bps,
        r.max_oracle_dev_bps,
    )


def decode_agent(address: Pubkey, data: bytes) -> AgentState:
    name, a = decode_account(data)
    if name != "Agent":
        raise ChainError(f"{address} is a {name}, not an Agent")
    n = int(a.n_models)
    models = [
        ModelSlot(
            a.models[i],
            int(a.model_versions[i]),
            int(a.model_weights[i]),
            a.pinned_weights[i] if int(a.model_versions[i]) else None,
            bytes(a.pinned_roots[i]) if int(a.model_versions[i]) else None,
        )
        for i in range(n)
    ]
    hist_len, head = int(a.hist_len), int(a.hist_head)
    history = [int(a.history[(head - hist_len + i) % 64]) for i in range(hist_len)]
    log_len, lhead = int(a.log_len), int(a.log_head)
    log = []
    for i in range(log_len):
        r = a.log[(lhead - log_len + i) % 32]
        log.append(
            Decision(
                int(r.step),
                int(r.slot),
                int(r.price),
                ACTION_NAMES[int(r.action)],
                REASON_NAMES[int(r.reason)],
                _class(r),
                int(r.confidence_q16),
                tuple(int(v) for v in list(r.features)[: int(r.n_features)]),
                int(r.amount_in),
                int(r.amount_out),
            )
        )
    return AgentState(
        address,
        a.authority,
        a.pool,
        a.price_source,
        SOURCE_NAMES.get(int(a.source_kind), "?"),
        a.vault_a,
        a.vault_b,
        models,
        FeatureSpec.decode(list(a.features), int(a.n_features)),
        _risk(a.risk),
        int(a.step),
        bool(a.paused),
        int(a.trades),
        int(a.buys),
        int(a.sells),
        int(a.quote_spent),
        int(a.quote_received),
        int(a.base_bought),
        int(a.base_sold),
        int(a.turnover_today),
        int(a.last_price),
        history,
        log,
        int(a.exponent),
        int(a.decimals_diff),
        int(a.last_price_slot),
        bool(a.sampled),
        (int(a.twap_cum_hi) << 64) | int(a.twap_cum_lo),
        int(a.last_published),
        bool(a.has_history),
        int(a.history_window),
        int(a.window_models),
    )


def _model_set(models: Sequence[ModelSlot]) -> dict[str, Any]:
    """`n_models`, `model_versions`, `model_weights` as create_agent and set_agent_models take
    them (unused entries 0)."""
    if not 1 <= len(models) <= 4:
        raise ChainError(f"an agent runs 1 to 4 models, not {len(models)}")
    pad = [0] * (4 - len(models))
    return {
        "n_models": len(models),
        "model_versions": [m.version for m in models] + pad,
        "model_weights": [m.weight for m in models] + pad,
    }


@dataclass
class AgentClient:
    chain: Chain
    payer: Keypair
    # Weights accounts of pinned versions, learnt from `create` (or registered by the caller).
    pinned: dict[tuple[Pubkey, int], Pubkey] = field(default_factory=dict)

    async def _model_metas(
        self, models: Sequence[ModelSlot], *, for_step: bool = False
    ) -> list[AccountMeta]:
        """(header, weights) per model: the active weights, or the pinned version's.

        For a step (`for_step`), a followed model that has no active version any more (closed,
        never activated) gets its header in both places: the step then records it as
        `model_unavailable` rather than the crank failing, which is what the program does with
        any weights account in that case. Creating or re-setting models refuses it instead."""
        metas: list[AccountMeta] = []
        for m in models:
            weights: Pubkey | None
            if m.version != 0:
                weights = m.weights or self.pinned.get((m.model, m.version))
                if weights is None:
                    raise ChainError(
                        f"model {m.model} is pinned to version {m.version}: "
                        "pass its weights account"
                    )
            else:
                weights = await self._active_weights(m.model)
                if weights is None:
                    if not for_step:
                        raise ChainError(
                            f"model {m.model} does not exist, was closed or has no active version"
                        )
                    weights = m.model
            metas += [AccountMeta(m.model, False, False), AccountMeta(weights, False, False)]
        return metas

    async def _active_weights(self, model: Pubkey) -> Pubkey | None:
        acc = await self.chain.get_account(model)
        if acc is None or acc.owner != PROGRAM_ID:
            return None
        try:
            info = ModelInfo.decode(model, bytes(acc.data), acc.lamports)
        except ValueError:  # another account type: a closed model's tombstone
            return None
        return info.active_weights

    async def create(
        self,
        *,
        agent_id: int,
        pool: Pubkey,
        models: Sequence[ModelSlot],
        spec: FeatureSpec,
        risk: Risk,
        source: int = SOURCE_POOL,
        price_source: Pubkey | None = None,
        pyth_feed_id: bytes = bytes(32),
        authority: Keypair | None = None,
        window: int | None = None,
    ) -> Pubkey:
        """Create an agent on `pool` running `models` (1..4) with feature `spec` and `risk`
        limits; returns its address. Its vaults are created with it, and with `window` its
        feature history of that many steps (same transaction). A model of `window * len(spec)`
        inputs reads the window; one of `len(spec)` inputs the step's feature vector."""
        auth = authority or self.payer
        agent = agent_address(auth.pubkey(), agent_id)
        for m in models:
            if m.version and m.weights is not None:
                self.pinned[(m.model, m.version)] = m.weights
        pacc = await self.chain.get_account(pool)
        if pacc is None:
            raise ChainError(f"pool {pool} does not exist")
        _, p = decode_account(bytes(pacc.data))
        setup = {
            "source_kind": source,
            "n_features": len(spec),
            "features": spec.encode(),
            **_model_set(models),
            "pyth_feed_id": list(pyth_feed_id),
            "risk": risk.to_idl(),
        }
        ix = build_ix(
            "create_agent",
            {"agent_id": agent_id, "setup": setup},
            {
                "authority": auth.pubkey(),
                "agent": agent,
                "pool": pool,
                "mint_a": p.mint_a,
                "mint_b": p.mint_b,
                "vault_a": agent_vault(agent, p.mint_a),
                "vault_b": agent_vault(agent, p.mint_b),
                "price_source": price_source or pool,
            },
            remaining=await self._model_metas(models),
        )
        ixs = [set_compute_unit_limit(400_000), ix]
        if window is not None:
            ixs.append(self.init_history_instruction(agent, window, auth.pubkey()))
        await self.chain.send(ixs, self.payer, [auth])
        return agent

    def init_history_instruction(
        self, agent: Pubkey, window: int, authority: Pubkey
    ) -> Instruction:
        """`init_agent_history(window)` for callers building their own transactions (the
        authority signs and pays the rent)."""
        if not MIN_WINDOW <= window <= MAX_WINDOW:
            raise ChainError(f"a history window is {MIN_WINDOW}..{MAX_WINDOW} steps, not {window}")
        return build_ix(
            "init_agent_history",
            {"window": window},
            {"authority": authority, "agent": agent, "history": history_address(agent)},
        )

    def close_history_instruction(self, agent: Pubkey, authority: Pubkey) -> Instruction:
        """`close_agent_history` for callers building their own transactions (the authority
        signs and receives the rent)."""
        return build_ix(
            "close_agent_history",
            {},
            {"authority": authority, "agent": agent, "history": history_address(agent)},
        )

    async def init_history(
        self,
        agent: Pubkey,
        window: int,
        *,
        authority: Keypair | None = None,
        check: bool = True,
    ) -> TxResult:
        """Give the agent a feature history of `window` steps (authority only, who pays the
        rent). It starts empty; window models run once it holds `window` vectors."""
        auth = authority or self.payer
        ix = self.init_history_instruction(agent, window, auth.pubkey())
        return await self.chain.send([ix], self.payer, [auth], check=check)

    async def close_history(
        self, agent: Pubkey, *, authority: Keypair | None = None, check: bool = True
    ) -> TxResult:
        """Close the agent's feature history; its rent goes back to the authority."""
        auth = authority or self.payer
        ix = self.close_history_instruction(agent, auth.pubkey())
        return await self.chain.send([ix], self.payer, [auth], check=check)

    async def history(self, agent: Pubkey) -> AgentHistoryState:
        """The agent's feature history: its shape, counters and vectors (oldest first)."""
        address = history_address(agent)
        acc = await self.chain.get_account(address)
        if acc is None or acc.owner != PROGRAM_ID:
            raise ChainError(f"agent {agent} has no feature history")
        return decode_history(address, bytes(acc.data))

    async def set_models(
        self,
        agent: Pubkey,
        models: Sequence[ModelSlot],
        *,
        authority: Keypair | None = None,
        check: bool = True,
    ) -> TxResult:
        """Replace the agent's models (authority only; the checks of `create`)."""
        auth = authority or self.payer
        for m in models:
            if m.version and m.weights is not None:
                self.pinned[(m.model, m.version)] = m.weights
        ix = build_ix(
            "set_agent_models",
            _model_set(models),
            {"authority": auth.pubkey(), "agent": agent},
            remaining=await self._model_metas(models),
        )
        return await self.chain.send(
            [set_compute_unit_limit(400_000), ix], self.payer, [auth], check=check
        )

    async def close(
        self,
        agent: Pubkey,
        user_a: Pubkey,
        user_b: Pubkey,
        *,
        authority: Keypair | None = None,
        vaults: tuple[Pubkey, Pubkey] | None = None,
        check: bool = True,
    ) -> TxResult:
        """Close the agent: both vault balances go to `user_a` / `user_b`, all rent (vaults,
        agent account and its feature history, closed first in the same transaction) to the
        authority."""
        return await self._vault_ix(
            "close_agent", {}, agent, (user_a, user_b), authority, vaults, check
        )

    async def agents_using(
        self, model: Pubkey, authority: Pubkey, *, ids: range = range(100)
    ) -> list[Pubkey]:
        """Agents of `authority` (ids in `ids`, one getMultipleAccounts per 100) that run
        `model`. Agents are PDAs of (authority, id), so this needs no account index."""
        found: list[Pubkey] = []
        keys = [agent_address(authority, i) for i in ids]
        for at in range(0, len(keys), 100):
            batch = keys[at : at + 100]
            for key, acc in zip(batch, await self.chain.get_multiple_accounts(batch), strict=True):
                if acc is None or acc.owner != PROGRAM_ID:
                    continue
                try:
                    st = decode_agent(key, bytes(acc.data))
                except (ChainError, ValueError):  # not an agent at this address
                    continue
                if any(m.model == model for m in st.models):
                    found.append(key)
        return found

    async def state(self, agent: Pubkey) -> AgentState:
        """Decode the agent at `agent` (models, spec, risk, step counter, trade stats)."""
        acc = await self.chain.get_account(agent)
        if acc is None or acc.owner != PROGRAM_ID:
            raise ChainError(f"{agent} is not an agent of this program")
        return decode_agent(agent, bytes(acc.data))

    async def valuation(self, agent: Pubkey) -> Valuation:
        """Mark the agent to market at its pool's current mid price."""
        from ..market.client import token_amount

        st = await self.state(agent)
        pacc, va, vb = await self.chain.get_multiple_accounts([st.pool, st.vault_a, st.vault_b])
        if pacc is None or va is None or vb is None:
            raise ChainError(f"agent {agent}: its pool or a vault is missing")
        _, p = decode_account(bytes(pacc.data))
        # The pool's tracked reserves (a donation sitting in a vault does not move its price).
        return mark_to_market(
            st,
            int(p.reserve_a),
            int(p.reserve_b),
            token_amount(bytes(va.data)),
            token_amount(bytes(vb.data)),
        )

    async def step_instruction(
        self,
        agent: Pubkey,
        *,
        expected_step: int | None = None,
        price_account: Pubkey | None = None,
    ) -> Instruction:
        """The permissionless `agent_step` instruction, for callers building their
        own transactions."""
        st = await self.state(agent)
        pacc = await self.chain.get_account(st.pool)
        if pacc is None:
            raise ChainError(f"pool {st.pool} is missing")
        _, p = decode_account(bytes(pacc.data))
        price = price_account or (st.price_source if st.source != "pyth" else None)
        if price is None:
            raise ChainError("a Pyth agent needs the price update account (price_account)")
        history = [AccountMeta(history_address(agent), False, True)] if st.has_history else []
        return build_ix(
            "agent_step",
            {"expected_step": st.step if expected_step is None else expected_step},
            {
                "agent": agent,
                "pool": st.pool,
                "pool_vault_a": p.vault_a,
                "pool_vault_b": p.vault_b,
                "vault_a": st.vault_a,
                "vault_b": st.vault_b,
                "price_source": price,
            },
            remaining=history + await self._model_metas(st.models, for_step=True),
        )

    async def step(
        self,
        agent: Pubkey,
        *,
        expected_step: int | None = None,
        price_account: Pubkey | None = None,
        check: bool = True,
    ) -> StepResult | TxResult:
        """Crank once; returns the decision (or the failed TxResult when not `check`)."""
        ix = await self.step_instruction(
            agent, expected_step=expected_step, price_account=price_account
        )
        res = await self.chain.send(
            [set_compute_unit_limit(STEP_CU_LIMIT), ix], self.payer, check=False
        )
        if not res.ok and out_of_compute(res):
            # Models whose compute bounds fit a step but not the usual limit: the largest one.
            # (A failed step changes nothing; models that fit no step are a HOLD, not this.)
            res = await self.chain.send(
                [set_compute_unit_limit(MAX_STEP_CU_LIMIT), ix], self.payer, check=False
            )
        if not res.ok:
            if check:
                raise TransactionFailed(res)
            return res
        events = parse_events(res.logs)
        decisions = [decision_from_event(e.data) for e in events if e.name == "Decision"]
        if len(decisions) != 1:
            raise ChainError("agent_step emitted no Decision event")
        traded = any(e.name == "Trade" for e in events)
        sig = str(res.signature) if res.signature is not None else None
        unavailable = [
            ModelUnavailable(int(e.data.index), e.data.model, int(e.data.error))
            for e in events
            if e.name == "ModelUnavailable"
        ]
        return StepResult(
            decisions[0], traded, res.compute_units, sig, unavailable[0] if unavailable else None
        )

    async def _authority_ix(self, name: str, agent: Pubkey, authority: Keypair | None) -> TxResult:
        auth = authority or self.payer
        ix = build_ix(name, {}, {"authority": auth.pubkey(), "agent": agent})
        return await self.chain.send([ix], self.payer, [auth])

    async def pause(self, agent: Pubkey, authority: Keypair | None = None) -> TxResult:
        """Stop the agent from trading until `resume` (authority only)."""
        return await self._authority_ix("pause_agent", agent, authority)

    async def resume(self, agent: Pubkey, authority: Keypair | None = None) -> TxResult:
        """Let a paused agent trade again (authority only)."""
        return await self._authority_ix("resume_agent", agent, authority)

    async def configure(
        self, agent: Pubkey, risk: Risk, authority: Keypair | None = None
    ) -> TxResult:
        """Replace the agent's risk limits (authority only)."""
        auth = authority or self.payer
        ix = build_ix(
            "configure_agent", {"risk": risk.to_idl()}, {"authority": auth.pubkey(), "agent": agent}
        )
        return await self.chain.send([ix], self.payer, [auth])

    async def _funds(
        self,
        name: str,
        agent: Pubkey,
        user_a: Pubkey,
        user_b: Pubkey,
        amount_a: int,
        amount_b: int,
        authority: Keypair | None,
        vaults: tuple[Pubkey, Pubkey] | None,
        check: bool,
    ) -> TxResult:
        args = {"amount_a": amount_a, "amount_b": amount_b}
        return await self._vault_ix(name, args, agent, (user_a, user_b), authority, vaults, check)

    async def _vault_ix(
        self,
        name: str,
        args: dict[str, int],
        agent: Pubkey,
        users: tuple[Pubkey, Pubkey],
        authority: Keypair | None,
        vaults: tuple[Pubkey, Pubkey] | None,
        check: bool,
    ) -> TxResult:
        """An authority instruction over the agent's two vaults and the user's two token
        accounts (deposit, withdraw, close_agent)."""
        auth = authority or self.payer
        st = await self.state(agent)
        va, vb = vaults or (st.vault_a, st.vault_b)
        ix = build_ix(
            name,
            args,
            {
                "authority": auth.pubkey(),
                "agent": agent,
                "vault_a": va,
                "vault_b": vb,
                "user_a": users[0],
                "user_b": users[1],
            },
        )
        ixs = [ix]
        if name == "close_agent" and st.has_history:
            # The program refuses to close an agent whose history would be left behind.
            ixs.insert(0, self.close_history_instruction(agent, auth.pubkey()))
        return await self.chain.send(ixs, self.payer, [auth], check=check)

    async def deposit(
        self,
        agent: Pubkey,
        user_a: Pubkey,
        user_b: Pubkey,
        *,
        amount_a: int = 0,
        amount_b: int = 0,
        authority: Keypair | None = None,
    ) -> TxResult:
        """Move tokens from the authority's token accounts into the agent's vaults."""
        return await self._funds(
            "deposit", agent, user_a, user_b, amount_a, amount_b, authority, None, True
        )

    async def withdraw(
        self,
        agent: Pubkey,
        user_a: Pubkey,
        user_b: Pubkey,
        *,
        amount_a: int = 0,
        amount_b: int = 0,
        authority: Keypair | None = None,
        vaults: tuple[Pubkey, Pubkey] | None = None,
        check: bool = True,
    ) -> TxResult:
        """Move tokens from the agent's vaults back to the authority's token accounts."""
        return await self._funds(
            "withdraw", agent, user_a, user_b, amount_a, amount_b, authority, vaults, check
        )

    async def export_log(self, agent: Pubkey) -> list[dict[str, Any]]:
        """The on-chain decision log (last 32 steps) as rows for retraining."""
        st = await self.state(agent)
        return [
            {
                "step": d.step,
                "slot": d.slot,
                "price": d.price,
                "features": list(d.features),
                "action": d.action,
                "reason": d.reason,
                "class": d.class_id,
                "confidence_q16": d.confidence_q16,
                "amount_in": d.amount_in,
                "amount_out": d.amount_out,
            }
            for d in st.log
        ]
