"""``assaykit validate``: a method validation over the ledger and scored runs (docs/validation.md)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from ._common import JsonOption, print_json, say


def validate(
    ledger: Annotated[str | None, typer.Option(
        "--ledger", help="The results ledger whose runs are validated: a SQLite file or a postgresql:// URL "
                         "(default: $ASSAYKIT_LEDGER, else reports/assaykit-ledger.sqlite; with --run only: no "
                         "ledger unless named).", show_default=False)] = None,
    run: Annotated[list[Path] | None, typer.Option(
        "--run", help="A scored output folder (`assaykit score --out`) to include; may be given more than once "
                      "(a run also in the ledger is read from its folder).", show_default=False)] = None,
    comparison: Annotated[list[Path] | None, typer.Option(
        "--comparison", help="Method comparison: an `assaykit compare` folder, its agreement.csv, or the lab's "
                             "CSV (columns file, or patient, timepoint and condition; and lab_abc); may be given "
                             "more than once (pooled; the compare folders beside the --run folders, "
                             "OUT_DIR-agreement, are read too).", show_default=False)] = None,
    criteria: Annotated[Path | None, typer.Option(
        "--criteria", help="The lab's acceptance criteria YAML, over assaykit's defaults (`assaykit docs "
                           "validation`).", show_default=False)] = None,
    control: Annotated[str, typer.Option(
        help="The unstimulated condition: its tubes of the reference donor group are the reference values.")
    ] = "unstimulated",
    out: Annotated[Path | None, typer.Option(
        help="The report folder (default: reports/validation-<today>).", show_default=False)] = None,
    json_out: JsonOption = False,
) -> None:
    """Method validation: precision (CLSI EP05), method comparison (EP09), reference interval (EP28),
    stability, judged by acceptance criteria (`assaykit docs validation`).

    Reads the ledger's runs and/or scored folders (--run): only reportable values enter (the
    tubes left out are counted by verdict). Writes validation.html and validation.pdf (every
    figure), the data of each figure as CSV (precision_data.csv, comparison_data.csv,
    reference_data.csv, stability_data.csv), precision.csv, criteria.csv (criterion, value,
    limit, result) and manifest.json (inputs with their SHA-256) into --out, as one unit.

    Exit codes: 0 every evaluated criterion passed; 1 a criterion failed, or none could be evaluated
    (too few values or a design below the criteria's minimum: one line says why; the report is written);
    2 bad input (one line naming the file; nothing written).

    Example: assaykit validate --ledger reports/assaykit-ledger.sqlite --comparison reports/run-1-agreement

    Example: assaykit validate --run reports/run-1 --run reports/run-2 --criteria lab-criteria.yaml --out val
    """
    from ..validation import validate as run_validation

    opened = None
    if ledger is not None or os.environ.get("ASSAYKIT_LEDGER") or not run:
        from .ledger import open_ledger_option

        opened = open_ledger_option(ledger)
    try:
        result = run_validation(ledger=opened, runs=run or [], comparisons=comparison or [], criteria=criteria,
                                out=out, control=control)
    finally:
        if opened is not None:
            opened.close()
    if json_out:
        print_json(result.to_dict())
    else:
        counts = result.validation.counts
        data = result.validation.data
        left = ", ".join(f"{n} {why}" for why, n in data.left_out.items())
        say(f"validated {len(data.tubes)} reportable tubes of {len(data.runs)} run(s)"
            + (f" (left out: {left})" if left else "") + f": {counts['pass']} criteria passed, {counts['fail']} "
            f"failed, {counts['not_evaluated']} not evaluated: {result.out}/validation.html"
            + (" (replacing the earlier validation there)" if result.replaced else ""))
        if data.ledger_left_out:
            say(f"ledger: {data.ledger}: {data.ledger_left_out} row(s) hold values assaykit does not write and were "
                "left out", err=True)
        if data.comparison_dropped:
            shown = "; ".join(data.comparison_dropped[:5]) + (" ..." if len(data.comparison_dropped) > 5 else "")
            say(f"comparison: {len(data.comparison_dropped)} row(s) left out: {shown} (all on validation.html)",
                err=True)
        for outcome in result.validation.outcomes:
            if outcome.result == "fail":
                say(f"failed: {outcome.criterion} ({outcome.subject}): {outcome.value:.4g} {outcome.unit}, "
                    f"limit {outcome.limit}" if outcome.value is not None else
                    f"failed: {outcome.criterion} ({outcome.subject}): {outcome.detail}", err=True)
    if not result.validation.evaluated:
        say(f"no criterion could be evaluated: {result.validation.not_evaluated_reasons}", err=True)
    if not result.passed:
        raise typer.Exit(1)
