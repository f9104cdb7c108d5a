"""What every CLI command gets: the chain (from --url), the keypair, and output helpers."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass, is_dataclass
from typing import Any

from solders.keypair import Keypair

from ..chain.base import Chain, ChainError
from ..config import Cluster, load_keypair, resolve_url
from . import errors


def add_common_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--url",
        "-u",
        default=None,
        help="embedded (in-process LiteSVM), localnet (l, localhost), devnet (d), mainnet (m), "
        "testnet (t) or an RPC URL (default: the Solana CLI config's json_rpc_url, else "
        "localnet = http://127.0.0.1:8899)",
    )
    p.add_argument(
        "--keypair",
        "-k",
        default=None,
        help="payer/authority keypair file (default: the Solana CLI config's keypair_path, else "
        "~/.config/solana/id.json; created only for embedded/local clusters)",
    )
    p.add_argument("--json", action="store_true", help="machine-readable JSON output")


def add_output_alias(p: argparse.ArgumentParser) -> None:
    """`--output json|display`, the Solana CLI's spelling of --json (on parsers having --json)."""
    p.add_argument(
        "--output",
        choices=("json", "json-compact", "display"),
        default=None,
        help="json: same as --json",
    )


@dataclass
class CliContext:
    cluster: Cluster
    keypair_path: str | None
    json: bool
    # Commands that work without the program (localnet, deploy-program) turn this off.
    require_program: bool = True
    _chain: Chain | None = None
    _keypair: Keypair | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> CliContext:
        as_json = bool(getattr(args, "json", False)) or (
            getattr(args, "output", None) in ("json", "json-compact")
        )
        return cls(
            resolve_url(getattr(args, "url", None)),
            getattr(args, "keypair", None),
            as_json,
            require_program=bool(getattr(args, "require_program", True)),
        )

    @property
    def keypair(self) -> Keypair:
        if self._keypair is None:
            self._keypair = load_keypair(self.keypair_path, cluster=self.cluster)
        return self._keypair

    async def chain(self) -> Chain:
        """Connect once. The embedded chain has the program preloaded and the payer funded.

        On an RPC cluster the node must answer and, unless the command deploys the program
        itself, the program must be there: both fail here with what to do instead of a
        retry storm or a confusing transaction error later.
        """
        if self._chain is None:
            from ..chain.connect import connect

            chain = await connect(self.cluster, payer=self.keypair)
            try:
                if not self.cluster.embedded:
                    await _check_reachable(chain, self.cluster)
                    if self.require_program:
                        await _check_program(chain, self.cluster)
            except BaseException:
                await chain.close()
                raise
            self._chain = chain
        return self._chain

    async def close(self) -> None:
        if self._chain is not None:
            await self._chain.close()

    def emit(self, result: Any, human: str) -> None:
        """Print `human` text, or `result` as JSON with --json."""
        if self.json:
            print(json.dumps(to_jsonable(result), indent=2, sort_keys=True))
        else:
            print(human)


async def _check_reachable(chain: Chain, cluster: Cluster) -> None:
    from ..chain.errors import RpcError
    from ..chain.rpc import RpcChain

    if not isinstance(chain, RpcChain):
        return
    try:
        await chain.call("getHealth", retry=False)
    except RpcError:
        return  # it answered (unhealthy, lagging, or no getHealth): reachable
    except ChainError as e:
        if cluster.local:
            raise ChainError(
                f"no validator answers at {cluster.url}: start one with "
                "`python -m client localnet --detach` (or pass --url embedded / devnet)"
            ) from e
        raise ChainError(f"the RPC node at {cluster.url} does not answer: {e}") from e


async def _check_program(chain: Chain, cluster: Cluster) -> None:
    from ..program import PROGRAM_ID

    account = await chain.get_account(PROGRAM_ID)
    if account is None or not account.executable:
        start = (
            "start a local validator with it: `python -m client localnet --detach`"
            if cluster.local
            else f"deploy it: `python -m client deploy-program --url {cluster.name}`"
        )
        raise ChainError(
            f"the ml_agent program {PROGRAM_ID} is not deployed on {cluster.url}; {start}"
        )


def to_jsonable(obj: Any) -> Any:
    if is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable(asdict(obj))
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, bytes):
        return obj.hex()
    if isinstance(obj, int | float | str | bool) or obj is None:
        return obj
    return str(obj)


def fail(msg: str, code: int = 1) -> int:
    """Report a failure (one line on stderr, or a JSON error with --json); returns `code`."""
    return errors.report(msg, code)
