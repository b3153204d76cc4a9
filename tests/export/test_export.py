"""assaykit export (issue 31): REDCap, SDTM LB and FHIR R4 from a simulated, scored run.

The run (4 patients x unstimulated + IFN-gamma) carries hostile patient IDs (a comma and quotes;
non-ASCII) and one patient whose IFN-gamma tube is a byte copy of its unstimulated tube, which
scoring withholds (``duplicate_content``). Every exported value is compared with the scored
tables read independently (pandas over samples.csv / restoration.csv), withheld ones must be
absent and counted; the FHIR Bundle is validated by fhir.resources (R4B models: its current
release has no R4 4.0.1 package; Observation and Bundle are the same in R4 and R4B for what is
written here), the XPT read back by pyreadstat and pandas.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from assaykit.errors import AssayKitError
from assaykit.export import export_run
from assaykit.export.redcap import DICTIONARY_COLUMNS
from assaykit.scoring import score_run

COMMA = 'Dupont, "Jean"'
ACCENT = "Zoë-ü"
IDS = {"P01": COMMA, "P02": "P02", "P03": ACCENT}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A simulated run with hostile IDs, P02's IFN-gamma tube a copy of its control, drawn_at times."""
    from assaykit.simulate import RunSpec, write_run

    folder = write_run(tmp_path_factory.mktemp("exportrun") / "run",
                       RunSpec(patients=4, conditions=("unstimulated", "IFN-gamma"), events=20000, seed=7))
    plate = pd.read_csv(folder / "plate_map.csv", dtype=str, keep_default_na=False)
    copy = plate[(plate["patient"] == "P02")].set_index("condition")["file"]
    shutil.copyfile(folder / copy["unstimulated"], folder / copy["IFN-gamma"])
    plate["patient"] = [IDS.get(p, p) for p in plate["patient"]]
    plate.to_csv(folder / "plate_map.csv", index=False)
    with open(folder / "clinical.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["patient", "timepoint", "drawn_at"])
        writer.writerows([[COMMA, "D3", "2026-11-21 08:30"], ["P02", "D3", "2026-11-21 09:15"]])
    return folder


@pytest.fixture(scope="module")
def scored(run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return score_run(run, out=tmp_path_factory.mktemp("exportout") / "scored", jobs=1,
                     clinical=run / "clinical.csv").out_dir


def _table(folder: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(folder / f"{name}.csv", dtype=str, keep_default_na=False)


def expected(scored: Path, all_conditions: bool) -> tuple[dict[tuple[str, str, str, str], float], int]:
    """(patient, timepoint, condition, measure) -> value of every reportable value, read from the
    tables with pandas (not through assaykit), and the count of withheld values (a withheld
    restoration row is two: its AB/C and its fold change)."""
    good = ("reportable", "reportable_with_warnings")
    samples = _table(scored, "samples")
    control = samples[(samples["role"] == "sample") & (samples["condition"] == "unstimulated")]
    values = {(r.patient, r.timepoint, "unstimulated", "abc"): float(r.hladr_abc)
              for r in control.itertuples() if r.verdict in good}
    withheld = int((~control["verdict"].isin(good)).sum())
    if all_conditions:
        rest = _table(scored, "restoration")
        for r in rest.itertuples():
            if r.verdict in good:
                values[(r.patient, r.timepoint, r.condition, "abc")] = float(r.abc)
                values[(r.patient, r.timepoint, r.condition, "fold_change")] = float(r.fold_change)
        withheld += 2 * int((~rest["verdict"].isin(good)).sum())
    return values, withheld


def test_the_run_has_withheld_values(scored: Path) -> None:
    """The fixture does what it says: P02's copied tube is withheld, so something is left out."""
    values, withheld = expected(scored, all_conditions=True)
    assert withheld >= 1 and values
    assert not any(k[0] == "P02" and k[2] == "IFN-gamma" for k in values)


def _fhir_values(folder: Path) -> dict[tuple[str, str, str, str], float]:
    doc = json.loads((folder / "observations.json").read_text(encoding="utf-8"))
    out = {}
    for entry in doc["entry"]:
        obs = entry["resource"]
        visit = obs["note"][0]["text"].split(",")[0].removeprefix("Visit ")
        text = obs["code"]["text"]
        condition = text[text.rindex("(") + 1:-1].removeprefix("ex vivo ")
        measure = {"MHLADR": "abc", "MHLADRX": "abc", "MHLADRFC": "fold_change"}[obs["code"]["coding"][0]["code"]]
        out[(obs["subject"]["identifier"]["value"], visit, condition, measure)] = obs["valueQuantity"]["value"]
    return out


def _sdtm_values(folder: Path, study: str) -> dict[tuple[str, str, str, str], float]:
    lb = pd.read_csv(folder / "lb.csv", dtype=str, keep_default_na=False)
    out = {}
    for r in lb.itertuples():
        condition = "unstimulated" if r.LBTSTDTL == "UNSTIMULATED" else r.LBTSTDTL.removeprefix("EX VIVO ")
        measure = {"MHLADR": "abc", "MHLADRX": "abc", "MHLADRFC": "fold_change"}[r.LBTESTCD]
        out[(r.USUBJID.removeprefix(f"{study}-"), r.VISIT, condition.replace("IFN-GAMMA", "IFN-gamma"), measure)] = \
            float(r.LBSTRESN)
    return out


def _redcap_values(folder: Path) -> dict[tuple[str, str, str, str], float]:
    with open(folder / "redcap_records.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    out = {}
    for r in rows:
        if r["redcap_repeat_instrument"] != "mhladr":
            continue
        key = (r["record_id"], r["mhladr_timepoint"])
        if r["mhladr_abc"]:
            out[(*key, "unstimulated", "abc")] = float(r["mhladr_abc"])
        if r.get("mhladr_ifn_gamma_abc"):
            out[(*key, "IFN-gamma", "abc")] = float(r["mhladr_ifn_gamma_abc"])
        if r.get("mhladr_ifn_gamma_fold"):
            out[(*key, "IFN-gamma", "fold_change")] = float(r["mhladr_ifn_gamma_fold"])
    return out


@pytest.mark.parametrize("all_conditions", [False, True])
def test_every_format_carries_the_reportable_values_and_no_withheld_one(scored: Path, tmp_path: Path,
                                                                      all_conditions: bool) -> None:
    values, withheld = expected(scored, all_conditions)
    fhir = export_run(scored, "fhir", out=tmp_path / "fhir", all_conditions=all_conditions)
    redcap = export_run(scored, "redcap", out=tmp_path / "redcap", all_conditions=all_conditions)
    assert fhir.withheld == redcap.withheld == withheld and fhir.exported == redcap.exported == len(values)
    assert _fhir_values(tmp_path / "fhir") == values
    assert _redcap_values(tmp_path / "redcap") == values
    ascii_only = {k: v for k, v in values.items() if k[0].isascii()}
    with pytest.raises(AssayKitError, match="printable ASCII") as refused:
        export_run(scored, "sdtm", out=tmp_path / "sdtm", study="S1", all_conditions=all_conditions)
    assert ACCENT in str(refused.value) and not (tmp_path / "sdtm").exists()
    assert ascii_only != values  # the refusal was about the non-ASCII patient, not nothing


def test_fhir_bundle_validates_as_r4_models_and_round_trips(scored: Path, tmp_path: Path) -> None:
    from fhir.resources.R4B import __fhir_version__ as version
    from fhir.resources.R4B.bundle import Bundle

    export_run(scored, "fhir", out=tmp_path / "fhir", all_conditions=True)
    doc = json.loads((tmp_path / "fhir" / "observations.json").read_text(encoding="utf-8"))
    bundle = Bundle.model_validate(doc)
    assert version == "4.3.0" and bundle.type == "collection"
    assert json.loads(bundle.model_dump_json()) == doc  # nothing dropped or changed by the model
    observations = [e.resource for e in bundle.entry]
    assert {type(o).__name__ for o in observations} == {"Observation"}
    unstim = [o for o in observations if o.code.coding[0].code == "MHLADR" and "unstimulated" in o.code.text]
    for o in unstim:
        assert o.valueQuantity.system == "http://unitsofmeasure.org" and o.valueQuantity.code == "{AB}/{cell}"
        assert o.referenceRange[0].low.value == 15000
        assert o.interpretation[0].coding[0].code == ("L" if o.valueQuantity.value < 15000 else "N")
    by_patient = {o.subject.identifier.value: o for o in unstim}
    assert {o.subject.reference for o in observations} == {None}  # no Patient in the Bundle: none guessed
    assert by_patient["P04"].subject.identifier.system == "urn:assaykit:patient-id"
    stimulated = [o for o in observations if o.code.coding[0].code == "MHLADRX"]
    assert stimulated and all(o.referenceRange is None and o.interpretation is None for o in stimulated)
    assert all(o.method.text.endswith("ex vivo stimulation: IFN-gamma") for o in stimulated)
    export_run(scored, "fhir", out=tmp_path / "ref", patient_reference=True)
    linked = {e["resource"]["subject"]["identifier"]["value"]: e["resource"]["subject"].get("reference")
              for e in json.loads((tmp_path / "ref" / "observations.json").read_text(encoding="utf-8"))["entry"]}
    assert linked[COMMA] is None  # not a FHIR id: the identifier holds it whole
    assert linked["P04"] == "Patient/P04"
    assert json.loads((tmp_path / "ref" / "manifest.json").read_text())["patient_reference"] is True
    assert str(by_patient[COMMA].effectiveDateTime) == "2026-11-21"  # the draw date; never invented
    assert by_patient[ACCENT].effectiveDateTime is None


def _numbers(cells) -> list[float | None]:
    """Cells as floats, an empty cell or a missing value (NaN) as None."""
    return [None if x == "" or x is None or x != x else float(x) for x in cells]


def test_sdtm_xpt_reads_back_equal_to_the_csv(scored: Path, tmp_path: Path) -> None:
    import pyreadstat

    plain = tmp_path / "plain"
    shutil.copytree(scored, plain)  # the non-ASCII patient renamed: ASCII IDs only
    for name in ("samples", "restoration", "patients"):
        text = (plain / f"{name}.csv").read_text(encoding="utf-8").replace(ACCENT, "P03")
        (plain / f"{name}.csv").write_text(text, encoding="utf-8")
    from assaykit.scoring.tables import MANIFEST, seal

    seal(plain, json.loads((plain / MANIFEST).read_text()))
    result = export_run(plain, "sdtm", out=tmp_path / "sdtm", study="IMMUNOSEP", all_conditions=True)
    values, withheld = expected(plain, all_conditions=True)
    assert _sdtm_values(tmp_path / "sdtm", "IMMUNOSEP") == values and result.withheld == withheld
    lb_csv = pd.read_csv(tmp_path / "sdtm" / "lb.csv", dtype=str, keep_default_na=False)
    data, meta = pyreadstat.read_xport(tmp_path / "sdtm" / "lb.xpt")
    sas = pd.read_sas(tmp_path / "sdtm" / "lb.xpt", format="xport", encoding="ascii")
    assert list(data.columns) == list(lb_csv.columns) == list(sas.columns)
    assert (tmp_path / "sdtm" / "lb.xpt").read_bytes()[:80].startswith(b"HEADER RECORD*******LIBRARY HEADER RECORD")
    assert meta.table_name == "LB" and meta.column_names_to_labels["USUBJID"] == "Unique Subject Identifier"
    for table in (data, sas):
        for column in lb_csv.columns:
            if column in ("LBSEQ", "LBSTRESN", "LBSTNRLO"):
                assert _numbers(table[column]) == _numbers(lb_csv[column]), column
            else:
                assert [("" if x is None else str(x)) for x in table[column]] == list(lb_csv[column]), column
    assert set(lb_csv["USUBJID"]) >= {f"IMMUNOSEP-{COMMA}", "IMMUNOSEP-P04"}
    assert set(lb_csv["LBDTC"]) >= {"2026-11-21T08:30:00", ""}  # as the clinical CSV gave it
    assert all(len(c) <= 8 for c in lb_csv["LBTESTCD"]) and all(len(t) <= 40 for t in lb_csv["LBTEST"])
    assert all(len(label) <= 40 for label in meta.column_labels)


def test_redcap_dictionary_has_redcaps_18_columns_and_defines_every_record_field(scored: Path,
                                                                                 tmp_path: Path) -> None:
    export_run(scored, "redcap", out=tmp_path / "r", all_conditions=True)
    with open(tmp_path / "r" / "redcap_dictionary.csv", newline="", encoding="utf-8") as handle:
        dictionary = list(csv.reader(handle))
    assert tuple(dictionary[0]) == DICTIONARY_COLUMNS and len(DICTIONARY_COLUMNS) == 18
    assert DICTIONARY_COLUMNS[0] == "Variable / Field Name" and DICTIONARY_COLUMNS[-1] == "Field Annotation"
    fields = {row[0]: row for row in dictionary[1:]}
    assert dictionary[1][0] == "record_id"
    with open(tmp_path / "r" / "redcap_records.csv", newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        records = list(reader)
    header = reader.fieldnames or []
    assert header[:3] == ["record_id", "redcap_repeat_instrument", "redcap_repeat_instance"]
    assert set(header[3:]) <= set(fields) and "record_id" in fields
    assert fields["mhladr_abc"][7] == "number"
    assert {r["record_id"] for r in records} >= {COMMA, ACCENT, "P04"}


def test_hostile_ids_are_refused_by_name_where_a_format_cannot_hold_them() -> None:
    from assaykit.export import redcap, sdtm
    from assaykit.export.fhir import subject

    with pytest.raises(AssayKitError, match="line break"):
        redcap.check_patient("P01\nP02")
    redcap.check_patient(COMMA)  # quoted by the CSV: kept
    long = "P" * 300
    with pytest.raises(AssayKitError, match="300 characters"):
        sdtm.check_text(sdtm.usubjid("S", long)[2:], "USUBJID")
    with pytest.raises(AssayKitError, match="ASCII"):
        sdtm.check_text("S-P\n1", "USUBJID")
    assert subject(long, "urn:x") == {"identifier": {"system": "urn:x", "value": long}}


def _tree(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_nothing_from_the_fcs_keywords_unless_asked(run: Path, scored: Path, tmp_path: Path) -> None:
    from assaykit.fcs.reader import read_fcs_text

    secret = set()
    for fcs in run.glob("*.fcs"):
        for key, value in read_fcs_text(fcs).items():
            if len(value) >= 6 and not value.replace(".", "").replace("-", "").isdigit() and not key.startswith("$P"):
                secret.add(value)
    assert secret
    texts = {}
    for to in ("redcap", "fhir"):
        export_run(scored, to, out=tmp_path / to, all_conditions=True)
        texts[to] = "\n".join((tmp_path / to / n).read_text(encoding="utf-8") for n in
                              ("redcap_dictionary.csv", "redcap_records.csv") if (tmp_path / to / n).exists()) \
            + "\n".join(p.read_text(encoding="utf-8") for p in (tmp_path / to).glob("*.json"))
    leaked = [(to, s) for to, text in texts.items() for s in secret if s in text]
    assert not leaked
    export_run(scored, "fhir", out=tmp_path / "asked", include_keywords=["$CYT"])
    cytometer = read_fcs_text(next(run.glob("*.fcs")))["$CYT"]
    assert f"FCS keyword $CYT: {cytometer}" in (tmp_path / "asked" / "observations.json").read_text(encoding="utf-8")


def test_an_export_never_writes_into_or_changes_the_scored_folder(scored: Path, tmp_path: Path) -> None:
    before = _tree(scored)
    with pytest.raises(AssayKitError, match="never changes"):
        export_run(scored, "fhir", out=scored / "export")
    with pytest.raises(AssayKitError, match="never changes"):
        export_run(scored, "fhir", out=scored)
    assert _tree(scored) == before


def test_a_signed_folder_is_never_modified_and_approval_is_checked(scored: Path, tmp_path: Path) -> None:
    from assaykit.report.signed import outputs_digest
    from assaykit.scoring.tables import read_manifest

    signed = tmp_path / "signed"
    shutil.copytree(scored, signed)
    with pytest.raises(AssayKitError, match="not signed approved"):
        export_run(signed, "redcap", out=tmp_path / "refused", require_approved=True)
    assert not (tmp_path / "refused").exists()
    digest = outputs_digest(read_manifest(signed), signed)
    (signed / "signatures.json").write_text(json.dumps({"signatures": [
        {"meaning": "reviewed", "name": "A. Reviewer", "at": "2026-12-05T10:00:00+00:00", "outputs_sha256": digest},
        {"meaning": "approved", "name": "B. Approver", "at": "2026-12-05T11:00:00+00:00",
         "outputs_sha256": digest}]}))
    before = _tree(signed)
    result = export_run(signed, "fhir", out=tmp_path / "approved", require_approved=True)
    assert result.signatures == "approved" and result.warnings == ()
    manifest = json.loads((tmp_path / "approved" / "manifest.json").read_text())
    assert manifest["signatures"] == "approved" and manifest["source_run_id"] == read_manifest(signed)["run_id"]
    assert manifest["withheld"] == result.withheld and manifest["kind"] == "assaykit export"
    assert _tree(signed) == before
    again = export_run(signed, "fhir", out=tmp_path / "approved")  # an earlier export is replaced as one unit
    assert again.replaced and _tree(signed) == before


def test_the_command_line_prints_the_counts(scored: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from assaykit.cli import app

    _, withheld = expected(scored, all_conditions=True)
    out = CliRunner().invoke(app, ["export", str(scored), "--to", "redcap", "--all-conditions",
                                   "--out", str(tmp_path / "cli")])
    assert out.exit_code == 0, out.output
    assert f"({withheld} values withheld, not exported)" in out.output and "not signed" in out.output
    bad = CliRunner().invoke(app, ["export", str(scored), "--to", "sdtm", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and ACCENT in bad.output
    records = io.StringIO((tmp_path / "cli" / "redcap_records.csv").read_text(encoding="utf-8"))
    assert COMMA in {r["record_id"] for r in csv.DictReader(records)}


def test_replicate_columns_and_warning_codes_are_carried(scored: Path, tmp_path: Path) -> None:
    """A folder whose tables carry engineer R's replicate columns exports them with each value;
    a reportable_with_warnings value carries its codes (the tube's verdict_reasons)."""
    from assaykit.scoring.tables import MANIFEST, seal

    folder = tmp_path / "replicates"
    shutil.copytree(scored, folder)
    samples = _table(folder, "samples")
    samples["replicate"] = ["r1" if role == "sample" else "" for role in samples["role"]]  # a run with replicates
    samples.to_csv(folder / "samples.csv", index=False)
    patients = _table(folder, "patients")
    patients["n_replicates"] = ["2"] * len(patients)
    patients["replicate_cv_pct"] = [f"{4.5 + i}" for i in range(len(patients))]
    patients.to_csv(folder / "patients.csv", index=False)
    rest = _table(folder, "restoration")
    rest["n_replicates"], rest["replicate_cv_pct"] = "1", ""
    rest.to_csv(folder / "restoration.csv", index=False)
    seal(folder, json.loads((folder / MANIFEST).read_text()))
    export_run(folder, "redcap", out=tmp_path / "r", all_conditions=True)
    with open(tmp_path / "r" / "redcap_records.csv", newline="", encoding="utf-8") as handle:
        rows = {r["record_id"]: r for r in csv.DictReader(handle) if r["redcap_repeat_instrument"]}
    cv = dict(zip(patients["patient"], patients["replicate_cv_pct"], strict=True))
    samples = _table(folder, "samples")
    control = samples[(samples["role"] == "sample") & (samples["condition"] == "unstimulated")].set_index("patient")
    for patient, row in rows.items():
        assert row["mhladr_n_replicates"] == "2" and float(row["mhladr_replicate_cv"]) == float(cv[patient])
        assert row["mhladr_ifn_gamma_replicate_cv"] == ""
        reasons = control.loc[patient, "verdict_reasons"]
        expected_codes = reasons.replace(", ", "; ") if control.loc[patient, "verdict"] == "reportable_with_warnings" \
            else ""
        assert row["mhladr_warnings"] == expected_codes
    assert any(r["mhladr_warnings"] for r in rows.values())  # the run has a warning to carry
    export_run(folder, "fhir", out=tmp_path / "f")
    assert "Mean of 2 replicate tubes, CV 4.5 %" in (tmp_path / "f" / "observations.json").read_text(encoding="utf-8")


def test_fhir_effective_time_has_its_zone_only_when_the_lab_names_it(scored: Path, tmp_path: Path) -> None:
    from fhir.resources.R4B.bundle import Bundle

    from assaykit.export.fhir import effective, parse_zone

    export_run(scored, "fhir", out=tmp_path / "f", timezone="Europe/Berlin")
    doc = json.loads((tmp_path / "f" / "observations.json").read_text(encoding="utf-8"))
    Bundle.model_validate(doc)
    times = {e["resource"]["subject"]["identifier"]["value"]: e["resource"].get("effectiveDateTime")
             for e in doc["entry"]}
    assert times[COMMA] == "2026-11-21T08:30:00+01:00" and times[ACCENT] is None  # November: CET, UTC+1
    assert effective("2026-07-01T08:30:00", parse_zone("Europe/Berlin")) == "2026-07-01T08:30:00+02:00"
    assert effective("2026-07-01T08:30:00", parse_zone("-05:00")) == "2026-07-01T08:30:00-05:00"
    assert effective("2026-07-01T08:30:00", parse_zone("UTC")) == "2026-07-01T08:30:00+00:00"
    assert effective("2026-07-01T08:30:00", None) == "2026-07-01" and effective("", None) == ""
    for bad in ("Mars/Olympus", "+15:00", "8 o'clock"):
        with pytest.raises(AssayKitError, match="time zone"):
            parse_zone(bad)
    export_run(scored, "redcap", out=tmp_path / "r")
    with open(tmp_path / "r" / "redcap_records.csv", newline="", encoding="utf-8") as handle:
        drawn = {r["record_id"]: r["mhladr_drawn_at"] for r in csv.DictReader(handle) if r["redcap_repeat_instrument"]}
    assert drawn[COMMA] == "2026-11-21 08:30" and drawn[ACCENT] == ""  # REDCap's datetime_ymd: Y-M-D H:M


def test_numbers_are_written_to_read_back_exactly_and_never_in_exponent_form() -> None:
    from assaykit.export.codes import number_text

    for x in (5835.215, 12000.0, 1e-05, 2.5e16, 0.1 + 0.2, 3.376822):
        text = number_text(x)
        assert float(text) == x and "e" not in text.lower()
    assert number_text(12000.0) == "12000" and number_text(1e-05) == "0.00001"


def test_redcap_instances_follow_the_days_and_every_condition_keeps_its_own_fields() -> None:
    """Two time points of one patient (D10 before D3 by name, after it by day) and a drug: the
    repeating form's instance 1 is day 3; values land in their condition's fields."""
    from dataclasses import replace

    from assaykit.export import ExportValue, Selection
    from assaykit.export.redcap import records

    d3 = ExportValue(patient="P1", timepoint="D3", day=3.0, condition="unstimulated", measure="abc", value=4000.0,
                     verdict="reportable")
    d10 = replace(d3, timepoint="D10", day=10.0, value=16000.0)
    drug = replace(d3, condition="GM-CSF", value=9000.0, verdict="reportable_with_warnings", warnings=("few_events",))
    fold = replace(drug, measure="fold_change", value=2.25)
    selection = Selection(values=(d10, fold, drug, d3), withheld=0, withheld_reasons={}, control="unstimulated",
                          thresholds={"normal_abc": 15000.0}, replicates=False, drugs=("GM-CSF",))
    rows = list(csv.DictReader(io.StringIO(records(selection).decode())))
    assert [(r["redcap_repeat_instance"], r["mhladr_timepoint"]) for r in rows] == [("", ""), ("4", "D3"),
                                                                                      ("11", "D10")]
    assert rows[1]["mhladr_abc"] == "4000" and rows[1]["mhladr_nrind"] == "LOW"
    assert rows[1]["mhladr_gm_csf_abc"] == "9000" and rows[1]["mhladr_gm_csf_fold"] == "2.25"
    assert rows[1]["mhladr_gm_csf_warnings"] == "few_events" and rows[1]["mhladr_warnings"] == ""
    assert rows[2]["mhladr_abc"] == "16000" and rows[2]["mhladr_nrind"] == "NORMAL"


def _renamed(scored: Path, target: Path, names: dict[str, str], manifest_change=None) -> Path:
    """A copy of ``scored`` with patient IDs renamed in its tables (written as score writes a
    cell: _io.names.cell) and sealed again as score seals (scoring.tables.seal)."""
    from assaykit._io.names import cell
    from assaykit.scoring.tables import MANIFEST, seal

    shutil.copytree(scored, target)
    for name in ("samples", "restoration", "patients"):
        frame = _table(target, name)
        frame["patient"] = [cell(names.get(p, p)) for p in frame["patient"]]
        frame.to_csv(target / f"{name}.csv", index=False)
    manifest = json.loads((target / MANIFEST).read_text())
    if manifest_change is not None:
        manifest_change(manifest)
    seal(target, manifest)
    return target


def test_a_very_long_id_survives_redcap_and_fhir_and_sdtm_refuses_it_by_name(scored: Path, tmp_path: Path) -> None:
    long = "L" * 250
    folder = _renamed(scored, tmp_path / "long", {"P04": long, ACCENT: "P03"})
    export_run(folder, "redcap", out=tmp_path / "r")
    with open(tmp_path / "r" / "redcap_records.csv", newline="", encoding="utf-8") as handle:
        assert long in {r["record_id"] for r in csv.DictReader(handle)}
    export_run(folder, "fhir", out=tmp_path / "f")
    doc = json.loads((tmp_path / "f" / "observations.json").read_text(encoding="utf-8"))
    subjects = [e["resource"]["subject"] for e in doc["entry"]]
    assert {"identifier": {"system": "urn:assaykit:patient-id", "value": long}} in subjects  # no reference: > 64
    with pytest.raises(AssayKitError, match="at most 200") as refused:
        export_run(folder, "sdtm", out=tmp_path / "s", study="S")
    assert "LLLL" in str(refused.value) and not (tmp_path / "s").exists()


def test_an_id_that_starts_like_a_spreadsheet_formula_is_refused_where_it_starts_a_cell(scored: Path,
                                                                                     tmp_path: Path) -> None:
    folder = _renamed(scored, tmp_path / "formula", {"P04": "=HYPERLINK(\"x\")", ACCENT: "P03"})
    with pytest.raises(AssayKitError, match="spreadsheet formula"):
        export_run(folder, "redcap", out=tmp_path / "redcap")
    assert not (tmp_path / "redcap").exists()
    export_run(folder, "sdtm", out=tmp_path / "sdtm", study="S")  # USUBJID starts with the study: kept exactly
    lb = pd.read_csv(tmp_path / "sdtm" / "lb.csv", dtype=str, keep_default_na=False)
    assert 'S-=HYPERLINK("x")' in set(lb["USUBJID"])
    export_run(folder, "fhir", out=tmp_path / "fhir")  # JSON: no spreadsheet reads it as a formula
    assert '=HYPERLINK(\\"x\\")' in (tmp_path / "fhir" / "observations.json").read_text(encoding="utf-8")
    with pytest.raises(AssayKitError, match="STUDYID '@S'"):
        export_run(scored, "sdtm", out=tmp_path / "s2", study="@S")


def test_a_folder_scored_before_verdicts_is_refused(scored: Path, tmp_path: Path) -> None:
    folder = _renamed(scored, tmp_path / "old", {}, lambda m: m.pop("verdicts"))
    with pytest.raises(AssayKitError, match="scored before verdicts"):
        export_run(folder, "fhir", out=tmp_path / "f")
    assert not (tmp_path / "f").exists()


def test_the_control_values_verdict_is_scorings_and_a_folder_without_it_is_refused(scored: Path,
                                                                                  tmp_path: Path) -> None:
    patients = _table(scored, "patients")
    samples = _table(scored, "samples")
    control = samples[(samples["role"] == "sample") & (samples["condition"] == "unstimulated")]
    by_tube = dict(zip(zip(control["patient"], control["timepoint"], strict=True), control["verdict"], strict=True))
    assert [by_tube[(p, t)] for p, t in zip(patients["patient"], patients["timepoint"], strict=True)] == \
        list(patients["control_verdict"])  # one control tube each: the patient row's verdict is its tube's
    assert "withheld" in set(patients["control_verdict"])
    folder = tmp_path / "older"
    shutil.copytree(scored, folder)
    older = patients.drop(columns=["control_verdict", "control_verdict_reasons"])
    older.to_csv(folder / "patients.csv", index=False)
    from assaykit.scoring.tables import MANIFEST, seal

    seal(folder, json.loads((folder / MANIFEST).read_text()))
    with pytest.raises(AssayKitError, match="no control_verdict"):
        export_run(folder, "sdtm", out=tmp_path / "s")
    assert not (tmp_path / "s").exists()


def test_asked_keywords_reach_redcap_and_sdtm_too(run: Path, scored: Path, tmp_path: Path) -> None:
    from assaykit.fcs.reader import read_fcs_text

    folder = _renamed(scored, tmp_path / "ascii", {ACCENT: "P03"})
    export_run(folder, "sdtm", out=tmp_path / "s", study="S", include_keywords=["$CYT"], run_dir=run)
    export_run(folder, "redcap", out=tmp_path / "r", include_keywords=["$CYT"], run_dir=run)
    cytometer = read_fcs_text(next(run.glob("*.fcs")))["$CYT"]
    supp = pd.read_csv(tmp_path / "s" / "supplb.csv", dtype=str, keep_default_na=False)
    kw = supp[supp["QNAM"] == "FCSKW1"]
    assert set(kw["QVAL"]) == {cytometer} and set(kw["QLABEL"]) == {"FCS Keyword $CYT"}
    with open(tmp_path / "r" / "redcap_records.csv", newline="", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if r["redcap_repeat_instrument"]]
    assert rows and {r["mhladr_kw_cyt"] for r in rows} == {cytometer}
    manifest = json.loads((tmp_path / "r" / "manifest.json").read_text())
    assert manifest["keywords"] == ["$CYT"]


def test_redcap_instances_come_from_the_day_so_successive_runs_never_collide() -> None:
    """Run 1 exports D3, run 2 exports D7 of the same patient: each keeps its own instance (4 and
    8: the day + 1, D0 is 1), so importing run 2 never overwrites run 1's D3. A label without a
    whole day, or two labels of one day, is refused naming them."""
    from dataclasses import replace

    from assaykit.export import ExportValue, Selection
    from assaykit.export.redcap import instance, records

    d3 = ExportValue(patient="P1", timepoint="D3", day=3.0, condition="unstimulated", measure="abc", value=4000.0,
                     verdict="reportable")
    base = Selection(values=(d3,), withheld=0, withheld_reasons={}, control="unstimulated",
                     thresholds={"normal_abc": 15000.0}, replicates=False)

    def instances(*values: ExportValue) -> list[tuple[str, str]]:
        rows = csv.DictReader(io.StringIO(records(replace(base, values=values)).decode()))
        return [(r["redcap_repeat_instance"], r["mhladr_timepoint"]) for r in rows if r["redcap_repeat_instance"]]

    assert instances(d3) == [("4", "D3")]
    assert instances(replace(d3, timepoint="D7", day=7.0)) == [("8", "D7")]  # run 2: its own instance
    assert [instance(t) for t in ("D0", "Day 1", "J7", "H48", "H12", "baseline")] == [1, 2, 8, 3, None, None]
    with pytest.raises(AssayKitError, match=r"time point 'baseline' \(patient 'P1'\) names no whole day"):
        instances(replace(d3, timepoint="baseline", day=None))
    with pytest.raises(AssayKitError, match=r"time points 'D3' and 'Day 3' of patient 'P1' name the same day"):
        instances(d3, replace(d3, timepoint="Day 3"))


def test_stimulated_values_have_their_own_code_and_no_reference_range(scored: Path, tmp_path: Path) -> None:
    """SDTM: a drug's AB/C is LBTESTCD MHLADRX (LBTSTDTL the condition) with no LBORNRLO,
    LBSTNRLO or LBNRIND; the unstimulated AB/C keeps MHLADR with the range 15,000."""
    ascii_scored = _renamed(scored, tmp_path / "ascii", {ACCENT: "P03"})
    export_run(ascii_scored, "sdtm", out=tmp_path / "s", study="S1", all_conditions=True)
    lb = _table(tmp_path / "s", "lb")
    assert set(lb["LBTESTCD"]) == {"MHLADR", "MHLADRX", "MHLADRFC"} and lb["LBTESTCD"].str.len().max() <= 8
    stim = lb[lb["LBTESTCD"] == "MHLADRX"]
    assert set(stim["LBTSTDTL"]) == {"EX VIVO IFN-GAMMA"}
    assert (stim[["LBORNRLO", "LBSTNRLO", "LBNRIND"]] == "").all().all()
    unstim = lb[lb["LBTESTCD"] == "MHLADR"]
    assert set(unstim["LBTSTDTL"]) == {"UNSTIMULATED"} and set(unstim["LBORNRLO"]) == {"15000"}
    assert set(unstim["LBNRIND"]) <= {"LOW", "NORMAL"} and len(unstim) > 0
    assert all(len(t) <= 40 for t in lb["LBTEST"])


def test_a_run_without_replicates_exports_no_replicate_fields(scored: Path, tmp_path: Path) -> None:
    """The fixture has no replicate column labels (its tables say n_replicates 1): REDCap has no
    replicate fields, SUPPLB no LBNREP / LBREPCV, FHIR no replicate note."""
    assert set(_table(scored, "patients")["n_replicates"]) <= {"0", "1"}  # the premise
    export_run(scored, "redcap", out=tmp_path / "r", all_conditions=True)
    fields = set(_table(tmp_path / "r", "redcap_dictionary")["Variable / Field Name"])
    assert not any("replicate" in f for f in fields) and "mhladr_abc" in fields
    export_run(scored, "fhir", out=tmp_path / "f", all_conditions=True)
    assert "replicate" not in (tmp_path / "f" / "observations.json").read_text(encoding="utf-8")
    export_run(_renamed(scored, tmp_path / "ascii", {ACCENT: "P03"}), "sdtm", out=tmp_path / "s", study="S1")
    assert not set(_table(tmp_path / "s", "supplb")["QNAM"]) & {"LBNREP", "LBREPCV"}


def _with_group(scored: Path, target: Path, patient: str, group: str) -> Path:
    from assaykit.scoring.tables import MANIFEST, seal

    shutil.copytree(scored, target)
    samples = _table(target, "samples")
    samples.loc[samples["patient"] == patient, "donor_group"] = group
    samples.to_csv(target / "samples.csv", index=False)
    seal(target, json.loads((target / MANIFEST).read_text()))
    return target


def test_healthy_donors_are_left_out_and_counted_unless_included(scored: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from assaykit.cli import app

    folder = _with_group(scored, tmp_path / "hd", "P04", "Healthy")  # any case
    values, _ = expected(scored, all_conditions=True)
    p04 = {k: v for k, v in values.items() if k[0] == "P04"}
    assert len(p04) == 3  # unstimulated AB/C, IFN-gamma AB/C and fold change: all reportable
    result = export_run(folder, "fhir", out=tmp_path / "f", all_conditions=True)
    assert result.not_exported_groups == {"Healthy": 3} and result.exported == len(values) - 3
    assert _fhir_values(tmp_path / "f") == {k: v for k, v in values.items() if k[0] != "P04"}
    out = CliRunner().invoke(app, ["export", str(folder), "--to", "fhir", "--all-conditions", "--out",
                                   str(tmp_path / "g"), "--include-donor-group", "healthy"])
    assert out.exit_code == 0, out.output
    assert _fhir_values(tmp_path / "g") == values and "donor group" not in out.output
    out = CliRunner().invoke(app, ["export", str(folder), "--to", "fhir", "--out", str(tmp_path / "h")])
    assert "1 value of donor group Healthy not exported (--include-donor-group Healthy)" in out.output


def test_an_export_of_no_value_writes_nothing_and_exits_1(scored: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from assaykit.cli import app

    folder = scored
    for i, patient in enumerate(("P02", "P04", COMMA, ACCENT)):
        folder = _with_group(folder, tmp_path / f"g{i}", patient, "healthy")
    out = CliRunner().invoke(app, ["export", str(folder), "--to", "redcap", "--out", str(tmp_path / "none")])
    assert out.exit_code == 1 and not (tmp_path / "none").exists()
    assert out.output.strip().splitlines()[-1].startswith("nothing exported: no reportable value (0 values withheld")


def _times(scored: Path, target: Path, basis: str) -> Path:
    return _renamed(scored, target, {ACCENT: "P03"},
                    lambda manifest: manifest["clinical"].__setitem__("times", basis))


def test_draw_times_are_written_as_scoring_recorded_them(scored: Path, tmp_path: Path) -> None:
    """The manifest says how the clinical times were read: UTC (the CSV gave offsets) is written
    with Z in FHIR and SDTM and labelled UTC in REDCap, and a --timezone other than UTC is
    refused; local times carry no offset (FHIR: the date alone unless --timezone)."""
    from fhir.resources.R4B.bundle import Bundle

    assert json.loads((scored / "manifest.json").read_text())["clinical"]["times"] == "local"  # no offsets given
    utc = _times(scored, tmp_path / "utc", "utc")
    export_run(utc, "fhir", out=tmp_path / "f")
    doc = json.loads((tmp_path / "f" / "observations.json").read_text(encoding="utf-8"))
    Bundle.model_validate(doc)
    times = {e["resource"]["subject"]["identifier"]["value"]: e["resource"].get("effectiveDateTime")
             for e in doc["entry"]}
    assert times[COMMA] == "2026-11-21T08:30:00Z"
    notes = {e["resource"]["note"][0]["text"] for e in doc["entry"]}
    assert notes == {"Visit D3, day 3 (time-point label)"}  # no admitted_at: the day is the label's number
    export_run(utc, "fhir", out=tmp_path / "f2", timezone="UTC")  # agrees: accepted
    with pytest.raises(AssayKitError, match=r"--timezone \+01:00: scoring recorded the draw times in UTC"):
        export_run(utc, "sdtm", out=tmp_path / "x", study="S1", timezone="+01:00")
    export_run(utc, "sdtm", out=tmp_path / "s", study="S1")
    lbdtc = dict(zip(_table(tmp_path / "s", "lb")["USUBJID"], _table(tmp_path / "s", "lb")["LBDTC"], strict=True))
    assert lbdtc[f"S1-{COMMA}"] == "2026-11-21T08:30:00Z" and lbdtc["S1-P03"] == ""
    export_run(utc, "redcap", out=tmp_path / "r")
    labels = dict(zip(*[_table(tmp_path / "r", "redcap_dictionary")[c] for c in ("Variable / Field Name",
                                                                                 "Field Label")], strict=True))
    assert labels["mhladr_drawn_at"] == "Blood drawn at (UTC)"
    local = _times(scored, tmp_path / "local", "local")
    export_run(local, "sdtm", out=tmp_path / "ls", study="S1")
    assert set(_table(tmp_path / "ls", "lb")["LBDTC"]) == {"2026-11-21T08:30:00", ""}  # P02 is withheld
    export_run(local, "redcap", out=tmp_path / "lr")
    labels = dict(zip(*[_table(tmp_path / "lr", "redcap_dictionary")[c] for c in ("Variable / Field Name",
                                                                                  "Field Label")], strict=True))
    assert labels["mhladr_drawn_at"] == "Blood drawn at (local time of the lab)"
    assert labels["mhladr_day"] == "Day of the time point (the number in its label: D3 is 3)"  # no admitted_at


def test_the_clinical_csv_records_its_time_basis(tmp_path: Path) -> None:
    """Offsets -> utc (converted: 08:00+01:00 is held as 07:00), none -> local, no time -> none;
    days: since admission where admitted_at and drawn_at are given, else the label's number."""
    import datetime as dt

    from assaykit.scoring.clinical import read_clinical_table

    path = tmp_path / "clinical.csv"
    path.write_text("patient,timepoint,drawn_at,admitted_at\nP01,D3,2026-11-21T08:00+01:00,2026-11-18T10:00+01:00\n")
    zoned = read_clinical_table(path)
    assert zoned.time_basis == "utc" and zoned.time("P01", "D3", "drawn_at") == dt.datetime(2026, 11, 21, 7, 0)
    assert zoned.day_basis([("P01", "D3")]) == "admission"
    assert zoned.day_basis([("P01", "D3"), ("P02", "D3")]) == "mixed"
    path.write_text("patient,timepoint,drawn_at\nP01,D3,2026-11-21 08:00\n")
    local = read_clinical_table(path)
    assert local.time_basis == "local" and local.day_basis([("P01", "D3")]) == "label"
    path.write_text("patient,timepoint,ferritin_ng_ml\nP01,D3,300\n")
    assert read_clinical_table(path).time_basis == "none"


def test_messages_name_the_problem(scored: Path, run: Path, tmp_path: Path) -> None:
    """A REDCap field-name collision names both conditions and says where to rename; a keyword
    found in no file is refused by name, nothing written."""
    from assaykit.export import ExportValue, Selection
    from assaykit.export.redcap import dictionary

    value = ExportValue(patient="P1", timepoint="D3", day=3.0, condition="IFN-gamma", measure="abc", value=1.0,
                        verdict="reportable", stimulated=True)
    selection = Selection(values=(value,), withheld=0, withheld_reasons={}, control="unstimulated",
                          thresholds={}, replicates=False, drugs=("IFN-gamma", "IFN gamma"))
    with pytest.raises(AssayKitError, match=r"the conditions 'IFN-gamma' and 'IFN gamma' both make the REDCap field "
                                            r"name mhladr_ifn_gamma_abc: rename one of them in the plate map"):
        dictionary(selection)
    with pytest.raises(AssayKitError, match=r"--include-keywords '\$SRC': in none of the exported tubes' FCS files"):
        export_run(scored, "fhir", out=tmp_path / "k", include_keywords=("$SRC", "$CYT"), run_dir=run)
    assert not (tmp_path / "k").exists()
