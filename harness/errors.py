"""The one base of every error the harness raises on purpose.

The CLI and the pytest plugin catch `HarnessError` and show its message, which says
what failed and what to do; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class HarnessError(Exception):
    """Something the user can act on: the message says what failed and what to do."""
