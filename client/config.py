"""Cluster URL and keypair resolution shared by every CLI command and the SDK.

Follows the Solana CLI's conventions: ``~/.config/solana/cli/config.yml`` supplies the
default ``json_rpc_url`` and ``keypair_path``; ``--url``/``-u`` takes a URL or a moniker
(``l``/``localhost``, ``d``/``devnet``, ``m``/``mainnet-beta``, ``t``/``testnet``) plus
``embedded`` for the in-process SVM. A keypair is only ever created silently for a local
cluster (embedded or loopback).
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from solders.keypair import Keypair

LOCALNET_URL = "http://127.0.0.1:8899"
CLUSTERS = {
    "localnet": LOCALNET_URL,
    "devnet": "https://api.devnet.solana.com",
    "mainnet": "https://api.mainnet-beta.solana.com",
    "mainnet-beta": "https://api.mainnet-beta.solana.com",
    "testnet": "https://api.testnet.solana.com",
}
# The Solana CLI's one-letter monikers (and `localhost`), mapped to the names above.
MONIKERS = {
    "l": "localnet",
    "localhost": "localnet",
    "d": "devnet",
    "m": "mainnet",
    "t": "testnet",
}
EMBEDDED = "embedded"
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "0.0.0.0"})


def solana_cli_config_path() -> Path:
    """The Solana CLI's config file (resolved at call time so $HOME changes are honoured)."""
    return Path.home() / ".config" / "solana" / "cli" / "config.yml"


def default_keypair_path() -> Path:
    """The Solana CLI config's keypair_path, else ``~/.config/solana/id.json``."""
    configured = _solana_cli_setting("keypair_path")
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".config" / "solana" / "id.json"


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

    @property
    def local(self) -> bool:
        """Embedded, or an RPC URL on this machine (a validator nobody else's money is on)."""
        if self.url is None:
            return True
        return (urlsplit(self.url).hostname or "") in _LOOPBACK_HOSTS

    @property
    def public(self) -> bool:
        """devnet, testnet, mainnet or any non-loopback URL: real fees, real rent."""
        return not self.local


def resolve_url(url: str | None) -> Cluster:
    """`--url` value → Cluster. Default: the Solana CLI config's json_rpc_url, else localnet."""
    if url is None:
        url = _solana_cli_setting("json_rpc_url") or "localnet"
    url = url.strip()
    url = MONIKERS.get(url, url)
    if url == EMBEDDED:
        return Cluster(EMBEDDED, None)
    if url in CLUSTERS:
        return Cluster(url, CLUSTERS[url])
    if re.match(r"^https?://[^\s/]+", url):
        return Cluster(url, url)
    raise ConfigError(
        f"--url {url!r} is not embedded, localnet (l, localhost), devnet (d), mainnet (m), "
        "testnet (t) or an http(s) URL"
    )


def _solana_cli_setting(key: str) -> str | None:
    path = solana_cli_config_path()
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError):
        return None
    # The CLI config is flat YAML; one regex avoids a YAML dependency.
    m = re.search(rf"^{key}:\s*[\"']?([^\"'\n]+?)[\"']?\s*$", text, re.M)
    return m.group(1).strip() if m else None


def load_keypair(
    path: str | Path | None, *, create: bool = True, cluster: Cluster | None = None
) -> Keypair:
    """Load a Solana CLI keypair file (a JSON array of 64 bytes).

    With no ``path`` the Solana CLI default is used; it is created only when ``create`` is set
    and ``cluster`` is local (embedded or loopback), and where it was written is printed on
    stderr. Anywhere else a missing keypair is an error: nobody should pay devnet or mainnet
    fees from a key they did not know they had.
    """
    p = Path(path).expanduser() if path is not None else default_keypair_path()
    if not p.exists():
        local = cluster is None or cluster.local
        if not create or path is not None or not local:
            where = f" for {cluster.name}" if cluster is not None and not local else ""
            raise ConfigError(
                f"keypair file {p} does not exist{where}; create one with "
                f"`solana-keygen new -o {p}` or pass --keypair FILE"
            )
        kp = Keypair()
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(list(bytes(kp))))
        p.chmod(0o600)
        print(f"created a new keypair for local use at {p} (pubkey {kp.pubkey()})", file=sys.stderr)
        return kp
    if p.is_dir():
        raise ConfigError(f"keypair path {p} is a directory, not a keypair file")
    try:
        raw = json.loads(p.read_text())
        if not isinstance(raw, list) or len(raw) != 64:
            raise ValueError("expected a JSON array of 64 integers")
        return Keypair.from_bytes(bytes(raw))
    except (ValueError, TypeError, UnicodeDecodeError, OSError) as e:
        raise ConfigError(
            f"keypair file {p} is not a Solana CLI keypair (JSON array of 64 bytes): {e}"
        ) from e
