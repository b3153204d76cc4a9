"""Compare the tables of two scored runs (e.g. `make demo` before and after a change): every
count, identifier and text cell identical, every number within a relative tolerance (default
1e-9), and whether each file is byte for byte the same. Exits 1 when a table differs beyond that.

    .venv/bin/python benchmarks/compare_tables.py BEFORE_DIR AFTER_DIR [--rtol 1e-9]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

TABLES = ("samples", "calibration", "restoration", "patients", "cohort")


def compare(before: Path, after: Path, name: str, rtol: float) -> list[str]:
    """The differences beyond ``rtol`` between one table of the two runs (empty: none)."""
    a = pd.read_csv(before / f"{name}.csv", keep_default_na=False)
    b = pd.read_csv(after / f"{name}.csv", keep_default_na=False)
    if list(a.columns) != list(b.columns) or a.shape != b.shape:
        return [f"{name}: columns or shape differ ({a.shape} vs {b.shape})"]
    problems = []
    for column in a.columns:
        x, y = a[column], b[column]
        if x.dtype.kind == "f" or y.dtype.kind == "f":  # a number column (counts are read as integers)
            xf, yf = x.to_numpy(np.float64), y.to_numpy(np.float64)
            same = (xf == yf) | (np.isnan(xf) & np.isnan(yf))
            relative = np.abs(xf - yf) / np.maximum(np.abs(xf), np.finfo(np.float64).tiny)
            if not (same | (relative <= rtol)).all():
                problems.append(f"{name}.{column}: relative difference up to {np.nanmax(relative[~same]):.3g}")
        elif (x.astype(str) != y.astype(str)).any():
            problems.append(f"{name}.{column}: {int((x.astype(str) != y.astype(str)).sum())} cells differ")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--rtol", type=float, default=1e-9)
    args = parser.parse_args()
    problems = []
    for name in TABLES:
        found = compare(args.before, args.after, name, args.rtol)
        identical = (args.before / f"{name}.csv").read_bytes() == (args.after / f"{name}.csv").read_bytes()
        print(f"{name}.csv: {'byte-identical' if identical else 'within tolerance' if not found else 'DIFFERS'}")
        problems += found
    for problem in problems:
        print(problem)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
