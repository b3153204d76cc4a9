"""One exception family for everything a user can get wrong.

Every error carries the file it concerns (when there is one) and a human sentence; ``str(error)``
is the one line the CLI prints.
"""

from __future__ import annotations

from pathlib import Path


class AssayKitError(Exception):
    """Base class: a problem with the user's input, reported in one line."""

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        self.message = message
        self.path = Path(path) if path is not None else None
        super().__init__(message)

    def __str__(self) -> str:
        if self.path is None:
            return self.message
        return f"{self.path}: {self.message}"


class FCSFormatError(AssayKitError):
    """The file is not a readable FCS file (missing, truncated, inconsistent ...)."""


class PlateMapError(AssayKitError):
    """The plate map is missing, malformed or does not match the run's files."""


class GatingError(AssayKitError):
    """A gating strategy is invalid, or a gate could not be found in a sample."""


class ChannelNotFoundError(GatingError):
    """A strategy's marker has no channel in the file (an optional marker may be absent)."""


class CalibrationError(AssayKitError):
    """Bead calibration failed (too few peaks, unusable lot file ...)."""


class LedgerError(AssayKitError):
    """The results ledger cannot be opened, read or written (foreign, corrupt or locked file, a
    server that cannot be reached, a newer schema)."""
