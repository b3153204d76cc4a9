"""The ``assaykit`` command line: thin wrappers over the library.

Errors in the user's input print one line naming the file on stderr and exit with code 2;
``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from . import __version__
from .errors import AssayKitError

app = typer.Typer(
    name="assaykit",
    help="Monocyte HLA-DR (AB/C) and ex vivo immune restoration from flow cytometry runs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

_state: dict[str, bool] = {"debug": False}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"assaykit {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Monocyte HLA-DR (AB/C) and ex vivo immune restoration from flow cytometry runs."""
    _state["debug"] = debug


def _fail(error: BaseException) -> None:
    if _state["debug"]:
        raise error
    typer.echo(f"error: {error}", err=True)


def _abort(error: AssayKitError) -> NoReturn:
    _fail(error)
    raise typer.Exit(2)


def _run(action: Callable[[], Any]) -> Any:
    try:
        return action()
    except AssayKitError as error:
        _abort(error)


# --- inspect -----------------------------------------------------------------------------------


def _describe(sample: Any, keywords: bool) -> str:
    info = sample.to_dict()
    lines = [
        f"{sample.path}",
        f"  FCS {info['version']}  instrument: {info['cytometer'] or '-'}  date: {info['date'] or '-'}",
        f"  events: {info['events']}  dataset: {info['dataset'] + 1} of {info['n_datasets']}  "
        f"spillover: {'yes (' + sample.spillover.keyword + ')' if sample.spillover else 'no'}",
        "  #   $PnN                      $PnS                      range",
    ]
    for channel in info["channels"]:
        lines.append(f"  {channel['index']:<3} {channel['name']:<25} {channel['marker'] or '-':<25} "
                     f"{channel['range']:g}")
    for note in sample.notes:
        lines.append(f"  note: {note}")
    if keywords:
        lines.append("  TEXT keywords:")
        lines.extend(f"    {key} = {value}" for key, value in sample.keywords.items())
    return "\n".join(lines)


@app.command()
def inspect(
    files: Annotated[list[Path], typer.Argument(help="FCS files (.fcs, .lmd).", show_default=False)],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
    keywords: Annotated[bool, typer.Option("--keywords", help="Also dump every TEXT keyword.")] = False,
    dataset: Annotated[int | None, typer.Option(help="Dataset to read (0-based; default: see docs).")] = None,
) -> None:
    """Describe FCS files: version, instrument, date, events, datasets, channels, spillover.

    Example: assaykit inspect sample_fcs/*.fcs --json
    """
    from .fcs import read_fcs

    failed = False
    described: list[dict] = []
    for path in files:
        try:
            sample = read_fcs(path, dataset=dataset)
        except AssayKitError as error:
            _fail(error)
            failed = True
            continue
        if as_json:
            entry = sample.to_dict()
            if keywords:
                entry["keywords"] = dict(sample.keywords)
            described.append(entry)
        else:
            typer.echo(_describe(sample, keywords))
    if as_json:
        typer.echo(json.dumps(described if len(files) != 1 else (described[0] if described else None), indent=1))
    if failed:
        raise typer.Exit(2)


# --- convert -----------------------------------------------------------------------------------


