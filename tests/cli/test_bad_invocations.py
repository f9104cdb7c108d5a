"""The CLI's error policy, one bad invocation per row: exit code, one line, no traceback.

Every row is a mistake a user makes (a typo, a wrong file, a wrong address, an unfunded key, a
transaction the program refuses) and states the exit code (1 failed, 2 usage) and a piece of
the message it must get. Each must print exactly one line, `error: ...`, on stderr (or one JSON
object on stdout under --json), never a traceback and never the catch-all "internal error"
(which would mean the mistake reached a code path nobody wrote a message for).

The first table runs offline or on the embedded SVM; the second against a Surfpool validator
holding a deployed model, a pool and a second, unfunded key, so the program itself rejects
the transactions and its errors must come back by name.
"""

from __future__ import annotations

import asyncio
import json
import pickle
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from solders.keypair import Keypair

from client.chain.connect import ensure_program
from client.chain.rpc import RpcChain
from client.cli import main
from client.cli.errors import json_requested
from tests.validators import ValidatorEndpoint

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "tests" / "golden" / "mlp_int8_compact.mlag"  # iris-shaped: 4 features, 3 classes
SYSTEM = "11111111111111111111111111111111"
NOBODY = "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin"  # a valid address with no account


def _unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Bad inputs on disk, and a $HOME of our own (no Solana CLI config, no default keypair)."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ML_AGENT_LOCALNET_DIR", str(tmp_path / "localnet"))
    (tmp_path / "home").mkdir()
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    text = tmp_path / "notes.txt"
    text.write_text("not a model\n")
    corrupt_pickle = tmp_path / "corrupt.pkl"
    corrupt_pickle.write_bytes(pickle.dumps({"a": 1})[:-3])
    truncated = tmp_path / "truncated.mlag"
    truncated.write_bytes(MODEL.read_bytes()[:100])
    flipped = bytearray(MODEL.read_bytes())
    flipped[-1] ^= 0xFF
    (tmp_path / "flipped.mlag").write_bytes(bytes(flipped))
    garbage_key = tmp_path / "garbage.json"
    garbage_key.write_text("this is not json")
    short_key = tmp_path / "short.json"
    short_key.write_text(json.dumps([1, 2, 3]))
    (tmp_path / "keydir").mkdir()
    csv = tmp_path / "prices.csv"
    csv.write_text("step,price\n0,abc\n")
    good_key = tmp_path / "id.json"
    good_key.write_text(json.dumps(list(bytes(Keypair()))))
    return {
        "empty": str(empty),
        "text": str(text),
        "corrupt_pickle": str(corrupt_pickle),
        "truncated": str(truncated),
        "flipped": str(tmp_path / "flipped.mlag"),
        "garbage_key": str(garbage_key),
        "short_key": str(short_key),
        "keydir": str(tmp_path / "keydir"),
        "missing": str(tmp_path / "missing.bin"),
        "dir": str(tmp_path),
        "csv": str(csv),
        "key": str(good_key),
        "model": str(MODEL),
        "dead_url": f"http://127.0.0.1:{_unused_port()}",
        "dead_port": str(_unused_port()),
    }


@dataclass(frozen=True)
class Case:
    argv: str  # split on spaces; {name} filled from the fixtures
    code: int
    message: str  # must appear in the one-line error

    def args(self, values: dict[str, str]) -> list[str]:
        return [a.format(**values) for a in self.argv.split()]


