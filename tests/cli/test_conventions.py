"""Solana CLI conventions: config.yml, -u monikers, --output json, --version, ml-agent, keypairs."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from solders.keypair import Keypair

from client.cli import main
from client.config import (
    CLUSTERS,
    ConfigError,
    default_keypair_path,
    load_keypair,
    resolve_url,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def _config(home: Path, text: str) -> None:
    path = home / ".config" / "solana" / "cli" / "config.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.mark.parametrize(
    ("value", "url"),
    [
        ("l", CLUSTERS["localnet"]),
        ("localhost", CLUSTERS["localnet"]),
        ("localnet", "http://127.0.0.1:8899"),
        ("d", CLUSTERS["devnet"]),
        ("m", CLUSTERS["mainnet"]),
        ("mainnet-beta", CLUSTERS["mainnet"]),
        ("t", CLUSTERS["testnet"]),
        ("http://10.0.0.5:8899", "http://10.0.0.5:8899"),
        ("embedded", None),
    ],
)
def test_url_monikers(value: str, url: str | None) -> None:
    assert resolve_url(value).url == url


def test_solana_cli_config_supplies_url_and_keypair(home: Path) -> None:
    kp = Keypair()
    (home / "k.json").write_text(json.dumps(list(bytes(kp))))
    _config(
        home,
        "---\njson_rpc_url: 'https://api.devnet.solana.com'\nwebsocket_url: ''\n"
        f'keypair_path: "{home}/k.json"\ncommitment: confirmed\n',
    )
    assert resolve_url(None).url == CLUSTERS["devnet"]
    assert default_keypair_path() == home / "k.json"
    assert load_keypair(None, cluster=resolve_url(None)).pubkey() == kp.pubkey()


def test_no_config_means_localnet_and_the_default_keypair(home: Path) -> None:
    assert resolve_url(None).name == "localnet"
    assert default_keypair_path() == home / ".config" / "solana" / "id.json"


def test_keypair_created_only_for_local_clusters(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ConfigError, match="solana-keygen new"):
        load_keypair(None, cluster=resolve_url("devnet"))
    with pytest.raises(ConfigError, match="solana-keygen new"):
        load_keypair(None, cluster=resolve_url("https://rpc.example.com"))
    assert not default_keypair_path().exists()
    kp = load_keypair(None, cluster=resolve_url("localnet"))
    assert "created a new keypair for local use at" in capsys.readouterr().err
    assert default_keypair_path().exists()
    assert load_keypair(None, cluster=resolve_url("devnet")).pubkey() == kp.pubkey()
    # An explicit path is never created, even for a local cluster.
    with pytest.raises(ConfigError, match="does not exist"):
        load_keypair(home / "nope.json", cluster=resolve_url("embedded"))


def test_output_json_is_an_alias_of_json(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = str(REPO / "tests" / "golden" / "mlp_int8_compact.mlag")
    assert main(["model-info", model, "--output", "json"]) == 0
    a = json.loads(capsys.readouterr().out)
    assert main(["model-info", model, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == a


def test_version_and_console_script(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    out = capsys.readouterr().out
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert out.strip() in (f"ml-agent {version}", "ml-agent 0+unknown")
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["ml-agent"] == "client.cli:main"


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: ml-agent" in capsys.readouterr().err
