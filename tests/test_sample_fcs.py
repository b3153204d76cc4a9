"""The committed demo run is exactly what its documented command produces."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from typer.testing import CliRunner

from assaykit.cli import app


def test_demo_run_is_reproduced_by_its_documented_command(project_root: Path, tmp_path: Path) -> None:
    readme = (project_root / "sample_fcs" / "README.md").read_text()
    pattern = r"assaykit simulate sample_fcs ([-\w ,.]+)"
    command = re.search(pattern, readme).group(1).split()
    assert command == re.search(pattern, (project_root / "README.md").read_text()).group(1).split()
    result = CliRunner().invoke(app, ["simulate", str(tmp_path / "sample_fcs"), *command])
    assert result.exit_code == 0, result.output
    committed = {p.name: p for p in (project_root / "sample_fcs").iterdir() if p.name != "README.md"}
    made = {p.name: p for p in (tmp_path / "sample_fcs").iterdir()}
    assert committed.keys() == made.keys()
    for name, path in committed.items():
        assert hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(made[name].read_bytes()).digest(), name
    size = sum(p.stat().st_size for p in committed.values())
    assert size < 10 * 2**20
    assert sum(1 for n in committed if n.endswith(".fcs")) == 10  # 3 x 3 + beads


def test_demo_run_is_a_good_run(project_root: Path, tmp_path: Path) -> None:
    """Every blood tube of the demo holds at least 3,000 gated monocytes and carries no QC flag."""
    import pandas as pd

    from assaykit.scoring import score_run

    samples = score_run(project_root / "sample_fcs", out=tmp_path / "out", jobs=2).samples
    blood = samples[samples["role"] == "sample"]
    assert len(blood) == 9 and (blood["monocytes"] >= 3000).all(), blood["monocytes"].tolist()
    assert (samples["qc_flags"].fillna("") == "").all() and (samples["error"].fillna("") == "").all()
    truth = pd.read_csv(project_root / "sample_fcs" / "truth.csv").set_index("file")
    for _, row in blood.iterrows():
        assert abs(row["hladr_abc"] / truth.loc[row["file"], "true_abc"] - 1) < 0.03, row["file"]
