"""Admission: which request runs when. Lanes keep small requests moving past large ones, and
the C heap is given back as each request ends.

Gradio's own queue cannot tell a 0.1 MP request from a 24 MP one, and it frees an event's
slot when the event is cancelled even though a synchronous handler runs on. So the app admits
work itself: every request takes a ticket in the lane its size belongs to, waits its turn in
first-come order (the handler reports its honest position while it waits), and holds its
slot until its work has really stopped.

- the *large* lane runs one job at a time: the memory bound of the largest accepted request
  holds however many arrive;
- the *small* lane (results up to ``SMALL_PIXELS``) runs beside it, so a gallery example is
  answered in about a second while a 24 MP job is on its way.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field

SMALL_PIXELS = 2_000_000  # results up to this size take the small lane
SMALL_SLOTS = 2
LARGE_SLOTS = 1

_LIBC = ctypes.CDLL(ctypes.util.find_library("c")) if ctypes.util.find_library("c") else None
_MALLOC_TRIM = getattr(_LIBC, "malloc_trim", None)  # glibc only


def give_back_heap() -> None:
    """Return the C heap's free pages to the system (glibc's ``malloc_trim``; elsewhere nothing).

    Requests run on many threads, and glibc keeps what each thread's arena once held: over 200
    mixed requests from 16 clients the server grew by 464 MB and peaked at 3.9 GB. Trimming as
    each request ends kept it at its idle size (measured by ``benchmarks/load.py``).
    """
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


@dataclass(eq=False)
class Ticket:
    lane: str
    lanes: "Lanes"
    admitted: bool = False

    def wait(self, timeout: float) -> bool:
        """True once this ticket may run; False after ``timeout`` seconds of waiting."""
        return self.lanes._wait(self, timeout)

    @property
    def ahead(self) -> int:
        """Requests in this lane that run or wait before this one."""
        return self.lanes._ahead(self)


@dataclass
class Lanes:
    small_pixels: int = SMALL_PIXELS
    slots: dict[str, int] = field(default_factory=lambda: {"small": SMALL_SLOTS, "large": LARGE_SLOTS})

    def __post_init__(self):
        self._lock = threading.Condition()
        self._queues: dict[str, list[Ticket]] = {lane: [] for lane in self.slots}

    def lane_for(self, pixels: int) -> str:
        return "small" if pixels <= self.small_pixels else "large"

    @contextmanager
    def ticket(self, pixels: int):
        """A place in the lane for a result of ``pixels``; given back however the holder ends."""
        ticket = Ticket(self.lane_for(pixels), self)
        with self._lock:
            self._queues[ticket.lane].append(ticket)
        try:
            yield ticket
        finally:
            with self._lock:
                self._queues[ticket.lane].remove(ticket)
                self._lock.notify_all()
            give_back_heap()  # what the request's work held, given back before the next one grows

    def _wait(self, ticket: Ticket, timeout: float) -> bool:
        queue = self._queues[ticket.lane]
        with self._lock:
            ticket.admitted = ticket.admitted or self._lock.wait_for(
                lambda: ticket in queue and queue.index(ticket) < self.slots[ticket.lane], timeout)
            return ticket.admitted

    def _ahead(self, ticket: Ticket) -> int:
        with self._lock:
            return self._queues[ticket.lane].index(ticket)
