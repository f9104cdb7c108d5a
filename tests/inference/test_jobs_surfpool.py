"""`infer_large` on a real validator (Surfpool, the SBPF v3 build over JSON-RPC): a model over
one transaction's compute runs as a job bit-exact with the reference, and the CLI's features
and job commands end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from client.bench.models import random_mlp
from client.chain.connect import ensure_program
from client.chain.rpc import RpcChain
from client.inference import InferenceClient
from client.inference.client import reference_result
from client.inference.features import read_features
from client.inference.jobs import read_job
from client.model import compile_model, encode
from client.registry import ModelRegistry
from tests.registry.test_surfpool import Cli, funded_keypair_file

pytestmark = pytest.mark.surfpool


async def test_infer_large_on_surfpool_and_the_cli(
    rpc_chain: RpcChain, rpc_payer: Keypair, tmp_path: Path
) -> None:
    await ensure_program(rpc_chain, rpc_payer)
    fm, x = random_mlp([128, 560, 560, 560, 560, 560, 10], seed=5)
    data = encode(compile_model(fm, x, 8, prefer="speed", check_feasible=False))
    deployed = await ModelRegistry(rpc_chain, rpc_payer).deploy(data, check_runnable=False)
    client = InferenceClient(rpc_chain, rpc_payer)
    handle = await client.model(deployed.model)
    row = [int(v) for v in (handle.lo_fx + handle.hi_fx) // 2]
    result, run = await client.run_job(handle, features_fx=row, cross_check=True)
    assert result.same_numbers(reference_result(handle, row))
    assert len(run.step_cus) >= 2 and all(c <= 1_400_000 for c in run.step_cus)
    assert await rpc_chain.get_account(run.job) is None  # closed for its rent
    print(f"surfpool job: {len(run.step_cus)} steps {run.step_cus}, {run.wall_s:.1f} s")

    # The CLI: a features account, infer from it, then a kept job shown and closed.
    cli = Cli(rpc_chain.url, tmp_path / "id.json")
    owner = await funded_keypair_file(rpc_chain, cli.keypair)
    values = ",".join(f"{v / 65536}" for v in row)
    # `--values=...`: a first value that is negative would read as an option otherwise.
    code, out, err = await cli.run("features", "create", f"--values={values}", "--output", "json")
    assert code == 0, out + err
    acc = Pubkey.from_string(json.loads(out)["address"])
    info = await read_features(rpc_chain, acc)
    assert list(info.values_fx) == row and info.owner == owner.pubkey()
    code, out, err = await cli.run(
        "infer",
        str(deployed.model),
        "--features-account",
        str(acc),
        "--large",
        "--keep-job",
        "--output",
        "json",
        timeout=300,
    )
    assert code == 0, err
    doc = json.loads(out)
    assert doc["outputs"] == list(result.outputs) and doc["job"]["kept"]
    job = Pubkey.from_string(doc["job"]["job"])
    j = await read_job(rpc_chain, job)
    assert j.done and j.source == acc and list(j.outputs) == list(result.outputs)
    code, out, err = await cli.run("job", "show", str(job), "--output", "json")
    assert code == 0 and json.loads(out)["done"], err
    # Someone else's job cannot be closed from this keypair; the owner's close returns rent.
    code, _, err = await cli.run("job", "close", str(job), keypair=tmp_path / "other.json")
    assert code != 0
    code, out, err = await cli.run("job", "close", str(job), "--output", "json")
    assert code == 0, err
    assert await rpc_chain.get_account(job) is None
    code, out, err = await cli.run("features", "close", str(acc))
    assert code == 0, err
    assert await rpc_chain.get_account(acc) is None
