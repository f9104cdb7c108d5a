"""Market data for bots: websocket subscriptions that reconnect, with a polling fallback.

``MarketFeed.run()`` keeps two loops going until cancelled:

* the websocket loop connects to ``ws_url``, subscribes (``slotSubscribe``, ``accountSubscribe``
  per watched account, ``logsSubscribe`` mentioning the program), and reads notifications. A
  closed socket, a failed handshake or ``idle_timeout`` seconds without any message (slots
  arrive every ~400 ms on a real cluster) count as a drop: it reconnects with jittered
  exponential backoff and subscribes again;
* the poll loop reads the slot and the watched accounts over RPC every ``poll_interval``
  seconds while the websocket is down (always, when there is no ``ws_url``, e.g. LiteSVM),
  and once right after every (re)connect, so a change made during the gap is not missed.

Account updates are de-duplicated by content, so the consumer sees each state once whichever
path delivered it. Program logs are only delivered over the websocket; logs from a gap are not
back-filled (a bot's own results come from its confirmed transactions, not from this stream).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import websockets
from solders.pubkey import Pubkey
from websockets.exceptions import InvalidHandshake, InvalidURI, WebSocketException

from ..chain.base import Chain, ChainError
from .logs import EventLogger
from .metrics import BotMetrics

Source = Literal["ws", "poll"]


@dataclass(frozen=True)
class SlotUpdate:
    slot: int
    source: Source


@dataclass(frozen=True)
class AccountUpdate:
    address: Pubkey
    data: bytes
    lamports: int
    slot: int | None
    source: Source


@dataclass(frozen=True)
class LogsUpdate:
    signature: str
    logs: tuple[str, ...]
    failed: bool
    slot: int | None


Update = SlotUpdate | AccountUpdate | LogsUpdate


@dataclass(frozen=True)
class FeedConfig:
    poll_interval: float = 0.4
    idle_timeout: float = 5.0
    open_timeout: float = 5.0
    reconnect_backoff: tuple[float, float] = (0.05, 5.0)
    commitment: str = "confirmed"
    queue_size: int = 10_000


class MarketFeed:
    def __init__(
        self,
        chain: Chain,
        *,
        ws_url: str | None,
        accounts: Sequence[Pubkey] = (),
        program_id: Pubkey | None = None,
        config: FeedConfig | None = None,
        metrics: BotMetrics | None = None,
        log: EventLogger | None = None,
    ) -> None:
        self.chain = chain
        self.ws_url = ws_url
        self.accounts = list(accounts)
        self.program_id = program_id
        self.config = config or FeedConfig()
        self.metrics = metrics or BotMetrics()
        self.log = log
        self.updates: asyncio.Queue[Update] = asyncio.Queue(self.config.queue_size)
        self.ws_live = asyncio.Event()
        self._last_data: dict[Pubkey, bytes] = {}
        self._last_slot = -1
        self._ids = itertools.count(1)

    async def run(self) -> None:
        """Run until cancelled."""
        loops = [self._poll_loop()]
        if self.ws_url is not None:
            loops.append(self._ws_loop(self.ws_url))
        await asyncio.gather(*loops)

    # ------------------------------------------------------------------ emit (deduplicated)

    def _emit(self, update: Update) -> None:
        if isinstance(update, SlotUpdate):
            if update.slot <= self._last_slot:
                return
            self._last_slot = update.slot
        elif isinstance(update, AccountUpdate):
            if self._last_data.get(update.address) == update.data:
                return
            self._last_data[update.address] = update.data
        try:
            self.updates.put_nowait(update)
        except asyncio.QueueFull:
            # A stalled consumer must not grow memory without bound; slots are the cheapest
            # thing to lose, and a newer state of the same account supersedes an older one.
            self.metrics.errors["feed_queue_full"] += 1

    # ------------------------------------------------------------------ polling

    async def _poll_loop(self) -> None:
        while True:
            if not self.ws_live.is_set():
                await self.poll_once()
            await asyncio.sleep(self.config.poll_interval)

    async def poll_once(self) -> None:
        try:
            slot = await self.chain.slot()
            accounts = (
                await self.chain.get_multiple_accounts(self.accounts) if self.accounts else []
            )
        except ChainError as exc:
            self.metrics.errors["poll_failed"] += 1
            self._note("poll_failed", error=str(exc)[:200])
            return
        self.metrics.polls += 1
        self._emit(SlotUpdate(slot, "poll"))
        for address, account in zip(self.accounts, accounts, strict=True):
            if account is not None:
                self._emit(
                    AccountUpdate(address, bytes(account.data), account.lamports, slot, "poll")
                )

    # ------------------------------------------------------------------ websocket

    async def _ws_loop(self, url: str) -> None:
        low, high = self.config.reconnect_backoff
        delay = low
        while True:
            connected = False
            try:
                async with websockets.connect(
                    url,
                    open_timeout=self.config.open_timeout,
                    close_timeout=1.0,
                    ping_interval=None,
                    max_size=2**24,
                ) as ws:
                    handlers = await self._subscribe(ws)
                    connected = True
                    delay = low
                    self.metrics.ws_connects += 1
                    self.ws_live.set()
                    self._note("ws_connected", url=url, subscriptions=len(handlers))
                    await self.poll_once()  # whatever changed while we were away
                    while True:
                        raw = await asyncio.wait_for(ws.recv(), self.config.idle_timeout)
                        self._dispatch(json.loads(raw), handlers)
            except (
                OSError,
                TimeoutError,
                WebSocketException,
                ChainError,
                ValueError,
                KeyError,
            ) as exc:
                reason = f"{type(exc).__name__}: {exc}"[:200]
                if isinstance(exc, InvalidURI | InvalidHandshake) and not connected:
                    self.metrics.errors["ws_connect_failed"] += 1
                if connected:
                    self.metrics.ws_drops += 1
                self._note("ws_down", url=url, reason=reason, retry_in=round(delay, 3))
            finally:
                self.ws_live.clear()
            await asyncio.sleep(delay * (0.5 + random.random() / 2))
            delay = min(high, delay * 2)

    async def _subscribe(self, ws: Any) -> dict[int, str]:
        """Send every subscription; returns subscription id -> kind ("slot", "logs", address)."""
        wanted: dict[int, tuple[str, str, list[Any]]] = {}
        commitment = {"commitment": self.config.commitment}
        wanted[next(self._ids)] = ("slot", "slotSubscribe", [])
        for address in self.accounts:
            params = [str(address), {"encoding": "base64", **commitment}]
            wanted[next(self._ids)] = (str(address), "accountSubscribe", params)
        if self.program_id is not None:
            params = [{"mentions": [str(self.program_id)]}, commitment]
            wanted[next(self._ids)] = ("logs", "logsSubscribe", params)
        for request_id, (_, method, params) in wanted.items():
            await ws.send(
                json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
            )
        handlers: dict[int, str] = {}
        while len(handlers) < len(wanted):
            message = json.loads(await asyncio.wait_for(ws.recv(), self.config.open_timeout))
            request_id = message.get("id")
            if request_id not in wanted:
                continue  # a notification racing the last confirmations; state is re-polled
            if "error" in message:
                raise ChainError(f"{wanted[request_id][1]} refused: {message['error']}")
            handlers[int(message["result"])] = wanted[request_id][0]
        return handlers

    def _dispatch(self, message: dict[str, Any], handlers: dict[int, str]) -> None:
        params = message.get("params")
        if not isinstance(params, dict):
            return
        kind = handlers.get(params.get("subscription", -1))
        result = params.get("result") or {}
        if kind == "slot":
            self._emit(SlotUpdate(int(result["slot"]), "ws"))
        elif kind == "logs":
            value = result.get("value") or {}
            self._emit(
                LogsUpdate(
                    signature=str(value.get("signature", "")),
                    logs=tuple(value.get("logs") or ()),
                    failed=value.get("err") is not None,
                    slot=(result.get("context") or {}).get("slot"),
                )
            )
        elif kind is not None:
            value = result.get("value")
            if value is None:
                return
            data = value["data"]
            raw = base64.b64decode(data[0] if isinstance(data, list) else data)
            slot = (result.get("context") or {}).get("slot")
            self._emit(
                AccountUpdate(Pubkey.from_string(kind), raw, int(value["lamports"]), slot, "ws")
            )

    def _note(self, event: str, **fields: Any) -> None:
        if self.log is not None:
            self.log.info(event, **fields)
