"""Scoring a plate run: plate maps, run options (run.yaml), AB/C through the bead calibration,
restoration per drug against the patient's own control, ImmunoSep classes, cohort statistics,
the output tables and the figure data the reports are drawn from."""

from .agreement import Agreement, bland_altman, compare_manual, compare_run, passing_bablok
from .cohort import DrugStatistics, drug_statistics
from .options import RunOptions, load_run_yaml
from .pipeline import ScoreResult, score_run
from .platemap import Assignment, PlateMap, PlateRow, match_files, read_plate_map
from .quantify import Calibrated, calibrate_readout, calibrated_value
from .restoration import ResponderRule, Restoration, Thresholds, immunosep_class, restoration, state
from .tube import DocumentTube, GatedTube, TubeResult, TubeTask, gate_document, gate_tube, measure_tube

__all__ = [
    "Agreement", "Assignment", "Calibrated", "DocumentTube", "DrugStatistics", "GatedTube", "PlateMap", "PlateRow",
    "ResponderRule", "Restoration", "RunOptions", "ScoreResult", "Thresholds", "TubeResult", "TubeTask",
    "bland_altman", "calibrate_readout", "calibrated_value", "compare_manual", "compare_run", "drug_statistics",
    "gate_document",
    "gate_tube", "immunosep_class", "load_run_yaml", "match_files", "measure_tube", "passing_bablok",
    "read_plate_map", "restoration", "score_run", "state",
]