E = "--url embedded"
OFFLINE: list[Case] = [
    # --- the command line itself (exit 2) ---
    Case("no-such-command", 2, "invalid choice"),
    Case("--no-such-flag", 2, "unrecognized arguments"),
    Case("deploy-model", 2, "MODEL_FILE"),
    Case("infer " + NOBODY, 2, "--features"),
    Case("infer " + NOBODY + " --features 1 --priority-fee lots", 2, "invalid int"),
    Case("compile {text}", 2, "--calibration"),
    Case("compile {text} --calibration {text} --precision 4", 2, "invalid choice"),
    Case("market", 2, "required"),
    Case("market swap", 2, "required"),
    Case("agent", 2, "required"),
    Case("agent create", 2, "required"),
    Case("agent step " + NOBODY + " --count many", 2, "invalid int"),
    Case("market swap " + NOBODY + " --src a --dst b --amount-in -5 --a-to-b", 2, "outside"),
    Case("localnet restart", 2, "invalid choice"),
    Case("localnet --rpc-port 70000", 2, "not in 1..65535"),
    Case("localnet --validator geth", 2, "invalid choice"),
    Case("localnet --airdrop 0", 2, "--airdrop"),
    Case("train --precision 3", 2, "invalid choice"),
    Case("set-authority " + NOBODY, 2, "one of the arguments"),
    Case("deploy-model {model} --output yaml", 2, "invalid choice"),
    Case("bench --url embedded", 2, "unrecognized arguments"),
    # --- --url / --keypair (exit 2) ---
    Case("inspect " + NOBODY + " --url ftp://example.com", 2, "--url"),
    Case("inspect " + NOBODY + " --url nowhere", 2, "--url"),
    Case("inspect " + NOBODY + " -u x", 2, "--url"),
    Case("infer " + NOBODY + " --features 1 " + E + " --keypair {missing}", 2, "does not exist"),
    Case("infer " + NOBODY + " --features 1 " + E + " --keypair {keydir}", 2, "directory"),
    Case("infer " + NOBODY + " --features 1 " + E + " --keypair {garbage_key}", 2, "not a Solana"),
    Case("infer " + NOBODY + " --features 1 " + E + " --keypair {short_key}", 2, "64"),
    # A key is never made up for a public cluster: nothing is sent, nothing created.
    Case("inspect " + NOBODY + " --url devnet", 2, "solana-keygen new"),
    Case("inspect " + NOBODY + " -u m", 2, "solana-keygen new"),
    # --- files (deploy-model refuses non-models before sending anything) ---
    Case("deploy-model {missing} " + E, 2, "does not exist"),
    Case("deploy-model {dir} " + E, 2, "is a directory"),
    Case("deploy-model {empty} " + E, 1, "is empty"),
    Case("deploy-model {text} " + E, 1, "not a valid model file"),
    Case("deploy-model {corrupt_pickle} " + E, 1, "not a valid model file"),
    Case("deploy-model {truncated} " + E, 1, "not a valid model file"),
    Case("deploy-model {model} --model-id -1 " + E, 2, "--model-id"),
    Case("verify " + NOBODY + " --model {missing} " + E, 2, "does not exist"),
    Case("model-info {empty}", 1, ""),
    Case("model-info {text}", 1, ""),
    Case("model-info {missing}", 1, "does not exist"),
    Case("compile {corrupt_pickle} --calibration {csv}", 1, ""),
    Case("compile {empty} --calibration {csv}", 1, ""),
    Case("compile {missing} --calibration {csv}", 1, ""),
    Case("backtest --model {missing}", 2, "--spec"),
    Case("backtest --model {missing} --spec return:1", 1, "no such file"),
    Case("backtest --model {text} --spec return:1", 1, "truncated"),
    Case("train --csv {missing}", 1, ""),
    Case("train --csv {csv}", 1, ""),
    # --- wrong addresses on the embedded SVM (exit 1) ---
    Case("inspect not-a-key " + E, 1, "base58"),
    Case("inspect " + NOBODY + " " + E, 1, "does not exist"),
    Case("inspect " + SYSTEM + " " + E, 1, "not the ml_agent program"),
    Case("infer " + NOBODY + " --features 1,2,3,4 " + E, 1, ""),
    Case("infer " + SYSTEM + " --features 1,2,3,4 " + E, 1, ""),
    Case("infer " + NOBODY + " --features 1,x " + E, 1, "--features"),
    Case("freeze " + NOBODY + " " + E, 2, "--yes"),
    Case("market price " + NOBODY + " " + E, 1, "does not exist"),
    Case("market price " + SYSTEM + " " + E, 1, "not a pool or price feed"),
    Case("market create " + E, 1, "--new-mints"),
    Case("market create --new-mints --fee-bps 10000 " + E, 1, "--fee-bps"),
    Case("agent show " + NOBODY + " " + E, 1, ""),
    Case("agent step " + NOBODY + " " + E, 1, ""),
    Case("agent create --pool " + NOBODY + " --model " + NOBODY + " " + E, 1, ""),
    Case("agent create --pool " + NOBODY + " --model x:1:2 " + E, 1, "--model"),
    # --- no cluster where one is expected ---
    Case("inspect " + NOBODY + " --url {dead_url}", 1, "localnet --detach"),
    Case("infer " + NOBODY + " --features 1 --url {dead_url}", 1, "no validator answers"),
    Case("localnet status --rpc-port {dead_port}", 1, "no localnet is running"),
    Case("localnet stop --rpc-port {dead_port}", 1, "no localnet is running"),
]


