"""Property-based fuzzing of every configuration and table a run reads (issue 14): run.yaml,
strategies, bead lots, plate maps and clinical tables. Whatever the bytes, the readers either
succeed or raise an AssayKitError (one line naming the file), within a bounded time; never a
traceback of another kind. FCS headers are fuzzed in tests/fcs/test_properties.py."""

from __future__ import annotations

import math
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assaykit.beads import load_lot
from assaykit.errors import AssayKitError
from assaykit.gating import load_strategy
from assaykit.scoring import load_run_yaml, read_plate_map
from assaykit.scoring.clinical import read_clinical

KEYS = ["plate_map", "lot", "strategy", "clinical", "control", "jobs", "thresholds", "responder", "bead_values",
        "specimen", "normal_abc", "min_fold_change", "require_state_improvement", "markers", "populations",
        "readout", "gate", "type", "dims", "low", "high", "auto", "qc", "values", "kit", "unit", "FSC-A", "CD14"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                    st.text(max_size=20), st.sampled_from(["15e3", "1.5", "false", "monocytes", "root", "PE-A",
                                                           "interval", "debris", "../x", "/dev/zero"]))
documents = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), inner,
                                                 max_size=5)), max_leaves=25)
FUZZ = settings(max_examples=150, deadline=3000, suppress_health_check=[HealthCheck.too_slow,
                                                                        HealthCheck.function_scoped_fixture])


def _yaml_bytes(doc: object) -> bytes:
    try:
        return yaml.safe_dump(doc, allow_unicode=True).encode()
    except (yaml.YAMLError, ValueError):
        return b"{"


def _only_assaykit_errors(call, *args: object) -> None:
    try:
        call(*args)
    except AssayKitError as error:
        assert "\n" not in error.message and len(error.message) < 2000
    except RecursionError:  # pragma: no cover - would be a finding
        raise


@FUZZ
@given(st.one_of(documents.map(_yaml_bytes), st.binary(max_size=300)))
def test_fuzzed_run_yaml(tmp_path_factory, data: bytes) -> None:
    folder = tmp_path_factory.mktemp("run")
    (folder / "run.yaml").write_bytes(data)
    _only_assaykit_errors(load_run_yaml, folder)


@FUZZ
@given(st.one_of(documents.map(_yaml_bytes), st.binary(max_size=300)))
def test_fuzzed_strategy_and_lot(tmp_path_factory, data: bytes) -> None:
    path = tmp_path_factory.mktemp("cfg") / "x.yaml"
    path.write_bytes(data)
    _only_assaykit_errors(load_strategy, path)
    _only_assaykit_errors(load_lot, path)


cells = st.one_of(st.text(max_size=12), st.sampled_from(["A1", "H12", "sample", "beads", "unstimulated", "=1+1",
                                                         "P01", "nan", "inf", "-1e400", ""]))
tables = st.lists(st.lists(cells, min_size=1, max_size=7), min_size=0, max_size=6)
HEADERS = [["well", "patient", "timepoint", "condition", "role"], ["patient", "timepoint", "ferritin_ng_ml"],
           ["file", "patient", "timepoint", "condition", "role", "extra"]]


@FUZZ
@given(st.sampled_from(HEADERS), tables, st.sampled_from(["utf-8", "utf-16", "cp1252"]),
       st.sampled_from([",", ";", "\t"]))
def test_fuzzed_plate_maps_and_clinical_tables(tmp_path_factory, header: list[str], rows: list[list[str]],
                                                encoding: str, sep: str) -> None:
    text = "\n".join(sep.join(r) for r in [header, *rows])
    path = tmp_path_factory.mktemp("tab") / "table.csv"
    path.write_bytes(text.encode(encoding, errors="replace"))
    _only_assaykit_errors(read_plate_map, path)
    _only_assaykit_errors(read_clinical, path)


def test_clinical_values_are_finite(tmp_path: Path) -> None:
    path = tmp_path / "clinical.csv"
    path.write_text("patient,ferritin_ng_ml\nP01,inf\n")
    try:
        read_clinical(path)
    except AssayKitError as error:
        assert "is not a finite number" in error.message
    else:
        raise AssertionError("inf accepted")
    path.write_text("patient,ferritin_ng_ml\nP01,4420\n")
    assert math.isclose(read_clinical(path)[("P01", "")], 4420.0)
