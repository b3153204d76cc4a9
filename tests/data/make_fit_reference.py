"""Make fit_reference.json: the monocyte gate of every tube of the accuracy grid
(tests/gating/test_gating.py: STYLE_GRID, seeds 0.., and CONFOUNDED, seeds 100..) as THIS tree
gates it. tests/gating/test_gating.py holds today's gates to it (the non-regression test: the same
membership for at least 99.9 % of the events, the gated HLA-DR median within 0.2 %); the accuracy
against the simulator's true labels is tested apart and does not read this file.

An intended change of the gate (one that changes memberships) regenerates the file in the same
commit, from the repository root:

    make fit-reference        # or: .venv/bin/python tests/data/make_fit_reference.py

Each mask is stored as packed bits, zlib-compressed, base64 (test_gating.unpack_reference reads it).
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.gating.test_gating import gate_grid_tube, grid  # noqa: E402

OUT = Path(__file__).parent / "fit_reference.json"


def main() -> None:
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,
                            check=False).stdout.strip()
    found = {}
    for key, scenario, style, seed in grid():
        tube = gate_grid_tube(scenario, style, seed)
        found[key] = {"events": int(tube.gated.size), "monocytes": int(np.count_nonzero(tube.gated)),
                      "median": tube.median,
                      "mask": base64.b64encode(zlib.compress(np.packbits(tube.gated).tobytes(), 9)).decode()}
    reference = {"made_from": f"the working tree on top of commit {commit or '(unknown)'}",
                 "numpy": np.__version__, "tubes": found}
    OUT.write_text(json.dumps(reference, indent=1, sort_keys=True) + "\n")
    print(f"{OUT.relative_to(ROOT)}: {len(found)} tubes")


if __name__ == "__main__":
    main()
