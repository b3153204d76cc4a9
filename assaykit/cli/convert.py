"""``assaykit convert``: the events of an FCS file as CSV or NumPy."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import AssayKitError
from ._common import output_files, say


def _unique(names: tuple[str, ...]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return out


def convert(
    file: Annotated[Path, typer.Argument(help="FCS file to read.", show_default=False)],
    out: Annotated[Path, typer.Argument(help="Output: .csv (header = channel names) or .npy.",
                                        show_default=False)],
    raw: Annotated[bool, typer.Option("--raw", help="Values as stored (no log decoding, gain).")] = False,
    dataset: Annotated[int | None, typer.Option(help="Dataset to read (0-based).")] = None,
) -> None:
    """Write the events of an FCS file to CSV or NumPy (scale values unless --raw).

    Example: assaykit convert demo/Specimen_001_A1_A01.fcs A1.csv   (demo: a run written by `assaykit simulate demo`)
    """
    import csv
    import io

    import numpy as np

    from .._io.atomic import atomic_output
    from .._io.names import cell
    from ..fcs import read_fcs

    suffix = out.suffix.lower()
    if suffix not in (".csv", ".npy"):
        raise AssayKitError("output must end in .csv or .npy", out)
    output_files({"OUT": out}, [file])
    sample = read_fcs(file, dataset=dataset)
    values = sample.raw if raw else sample.events
    with atomic_output(out) as handle:  # written straight to the file: no second copy in memory
        if suffix == ".npy":
            np.save(handle, np.ascontiguousarray(values), allow_pickle=False)
        else:
            header = io.StringIO()  # channel names as every table writes names (_io.names.cell), in UTF-8
            csv.writer(header, lineterminator="\n").writerow([cell(n) for n in _unique(sample.channels)])
            handle.write(header.getvalue().encode("utf-8"))
            fmt = "%d" if values.dtype.kind in "ui" else "%.9g"
            np.savetxt(handle, values, delimiter=",", fmt=fmt)
    say(f"wrote {out} ({sample.n_events} events x {sample.n_channels} channels)")
