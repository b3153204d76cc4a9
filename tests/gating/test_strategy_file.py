"""A strategy file is checked like every document assaykit reads (issue 26 point 8, the one
validator): every mapping's keys (an unknown key is refused: most often a typo that would change
the results silently) and every value's type, each problem one line ``FILE: WHERE: PROBLEM``."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from assaykit import GatingError
from assaykit.cli import app
from assaykit.gating import load_strategy
from assaykit.gating.strategy import MARKER_KEYS, POPULATION_KEYS, READOUT_KEYS, STRATEGY_KEYS

# Every kind of mapping a strategy holds: markers (a transform by name and as a mapping), a
# population with each gate type, the readout and the QC limits.
BASE: dict[str, Any] = {
    "name": "every-gate",
    "title": "Every gate type once",
    "markers": {
        "FSC-A": {"aliases": ["FSC-A"], "transform": "linear"},
        "FSC-H": {"aliases": ["FSC-H"], "optional": True},
        "SSC-A": {"aliases": ["SSC-A"], "transform": {"kind": "log", "m": 4.5}},
        "CD14": {"aliases": ["PerCP-Cy5-5-A"], "synonyms": ["CD-14"], "transform": {"kind": "logicle", "w": 0.5}},
        "HLA-DR": {"aliases": ["PE-A"], "transform": "logicle"},
    },
    "populations": [
        {"name": "cells", "parent": "root", "gate": {"auto": "debris", "dims": ["FSC-A"]}},
        {"name": "singlets", "parent": "cells", "role": "singlets",
         "gate": {"type": "ratio", "dims": ["FSC-A", "FSC-H"], "low": 0.8, "high": 1.2}},
        {"name": "big", "parent": "singlets", "gate": {"type": "interval", "dims": ["FSC-A"], "low": 1000}},
        {"name": "box", "parent": "singlets",
         "gate": {"type": "rectangle", "dims": ["FSC-A", "SSC-A"], "low": [1000, None], "high": [200000, 90000]}},
        {"name": "shape", "parent": "singlets",
         "gate": {"type": "polygon", "dims": ["FSC-A", "SSC-A"], "vertices": [[1, 10], [90000, 10], [1, 90000]]}},
        {"name": "oval", "parent": "singlets",
         "gate": {"type": "ellipse", "dims": ["CD14", "SSC-A"], "center": [1000, 1000],
                  "covariance": [[0.01, 0], [0, 0.01]], "distance": 2}},
        {"name": "quarter", "parent": "singlets",
         "gate": {"type": "quadrant", "dims": ["CD14", "HLA-DR"], "split": [1000, 1000], "quadrant": "++"}},
        {"name": "either", "parent": "singlets",
         "gate": {"type": "boolean", "op": "or", "populations": ["box", "oval"]}},
    ],
    "readout": {"population": "either", "marker": "HLA-DR", "statistic": "median"},
    "qc": {"min_events_warning": 3000},
    "specimen": "whole_blood",
}


def _population(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(p for p in doc["populations"] if p["name"] == name)


def _write(tmp_path: Path, doc: Any) -> Path:
    path = tmp_path / "lab.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False) if not isinstance(doc, str) else doc)
    return path


def _refused(tmp_path: Path, doc: Any) -> str:
    path = _write(tmp_path, doc)
    with pytest.raises(GatingError) as refused:
        load_strategy(path)
    message = str(refused.value)
    assert "\n" not in message and message.startswith(f"{path}: "), message
    return message[len(f"{path}: "):]


def test_the_base_strategy_and_every_shipped_one_load(tmp_path: Path) -> None:
    strategy = load_strategy(_write(tmp_path, BASE))
    assert strategy.title == "Every gate type once" and strategy.optional == {"FSC-H"}
    assert load_strategy().title  # `assaykit strategy list` prints it


# (where, the mapping at that place in a document, the keys it allows)
LEVELS: list[tuple[str, Callable[[dict[str, Any]], dict[str, Any]], Any]] = [
    ("", lambda d: d, STRATEGY_KEYS),
    ("markers.CD14", lambda d: d["markers"]["CD14"], MARKER_KEYS),
    ("markers.CD14.transform", lambda d: d["markers"]["CD14"]["transform"], ("kind", "t", "m", "w", "a")),
    ("populations[2]", lambda d: d["populations"][2], POPULATION_KEYS),
    ("population 'cells'", lambda d: _population(d, "cells")["gate"], None),  # an automatic gate's options
    ("population 'singlets'", lambda d: _population(d, "singlets")["gate"], ("dims", "high", "low", "type")),
    ("population 'big'", lambda d: _population(d, "big")["gate"], ("dims", "high", "low", "type")),
    ("population 'box'", lambda d: _population(d, "box")["gate"], ("dims", "high", "low", "type")),
    ("population 'shape'", lambda d: _population(d, "shape")["gate"], ("dims", "type", "vertices")),
    ("population 'oval'", lambda d: _population(d, "oval")["gate"], ("center", "covariance", "dims", "distance",
                                                                      "type")),
    ("population 'quarter'", lambda d: _population(d, "quarter")["gate"], ("dims", "quadrant", "split", "type")),
    ("population 'either'", lambda d: _population(d, "either")["gate"], ("op", "populations", "type")),
    ("readout", lambda d: d["readout"], READOUT_KEYS),
    ("qc", lambda d: d["qc"], None),
]


@pytest.mark.parametrize(("where", "place", "allowed"), LEVELS, ids=[w or "top" for w, _, _ in LEVELS])
def test_an_unknown_key_is_refused_at_every_level(tmp_path: Path, where: str, place: Callable[..., Any],
                                                  allowed: Any) -> None:
    doc = copy.deepcopy(BASE)
    place(doc)["zz_typo"] = 1
    message = _refused(tmp_path, doc)
    assert message.startswith(f"{where}: " if where else "unknown key"), message
    assert "unknown key 'zz_typo' (allowed: " in message, message
    if allowed is not None:
        assert message.endswith(f"(allowed: {', '.join(sorted(allowed))})"), message


# (a change to BASE, the message's start after the file's name)
def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        target = doc
        for key in path[:-1]:
            if isinstance(key, str) and key.startswith("@"):  # a population by name, in the list
                target = next(p for p in target if p["name"] == key[1:])
            else:
                target = target[key]
        target[path[-1]] = value
    return change


WRONG_TYPES = [
    (("name",), 3, "name: expected text, got 3"),
    (("title",), ["a"], "title: expected text, got a list"),
    (("markers",), ["CD14"], "markers: expected a mapping, got a list"),
    (("markers", "CD14"), "PE-A", "markers.CD14: expected a mapping, got 'PE-A'"),
    (("markers", "CD14", "optional"), "yes please", "markers.CD14.optional: expected true or false (unquoted), got "
                                                    "'yes please'"),
    (("markers", "CD14", "aliases"), "PE-A", "markers.CD14.aliases: expected a list, got 'PE-A'"),
    (("markers", "CD14", "aliases"), [3], "markers.CD14.aliases[0]: expected text, got 3"),
    (("markers", "CD14", "synonyms"), {"a": 1}, "markers.CD14.synonyms: expected a list, got a mapping"),
    (("markers", "CD14", "transform"), 3, "markers.CD14.transform: expected a transform name"),
    (("markers", "CD14", "transform", "kind"), 3, "markers.CD14.transform.kind: expected text, got 3"),
    (("markers", "CD14", "transform", "w"), "four", "markers.CD14.transform.w: expected a finite number, got 'four'"),
    (("populations",), "cells", "populations: expected a list, got 'cells'"),
    (("populations", 0), "cells", "populations[0]: expected a mapping, got 'cells'"),
    (("populations", 0, "name"), 3, "populations[0].name: expected text, got 3"),
    (("populations", "@singlets", "parent"), ["cells"], "population 'singlets': parent: expected text, got a list"),
    (("populations", "@singlets", "role"), 1, "population 'singlets': role: expected text, got 1"),
    (("populations", "@singlets", "gate"), "ratio", "population 'singlets': gate: expected a mapping, got 'ratio'"),
    (("populations", "@singlets", "gate", "type"), 3, "population 'singlets': type: expected text, got 3"),
    (("populations", "@singlets", "gate", "dims"), "FSC-A", "population 'singlets': dims: expected a list, got "
                                                            "'FSC-A'"),
    (("populations", "@singlets", "gate", "low"), "0.8", "population 'singlets': low: '0.8' is not a number"),
    (("populations", "@big", "gate", "low"), True, "population 'big': low: true is not a number"),
    (("populations", "@box", "gate", "high"), [1, "x"], "population 'box': high: 'x' is not a number"),
    (("populations", "@shape", "gate", "vertices"), [[1, 2], [3, "y"], [5, 6]],
     "population 'shape': vertices[1]: 'y' is not a number"),
    (("populations", "@oval", "gate", "distance"), "two", "population 'oval': distance: 'two' is not a number"),
    (("populations", "@oval", "gate", "covariance"), 1, "population 'oval': covariance: expected 2 rows"),
    (("populations", "@quarter", "gate", "split"), 1000, "population 'quarter': split: expected a list of 2 numbers"),
    (("populations", "@quarter", "gate", "quadrant"), 1, "population 'quarter': quadrant: expected ++, +-, -+ or --"),
    (("populations", "@either", "gate", "op"), True, "population 'either': op: expected text, got true"),
    (("populations", "@either", "gate", "populations"), "box", "population 'either': populations: expected a list"),
    (("populations", "@cells", "gate", "auto"), ["debris"], "population 'cells': auto: expected text, got a list"),
    (("readout",), "HLA-DR", "readout: expected a mapping, got 'HLA-DR'"),
    (("readout", "population"), 3, "readout.population: expected text, got 3"),
    (("readout", "marker"), ["HLA-DR"], "readout.marker: expected text, got a list"),
    (("readout", "statistic"), "geometric mean", "readout.statistic: expected one of median, geometric_mean"),
    (("qc", "min_events_warning"), "many", "qc.min_events_warning: expected an integer, got 'many'"),
]


@pytest.mark.parametrize(("path", "value", "message"), WRONG_TYPES, ids=[m.split(":")[0] + "-" + type(v).__name__
                                                                         for _, v, m in WRONG_TYPES])
def test_a_field_of_the_wrong_type_is_refused_naming_it(tmp_path: Path, path: tuple[Any, ...], value: Any,
                                                         message: str) -> None:
    doc = copy.deepcopy(BASE)
    _set(path, value)(doc)
    assert _refused(tmp_path, doc).startswith(message)


def _without(key: str) -> dict[str, Any]:
    return {k: v for k, v in BASE.items() if k != key}


def _population_named(name: str) -> dict[str, Any]:
    doc = copy.deepcopy(BASE)
    doc["populations"][0]["name"] = name
    return doc


def _gate_of(name: str, **changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(BASE)
    _population(doc, name)["gate"].update(changes)
    return doc


def _transform(**spec: Any) -> dict[str, Any]:
    doc = copy.deepcopy(BASE)
    doc["markers"]["CD14"]["transform"] = spec
    return doc


# The new-user review's cases (issue 26): each message says what is wrong where it is
CASES = [
    (_without("readout"), "readout: missing (the population and marker measured"),
    ({**BASE, "readout": {"population": "either"}}, "readout.marker: missing"),
    (_population_named("root"), "population 'root': the name 'root' is reserved"),
    (_transform(kind="logicle", decades=5),
     "markers.CD14.transform: unknown key 'decades' (allowed: a, kind, m, t, w)"),
    (_transform(knd="logicle"), "markers.CD14.transform: unknown key 'knd'"),
    (_transform(kind="logicle", m=0), "markers.CD14.transform: transform parameters t and m must be positive"),
    (_transform(kind="logicel"), "markers.CD14.transform: unknown transform 'logicel'"),
    (_gate_of("big", low=5000, high=100), "population 'big': low (5000) is above high (100)"),
    (_gate_of("singlets", low=1.2, high=0.8), "population 'singlets': low (1.2) is above high (0.8)"),
    (_gate_of("box", low=[1000, 5000], high=[2000, 10]), "population 'box': low (5000) is above high (10)"),
    ({**BASE, "populations": []}, "populations: the strategy has no populations"),
    ("name: x\nmarkers:\n  A:\n\taliases: [A]\n", "not a valid YAML strategy file at line 4: found character '\\t' "
                                                  "that cannot start any token"),
    ('<?xml version="1.0"?>\n<gates><gate id="a"/></gates>\n',
     "an XML file, but neither a GatingML 2.0 document nor a FlowJo workspace; a strategy file is YAML"),
]


@pytest.mark.parametrize(("doc", "message"), CASES, ids=[m.split(":")[0] for _, m in CASES])
def test_a_bad_strategy_says_what_is_wrong_where(tmp_path: Path, doc: Any, message: str) -> None:
    assert _refused(tmp_path, doc).startswith(message)


def test_gate_json_names_the_strategy_by_path_and_sha256(tmp_path: Path, simulated_run: Path) -> None:
    """A lab's edited copy of the shipped strategy keeps its name but is not reported as the
    shipped one: ``gate --json`` shows where it came from and the sha256 of its bytes (the
    manifest's ``strategy`` is the same :meth:`Strategy.identity`)."""
    shipped = load_strategy()
    copied = tmp_path / "monocyte-hladr-copy.yaml"
    text = CliRunner().invoke(app, ["strategy", "show"]).output.replace("max_doublets_percent: 10",
                                                                         "max_doublets_percent: 12")
    copied.write_text(text)
    tube = str(simulated_run / "Specimen_001_A1_A01.fcs")
    for strategy, source, data in ((None, shipped.source, None), (str(copied), str(copied), copied.read_bytes())):
        args = ["gate", tube, "--json"] + (["--strategy", strategy] if strategy else [])
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        named = json.loads(result.output)["strategy"]
        assert named["name"] == "monocyte-hladr" and named["path"] == source
        assert named["sha256"] == (hashlib.sha256(data).hexdigest() if data else shipped.sha256)
    assert shipped.source == "shipped:monocyte-hladr.yaml" and len(shipped.sha256) == 64
