"""Cluster URL and keypair resolution shared by every CLI command and the SDK."""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from solders.keypair import Keypair

CLUSTERS = {
    "localnet": "http://127.0.0.1:8899",
    "devnet": "https://api.devnet.solana.com",
    "mainnet": "https://api.mainnet-beta.solana.com",
    "mainnet-beta": "https://api.mainnet-beta.solana.com",
    "testnet": "https://api.testnet.solana.com",
}
EMBEDDED = "embedded"
SOLANA_CLI_CONFIG = Path.home() / ".config" / "solana" / "cli" / "config.yml"
DEFAULT_KEYPAIR = Path.home() / ".config" / "solana" / "id.json"


class ConfigError(Exception):
    """Bad --url or --keypair; the message says what to do."""


@dataclass(frozen=True)
class Cluster:
    """Where to run: the in-process SVM (`embedded`) or a JSON-RPC URL."""

    name: str
    url: str | None

    @property
    def embedded(self) -> bool:
        return self.url is None


def resolve_url(url: str | None) -> Cluster:
    """`--url` value → Cluster. Default: the Solana CLI config's json_rpc_url, else localnet."""
    if url is None:
        url = _solana_cli_url() or "localnet"
    if url == EMBEDDED:
        return Cluster(EMBEDDED, None)
    if url in CLUSTERS:
        return Cluster(url, CLUSTERS[url])
    if re.match(r"^https?://", url):
        return Cluster(url, url)
    raise ConfigError(
        f"--url {url!r} is not embedded, localnet, devnet, mainnet, testnet or an http(s) URL"
    )


def _solana_cli_url() -> str | None:
    if not SOLANA_CLI_CONFIG.is_file():
        return None
    # The CLI config is flat YAML; one regex avoids a YAML dependency.
    m = re.search(r"^json_rpc_url:\s*\"?([^\"\n]+)\"?", SOLANA_CLI_CONFIG.read_text(), re.M)
    return m.group(1).strip() if m else None


def load_keypair(path: str | Path | None, *, create: bool = True) -> Keypair:
    """Load a Solana CLI keypair file; create the default one for local use if it is missing."""
    p = Path(path).expanduser() if path is not None else DEFAULT_KEYPAIR
    if not p.exists():
        if not create or path is not None:
            raise ConfigError(f"keypair file {p} does not exist")
        kp = Keypair()
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(list(bytes(kp))))
        p.chmod(0o600)
        print(f"created a new local keypair at {p} ({kp.pubkey()})", file=sys.stderr)
        return kp
    try:
        raw = json.loads(p.read_text())
        return Keypair.from_bytes(bytes(raw))
    except (ValueError, TypeError) as e:
        raise ConfigError(
            f"keypair file {p} is not a Solana CLI keypair (JSON byte array): {e}"
        ) from e
