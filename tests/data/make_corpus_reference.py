"""Regenerate ``corpus_reference.json``: what the two established readers say about the corpus.

Not run by the tests (the readers need numpy < 2). Run it by hand in a throw-away environment:

    python -m venv /tmp/ref && /tmp/ref/bin/pip install "numpy<2" "pandas<2.2" six \
        fcsparser==0.2.8 flowio==1.4.0
    /tmp/ref/bin/python tests/data/make_corpus_reference.py ../shared/fcs-corpus

For every file it records, per reader, the raw (no gain, no log decoding) column sums and first
two rows of the first dataset it reads, or the error it raised.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np


def _summary(array: np.ndarray) -> dict:
    array = np.asarray(array, dtype=np.float64)
    return {"shape": list(array.shape), "sums": array.sum(axis=0).tolist(),
            "first_rows": array[:2].tolist()}


def main(corpus: Path) -> None:
    import fcsparser
    import flowio

    out = {}
    for path in sorted(p for p in corpus.rglob("*") if p.is_file()
                       and p.suffix.lower() in (".fcs", ".lmd")):
        rel = path.relative_to(corpus).as_posix()
        entry = {}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _, data = fcsparser.parse(str(path), reformat_meta=False, data_set=0,
                                          dtype="float64")
            entry["fcsparser"] = _summary(data.values)
        except Exception as exc:
            entry["fcsparser"] = {"error": f"{type(exc).__name__}: {exc}"[:200]}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                flow = flowio.FlowData(str(path), ignore_offset_error=True,
                                       ignore_offset_discrepancy=True)
            entry["flowio"] = _summary(flow.as_array(preprocess=False))
        except Exception as exc:
            entry["flowio"] = {"error": f"{type(exc).__name__}: {exc}"[:200]}
        out[rel] = entry
    target = Path(__file__).with_name("corpus_reference.json")
    target.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {target} ({len(out)} files)")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
