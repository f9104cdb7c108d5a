"""A fault-injecting JSON-RPC + websocket proxy for loopback test clusters.

    async with FaultProxy(sp.rpc_url, sp.ws_url, FaultPlan(error_rate=0.1, seed=1)) as proxy:
        chain = RpcChain(proxy.rpc_url, timeout=1.0)
        ...  # proxy.ws_url for subscriptions; proxy.plan can be changed at any time

HTTP faults, drawn per request from ``FaultPlan`` (each bounded by ``max_faults``):

* ``error_rate``: answer ``503`` without forwarding;
* ``rate_limit_rate``: answer ``429`` without forwarding;
* ``timeout_rate``: hold the request ``hold_seconds`` without answering, then close;
* ``drop_rate``: close the connection without forwarding;
* ``lost_response_rate``: forward, let the node act on it, then close without answering
  (a sent transaction lands but the client never hears so);
* ``blackhole_sends``: answer ``sendTransaction`` with the transaction's signature but never
  forward it (forces blockhash expiry: the client keeps rebroadcasting into the void).

Websocket faults: ``drop_websockets()`` aborts every open subscription connection;
``ws_drop_after`` aborts each connection that many seconds after it opens; ``ws_refuse``
rejects new ones. ``outage(seconds)`` takes both listeners down (connections reset, new ones
refused) and brings them back on the same ports, as a node restart looks to a client.

Only loopback addresses are accepted, for the listener and the upstream alike.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import json
import random
import socket
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

import httpx
import websockets
from solders.transaction import Transaction, VersionedTransaction
from websockets.asyncio.server import Server, ServerConnection
from websockets.exceptions import WebSocketException

_REASONS: Final = {200: "OK", 429: "Too Many Requests", 503: "Service Unavailable"}
_MAX_BODY: Final = 4 * 1024 * 1024


@dataclass
class FaultPlan:
    error_rate: float = 0.0
    rate_limit_rate: float = 0.0
    timeout_rate: float = 0.0
    drop_rate: float = 0.0
    lost_response_rate: float = 0.0
    hold_seconds: float = 2.0
    blackhole_sends: bool = False
    # Injected HTTP faults stop after this many (None: unbounded).
    max_faults: int | None = None
    ws_drop_after: float | None = None
    ws_refuse: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        rates = (
            self.error_rate,
            self.rate_limit_rate,
            self.timeout_rate,
            self.drop_rate,
            self.lost_response_rate,
        )
        if any(not 0 <= r <= 1 for r in rates) or sum(rates) > 1:
            raise ValueError(f"fault rates must be within 0..1 and sum to at most 1: {rates}")


@dataclass
class FaultStats:
    requests: int = 0
    forwarded: int = 0
    errors: int = 0
    rate_limited: int = 0
    timeouts: int = 0
    drops: int = 0
    lost_responses: int = 0
    blackholed: int = 0
    ws_connections: int = 0
    ws_refused: int = 0
    ws_drops: int = 0
    outages: int = 0
    methods: dict[str, int] = field(default_factory=dict)

    @property
    def injected(self) -> int:
        return self.errors + self.rate_limited + self.timeouts + self.drops + self.lost_responses


def require_loopback(url: str) -> tuple[str, int]:
    """(host, port) of ``url``; ValueError unless the host is a loopback address."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if host != "localhost":
        try:
            if not ipaddress.ip_address(host).is_loopback:
                raise ValueError
        except ValueError:
            raise ValueError(f"fault proxy only talks to loopback hosts, not {url!r}") from None
    if parts.port is None:
        raise ValueError(f"{url!r} has no port")
    return host, parts.port


