"""The one way to wait: poll a condition until a deadline, and keep why it did not hold yet."""

from __future__ import annotations

import time
from collections.abc import Callable

from harness.errors import HarnessError


class WaitTimeout(HarnessError, TimeoutError):
    """A condition did not hold in time; the message names it and the last cause seen."""


class NotYet(Exception):
    """Raised by a check to say why it does not hold yet; the last one is reported on timeout."""


def wait_for(
    what: str,
    timeout_s: float,
    check: Callable[[], bool],
    every_s: float = 3.0,
    retry_on: tuple[type[BaseException], ...] = (HarnessError,),
) -> float:
    """Until `check` holds; the seconds that took.

    An error of `retry_on` counts as "not yet" (a node busy recovering may not answer
    this round); its message, or a `NotYet`'s, is the cause a timeout reports.
    """
    started = time.monotonic()
    deadline = started + timeout_s
    cause = ""
    while True:
        try:
            if check():
                return time.monotonic() - started
        except NotYet as why:
            cause = str(why)
        except retry_on as err:
            cause = f"{type(err).__name__}: {err}"
        if time.monotonic() > deadline:
            last = f"; last: {cause.splitlines()[0]}" if cause.strip() else ""
            raise WaitTimeout(f"{what}: not within {timeout_s:.0f} s{last}")
        time.sleep(every_s)
