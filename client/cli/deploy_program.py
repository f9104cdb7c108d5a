"""`python -m client deploy-program`: deploy or upgrade the program on any cluster.

    python -m client deploy-program                          # localnet, the committed id
    python -m client deploy-program -u d --new-program-keypair --yes
    python -m client deploy-program -u d --program-keypair my-program.json --yes

Through the upgradeable loader, from a buffer whose keypair is kept in `target/deploy/` until the
deploy succeeds, so an interrupted deploy resumes where it stopped (only missing writes are
sent). The payer (--keypair) becomes the upgrade authority; an existing program is upgraded
when the payer is its upgrade authority.

The committed program keypair (`programs/ml_agent/keys/`) is public: anyone can deploy to, and
then control, that address on a public cluster. It is for local clusters only; on devnet or
mainnet this command requires --program-keypair or --new-program-keypair (a fresh keypair in
the gitignored `target/deploy/`). The ELF does not embed its id (every PDA is derived from the
id it runs under), so the same build serves any id: the SDK and CLI use
`$ML_AGENT_PROGRAM_ID` when set, and a copy of the IDL carrying your address is written to
`target/idl/ml_agent.json` for Anchor/TypeScript clients.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from solders.keypair import Keypair
from solders.pubkey import Pubkey

from ..artifacts import (
    IDL_PATH,
    PROGRAM_KEYPAIR_PATH,
    REPO_ROOT,
    program_keypair,
    program_so_path,
    sha256_hex,
)
from ..chain.base import ChainError, TransactionFailed
from ..chain.errors import InsufficientFunds
from ..chain.loader import (
    BUFFER_METADATA_SIZE,
    PROGRAM_ACCOUNT_SIZE,
    PROGRAMDATA_METADATA_SIZE,
    _existing_program,
    max_write_chunk,
    programdata_address,
)
from ..chain.rpc import LAMPORTS_PER_SIGNATURE, RpcChain
from ..config import load_keypair
from ..program import PROGRAM_ID, PROGRAM_ID_ENV
from .context import CliContext, add_common_options, fail
from .errors import BadArgument

LAMPORTS_PER_SOL = 1_000_000_000
NEW_KEYPAIR_PATH = REPO_ROOT / "target" / "deploy" / "ml_agent-keypair.json"
IDL_COPY_PATH = REPO_ROOT / "target" / "idl" / "ml_agent.json"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "deploy-program",
        help="deploy or upgrade the program (upgradeable loader, resumable buffer)",
        description=__doc__.split("\n\n", 2)[2] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    which = p.add_mutually_exclusive_group()
    which.add_argument("--program-keypair", type=Path, help="your program id's keypair file")
    which.add_argument(
        "--new-program-keypair",
        action="store_true",
        help="use (creating it once) target/deploy/ml_agent-keypair.json (gitignored)",
    )
    p.add_argument("--so", type=Path, default=None, help="program ELF (default: the build)")
    p.add_argument(
        "--max-len",
        type=int,
        default=None,
        help="bytes reserved for future upgrades (new deploys; default twice the ELF)",
    )
    p.add_argument("--dry-run", action="store_true", help="print the cost estimate and stop")
    p.add_argument("--yes", action="store_true", help="confirm > 1 SOL of rent on public clusters")
    add_common_options(p)
    p.set_defaults(handler=deploy_program, require_program=False)


def _program_keypair(args: argparse.Namespace, ctx: CliContext) -> tuple[Keypair, str]:
    if args.program_keypair is not None:
        return load_keypair(args.program_keypair, create=False), str(args.program_keypair)
    if args.new_program_keypair:
        if not NEW_KEYPAIR_PATH.exists():
            kp = Keypair()
            NEW_KEYPAIR_PATH.parent.mkdir(parents=True, exist_ok=True)
            NEW_KEYPAIR_PATH.write_text(json.dumps(list(bytes(kp))))
            NEW_KEYPAIR_PATH.chmod(0o600)
            print(
                f"created program keypair {NEW_KEYPAIR_PATH} (program id {kp.pubkey()}); keep "
                "it: it is what lets you deploy to this id again",
                file=sys.stderr,
            )
        return load_keypair(NEW_KEYPAIR_PATH, create=False), str(NEW_KEYPAIR_PATH)
    if not ctx.cluster.local:
        raise BadArgument(
            "the committed program keypair (programs/ml_agent/keys/ml_agent-keypair.json) is "
            f"public and only for local clusters; on {ctx.cluster.name} deploy under your own "
            "id: --new-program-keypair (generates one) or --program-keypair FILE"
        )
    return program_keypair(), str(PROGRAM_KEYPAIR_PATH)


def _buffer_keypair(program_id: Pubkey) -> tuple[Keypair, Path]:
    path = REPO_ROOT / "target" / "deploy" / f"ml_agent-buffer-{str(program_id)[:8]}.json"
    if path.exists():
        return load_keypair(path, create=False), path
    kp = Keypair()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(list(bytes(kp))))
    path.chmod(0o600)
    return kp, path


def _sol(lamports: int) -> str:
    return f"{lamports / LAMPORTS_PER_SOL:.9f}".rstrip("0").rstrip(".") + " SOL"


async def deploy_program(args: argparse.Namespace, ctx: CliContext) -> int:
    so = args.so if args.so is not None else program_so_path()
    if not so.is_file():
        raise BadArgument(
            f"program ELF {so} does not exist; build it with `bash scripts/build-program.sh`"
        )
    elf = so.read_bytes()
    if elf[:4] != b"\x7fELF":
        raise BadArgument(f"{so} is not an ELF file")
    if ctx.cluster.embedded:
        raise BadArgument(
            "the embedded SVM loads the program by itself; deploy-program is for RPC clusters"
        )
    program, program_path = _program_keypair(args, ctx)
    program_id = program.pubkey()
    max_len = args.max_len if args.max_len is not None else 2 * len(elf)
    if max_len < len(elf):
        raise BadArgument(f"--max-len {max_len} is smaller than the ELF ({len(elf)} bytes)")
    chain = await ctx.chain()
    assert isinstance(chain, RpcChain)
    payer = ctx.keypair
    # Refuses now, before any cost, a program this payer may not upgrade.
    upgrade = await _existing_program(chain, program_id, payer.pubkey()) is not None
    buffer, buffer_path = _buffer_keypair(program_id)

    buffer_rent = await chain.minimum_balance_for_rent_exemption(BUFFER_METADATA_SIZE + len(elf))
    writes = -(-len(elf) // max_write_chunk(payer.pubkey(), buffer.pubkey()))
    rent = 0
    if not upgrade:
        rent += await chain.minimum_balance_for_rent_exemption(PROGRAM_ACCOUNT_SIZE)
        rent += await chain.minimum_balance_for_rent_exemption(PROGRAMDATA_METADATA_SIZE + max_len)
    fees = LAMPORTS_PER_SIGNATURE * (writes + 4)
    balance = await chain.get_balance(payer.pubkey())
    estimate = {
        "program_id": str(program_id),
        "upgrade": upgrade,
        "elf_bytes": len(elf),
        "elf_sha256": sha256_hex(elf),
        "max_len": max_len,
        "rent_lamports": rent,
        "buffer_rent_lamports": buffer_rent,
        "fee_lamports": fees,
        "transactions": writes + 2,
        "payer": str(payer.pubkey()),
        "payer_balance": balance,
    }
    summary = (
        f"{'upgrade' if upgrade else 'deploy'} {so} ({len(elf):,} bytes) at {program_id} on "
        f"{ctx.cluster.name}: rent {_sol(rent)} + fees {_sol(fees)} ({writes + 2} "
        f"transactions), plus {_sol(buffer_rent)} held by the buffer until the deploy; payer "
        f"{payer.pubkey()} has {_sol(balance)}"
    )
    if balance < rent + fees + buffer_rent:
        raise InsufficientFunds(
            str(payer.pubkey()), balance, rent + fees + buffer_rent, ctx.cluster.url or ""
        )
    if args.dry_run:
        ctx.emit(estimate | {"dry_run": True}, f"{summary}\ndry run: nothing sent")
        return 0
    if not ctx.cluster.local and rent > LAMPORTS_PER_SOL and not args.yes:
        return fail(
            f"deploying locks {_sol(rent)} of rent on {ctx.cluster.name}; rerun with --yes to "
            "confirm (--dry-run shows the estimate)",
            2,
        )
    if not ctx.json:
        print(summary, file=sys.stderr)
    try:
        result = await chain.deploy(program, elf, payer, max_data_len=max_len, buffer=buffer)
    except TransactionFailed:
        raise  # named by the error layer; the buffer is kept all the same
    except ChainError as e:
        if await chain.get_account(buffer.pubkey()) is None:
            buffer_path.unlink(missing_ok=True)
            raise
        raise ChainError(
            f"{e}; the buffer {buffer.pubkey()} (keypair {buffer_path}) is kept: rerun the same "
            "command to resume"
        ) from e
    buffer_path.unlink(missing_ok=True)
    idl_note = ""
    if program_id != PROGRAM_ID:
        idl = json.loads(IDL_PATH.read_text())
        idl["address"] = str(program_id)
        IDL_COPY_PATH.parent.mkdir(parents=True, exist_ok=True)
        IDL_COPY_PATH.write_text(json.dumps(idl, indent=2) + "\n")
        idl_note = (
            f"\nuse it       export {PROGRAM_ID_ENV}={program_id}   (the CLI/SDK default to "
            f"{PROGRAM_ID}); IDL with this address: {IDL_COPY_PATH}"
        )
    out = {
        **estimate,
        "upgraded": result.upgraded,
        "upgrade_authority": str(payer.pubkey()),
        "programdata": str(programdata_address(program_id)),
        "program_keypair": program_path,
        "transactions": result.transactions,
        "seconds": round(result.seconds, 2),
        "signature": str(result.signature),
    }
    ctx.emit(
        out,
        "\n".join(
            [
                f"program id   {program_id}  ({'upgraded' if result.upgraded else 'deployed'})",
                f"authority    {payer.pubkey()} (upgrade authority)",
                f"programdata  {programdata_address(program_id)}",
                f"elf          {len(elf):,} bytes, sha256 {sha256_hex(elf)}",
                f"sent         {result.transactions} transactions in {result.seconds:.1f} s",
            ]
        )
        + idl_note,
    )
    return 0