class FaultProxy:
    def __init__(
        self,
        rpc_upstream: str,
        ws_upstream: str | None = None,
        plan: FaultPlan | None = None,
        *,
        host: str = "127.0.0.1",
    ) -> None:
        require_loopback(rpc_upstream)
        if ws_upstream is not None:
            require_loopback(ws_upstream)
        require_loopback(f"http://{host}:1")
        self.rpc_upstream = rpc_upstream
        self.ws_upstream = ws_upstream
        self.plan = plan or FaultPlan()
        self.stats = FaultStats()
        self.host = host
        self._rng = random.Random(self.plan.seed)
        self._rpc_port = _free_port(host)
        self._ws_port = _free_port(host) if ws_upstream is not None else None
        self._http: httpx.AsyncClient | None = None
        self._rpc_server: asyncio.Server | None = None
        self._ws_server: Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._ws_clients: set[ServerConnection] = set()

    @property
    def rpc_url(self) -> str:
        return f"http://{self.host}:{self._rpc_port}"

    @property
    def ws_url(self) -> str:
        if self._ws_port is None:
            raise ValueError("this proxy has no websocket upstream")
        return f"ws://{self.host}:{self._ws_port}"

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=httpx.Timeout(30.0))
        self._rpc_server = await asyncio.start_server(
            self._serve_http, self.host, self._rpc_port, reuse_address=True
        )
        if self._ws_port is not None:
            self._ws_server = await websockets.serve(
                self._serve_ws, self.host, self._ws_port, reuse_address=True
            )

    async def stop(self) -> None:
        await self._close_listeners()
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def __aenter__(self) -> FaultProxy:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def outage(self, seconds: float) -> None:
        """Both endpoints down for ``seconds`` (open connections reset), then back."""
        self.stats.outages += 1
        await self._close_listeners()
        await asyncio.sleep(seconds)
        await self.start()

    async def drop_websockets(self) -> int:
        """Abort every open websocket connection; returns how many."""
        clients = list(self._ws_clients)
        for client in clients:
            client.transport.abort()
        self.stats.ws_drops += len(clients)
        return len(clients)

    async def _close_listeners(self) -> None:
        if self._rpc_server is not None:
            self._rpc_server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await self.drop_websockets()
        if self._ws_server is not None:
            self._ws_server.close()
            await self._ws_server.wait_closed()
            self._ws_server = None
        if self._rpc_server is not None:
            await self._rpc_server.wait_closed()
            self._rpc_server = None

    # ------------------------------------------------------------------ HTTP (JSON-RPC)

    def _draw(self) -> str | None:
        plan = self.plan
        if plan.max_faults is not None and self.stats.injected >= plan.max_faults:
            return None
        roll = self._rng.random()
        for name, rate in (
            ("error", plan.error_rate),
            ("rate_limit", plan.rate_limit_rate),
            ("timeout", plan.timeout_rate),
            ("drop", plan.drop_rate),
            ("lost_response", plan.lost_response_rate),
        ):
            if roll < rate:
                return name
            roll -= rate
        return None

    async def _serve_http(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    return
                if not await self._answer(request, writer):
                    return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            return
        finally:
            self._writers.discard(writer)
            writer.transport.abort()

    async def _answer(self, body: bytes, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; False when the connection must close."""
        self.stats.requests += 1
        method = _method(body)
        self.stats.methods[method] = self.stats.methods.get(method, 0) + 1
        if self.plan.blackhole_sends and method == "sendTransaction":
            fake = _fake_send_answer(body)
            if fake is not None:
                self.stats.blackholed += 1
                await _respond(writer, 200, fake)
                return True
        fault = self._draw()
        if fault == "error":
            self.stats.errors += 1
            await _respond(writer, 503, b'{"error":"injected"}')
            return True
        if fault == "rate_limit":
            self.stats.rate_limited += 1
            await _respond(writer, 429, b'{"error":"injected"}')
            return True
        if fault == "timeout":
            self.stats.timeouts += 1
            await asyncio.sleep(self.plan.hold_seconds)
            return False
        if fault == "drop":
            self.stats.drops += 1
            return False
        assert self._http is not None
        try:
            upstream = await self._http.post(
                self.rpc_upstream, content=body, headers={"content-type": "application/json"}
            )
        except httpx.HTTPError:
            return False  # upstream down: the client sees a dropped connection
        self.stats.forwarded += 1
        if fault == "lost_response":
            self.stats.lost_responses += 1
            return False
        await _respond(writer, upstream.status_code, upstream.content)
        return True

    # ------------------------------------------------------------------ websocket

    async def _serve_ws(self, client: ServerConnection) -> None:
        if self.plan.ws_refuse:
            self.stats.ws_refused += 1
            client.transport.abort()
            return
        assert self.ws_upstream is not None
        self.stats.ws_connections += 1
        self._ws_clients.add(client)
        timer: asyncio.TimerHandle | None = None
        if self.plan.ws_drop_after is not None:
            delay = self.plan.ws_drop_after * (0.5 + self._rng.random())
            timer = asyncio.get_running_loop().call_later(delay, self._abort_ws, client)
        try:
            async with websockets.connect(self.ws_upstream, max_size=2**24) as upstream:
                pumps = [
                    asyncio.create_task(_pump(client, upstream)),
                    asyncio.create_task(_pump(upstream, client)),
                ]
                try:
                    await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for pump in pumps:
                        pump.cancel()
                    await asyncio.gather(*pumps, return_exceptions=True)
        except (OSError, WebSocketException, TimeoutError):
            pass
        finally:
            if timer is not None:
                timer.cancel()
            self._ws_clients.discard(client)
            client.transport.abort()

    def _abort_ws(self, client: ServerConnection) -> None:
        if client in self._ws_clients:
            self.stats.ws_drops += 1
            client.transport.abort()


async def _pump(source: Any, sink: Any) -> None:
    with contextlib.suppress(WebSocketException, OSError):
        async for message in source:
            await sink.send(message)


async def _read_request(reader: asyncio.StreamReader) -> bytes | None:
    """One HTTP/1.1 request's body (None at a clean end of the connection)."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise
        return None
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    if length > _MAX_BODY:
        raise ConnectionError(f"request body of {length} bytes is over the proxy's limit")
    return await reader.readexactly(length) if length else b""


async def _respond(writer: asyncio.StreamWriter, status: int, body: bytes) -> None:
    reason = _REASONS.get(status, "Status")
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: keep-alive\r\n\r\n"
    ).encode()
    writer.write(head + body)
    await writer.drain()


def _method(body: bytes) -> str:
    try:
        payload = json.loads(body)
    except ValueError:
        return "?"
    if isinstance(payload, list):
        return "batch"
    return str(payload.get("method", "?")) if isinstance(payload, dict) else "?"


def _fake_send_answer(body: bytes) -> bytes | None:
    """What a node answers to ``sendTransaction``: the transaction's first signature."""
    try:
        payload = json.loads(body)
        raw = base64.b64decode(payload["params"][0])
        try:
            signature = Transaction.from_bytes(raw).signatures[0]
        except ValueError:
            signature = VersionedTransaction.from_bytes(raw).signatures[0]
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    return json.dumps(
        {"jsonrpc": "2.0", "id": payload.get("id"), "result": str(signature)}
    ).encode()


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
