"""The peer for bench_gate.py: FlowKit 1.3 applying gates equivalent to assaykit's default
strategy (debris interval on FSC-A, singlet band on FSC-A x FSC-H, the fitted monocyte polygon on
compensated logicle CD14 x log SSC) to the same file, read excluded. FlowKit cannot fit gates,
so it is given the ones assaykit fitted on this file; its membership is checked against ours.

    .venv/bin/pip install -e '.[bench]' && .venv/bin/python benchmarks/flowkit_gate.py FILE
"""

from __future__ import annotations

import sys
import time
import warnings

import numpy as np

from assaykit import read_fcs
from assaykit.gating import apply_strategy, load_strategy


def flowkit_session(path: str):
    """A FlowKit session holding the file and gates equivalent to assaykit's fitted ones."""
    import flowkit as fk

    sample = read_fcs(path)
    strategy = load_strategy()
    result = apply_strategy(sample, strategy)
    frame = result.frame
    session = fk.Session(fcs_samples=fk.Sample(path, sample_id="tube"))
    spill = sample.spillover
    session.add_comp_matrix("spill", fk.Matrix(spill.matrix, list(spill.channels)))
    transforms = {}
    for marker in ("CD14", "SSC-A"):
        t = frame.transform(marker)
        transforms[marker] = (fk.transforms.LogicleTransform(param_t=t.top, param_w=t.w, param_m=t.m, param_a=t.a)
                              if t.kind == "logicle" else fk.transforms.LogTransform(param_t=t.top, param_m=t.m))
        session.add_transform(marker, transforms[marker])
    fsc_a, fsc_h = result.channels["FSC-A"], result.channels["FSC-H"]
    cells_gate = result.gates["cells"]
    low = float(frame.transform("FSC-A").inverse(cells_gate.low)[0])
    session.add_gate(fk.gates.RectangleGate("cells", [fk.Dimension(fsc_a, range_min=low)]), ("root",))
    ratio = result.gates["singlets"]
    top = 1.1 * float(sample.events[:, sample.channels.index(fsc_a)].max())
    band = [(0, 0), (top, top * ratio.low), (top, top * ratio.high)]
    session.add_gate(fk.gates.PolygonGate("singlets", [fk.Dimension(fsc_a), fk.Dimension(fsc_h)], band),
                     ("root", "cells"))
    cd14 = fk.Dimension(result.channels["CD14"], compensation_ref="spill", transformation_ref="CD14")
    ssc = fk.Dimension(result.channels["SSC-A"], transformation_ref="SSC-A")
    vertices = [list(v) for v in result.gates["monocytes"].vertices]
    session.add_gate(fk.gates.PolygonGate("monocytes", [cd14, ssc], vertices), ("root", "cells", "singlets"))
    return session, result


def time_flowkit(path: str, repeats: int = 5) -> tuple[float, float, float]:
    """(best seconds, median seconds, fraction of events on which FlowKit and assaykit agree)."""
    warnings.simplefilter("ignore")
    session, result = flowkit_session(path)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        session.analyze_samples(sample_id="tube", use_mp=False)
        membership = session.get_gate_membership("tube", "monocytes")
        times.append(time.perf_counter() - start)
    agreement = float(np.mean(np.asarray(membership, dtype=bool) == result.masks["monocytes"]))
    return min(times), float(np.median(times)), agreement


if __name__ == "__main__":
    best, median, agreement = time_flowkit(sys.argv[1])
    print(f"FlowKit: best {best * 1000:.1f} ms, median {median * 1000:.1f} ms; "
          f"membership agrees with assaykit on {agreement:.4%} of events")
