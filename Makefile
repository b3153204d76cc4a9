# assaykit: every target creates the virtual environment from nothing when it is missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test bench lint typecheck clean fit-reference

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/assaykit score sample_fcs --out reports/sample_fcs
	$(BIN)/assaykit calibrate sample_fcs/Specimen_001_H12_H12.fcs --lot sample_fcs/beads_lot.yaml \
		--plot reports/sample_fcs-figures/beads.png > /dev/null
	$(BIN)/assaykit gate sample_fcs/Specimen_001_A1_A01.fcs --plot reports/sample_fcs-figures/A1-gating.png > /dev/null
	@echo "reports: reports/sample_fcs/index.html (run summary), reports/sample_fcs/patients/*.html and *.pdf"
	@echo "tables: reports/sample_fcs/ (samples, calibration, restoration, patients, cohort, trajectories, qc, manifest)"
	@echo "ledger: reports/assaykit-ledger.sqlite (assaykit ledger runs --ledger reports/assaykit-ledger.sqlite)"
	@echo "figures: reports/sample_fcs-figures/beads.png, reports/sample_fcs-figures/A1-gating.png"

test: $(STAMP)
	$(BIN)/ruff check assaykit tests benchmarks
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/pip install -q -e '.[bench]'
	$(BIN)/python benchmarks/bench_read.py
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/bench_gate.py  # the tube budget is on one core
	$(BIN)/python benchmarks/bench_score.py
	$(BIN)/python benchmarks/bench_report.py
	$(BIN)/python benchmarks/bench_review_web.py

# the gates' non-regression reference (tests/data/fit_reference.json) from this tree: run it in the
# commit that changes the gate on purpose (the accuracy tests against the simulator's truth still hold it)
fit-reference: $(STAMP)
	$(BIN)/python tests/data/make_fit_reference.py

lint: $(STAMP)
	$(BIN)/ruff check assaykit tests benchmarks

typecheck: $(STAMP)  # also run by `make test`, after ruff and before pytest
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
