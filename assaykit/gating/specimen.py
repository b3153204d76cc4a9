"""The specimen a tube holds, detected from its gated events and compared with the declared one.

Rules (docs/validation.md): a tube whose granulocytes (the events above the monocytes in side
scatter and below them in CD14, found by the monocyte gate) are fewer than
:data:`PBMC_MAX_GRANULOCYTES` of the cells is PBMC; otherwise whole blood, lyse-no-wash when the
debris gate left out at least :data:`NO_WASH_MIN_DEBRIS` of all events (red-cell ghosts,
platelets and debris stay in a tube that is not washed).
"""

from __future__ import annotations

from typing import Any

SPECIMENS = ("whole_blood", "pbmc", "lyse_no_wash")
PBMC_MAX_GRANULOCYTES = 0.05  # fraction of the cells gated for monocytes
NO_WASH_MIN_DEBRIS = 0.30  # fraction of all events below the debris gate


def detect_specimen(granulocyte_share: float, debris_share: float | None) -> str:
    """The specimen (one of :data:`SPECIMENS`) of a tube whose monocyte-gate parent holds
    ``granulocyte_share`` granulocytes (fraction) and whose debris gate left out
    ``debris_share`` of all events (fraction; None when the strategy has no debris gate)."""
    if granulocyte_share < PBMC_MAX_GRANULOCYTES:
        return "pbmc"
    if debris_share is not None and debris_share >= NO_WASH_MIN_DEBRIS:
        return "lyse_no_wash"
    return "whole_blood"


def check_specimen(name: Any, where: str) -> str | None:
    """``name`` as a declared specimen (None when empty); ValueError naming ``where`` otherwise."""
    if name is None or name == "":
        return None
    text = str(name).strip().lower().replace("-", "_").replace(" ", "_")
    if text not in SPECIMENS:
        raise ValueError(f"{where}: unknown specimen {name!r} (one of {', '.join(SPECIMENS)})")
    return text


def specimen_flags(detected: str | None, declared: str | None) -> list[str]:
    """A QC flag when the ``declared`` specimen and the ``detected`` one disagree."""
    if detected is None or declared is None or detected == declared:
        return []
    return [f"specimen declared {declared} but the events look like {detected}"]
