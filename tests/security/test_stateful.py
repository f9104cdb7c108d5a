"""Stateful property test (issue 11): random sequences of pool, agent and registry instructions
from several keypairs, honest and hostile, on LiteSVM, with invariants checked after every step.

Actors: two liquidity providers (`lp1` honest, `lp2` also tries hostile things), an attacker
`atk` (trades, donates to the vaults, syncs, cranks, sandwiches the crank inside one
transaction, and tries every authority-gated instruction with its own signature) and the
agent's authority `auth` (deposits, withdraws, pauses, resumes).

Invariants after every rule:
* token conservation: for each mint, the tokens in all the world's accounts (users, pool
  vaults, agent vaults) equal what was minted;
* the pool's books: each vault holds at least its tracked reserve, reserves stay positive;
* an LP's share value never drops from anyone's actions except by price moves:
  `reserve_a * reserve_b / shares^2` (the constant-product value of a share at any fixed price,
  squared) never decreases, and each LP's balance changes only by its own add / remove;
* the agent's vaults change only by its own trades (the amounts its Decision events report)
  and its authority's deposits / withdrawals;
* no account changes without its authority: a token account never loses tokens in a
  transaction its owner did not sign, a refused transaction changes nothing, the agent's
  configuration and the model's accounts never change under a hostile signature;
* the agent takes at most one price sample per slot, and a trade pays at least the TWAP value
  of its input less `slippage_bps`.

CI runs at least 200 sequences of 50 rules each; `pytest --long` (or ML_AGENT_LONG=1) runs
10,000.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from solders.compute_budget import set_compute_unit_limit
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from spl.token.constants import TOKEN_PROGRAM_ID
from spl.token.instructions import TransferParams, transfer

from client.agent import AgentClient, ModelSlot
from client.agent.client import decision_from_event
from client.artifacts import embedded_so_path
from client.chain.base import ChainError, TransactionFailed, TxResult
from client.chain.litesvm import LiteSvmChain
from client.market import MarketClient, PoolState
from client.market.client import token_amount
from client.program import PROGRAM_ID, build_ix, parse_events
from client.registry import ModelRegistry
from tests.agent.world import SPEC, constant_model, momentum_model, risk

from .actors import Actor, actor

T = TypeVar("T")
LONG = os.environ.get("ML_AGENT_LONG") == "1"
# Sequences that must run all STEPS rules; ML_AGENT_STATEFUL_SEQUENCES overrides the count
# (e.g. a partial long run). Hypothesis ends ~20 % of sequences a few rules early (when a
# sequence's choice buffer fills up), so it is asked for 30 % more.
SEQUENCES = int(os.environ.get("ML_AGENT_STATEFUL_SEQUENCES", 10_000 if LONG else 200))
OVERSAMPLE = 1.3
STEPS = 50
SLIPPAGE_BPS = 200


class Harness:
    """One LiteSVM for every sequence (each sequence gets fresh mints, pool and agent); the
    model is deployed once."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.svm = LiteSvmChain.with_program(PROGRAM_ID, embedded_so_path())
        self.payer = Keypair()
        self.run(self.svm.airdrop(self.payer.pubkey(), 10**13))
        reg = ModelRegistry(self.svm, self.payer)
        # A momentum model (trades on moves) and one that buys every step (the vault and
        # slippage invariants then meet a trade at every crank); sequences alternate.
        self.models = [
            self.run(reg.deploy(momentum_model())).model,
            self.run(reg.deploy(constant_model(2))).model,
        ]
        self.ids = itertools.count(1)
        self.sequences = 0
        self.steps = 0
        self.traded = 0
        self.refused = 0
        self.reasons: dict[str, int] = {}
        self.lengths: list[int] = []

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)


HARNESS: Harness | None = None


def harness() -> Harness:
    global HARNESS
    if HARNESS is None:
        HARNESS = Harness()
    return HARNESS


@dataclass
class Outcome:
    ok: bool
    signers: frozenset[Pubkey]
    result: TxResult | None = None


class PoolAgentMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        h = harness()
        self.h, self.svm = h, h.svm
        self.model = h.models[h.sequences % 2]
        self.mints = MarketClient(self.svm, h.payer)
        run = h.run
        self.mint_a = run(self.mints.create_mint(6))
        self.mint_b = run(self.mints.create_mint(6))
        self.pool = run(self.mints.create_pool(self.mint_a, self.mint_b))
        lp_mint = run(self.mints.pool(self.pool)).lp_mint
        big = 10**12
        mk = lambda a, b: run(  # noqa: E731
            actor(self.svm, self.mints, self.mint_a, self.mint_b, amount_a=a, amount_b=b,
                  lp_mint=lp_mint)
        )  # fmt: skip
        self.lp1, self.lp2, self.atk, self.auth = (
            mk(big, big),
            mk(big, big),
            mk(big, big),
            mk(10**11, 10**11),
        )
        self.actors = {"lp1": self.lp1, "lp2": self.lp2, "atk": self.atk, "auth": self.auth}
        self.minted = [3 * big + 10**11, 3 * big + 10**11]
        m1 = MarketClient(self.svm, self.lp1.keypair)
        assert self.lp1.token_lp is not None
        run(m1.add_liquidity(self.pool, self.lp1.token_a, self.lp1.token_b, self.lp1.token_lp,
                             amount_a=10**9, max_b=10**9))  # fmt: skip
        self.agents = AgentClient(self.svm, self.auth.keypair)
        self.agent = run(
            self.agents.create(
                agent_id=next(h.ids),
                pool=self.pool,
                models=[ModelSlot(self.model)],
                spec=SPEC,
                risk=risk(slippage_bps=SLIPPAGE_BPS, max_position=10**12),
            )
        )
        run(self.agents.deposit(self.agent, self.auth.token_a, self.auth.token_b,
                                amount_a=10**8, amount_b=10**8))  # fmt: skip
        ag = run(self.agents.state(self.agent))
        # The crank's accounts never change; only expected_step does (decoding the agent for
        # every crank would dominate the run time).
        self.step_accounts = {
            "agent": self.agent,
            "pool": self.pool,
            "pool_vault_a": run(self.mints.pool(self.pool)).vault_a,
            "pool_vault_b": run(self.mints.pool(self.pool)).vault_b,
            "vault_a": ag.vault_a,
            "vault_b": ag.vault_b,
            "price_source": self.pool,
        }
        self.step_models = run(self.agents._model_metas(ag.models))
        self.steps_done = 0
        self.agent_bytes = b""
        # Past the warm-up (the first step opens the TWAP window), so sequences reach trades.
        for k in range(SPEC.lookback):
            self.svm.warp_slots(1)
            ix = self.step_ix(k)
            run(self.svm.send([set_compute_unit_limit(400_000), ix], self.atk.keypair))
        self.steps_done = SPEC.lookback
        self.agent_vaults = (ag.vault_a, ag.vault_b)
        self.expected_vaults = [10**8, 10**8]
        self.config = (ag.authority, ag.risk, ag.models, ag.spec)
        st0 = self.pool_state()
        self.vaults = (st0.vault_a, st0.vault_b)
        self.prev_k = (st0.reserve_a, st0.reserve_b, st0.total_shares)
        self.lp_expected = {n: self.balance(a.token_lp) for n, a in self.actors.items()}
        model_accs = run(self.svm.get_multiple_accounts([self.model]))
        self.model_data = [bytes(a.data) if a else b"" for a in model_accs]
        self.before = self.snapshot()
        h.sequences += 1
        h.lengths.append(0)
        self.started = False

    # ------------------------------------------------------------------ plumbing

    def pool_state(self) -> PoolState:
        return self.h.run(self.mints.pool(self.pool))

    def balance(self, acc: Pubkey | None) -> int:
        assert acc is not None
        return self.h.run(self.mints.balance(acc))

    def token_accounts(self) -> list[Pubkey]:
        out: list[Pubkey] = [*self.vaults, *self.agent_vaults]
        for a in self.actors.values():
            out += [a.token_a, a.token_b]
        return out

    def snapshot(self) -> dict[Pubkey, bytes]:
        keys = [*self.token_accounts(), self.pool, self.agent, self.model]
        keys += [a.token_lp for a in self.actors.values() if a.token_lp is not None]
        accs = self.h.run(self.svm.get_multiple_accounts(keys))
        return {k: bytes(a.data) if a is not None else b"" for k, a in zip(keys, accs, strict=True)}

    def send(self, ixs: list[Any], payer: Actor, *extra: Actor) -> Outcome:
        signers = frozenset([payer.pubkey, *(e.pubkey for e in extra)])
        res = self.h.run(self.svm.send(ixs, payer.keypair, [e.keypair for e in extra], check=False))
        out = Outcome(res.ok, signers, res)
        self.check_transaction(out)
        self.h.refused += not res.ok
        return out

    def call(self, coro: Coroutine[Any, Any, Any], signers: list[Actor]) -> Outcome:
        """An SDK call that sends one transaction and raises on failure."""
        try:
            res = self.h.run(coro)
            out = Outcome(True, frozenset(a.pubkey for a in signers), res)
        except (TransactionFailed, ChainError):
            out = Outcome(False, frozenset(a.pubkey for a in signers))
        self.check_transaction(out)
        return out

    def check_transaction(self, out: Outcome) -> None:
        after = self.snapshot()
        if not out.ok:
            assert after == self.before, "a refused transaction changed an account"
        owners = {}
        for a in self.actors.values():
            owners[a.token_a] = owners[a.token_b] = a.pubkey
            if a.token_lp is not None:
                owners[a.token_lp] = a.pubkey
        for acc, owner in owners.items():
            was, now = token_amount(self.before[acc]), token_amount(after[acc])
            if now < was:
                assert owner in out.signers, f"{acc} lost tokens without its owner's signature"
        self.before = after

    def step_ix(self, k: int) -> Any:
        return build_ix("agent_step", {"expected_step": k}, self.step_accounts,
                        remaining=self.step_models)  # fmt: skip

    def decisions(self, out: Outcome) -> list[Any]:
        if not out.ok or out.result is None:
            return []
        logs = out.result.logs
        return [decision_from_event(e.data) for e in parse_events(logs) if e.name == "Decision"]

    def apply_decisions(self, ds: list[Any]) -> None:
        self.steps_done += len(ds)
        for d in ds:
            self.h.reasons[d.reason] = self.h.reasons.get(d.reason, 0) + 1
            if d.reason == "traded":
                self.h.traded += 1
                # The victim's bound: at least the TWAP value of the input less slippage.
                if d.action == "buy":
                    fair = d.amount_in * (1 << 32) // d.price
                    self.expected_vaults[1] -= d.amount_in
                    self.expected_vaults[0] += d.amount_out
                else:
                    fair = d.amount_in * d.price >> 32
                    self.expected_vaults[0] -= d.amount_in
                    self.expected_vaults[1] += d.amount_out
                assert d.amount_out * 10_000 >= fair * (10_000 - SLIPPAGE_BPS), d
            else:
                assert d.amount_in == d.amount_out == 0

    def who(self, name: str) -> Actor:
        return self.actors[name]

    # ------------------------------------------------------------------ pool rules

    @rule(
        name=st.sampled_from(["lp1", "lp2", "atk"]),
        up=st.booleans(),
        amount=st.one_of(st.integers(1, 10**6), st.integers(1, 10**9), st.just(10**13)),
    )
    def swap(self, name: str, up: bool, amount: int) -> None:
        a = self.who(name)
        st_ = self.pool_state()
        src, dst = (a.token_b, a.token_a) if up else (a.token_a, a.token_b)
        ix = self.mints.swap_instruction(
            st_, a.pubkey, src, dst, amount_in=amount, min_out=0, a_to_b=not up
        )
        self.send([ix], a)

    @rule(
        name=st.sampled_from(["lp1", "lp2", "atk"]),
        amount_a=st.integers(1, 2 * 10**9),
        min_lp_slack=st.integers(-1, 1),
    )
    def add_liquidity(self, name: str, amount_a: int, min_lp_slack: int) -> None:
        a = self.who(name)
        p = self.pool_state()
        max_b = -(-amount_a * p.reserve_b // p.reserve_a)
        expect_lp = amount_a * p.total_shares // p.reserve_a
        assert a.token_lp is not None
        ix = build_ix(
            "add_liquidity",
            {"amount_a": amount_a, "max_b": max_b, "min_lp": max(expect_lp + min_lp_slack, 0)},
            self._liq_accounts(a, p),
        )
        out = self.send([ix], a)
        if out.ok:
            assert min_lp_slack <= 0
            self.lp_expected[name] += expect_lp

    @rule(name=st.sampled_from(["lp1", "lp2", "atk"]), frac=st.integers(1, 100))
    def remove_liquidity(self, name: str, frac: int) -> None:
        a = self.who(name)
        bal = self.balance(a.token_lp)
        lp = bal * frac // 100
        p = self.pool_state()
        ix = build_ix("remove_liquidity", {"lp": lp, "min_a": 0, "min_b": 0},
                      self._liq_accounts(a, p))  # fmt: skip
        out = self.send([ix], a)
        if out.ok:
            self.lp_expected[name] -= lp
        else:
            assert lp == 0

    @rule(victim=st.sampled_from(["lp1", "auth"]), frac=st.integers(1, 100))
    def hostile_remove_liquidity(self, victim: str, frac: int) -> None:
        """The attacker burns someone else's LP to its own token accounts."""
        v, atk = self.who(victim), self.atk
        lp = max(self.balance(v.token_lp) * frac // 100, 1)
        p = self.pool_state()
        accs = self._liq_accounts(atk, p)
        accs["user_lp"] = v.token_lp
        ix = build_ix("remove_liquidity", {"lp": lp, "min_a": 0, "min_b": 0}, accs)
        assert not self.send([ix], atk).ok

    def _liq_accounts(self, a: Actor, p: PoolState) -> dict[str, Pubkey]:
        assert a.token_lp is not None
        return {
            "user": a.pubkey,
            "pool": self.pool,
            "vault_a": p.vault_a,
            "vault_b": p.vault_b,
            "lp_mint": p.lp_mint,
            "user_a": a.token_a,
            "user_b": a.token_b,
            "user_lp": a.token_lp,
        }

    @rule(a=st.integers(0, 10**9), b=st.integers(0, 10**9))
    def donate(self, a: int, b: int) -> None:
        ixs = [
            transfer(TransferParams(TOKEN_PROGRAM_ID, src, dst, self.atk.pubkey, amt))
            for src, dst, amt in ((self.atk.token_a, self.vaults[0], a),
                                  (self.atk.token_b, self.vaults[1], b)) if amt
        ]  # fmt: skip
        if ixs:
            self.send(ixs, self.atk)

    @rule()
    def sync(self) -> None:
        ix = build_ix("sync", {}, {"pool": self.pool, "vault_a": self.vaults[0],
                                   "vault_b": self.vaults[1]})  # fmt: skip
        assert self.send([ix], self.atk).ok

    @rule(slots=st.integers(0, 3))
    def warp(self, slots: int) -> None:
        if slots:
            self.svm.warp_slots(slots)

    # ------------------------------------------------------------------ agent rules

    @rule(slots=st.sampled_from([0, 1, 1, 2]))
    def crank(self, slots: int = 0) -> None:
        """A crank after `slots` slots (0: again in the same slot)."""
        if slots:
            self.svm.warp_slots(slots)
        out = self.send([set_compute_unit_limit(400_000), self.step_ix(self.steps_done)], self.atk)
        assert out.ok
        self.apply_decisions(self.decisions(out))

    @rule()
    def crank_next_slot(self) -> None:
        """The honest cadence: a crank in a new slot (with `crank`, an eighth of the rules)."""
        self.crank(1)

    @rule(up=st.booleans(), push=st.integers(1, 3 * 10**8), repeat=st.integers(1, 2))
    def sandwich(self, up: bool, push: int, repeat: int) -> None:
        """Push, crank (once or twice), swap back: all in one transaction."""
        p = self.pool_state()
        atk = self.atk
        got = self.mints.quote(p, push, a_to_b=not up)
        s, d = (atk.token_b, atk.token_a) if up else (atk.token_a, atk.token_b)
        step = self.steps_done
        ixs: list[Any] = [set_compute_unit_limit(1_400_000)]
        ixs.append(self.mints.swap_instruction(p, atk.pubkey, s, d, amount_in=push, min_out=0,
                                               a_to_b=not up))  # fmt: skip
        for k in range(repeat):
            ixs.append(self.step_ix(step + k))
        ixs.append(self.mints.swap_instruction(p, atk.pubkey, d, s, amount_in=got, min_out=0,
                                               a_to_b=up))  # fmt: skip
        out = self.send(ixs, atk)
        ds = self.decisions(out)
        if repeat == 2 and out.ok:
            assert ds[1].reason in ("price_not_advanced", "paused"), ds[1]
        self.apply_decisions(ds)

    @rule(a=st.integers(0, 10**8), b=st.integers(0, 10**8), deposit=st.booleans())
    def authority_funds(self, a: int, b: int, deposit: bool) -> None:
        if a == b == 0:
            return
        f = self.agents.deposit if deposit else self.agents.withdraw
        coro = f(self.agent, self.auth.token_a, self.auth.token_b, amount_a=a, amount_b=b)
        if self.call(coro, [self.auth]).ok:
            sign = 1 if deposit else -1
            self.expected_vaults[0] += sign * a
            self.expected_vaults[1] += sign * b

    @rule(pause=st.sampled_from([True, False, False]))
    def authority_pause(self, pause: bool) -> None:
        f = self.agents.pause if pause else self.agents.resume
        assert self.call(f(self.agent), [self.auth]).ok

    @rule(what=st.sampled_from(["withdraw", "pause", "configure", "freeze", "close_model",
                                "propose_authority"]))  # fmt: skip
    def hostile_authority_calls(self, what: str) -> None:
        """Every authority-gated instruction, signed by the attacker: refused, nothing moves."""
        atk_agents = AgentClient(self.svm, self.atk.keypair)
        reg = ModelRegistry(self.svm, self.atk.keypair)
        coro: Coroutine[Any, Any, Any]
        if what == "withdraw":
            coro = atk_agents.withdraw(self.agent, self.atk.token_a, self.atk.token_b,
                                       amount_a=1, amount_b=1)  # fmt: skip
        elif what == "pause":
            coro = atk_agents.pause(self.agent)
        elif what == "configure":
            coro = atk_agents.configure(self.agent, risk(trade_size=10**11))
        elif what == "freeze":
            coro = reg.freeze(self.model)
        elif what == "close_model":
            coro = reg.close_model(self.model)
        else:
            coro = reg.propose_authority(self.model, self.atk.pubkey)
        assert not self.call(coro, [self.atk]).ok

    # ------------------------------------------------------------------ invariants

    @invariant()
    def tokens_are_conserved(self) -> None:
        # Counts the rule that just ran (the first call follows the setup, not a rule).
        self.h.steps += self.started
        self.h.lengths[-1] += self.started
        self.started = True
        bals = {k: token_amount(v) for k, v in self.before.items() if k in self.token_accounts()}
        a_accs = [self.vaults[0], self.agent_vaults[0]] + [a.token_a for a in self.actors.values()]
        b_accs = [self.vaults[1], self.agent_vaults[1]] + [a.token_b for a in self.actors.values()]
        assert sum(bals[a] for a in a_accs) == self.minted[0]
        assert sum(bals[b] for b in b_accs) == self.minted[1]

    @invariant()
    def pool_books_and_share_value(self) -> None:
        p = self.pool_state()
        assert p.vault_balance_a >= p.reserve_a > 0
        assert p.vault_balance_b >= p.reserve_b > 0
        ra0, rb0, s0 = self.prev_k
        # k / shares^2 never decreases.
        assert p.reserve_a * p.reserve_b * s0 * s0 >= ra0 * rb0 * p.total_shares**2
        self.prev_k = (p.reserve_a, p.reserve_b, p.total_shares)
        for n, a in self.actors.items():
            assert a.token_lp is not None
            assert token_amount(self.before[a.token_lp]) == self.lp_expected[n], n

    @invariant()
    def agent_changes_only_by_its_trades_and_authority(self) -> None:
        va, vb = (token_amount(self.before[v]) for v in self.agent_vaults)
        assert [va, vb] == self.expected_vaults
        assert self.before[self.model] == self.model_data[0]
        # Decode the agent only when its bytes changed (decoding dominates the run time).
        agent_bytes = self.before[self.agent]
        if agent_bytes == self.agent_bytes:
            return
        self.agent_bytes = agent_bytes
        ag = self.h.run(self.agents.state(self.agent))
        assert ag.step == self.steps_done
        assert (ag.authority, ag.risk, ag.models, ag.spec) == self.config
        sampled = [d.slot for d in ag.log if d.price != 0]
        assert all(a < b for a, b in itertools.pairwise(sampled)), sampled


@pytest.fixture(scope="module", autouse=True)
def _program(program_elf: object) -> Iterator[None]:
    yield


def test_pool_and_agent_state_machine(request: pytest.FixtureRequest) -> None:
    n = 10_000 if request.config.getoption("--long", default=False) else SEQUENCES
    PoolAgentMachine.TestCase.settings = settings(
        max_examples=int(n * OVERSAMPLE),
        stateful_step_count=STEPS,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    h = harness()
    seq0, steps0, traded0 = h.sequences, h.steps, h.traded
    PoolAgentMachine.TestCase().runTest()
    seqs, steps, traded = h.sequences - seq0, h.steps - steps0, h.traded - traded0
    full = sum(1 for k in h.lengths[seq0:] if k == STEPS)
    print(
        f"\nstateful: {seqs} sequences ({full} of {STEPS} rules), {steps} rules, "
        f"{traded} trades, {h.refused} refused transactions, decisions {h.reasons}"
    )
    # The run did what it claims: at least n sequences ran all STEPS rules, and the agent
    # traded, so the vault and slippage invariants were exercised.
    assert full >= n, (seqs, full, steps)
    assert traded > 0
