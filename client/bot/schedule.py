"""When a bot steps: every N slots, on a price change, or both (whichever comes first)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass


@dataclass(frozen=True)
class Schedule:
    """``every_slots``: step once the slot is at least this far past the last step's slot
    (0: back to back, as fast as steps confirm). ``on_price_change``: step when a watched
    account shows a price different from the one at the last step."""

    every_slots: int | None = 1
    on_price_change: bool = False

    def __post_init__(self) -> None:
        if self.every_slots is None and not self.on_price_change:
            raise ValueError("a schedule needs every_slots, on_price_change, or both")
        if self.every_slots is not None and self.every_slots < 0:
            raise ValueError(f"every_slots must be >= 0, got {self.every_slots}")


class StepClock:
    """Tracks the latest slot and price the feed reported and says when a step is due."""

    def __init__(self, schedule: Schedule) -> None:
        self.schedule = schedule
        self.slot: int | None = None
        self.price: float | None = None
        self._last_step_slot: int | None = None
        self._last_step_price: float | None = None
        self._changed = asyncio.Event()

    def observe_slot(self, slot: int) -> None:
        if self.slot is None or slot > self.slot:
            self.slot = slot
            self._changed.set()

    def observe_price(self, price: float) -> None:
        if price != self.price:
            self.price = price
            self._changed.set()

    def due(self) -> bool:
        every = self.schedule.every_slots
        if every == 0:
            return True
        if every is not None and self.slot is not None:
            if self._last_step_slot is None or self.slot >= self._last_step_slot + every:
                return True
        return (
            self.schedule.on_price_change
            and self.price is not None
            and self.price != self._last_step_price
        )

    def stepped(self) -> None:
        """A step was taken at the current slot and price."""
        self._last_step_slot = self.slot
        self._last_step_price = self.price

    async def wait_due(self, stop: asyncio.Event) -> bool:
        """Wait until a step is due (True) or ``stop`` is set (False)."""
        while not stop.is_set():
            if self.due():
                return True
            self._changed.clear()
            changed = asyncio.ensure_future(self._changed.wait())
            stopped = asyncio.ensure_future(stop.wait())
            try:
                await asyncio.wait({changed, stopped}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                changed.cancel()
                stopped.cancel()
        return False
