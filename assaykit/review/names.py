"""The one rule for a reviewer's or signer's name: what it may hold (:func:`name_problem`) and
how two names are compared (:func:`name_key`)."""

from __future__ import annotations

import unicodedata


def name_problem(name: str) -> str:
    """Why ``name`` cannot name a reviewer or signer ("" when it can): 1 to 200 characters (after
    trimming) with a letter, no control, format (bidirectional overrides, zero-width characters)
    or unassigned character. The one rule for the app's name box and every action.

    Parameters
    ----------
    name : str
        The name as given.
    """
    text = " ".join(name.split())
    if not 1 <= len(text) <= 200:
        return "the reviewer's name is needed (1 to 200 characters of plain text)"
    if any(unicodedata.category(c)[0] == "C" for c in text):
        return "the name holds invisible, control or direction-changing characters; type it in plain text"
    if not any(c.isalpha() for c in text):
        return "a name has letters"
    return ""


def name_key(name: str) -> str:
    """The form in which two names are compared (the approver is not the reviewer): NFKC
    (full-width and compatibility letters as their plain ones), format and zero-width characters
    removed, accents removed, case folded, spaces collapsed.

    Parameters
    ----------
    name : str
        A name.
    """
    text = unicodedata.normalize("NFKC", name)
    text = "".join(c for c in unicodedata.normalize("NFKD", text)
                   if unicodedata.category(c) not in ("Cf", "Mn", "Me", "Mc"))
    return " ".join(text.casefold().split())
