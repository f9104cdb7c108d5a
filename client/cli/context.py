"""What every CLI command gets: the chain (from --url), the keypair, and output helpers."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, is_dataclass
from typing import Any

from solders.keypair import Keypair

from ..chain.base import Chain
from ..config import Cluster, load_keypair, resolve_url


def add_common_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--url",
        "-u",
        default=None,
        help="embedded (in-process LiteSVM), localnet, devnet, mainnet or an RPC URL "
        "(default: Solana CLI config, else localnet)",
    )
    p.add_argument(
        "--keypair",
        "-k",
        default=None,
        help="payer/authority keypair file (default ~/.config/solana/id.json, created if missing)",
    )
    p.add_argument("--json", action="store_true", help="machine-readable JSON output")


@dataclass
class CliContext:
    cluster: Cluster
    keypair_path: str | None
    json: bool
    _chain: Chain | None = None
    _keypair: Keypair | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> CliContext:
        return cls(resolve_url(args.url), args.keypair, bool(args.json))

    @property
    def keypair(self) -> Keypair:
        if self._keypair is None:
            self._keypair = load_keypair(self.keypair_path)
        return self._keypair

    async def chain(self) -> Chain:
        """Connect once. The embedded chain has the program preloaded and the payer funded."""
        if self._chain is None:
            from ..chain.connect import connect

            self._chain = await connect(self.cluster, payer=self.keypair)
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
    print(f"error: {msg}", file=sys.stderr)
    return code