def _unique(names: tuple[str, ...]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return out


@app.command()
def convert(
    file: Annotated[Path, typer.Argument(help="FCS file to read.", show_default=False)],
    out: Annotated[Path, typer.Argument(help="Output: .csv (header = channel names) or .npy.",
                                        show_default=False)],
    raw: Annotated[bool, typer.Option("--raw", help="Values as stored (no log decoding, gain).")] = False,
    dataset: Annotated[int | None, typer.Option(help="Dataset to read (0-based).")] = None,
) -> None:
    """Write the events of an FCS file to CSV or NumPy (scale values unless --raw).

    Example: assaykit convert sample_fcs/Specimen_001_A1_A01.fcs A1.csv
    """
    from .fcs import read_fcs
    from .io import atomic_output

    suffix = out.suffix.lower()
    if suffix not in (".csv", ".npy"):
        _abort(AssayKitError("output must end in .csv or .npy", out))
    sample = _run(lambda: read_fcs(file, dataset=dataset))
    values = sample.raw if raw else sample.events

    import numpy as np

    with atomic_output(out) as handle:  # written straight to the file: no second copy in memory
        if suffix == ".npy":
            np.save(handle, np.ascontiguousarray(values), allow_pickle=False)
        else:
            header = ",".join(f'"{n}"' if "," in n else n for n in _unique(sample.channels))
            fmt = "%d" if values.dtype.kind in "ui" else "%.9g"
            np.savetxt(handle, values, delimiter=",", fmt=fmt, header=header, comments="")
    typer.echo(f"wrote {out} ({sample.n_events} events x {sample.n_channels} channels)")


# --- gate --------------------------------------------------------------------------------------


@app.command()
def gate(
    file: Annotated[Path, typer.Argument(help="FCS file of a stained blood tube.", show_default=False)],
    strategy: Annotated[Path | None, typer.Option(help="Gating strategy YAML (default: gating/monocyte-hladr.yaml).")
                        ] = None,
    compensation: Annotated[Path | None, typer.Option(
        help="Spillover matrix CSV (header: channel names) instead of the file's own.")] = None,
    isotype: Annotated[Path | None, typer.Option(
        help="Isotype/FMO control FCS: % positive above its 99th percentile.")] = None,
    threshold: Annotated[float | None, typer.Option(help="Positivity threshold (scale units) for % positive.")
                         ] = None,
    plot: Annotated[Path | None, typer.Option(help="Write a PNG of every gate and the readout histogram.")] = None,
    membership: Annotated[Path | None, typer.Option(
        help="Write a CSV: one row per event (file order), one 0/1 column per population.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
) -> None:
    """Gate the monocytes of one tube automatically and report the HLA-DR readout.

    Example: assaykit gate sample_fcs/Specimen_001_A1_A01.fcs --plot A1.png --json
    """
    from .fcs import read_fcs
    from .readout import isotype_threshold, measure, qc_flags
    from .strategy import apply_strategy, load_strategy, read_compensation

    def work() -> tuple:
        chosen = load_strategy(strategy)
        spill = read_compensation(compensation) if compensation is not None else "file"
        result = apply_strategy(read_fcs(file), chosen, spill)
        cut = threshold
        if isotype is not None:
            cut = isotype_threshold(apply_strategy(read_fcs(isotype), chosen, spill), chosen)
        readout = measure(result, chosen, cut)
        return chosen, result, readout, qc_flags(result, chosen, readout)

    chosen, result, readout, flags = _run(work)
    if membership is not None:
        import numpy as np

        from .io import atomic_output

        names = [p.name for p in result.populations]
        table = np.column_stack([result.masks[n] for n in names]).astype(np.int8)
        with atomic_output(membership) as handle:
            np.savetxt(handle, table, fmt="%d", delimiter=",", header=",".join(names), comments="")
    if plot is not None:
        from .plots import plot_gating

        plot_gating(result, chosen, readout, plot, title=str(file.name))
    if as_json:
        payload = {**result.to_dict(), "readout": readout.to_dict(), "qc_flags": flags}
        typer.echo(json.dumps(payload, indent=1))
        return
    typer.echo(f"{file}  (strategy: {chosen.name}, compensation: {result.compensation})")
    typer.echo(f"  {'population':<16}{'parent':<14}{'events':>10}{'% of parent':>13}")
    for p in result.populations:
        typer.echo(f"  {p.name:<16}{p.parent:<14}{p.count:>10,}{p.percent_of_parent:>12.2f}%")
    value = lambda v: "-" if v is None else f"{v:,.1f}"  # noqa: E731
    typer.echo(f"  {readout.marker} ({readout.channel}) on {readout.population}: median {value(readout.median)}, "
               f"geometric mean {value(readout.geometric_mean)}, robust CV {value(readout.robust_cv)} %"
               + (f", positive {value(readout.percent_positive)} %" if readout.percent_positive is not None else ""))
    for flag in flags:
        typer.echo(f"  QC: {flag}")


# --- simulate ----------------------------------------------------------------------------------


@app.command()
def simulate(
    out_dir: Annotated[Path, typer.Argument(help="Folder to write the run into.", show_default=False)],
    patients: Annotated[int, typer.Option(min=1, max=23, help="Number of patients.")] = 4,
    conditions: Annotated[str, typer.Option(help="Comma-separated; the first is the control.")] = (
        "unstimulated,IFN-gamma,GM-CSF,IL-7"),
    events: Annotated[int, typer.Option(min=1000, help="Events per blood tube.")] = 20000,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives identical files.")] = 1,
    instrument: Annotated[str, typer.Option(
        help="Instrument style: canto (FCS 3.1 float, 0-262,144), navios (FCS 3.0 integer, 0-1,048,576, "
             "FS INT/FL2 INT names) or calibur (FCS 2.0, 10-bit, log-amplified FL2-H/FL3-H).")] = "canto",
) -> None:
    """Simulate a plate run with ground truth, as a FACSCanto II (default), Navios or FACSCalibur writes it.

    Writes one FCS file per well (lysed whole blood stained for HLA-DR PE and CD14
    PerCP-Cy5.5), a QuantiBRITE bead tube, plate_map.csv, truth.csv, per-event labels
    (*.labels.npy, legend in labels.json) and the bead lot file (beads_lot.yaml).

    Example: assaykit simulate sample_fcs --patients 4 --events 20000 --seed 1
    """
    from .simulate import STYLES, RunSpec, write_run

    if instrument not in STYLES:
        _abort(AssayKitError(f"--instrument must be one of {', '.join(STYLES)}, not {instrument!r}"))
    names = tuple(c.strip() for c in conditions.split(",") if c.strip())
    if not names:
        _abort(AssayKitError("--conditions is empty"))
    if patients * len(names) > 95:
        _abort(AssayKitError(f"{patients} patients x {len(names)} conditions do not fit a 96-well plate"))
    folder = write_run(out_dir, RunSpec(patients=patients, conditions=names, events=events, seed=seed,
                                               style=instrument))
    typer.echo(f"wrote {patients * len(names)} blood tubes + 1 bead tube to {folder}")


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
