"""What ``assaykit export`` accepts (issue 31 review): a run whose values are not AB/C, an export
folder inside another scored folder, FCS keywords that collide or name nothing, and the warning
codes each exported measure carries (a drug's AB/C its own, a fold change the drug's and its
control's)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from assaykit.errors import AssayKitError
from assaykit.export import export_run, select
from assaykit.report.load import load_run
from assaykit.scoring.tables import MANIFEST, seal, verify_outputs
from assaykit.validation.data import folder_rows, tube_of

from .test_export import _renamed, run, scored  # noqa: F401  (the module's scored run, as fixtures)


def _table(folder: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(folder / f"{name}.csv", dtype=str, keep_default_na=False)


def _ascii(folder: Path, target: Path) -> Path:
    return _renamed(folder, target, {'Dupont, "Jean"': "P01", "Zoë-ü": "P03"})


def test_a_run_calibrated_in_another_unit_is_refused_by_the_rule_validate_leaves_it_out_by(
        scored: Path, tmp_path: Path) -> None:  # noqa: F811
    def mepe(manifest: dict) -> None:
        manifest["calibration"]["unit"] = "MEPE"  # as score records a lot whose beads.yaml says unit: MEPE

    folder = _renamed(scored, tmp_path / "mepe", {}, mepe)
    for to in ("fhir", "sdtm", "redcap"):
        with pytest.raises(AssayKitError, match="calibrated in MEPE") as caught:
            export_run(folder, to, out=tmp_path / to)  # type: ignore[arg-type]
        assert caught.value.path == folder / "manifest.json" and not (tmp_path / to).exists()
    rows, _ = folder_rows(folder)
    assert rows and {tube_of(r) for r in rows if r["verdict"] != "withheld"} == {"not_abc_unit"}
    export_run(scored, "fhir", out=tmp_path / "abc")  # the same run in PE molecules: exported


def test_an_export_folder_inside_another_scored_folder_is_refused(scored: Path, tmp_path: Path) -> None:  # noqa: F811
    other = tmp_path / "other"
    shutil.copytree(scored, other)
    with pytest.raises(AssayKitError, match="lies inside the assaykit output folder") as caught:
        export_run(scored, "fhir", out=other / "fhir")
    assert str(other) in str(caught.value) and not (other / "fhir").exists() and verify_outputs(other) == []


def test_keywords_that_collide_or_name_nothing_are_refused_by_name(run: Path, scored: Path,  # noqa: F811
                                                                    tmp_path: Path) -> None:
    folder = _ascii(scored, tmp_path / "ascii")
    with pytest.raises(AssayKitError, match=r"'\$CYT' and 'CYT' make one REDCap field mhladr_kw_cyt"):
        export_run(folder, "redcap", out=tmp_path / "r", include_keywords=["$CYT", "CYT"], run_dir=run)
    for to in ("redcap", "sdtm", "fhir"):
        with pytest.raises(AssayKitError, match=r"'\$cyt' named twice"):
            export_run(folder, to, out=tmp_path / to, include_keywords=["$CYT", "$cyt"], run_dir=run)  # type: ignore[arg-type]
        with pytest.raises(AssayKitError, match=r"'\$NOSUCH': in none of the exported tubes") as caught:
            export_run(folder, to, out=tmp_path / to, include_keywords=["$CYT", "$NOSUCH"],  # type: ignore[arg-type]
                       run_dir=run)
        assert caught.value.path == run and not (tmp_path / to).exists()
    assert not (tmp_path / "r").exists()


def test_each_measure_carries_the_codes_of_the_values_it_rests_on(scored: Path, tmp_path: Path) -> None:  # noqa: F811
    samples = _table(scored, "samples")
    restoration = _table(scored, "restoration")
    tubes = samples[samples["role"] == "sample"].set_index("file")
    assert len(restoration) > 0
    for _, r in restoration.iterrows():  # one tube a condition: the drug's verdict is its tube's
        assert (r["drug_verdict"], r["drug_verdict_reasons"]) == (tubes.loc[r["file"], "verdict"],
                                                                  tubes.loc[r["file"], "verdict_reasons"])

    def codes(text: str) -> set[str]:
        return {c.strip() for c in text.split(";") if c.strip()}

    folder = tmp_path / "marked"  # the control's codes made to differ from the drug's, sealed as score seals
    shutil.copytree(scored, folder)
    marked = restoration.copy()
    reportable = marked["verdict"] != "withheld"
    assert reportable.any()
    marked.loc[reportable, "verdict"] = "reportable_with_warnings"
    marked.loc[reportable, "verdict_reasons"] = [";".join(sorted(codes(v) | {"replicate_withheld"}))
                                                 for v in marked.loc[reportable, "verdict_reasons"]]
    marked.to_csv(folder / "restoration.csv", index=False, quoting=csv.QUOTE_MINIMAL)
    seal(folder, json.loads((folder / MANIFEST).read_text()))
    selection = select(load_run(folder), all_conditions=True)
    by_key = {(r["patient"], r["timepoint"], r["condition"]): r for _, r in marked.iterrows()}
    drugs = [v for v in selection.values if v.condition != selection.control]
    assert {v.measure for v in drugs} == {"abc", "fold_change"}
    for v in drugs:
        row = by_key[(v.patient, v.timepoint, v.condition)]
        if v.measure == "abc":  # the drug's own codes: never its control's replicate_withheld
            assert v.verdict == row["drug_verdict"] and "replicate_withheld" not in v.warnings
            assert set(v.warnings) == (codes(row["drug_verdict_reasons"])
                                       if v.verdict == "reportable_with_warnings" else set())
        else:  # the fold change rests on both
            assert v.verdict == "reportable_with_warnings" and set(v.warnings) == codes(row["verdict_reasons"])
            assert "replicate_withheld" in v.warnings
    older = tmp_path / "older"
    shutil.copytree(scored, older)
    restoration.drop(columns=["drug_verdict", "drug_verdict_reasons"]).to_csv(older / "restoration.csv", index=False)
    seal(older, json.loads((older / MANIFEST).read_text()))
    with pytest.raises(AssayKitError, match="no drug_verdict"):
        select(load_run(older), all_conditions=True)
    assert select(load_run(older)).values  # the unstimulated values alone need no drug verdict
