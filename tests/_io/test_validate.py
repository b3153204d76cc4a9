"""The one validator (assaykit._io.validate): each failure kind (wrong type, out of range,
unknown key, missing key, a dataclass's own check) gives one line naming the key, and each reader
that uses it (run.yaml, bead lot, strategy, QC targets, manifest, figure data) adds the file."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from assaykit._io import validate as v
from assaykit.errors import AssayKitError, GatingError
from assaykit.gating.strategy import QCLimits
from assaykit.scoring.restoration import ResponderRule, Thresholds

INF = math.inf


@pytest.mark.parametrize(("call", "message"), [
    (lambda: v.mapping([1], "qc"), "qc: expected a mapping, got a list"),
    (lambda: v.mapping(None, "qc"), "qc: expected a mapping, got null"),
    (lambda: v.known({"a": 1, "zz": 2, "yy": 3}, {"a", "b"}, "s"), "s: unknown key 'yy' and 1 more (allowed: a, b)"),
    (lambda: v.known({"zz": 2}, {"a"}, ""), "unknown key 'zz' (allowed: a)"),
    (lambda: v.field({"c": 1}, "u", "beads"), "beads.u: missing"),
    (lambda: v.field({}, "u", ""), "u: missing"),
    (lambda: v.items({"a": 1}, "l"), "l: expected a list, got a mapping"),
    (lambda: v.text(3, "control"), "control: expected text, got 3"),
    (lambda: v.text(None, "control"), "control: expected text, got null"),
    (lambda: v.boolean("false", "r.x"), "r.x: expected true or false (unquoted), got 'false'"),
    (lambda: v.boolean(1, "r.x"), "r.x: expected true or false (unquoted), got 1"),
    (lambda: v.number("1.5", "k"), "k: expected a finite number, got '1.5'"),
    (lambda: v.number(INF, "k"), "k: expected a finite number, got inf"),
    (lambda: v.number(math.nan, "k"), "k: expected a finite number, got nan"),
    (lambda: v.number(True, "k"), "k: expected a finite number, got true"),
    (lambda: v.number(-1, "k", 0, 10), "k: expected a number in [0, 10], got -1"),
    (lambda: v.number(11.5, "k", high=10), "k: expected a number of at most 10, got 11.5"),
    (lambda: v.number(2.5, "k", 0, integer=True), "k: expected a whole number of at least 0, got 2.5"),
    (lambda: v.integer(3.0, "jobs"), "jobs: expected an integer, got 3.0"),
    (lambda: v.integer(False, "jobs"), "jobs: expected an integer, got false"),
    (lambda: v.integer(0, "jobs", low=1), "jobs: expected an integer of at least 1, got 0"),
    (lambda: v.integer(11, "n", 0, 10), "n: expected an integer in [0, 10], got 11"),
    (lambda: v.array("x", "a", (None,)), "a: expected a list, got 'x'"),
    (lambda: v.array([[1, 2], [3]], "a", (None, 2)), "a: expected numbers in a regular array"),
    (lambda: v.array([1, 2], "a", (3,)), "a: expected an array of shape 3, got 2"),
    (lambda: v.array([[1, 2]], "a", (None,)), "a: expected an array of shape N, got 1 x 2"),
    (lambda: v.array([1, -1], "a", (None,), 0), "a: expected finite numbers of at least 0"),
    (lambda: v.array([1, INF], "a", (None,)), "a: expected finite numbers"),
    (lambda: v.array([1, 2.5], "a", (None,), 0, 9, integer=True), "a: expected whole numbers in [0, 9]"),
])
def test_each_failure_names_the_key_and_the_problem(call: Any, message: str) -> None:
    with pytest.raises(v.InvalidError) as refused:
        call()
    assert str(refused.value) == message


def test_checks_return_the_value_typed() -> None:
    assert v.mapping(None, "qc", optional=True) == {}
    assert v.number(3, "k") == 3.0 and isinstance(v.number(3, "k"), float)
    assert v.number(3.0, "k", 0, 5, integer=True) == 3.0  # JSON written by another tool: 3.0 is whole
    assert v.integer(3, "k", 1, 3) == 3 and isinstance(v.integer(3, "k"), int)
    assert v.boolean(False, "b") is False and v.text("x", "t") == "x"
    values = v.array([[0, 1], [2, 3]], "a", (None, 2), 0, 3, integer=True)
    assert values.dtype == np.float64 and values.tolist() == [[0.0, 1.0], [2.0, 3.0]]
    assert v.array([], "a", (None,), 0, 1).shape == (0,)


def test_what_a_message_shows_of_a_value_is_one_short_line() -> None:
    long = "a" * 100 + "\nsecret"
    assert v.shown(long) == "a text of 107 characters"  # never a line of the file (issue 28: /etc/shadow)
    assert v.shown("x\nsecret") == "a text of 8 characters"
    assert v.shown("root:x:0:0:root:/root:/bin/bash") == "a text of 31 characters"
    assert v.shown("four") == "'four'" and v.shown("run 1/plate map.csv") == "'run 1/plate map.csv'"
    assert v.shown("four", whole=True) == "a text of 4 characters"
    assert [v.shown(x) for x in (None, True, 2, 1e308, {}, [], (1,), "t")] == \
        ["null", "true", "2", "1e+308", "a mapping", "a list", "a list", "'t'"]
    with pytest.raises(v.InvalidError) as refused:
        v.number(long, "k")
    assert "\n" not in str(refused.value) and "secret" not in str(refused.value)


def test_checking_names_the_file_in_one_line() -> None:
    with pytest.raises(GatingError) as refused, v.checking(GatingError, Path("s.yaml")):
        v.integer("x", "qc.min_events_warning")
    assert str(refused.value) == "s.yaml: qc.min_events_warning: expected an integer, got 'x'"
    assert refused.value.path == Path("s.yaml") and type(refused.value) is GatingError
    with pytest.raises(AssayKitError) as framed, v.checking(AssayKitError, "m.json", "damaged ({}); again"):
        raise v.InvalidError("a: one\ntwo")  # a message with a line break still prints as one line
    assert str(framed.value) == "m.json: damaged (a: one two); again"
    with v.checking(AssayKitError, "m.json"):  # nothing raised: nothing changes
        assert v.text("ok", "t") == "ok"


def test_build_types_each_field_by_its_annotation() -> None:
    built = v.build(Thresholds, {"normal_abc": 20000, "ferritin_ng_ml": 1e3}, "thresholds")
    assert built == Thresholds(normal_abc=20000.0, ferritin_ng_ml=1000.0) and isinstance(built.normal_abc, float)
    assert v.build(ResponderRule, None, "responder") == ResponderRule()
    assert v.build(QCLimits, {"min_events_warning": 2000}, "qc").min_events_warning == 2000
    cases = [
        (lambda: v.build(Thresholds, {"normal_abcc": 1}, "thresholds"),
         "thresholds: unknown key 'normal_abcc' (allowed: ferritin_ng_ml, immunoparalysis_abc, immunosuppressed_abc, "
         "normal_abc)"),
        (lambda: v.build(Thresholds, {"normal_abc": "high"}, "thresholds"),
         "thresholds.normal_abc: expected a finite number, got 'high'"),
        (lambda: v.build(Thresholds, {"normal_abc": 1.0}, "thresholds"),  # its own check: below immunoparalysis
         "thresholds: thresholds must satisfy 0 < immunoparalysis <= immunosuppressed <= normal <= 1e+07"),
        (lambda: v.build(QCLimits, {"min_events_warning": 3000.0}, "qc"),
         "qc.min_events_warning: expected an integer, got 3000.0"),
        (lambda: v.build(ResponderRule, {"require_state_improvement": "no"}, "responder"),
         "responder.require_state_improvement: expected true or false (unquoted), got 'no'"),
        (lambda: v.build(ResponderRule, [1], "responder"), "responder: expected a mapping, got a list"),
    ]
    for call, message in cases:
        with pytest.raises(v.InvalidError) as refused:
            call()
        assert str(refused.value) == message


def test_build_refuses_a_field_it_cannot_check() -> None:
    @dataclass(frozen=True)
    class Pair:
        name: str
        points: tuple[float, float] = (0.0, 1.0)

    with pytest.raises(TypeError, match="Pair: build cannot check the field"):
        v.build(Pair, {"name": "x"}, "pair")
    assert v.build(Pair, {}, "pair", fixed={"name": "n", "points": (1.0, 2.0)}) == Pair("n", (1.0, 2.0))


# --- the readers: every failure kind, one line naming the file and the key -------------------------


def _run_yaml(tmp_path: Path, text: str) -> Path:
    from assaykit.scoring import load_run_yaml

    (tmp_path / "run.yaml").write_text(text)
    load_run_yaml(tmp_path)
    return tmp_path / "run.yaml"


def _lot(tmp_path: Path, text: str) -> Path:
    from assaykit.beads import load_lot

    (tmp_path / "lot.yaml").write_text(text)
    load_lot(tmp_path / "lot.yaml")
    return tmp_path / "lot.yaml"


def _strategy(tmp_path: Path, text: str) -> Path:
    import yaml

    from assaykit.gating import load_strategy

    shipped = yaml.safe_load((Path(__file__).parents[2] / "gating" / "monocyte-hladr.yaml").read_text())
    # the key replaced, not given a second time (a key given twice is refused as such)
    (tmp_path / "s.yaml").write_text(yaml.safe_dump({**shipped, **yaml.safe_load(text)}, sort_keys=False))
    load_strategy(tmp_path / "s.yaml")
    return tmp_path / "s.yaml"


def _targets(tmp_path: Path, text: str) -> Path:
    from assaykit.scoring.history import read_targets

    (tmp_path / "targets.yaml").write_text(text)
    read_targets(tmp_path / "targets.yaml")
    return tmp_path / "targets.yaml"


def _manifest(tmp_path: Path, text: str) -> Path:
    from assaykit.report.load import check_manifest

    check_manifest(json.loads(text), tmp_path / "manifest.json")
    return tmp_path / "manifest.json"


def _figure_data(tmp_path: Path, text: str) -> Path:
    from assaykit.scoring import figure_data

    (tmp_path / figure_data.FILE_NAME).write_text(text)
    figure_data.read(tmp_path)
    return tmp_path / figure_data.FILE_NAME


READERS = [
    (_run_yaml, "colour: red\n", "unknown key 'colour'"),
    (_run_yaml, "jobs: four\n", "jobs: expected an integer, got 'four'"),
    (_run_yaml, "jobs: 0\n", "jobs: expected an integer of at least 1, got 0"),
    (_run_yaml, "thresholds: {normal_abc: .nan}\n", "thresholds.normal_abc: expected a finite number, got nan"),
    (_run_yaml, "bead_values: [1, x]\n", "bead_values[1]: expected a finite number, got 'x'"),
    (_run_yaml, "plate_map: 3\n", "plate_map: expected text, got 3"),
    (_run_yaml, "qc_baseline_runs: 1\n", "qc_baseline_runs: expected an integer of at least 2, got 1"),
    (_run_yaml, "preanalytic_limit_h: 0\n", "preanalytic_limit_h: expected hours above 0, got 0"),
    (_run_yaml, "preanalytic_limit_h: 721\n", "preanalytic_limit_h: expected a number in [0, 720], got 721"),
    (_run_yaml, "specimen: plasma\n", "specimen: unknown specimen 'plasma'"),
    (_run_yaml, "gate_overrides: {A1: {reason: 4, gate: {}}}\n", "gate_overrides: 'A1': reason: expected text, got 4"),
    (_lot, "values: [1, 2, 3]\nqc: {min_r_squared: yes}\n", "qc.min_r_squared: expected a finite number, got true"),
    (_lot, "values: [1, 2, 3]\nqc: {min_peaks: 2.0}\n", "qc.min_peaks: expected an integer, got 2.0"),
    (_lot, "values: [1, 2, 3]\nchannel_aliases: PE-A\n", "channel_aliases: expected a list, got 'PE-A'"),
    (_strategy, "qc: {min_events_warning: many}\n", "qc.min_events_warning: expected an integer, got 'many'"),
    (_strategy, "qc: {max_doublets: 5}\n", "qc: unknown key 'max_doublets' (allowed: max_doublets_percent"),
    (_strategy, "readout: [HLA-DR]\n", "readout: expected a mapping, got a list"),
    (_strategy, "populations: {monocytes: 1}\n", "populations: expected a list, got a mapping"),
    (_targets, "- {series: s, target: 1, sd: 0}\n", "entry 1: sd: expected a number above 0, got 0"),
    (_targets, "- {series: s, target: 1, sd: 1, colour: red}\n", "entry 1: unknown key 'colour'"),
    (_targets, "- {series: s, sd: 1}\n", "entry 1: expected series, target and sd"),
    (_targets, "- {series: [s], target: 1, sd: 1}\n", "entry 1: series: expected text, got a list"),
    (_manifest, '{"thresholds": {"normal_abc": "x"}}',
     "damaged manifest (thresholds.normal_abc: expected a finite number, got 'x'); score the run again"),
    (_manifest, '{"thresholds": {}, "lot": {"example": "yes"}}',
     "lot.example: expected true or false (unquoted), got 'yes'"),
    (_manifest, '{"thresholds": {}, "responder_rule": {"min_fold": 2}}', "responder_rule: unknown key 'min_fold'"),
    (_figure_data, '{"version": 1}', "damaged figure data (document.hladr_log10_edges: missing)"),
]


@pytest.mark.parametrize(("reader", "text", "message"), READERS)
def test_readers_refuse_in_one_line_naming_file_and_key(tmp_path: Path, reader: Any, text: str,
                                                        message: str) -> None:
    with pytest.raises(AssayKitError) as refused:
        reader(tmp_path, text)
    line = str(refused.value)
    assert message in line and "\n" not in line, line
    assert refused.value.path is not None and refused.value.path.parent == tmp_path, line
    assert line.startswith(f"{refused.value.path}: "), line
