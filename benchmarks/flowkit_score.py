"""The peer for bench_score.py: FlowKit 1.3 in one process applying two fixed gates (singlets on
FSC-A x FSC-H, monocytes on compensated logicle CD14 x log SSC) to every file of a plate and
pulling the monocytes' PE median. The gates come from GATES_JSON (written by bench_score.py from
assaykit's fit on the first tube), with the first file's spillover matrix, which every file of the
simulated plate declares alike (the file's spillover applied, as a lab's fixed template does);
timing is the process's wall time, import included.

    .venv/bin/python benchmarks/flowkit_score.py GATES_JSON FILE...
"""

from __future__ import annotations

import json
import sys
import time
import warnings

START = time.perf_counter()


def main(gates_path: str, files: list[str]) -> None:
    warnings.simplefilter("ignore")
    import flowkit as fk
    import numpy as np

    with open(gates_path) as handle:
        gates = json.load(handle)
    matrix = fk.Matrix(np.array(gates["spill"]), gates["spill_channels"])
    session = fk.Session(fcs_samples=files)
    session.add_comp_matrix("spill", matrix)
    session.add_transform("CD14", fk.transforms.LogicleTransform(**gates["cd14_logicle"]))
    session.add_transform("SSC", fk.transforms.LogTransform(**gates["ssc_log"]))
    session.add_gate(fk.gates.PolygonGate("singlets", [fk.Dimension("FSC-A"), fk.Dimension("FSC-H")],
                                          gates["singlets"]), ("root",))
    cd14 = fk.Dimension("PerCP-Cy5-5-A", compensation_ref="spill", transformation_ref="CD14")
    ssc = fk.Dimension("SSC-A", transformation_ref="SSC")
    session.add_gate(fk.gates.PolygonGate("monocytes", [cd14, ssc], gates["monocytes"]), ("root", "singlets"))
    session.analyze_samples(use_mp=False)
    medians = {}
    for sample_id in session.get_sample_ids():
        membership = np.asarray(session.get_gate_membership(sample_id, "monocytes"), dtype=bool)
        sample = session.get_sample(sample_id)
        sample.apply_compensation(matrix)
        pe = sample.get_events(source="comp")[:, sample.get_channel_index("PE-A")]
        medians[sample_id] = float(np.median(pe[membership]))
    print(json.dumps({"seconds": time.perf_counter() - START, "files": len(files), "medians": medians}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
