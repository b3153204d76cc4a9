"""The review's refusals, as typed errors (one line: the file and the problem)."""

from __future__ import annotations

from ..errors import AssayKitError


class ReviewError(AssayKitError):
    """A review action refused (the message says why; nothing was written)."""


class HandWrittenError(ReviewError):
    """The tube's run.yaml entry was written by hand: replacing it needs the reviewer's
    confirmation (``replace_hand_written=True``; the audit records the entry replaced)."""
