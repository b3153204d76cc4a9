"""What can go wrong with a ledger, as typed codes (docs/ledger.md, "When the ledger fails"): a
run records the code with its one-line message in the manifest (``ledger.fault``) and exits 1;
its outputs are written all the same. A module without the database library, so that scoring
and the CLI name faults without importing it."""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path

from ..errors import LedgerError

ID_LENGTH = 255
"""The longest patient, time point or condition (characters) the ledger stores, on SQLite and
PostgreSQL alike; the plate map refuses longer ones."""
NUMBER_LIMIT = 1e15
"""Numbers read back from the ledger at or above this magnitude are not values assaykit writes
(the bound of the report's read-back checks): left out of the history."""


_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*):[^@\s]*@(?:[^@\s/]*@)*")
_PASSWORD_PARAM = re.compile(r"(?P<head>[?&;\s](?:password|passwd|pwd)=)[^&\s]*", re.IGNORECASE)
MASK = "***"
"""What a password in a ledger URL is shown as."""


def masked(text: str | Path) -> str:
    """``text`` with the password of every URL in it masked (``scheme://user:***@host``, and a
    ``password=`` parameter): the one rule by which a ledger location (``--ledger``, run.yaml
    ``ledger:``, ``ASSAYKIT_LEDGER``) or a message or command line holding one is written or printed
    (manifests, console, tables, pages, errors, crash logs). A file path comes back unchanged.

    Parameters
    ----------
    text : str or Path
        A ledger location, or any text that may hold one.
    """
    out = _PASSWORD_PARAM.sub(lambda m: f"{m['head']}{MASK}", str(text))
    return _USERINFO.sub(lambda m: f"{m['head']}:{MASK}@", out)


class LedgerFault(StrEnum):
    """The kind of a ledger failure (the values are written in manifests: never renamed)."""

    NOT_A_DATABASE = "not_a_database"  # a foreign, truncated or corrupt file
    FOREIGN_DATABASE = "foreign_database"  # a database that is not an assaykit ledger
    MISSING_TABLE = "missing_table"  # an assaykit ledger with a table dropped
    NEWER_SCHEMA = "newer_schema"  # written by a newer assaykit
    LOCKED = "locked"  # another process holds the write lock past the timeout
    UNREACHABLE = "unreachable"  # a server that cannot be reached or refuses the connection
    BAD_VALUES = "bad_values"  # rows of earlier runs with values assaykit does not write (left out)
    REFUSED_VALUE = "refused_value"  # this run holds a value the ledger's schema cannot store
    NOT_RECORDED = "not_recorded"  # the run could not be recorded (e.g. a time point without a day)
    FAILED = "failed"  # any other database error


class LedgerFaultError(LedgerError):
    """A LedgerError with its :class:`LedgerFault` (``fault``)."""

    def __init__(self, message: str, path: str | Path | None = None, *,
                 fault: LedgerFault = LedgerFault.FAILED) -> None:
        super().__init__(message, path)
        self.fault = fault


def fault_of(error: BaseException) -> LedgerFault:
    """The fault of a ledger error (:data:`LedgerFault.FAILED` when it has none).

    Parameters
    ----------
    error : BaseException
        The error.
    """
    return getattr(error, "fault", LedgerFault.FAILED)
