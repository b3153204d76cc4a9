"""Make fit_reference.json: the monocyte gate of every tube of the accuracy grid
(tests/gating/test_gating.py: STYLE_GRID, seeds 0.., and CONFOUNDED, seeds 100..) as the full fit
gave it before issue 17's speed work (commit 7e319ce), so that tests/gating/test_gating.py can
hold today's gates to it (issue 17: membership agreement >= 99.9 %, medians within 0.2 %). Each
mask is stored as packed bits, zlib-compressed, base64 (test_gating.unpack_reference reads it).

The tubes are simulated by this tree's simulator and gated by the old tree's code, in a separate
process. Run from the repository root:

    git worktree add /tmp/before-17 7e319ce
    .venv/bin/python tests/data/make_fit_reference.py /tmp/before-17
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from assaykit.simulate import simulate_blood, write_tube  # noqa: E402
from tests.gating.test_gating import CONFOUNDED, STYLE_GRID  # noqa: E402

GATE = """
import base64, json, sys, zlib
old_tree = sys.argv.pop(1)
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f).lower()]  # not this tree's package
sys.path.insert(0, old_tree)
import numpy as np
import assaykit
assert assaykit.__file__.startswith(old_tree), assaykit.__file__
from assaykit import read_fcs
from assaykit.gating import apply_strategy, load_strategy
strategy = load_strategy(old_tree + "/gating/monocyte-hladr.yaml")  # a checkout's default strategy
out = {}
for name in sys.argv[1:]:
    result = apply_strategy(read_fcs(name), strategy)
    gated = result.masks["monocytes"]
    out[name] = {"events": int(gated.size), "monocytes": int(gated.sum()),
                 "median": float(np.median(result.frame.scale("HLA-DR")[gated])),
                 "mask": base64.b64encode(zlib.compress(np.packbits(gated).tobytes(), 9)).decode()}
print(json.dumps(out))
"""


def main(old_tree: str) -> None:
    tubes = [(f"{style}-{seed}", scenario, style, seed) for seed, (scenario, style) in enumerate(STYLE_GRID)]
    tubes += [(f"canto-{seed}", scenario, "canto", seed) for seed, scenario in enumerate(CONFOUNDED, start=100)]
    with tempfile.TemporaryDirectory() as folder:
        paths = {}
        for key, scenario, style, seed in tubes:
            tube = simulate_blood(scenario, np.random.default_rng(seed))
            paths[key] = str(write_tube(Path(folder) / f"{key}.fcs", tube, style=style))
        commit = subprocess.run(["git", "-C", old_tree, "rev-parse", "HEAD"], capture_output=True, text=True,
                                check=True).stdout.strip()
        run = subprocess.run([sys.executable, "-c", GATE, old_tree, *paths.values()], capture_output=True, text=True)
        if run.returncode:
            sys.exit(f"the old tree failed to gate:\n{run.stderr}")
        found = json.loads(run.stdout)
    reference = {"commit": commit, "numpy": np.__version__,
                 "tubes": {key: found[paths[key]] for key, *_ in tubes}}
    (Path(__file__).parent / "fit_reference.json").write_text(json.dumps(reference, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
