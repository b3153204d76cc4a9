"""The library entry of ``assaykit validate`` (docs/validation.md, "assaykit validate"): gather the
values, compute every statistic, judge every criterion and write the report folder, in one call."""

from __future__ import annotations

import datetime
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .analysis import CONTROL_CONDITION, Validation

if TYPE_CHECKING:
    from ..ledger import Ledger


@dataclass(frozen=True)
class ValidationResult:
    """What :func:`validate` computed and where it wrote it.

    Parameters
    ----------
    validation : Validation
        Every statistic and criterion.
    out : Path
        The report folder written.
    replaced : bool
        Whether an earlier validation folder was replaced there.
    """

    validation: Validation
    out: Path
    replaced: bool = False

    @property
    def passed(self) -> bool:
        """Every evaluated criterion passed (exit code 0; a failure: 1)."""
        return self.validation.passed

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-ready data (``--json``): the folder, the counts and every criterion."""
        data = self.validation.data
        return {"out": str(self.out), "passed": self.passed, "results": self.validation.counts,
                "tubes": len(data.tubes), "runs": len(data.runs), "left_out": data.left_out,
                "criteria": [{**o.row(), "value": o.value} for o in self.validation.outcomes]}


def default_out(today: datetime.date | None = None) -> Path:
    """The default report folder: ``reports/validation-<date>`` (today's UTC date, ISO).

    Parameters
    ----------
    today : date or None
        The date to name it by (None: today, UTC).
    """
    day = today or datetime.datetime.now(datetime.UTC).date()
    return Path("reports") / f"validation-{day.isoformat()}"


def _check_apart(target: Path, folders: Sequence[Path]) -> None:
    """AssayKitError naming ``target`` when the report folder is, lies inside or holds one of the
    ``folders`` read (a scored run's output folder, its run folder, a comparison's): validate never
    changes them (a folder
    added inside a scored run would make it fail ``assaykit verify``)."""
    from ..errors import AssayKitError

    written = target.resolve()
    for folder in folders:
        read = folder.resolve()
        if written == read or read in written.parents or written in read.parents:
            raise AssayKitError(f"the report folder would replace, or lie inside, the output folder {folder} it "
                                "reads, which validate never changes: name another --out", target)


def validate(ledger: Ledger | None = None, runs: Sequence[str | os.PathLike[str]] = (),
             comparisons: Sequence[str | os.PathLike[str]] = (), criteria: str | os.PathLike[str] | None = None,
             out: str | os.PathLike[str] | None = None, control: str = CONTROL_CONDITION) -> ValidationResult:
    """A method validation of the runs in ``ledger`` and ``runs``, written to ``out``.

    Only reportable values enter (the tubes left out are counted by verdict). Precision (CLSI
    EP05) per material measured in two runs or more or with replicates; method comparison (CLSI
    EP09: Bland-Altman, Passing-Bablok) pooled over ``comparisons``; reference interval (CLSI
    EP28) of the donor group the criteria name; stability against hours from draw to stain. Every
    input is checked before the folder is touched (AssayKitError in one line naming the file);
    the folder is written as one unit, never inside (nor over) a folder it reads.

    Parameters
    ----------
    ledger : Ledger or None
        An open ledger whose runs are read (None: the ``runs`` alone).
    runs : sequence of str or PathLike
        Output folders of ``assaykit score`` (a run also in the ledger is read from its folder).
    comparisons : sequence of str or PathLike
        ``assaykit compare`` folders, their agreement.csv, or a lab's CSV (columns file, or
        patient, timepoint and condition; and lab_abc). The compare folders beside the ``runs``
        (compare's default ``OUT_DIR-agreement`` of that run) are added to them.
    criteria : str, PathLike or None
        The lab's acceptance criteria YAML over the shipped defaults (None: the defaults).
    out : str, PathLike or None
        The report folder (None: :func:`default_out`).
    control : str
        The unstimulated condition, whose healthy donors' tubes are the reference values.
    """
    from .._io.atomic import check_not_in_output, check_output_folder
    from .analysis import analyse
    from .criteria import load_criteria
    from .data import check_control, comparison_file, comparisons_beside, gather, with_comparisons
    from .report import KIND, write_validation

    if ledger is None and not runs:
        from ..errors import AssayKitError

        raise AssayKitError("nothing to validate: name a ledger or scored output folders")
    target = Path(out) if out is not None else default_out()
    loaded = load_criteria(criteria)
    check_not_in_output(target)
    replaced = check_output_folder(target, kind=KIND)
    named = {Path(comparison_file(c)).resolve() for c in comparisons}
    found = [c for c in comparisons_beside(runs) if (c / "agreement.csv").resolve() not in named]
    gathered = gather(ledger, runs)
    check_control(gathered.tubes, control)
    data = with_comparisons(gathered, [*comparisons, *found])
    _check_apart(target, [Path(r) for r in runs] + [Path(r.run_key) for r in data.runs] +
                 [Path(c["path"]).parent for c in data.comparisons if Path(c["path"]).name == "agreement.csv"])
    validation = analyse(data, loaded, control)
    write_validation(validation, target)
    return ValidationResult(validation=validation, out=target, replaced=replaced)


__all__ = ["ValidationResult", "default_out", "validate"]
