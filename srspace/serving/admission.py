"""Admission: which request runs when. Lanes keep small requests moving past large ones, and
the C heap is given back as each request ends (``heap``).

Gradio's own queue cannot tell a 0.1 MP request from a 24 MP one, and it frees an event's
slot when the event is cancelled even though a synchronous handler runs on. So the app admits
work itself: every request takes a ticket in the lane its size belongs to, waits its turn in
first-come order (the handler reports its honest position while it waits), and holds its
slot until its work has really stopped.

- the *large* lane runs one job at a time: the memory bound of the largest accepted request
  holds however many arrive;
- the *small* lane (results up to ``SMALL_RESULT_PIXELS``) runs beside it, so a gallery example is
  answered in about a second while a 24 MP job is on its way: two at a time, one while a large
  job runs (with the largest job the whole server then peaks at 1.07 GB, and at 1.43 GB under
  mixed load from 16 clients; benchmarks/load.py).

Admission is by cost, not by count: at most ``LARGE_WAITING`` large requests wait behind the
running one, and one client has at most ``LARGE_PER_CLIENT`` large request running or waiting
(and ``SMALL_PER_CLIENT`` small ones: one visitor's flood of small requests is refused at once,
so another visitor's small request is served within seconds).
Past that a request is refused at once with "busy, try again in about N s" (N from the work
queued and the rate measured on the requests before), instead of holding one of the app's
request slots for minutes: a flood of large requests can never fill the slots small ones need.
"""
from __future__ import annotations

import math
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

from ..contract import (LARGE_PER_CLIENT, LARGE_SLOTS, LARGE_WAITING, SECONDS_PER_MP, SMALL_BESIDE_LARGE,
                       SMALL_PER_CLIENT, SMALL_RESULT_PIXELS, SMALL_SLOTS)
from ..errors import ImageInputError
from .heap import give_back_heap



class Busy(ImageInputError):
    """The server has as much large work queued as it takes; the message says when to try again."""



@dataclass(eq=False)
class Ticket:
    lane: str
    lanes: "Lanes"
    pixels: int = 0
    client: str | None = None
    admitted: bool = False
    started: float = 0.0  # when it was admitted (time.monotonic)

    def wait(self, timeout: float) -> bool:
        """True once this ticket may run; False after ``timeout`` seconds of waiting."""
        return self.lanes._wait(self, timeout)

    @property
    def ahead(self) -> int:
        """Requests in this lane that run or wait before this one."""
        return self.lanes._ahead(self)

    @property
    def waiting_ahead(self) -> int:
        """Requests that must start before this one may: those ahead, less the lane's free slots."""
        return self.ahead - self.lanes.slots_now(self.lane) + 1


@dataclass
class Lanes:
    small_pixels: int = SMALL_RESULT_PIXELS  # results up to this size take the small lane
    slots: dict[str, int] = field(default_factory=lambda: {"small": SMALL_SLOTS, "large": LARGE_SLOTS})
    small_beside_large: int = SMALL_BESIDE_LARGE
    large_waiting: int = LARGE_WAITING
    large_per_client: int = LARGE_PER_CLIENT
    small_per_client: int = SMALL_PER_CLIENT
    seconds_per_mp: float = SECONDS_PER_MP  # updated as large requests finish

    def __post_init__(self):
        self._lock = threading.Condition()
        self._queues: dict[str, list[Ticket]] = {lane: [] for lane in self.slots}

    def lane_for(self, pixels: int) -> str:
        return "small" if pixels <= self.small_pixels else "large"

    @contextmanager
    def ticket(self, pixels: int, client: str | None = None):
        """A place in the lane for a result of ``pixels`` asked for by ``client`` (an address,
        or None when unknown); given back however the holder ends. Busy when the large lane
        has all the work it takes, or this client has its share of it."""
        ticket = Ticket(self.lane_for(pixels), self, pixels, client)
        with self._lock:
            queue = self._queues[ticket.lane]
            self._check_room(ticket.lane, queue, client)
            queue.append(ticket)
        try:
            yield ticket
        finally:
            with self._lock:
                self._queues[ticket.lane].remove(ticket)
                if ticket.admitted and ticket.lane == "large":
                    held = time.monotonic() - ticket.started
                    self.seconds_per_mp = 0.7 * self.seconds_per_mp + 0.3 * held / (ticket.pixels / 1e6)
                self._lock.notify_all()
            give_back_heap()  # what the request's work held, given back before the next one grows

    def _check_room(self, lane: str, queue: list[Ticket], client: str | None) -> None:
        mine = sum(t.client == client for t in queue) if client is not None else 0
        if lane == "small":
            if mine >= self.small_per_client:
                raise Busy(f"You already have {mine} images in progress here; at most {self.small_per_client} at a time, "
                           "so that others get their turn: try again when one of them is done.")
            return
        wait = self.seconds_left(queue)
        again = f"try again in about {wait} s"
        if client is not None and sum(t.client == client for t in queue) >= self.large_per_client:
            raise Busy(f"You already have a large image in progress here (a result over {self.small_pixels / 1e6:.0f} MP); "
                       f"one at a time, so that others get their turn: {again}. Smaller results have a lane of their own.")
        if len(queue) >= self.slots["large"] + self.large_waiting:
            raise Busy(f"The server is busy: {len(queue)} large images are being upscaled or waiting; {again}, or "
                       f"choose a smaller image or factor (results up to {self.small_pixels / 1e6:.0f} MP have a lane of their own).")

    def seconds_left(self, queue: list[Ticket]) -> int:
        """The queued work of ``queue`` in seconds, by the measured rate: what a newcomer would wait."""
        now, work = time.monotonic(), 0.0
        for t in queue:
            work += max(1.0, t.pixels / 1e6 * self.seconds_per_mp - (now - t.started if t.admitted else 0.0))
        return max(5, math.ceil(work / self.slots["large"] / 5) * 5)

    def _wait(self, ticket: Ticket, timeout: float) -> bool:
        queue = self._queues[ticket.lane]
        with self._lock:
            if not ticket.admitted and self._lock.wait_for(
                    lambda: ticket in queue and queue.index(ticket) < self.slots_now(ticket.lane), timeout):
                ticket.admitted, ticket.started = True, time.monotonic()
            return ticket.admitted

    def slots_now(self, lane: str) -> int:
        """The lane's slots at this moment: the small lane has fewer while a large job runs."""
        if lane == "small" and any(t.admitted for t in self._queues["large"]):
            return min(self.slots["small"], self.small_beside_large)
        return self.slots[lane]

    def _ahead(self, ticket: Ticket) -> int:
        with self._lock:
            return self._queues[ticket.lane].index(ticket)