def _check(capsys: pytest.CaptureFixture[str], argv: list[str], case: Case) -> None:
    code = main(argv)
    out, err = capsys.readouterr()
    shown = f"argv={argv}\nexit={code}\nstdout={out!r}\nstderr={err!r}"
    assert code == case.code, shown
    assert "Traceback" not in out + err, shown
    if json_requested(argv):
        line = out.strip()
        assert "\n" not in line, shown
        error = json.loads(line)["error"]
        message = error["message"]
        assert error["exit_code"] == case.code, shown
    else:
        lines = err.splitlines()
        # Local key creation is announced on its own line before the error; nothing else.
        lines = [ln for ln in lines if not ln.startswith("created a new keypair")]
        assert len(lines) == 1 and lines[0].startswith("error: "), shown
        message = lines[0].removeprefix("error: ")
    assert case.message in message, shown
    assert not message.startswith("internal error"), shown


@pytest.mark.parametrize("case", OFFLINE, ids=lambda c: c.argv.split("{")[0][:60])
def test_offline_bad_invocation(
    case: Case, files: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    _check(capsys, case.args(files), case)


@pytest.mark.parametrize(
    "case",
    [c for c in OFFLINE if c.code == 1 and "{dead" not in c.argv][:12],
    ids=lambda c: c.argv.split("{")[0][:60],
)
def test_offline_bad_invocation_as_json(
    case: Case, files: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    _check(capsys, [*case.args(files), "--json"], case)


def test_missing_test_validator_is_one_line(
    files: dict[str, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOLANA_TEST_VALIDATOR", files["missing"])
    argv = ["localnet", "--validator", "test-validator", "--rpc-port", files["dead_port"]]
    argv += ["--keypair", files["key"]]
    _check(capsys, argv, Case("", 1, "missing.bin"))


def test_usage_error_as_json(files: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    _check(capsys, ["deploy-model", "--output", "json"], Case("", 2, "MODEL_FILE"))


def test_the_table_is_big_enough() -> None:
    assert len(OFFLINE) + len(ON_CHAIN) >= 50


# ------------------------------------------------------------------ against a validator


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory, rpc_endpoint_module: ValidatorEndpoint
) -> Iterator[dict[str, str]]:
    """A model, a pool, a funded owner, a funded stranger and an unfunded key on Surfpool."""
    tmp = tmp_path_factory.mktemp("world")
    url = rpc_endpoint_module.rpc_url
    owner, stranger, broke = Keypair(), Keypair(), Keypair()
    for name, kp in (("owner", owner), ("stranger", stranger), ("broke", broke)):
        (tmp / f"{name}.json").write_text(json.dumps(list(bytes(kp))))

    async def fund() -> None:
        async with RpcChain(url) as chain:
            await chain.airdrop(owner.pubkey(), 20 * 10**9)
            await chain.airdrop(stranger.pubkey(), 2 * 10**9)
            await ensure_program(chain, owner)

    asyncio.run(fund())
    values = {"url": url, "dir": str(tmp), "model_file": str(MODEL)}
    for name in ("owner", "stranger", "broke"):
        values[name] = str(tmp / f"{name}.json")

    def run_json(*argv: str) -> dict[str, str]:
        import contextlib
        import io

        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            code = main([*argv, "--url", url, "--keypair", values["owner"], "--json"])
        assert code == 0, buf.getvalue()
        result: dict[str, str] = json.loads(buf.getvalue())
        return result

    values["model"] = run_json("deploy-model", str(MODEL))["model"]
    market = run_json("market", "create", "--new-mints", "--supply", "1000000000")
    values.update({k: market[k] for k in ("pool", "user_a", "user_b", "user_lp")})
    agent = run_json("agent", "create", "--pool", values["pool"], "--model", values["model"],
                     "--features", SPEC)  # fmt: skip
    values["agent"] = agent["agent"]
    yield values


@pytest.fixture(scope="module")
def rpc_endpoint_module(request: pytest.FixtureRequest) -> ValidatorEndpoint:
    endpoint: ValidatorEndpoint = request.getfixturevalue("surfpool")
    return endpoint


OWNER = "--url {url} --keypair {owner}"
S = STRANGER = "--url {url} --keypair {stranger}"
SPEC = "return:1,return:2,return:3,volatility:3"  # 4 features, as the model takes
B = "--url {url} --keypair {broke}"
ON_CHAIN: list[Case] = [
    # Program errors, by name, in every command family.
    Case("close {model} " + S, 1, "WrongAuthority"),
    Case("activate {model} " + OWNER, 1, "no staged version"),
    Case("set-authority {model} --accept " + OWNER, 1, "NoPendingAuthority (6004)"),
    Case("agent step {model} " + OWNER, 1, "is a ModelHeader, not an Agent"),
    Case("agent pause {model} " + OWNER, 1, "is a ModelHeader, not an Agent"),
    Case(
        "market add-liquidity {model} --user-a {user_a} --user-b {user_b} --user-lp {user_lp} "
        "--amount-a 1 --max-b 1 " + OWNER,
        1,
        "is a ModelHeader, not a Pool",
    ),
    Case(
        "market swap {pool} --src {user_a} --dst {user_b} --amount-in 1000 --min-out 1 "
        "--a-to-b " + OWNER,
        1,
        "InsufficientLiquidity (6034)",
    ),
    Case(
        "agent create --pool {pool} --model {model} --features return:1 " + OWNER,
        1,
        "has 1 features but model",
    ),
    Case(
        "agent create --pool {pool} --model {model} --features " + SPEC + " " + OWNER,
        1,
        "AccountDiscriminatorAlreadySet (3000); that account already exists",
    ),
    Case(
        "agent deposit {agent} --user-a {user_a} --user-b {user_b} --amount-a 1 " + STRANGER,
        1,
        "NotAgentAuthority (6036)",
    ),
    Case("agent configure {agent} --trade-size 5 " + STRANGER, 1, "NotAgentAuthority (6036)"),
    Case(
        "agent withdraw {agent} --user-a {user_a} --user-b {user_b} --amount-a 999999999999 "
        + OWNER,
        1,
        "the SPL token program refused it: InsufficientFunds (1)",
    ),
    Case("agent create --pool {model} --model {model} " + OWNER, 1, "not a Pool"),
    # Inference mistakes.
    Case("infer {model} --features 1,2 " + OWNER, 1, "feature"),
    Case("infer {model} --features 1000,1,1,1 " + OWNER, 1, "outside the declared range"),
    Case("infer {pool} --features 1,2,3,4 " + OWNER, 1, "not a model header"),
    # Money.
    Case("deploy-model {model_file} " + B, 1, "insufficient funds"),
    Case("market create --new-mints " + B, 1, "insufficient funds"),
    Case("deploy-model {model_file} --dry-run " + B, 1, "insufficient funds"),
]


@pytest.mark.parametrize("case", ON_CHAIN, ids=lambda c: c.argv.split("{")[0][:60] or c.argv)
def test_on_chain_bad_invocation(
    case: Case, world: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    _check(capsys, case.args(world), case)
