# assaykit: every target creates the virtual environment from nothing when it is missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test bench lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/assaykit inspect sample_fcs/*.fcs
	$(BIN)/assaykit calibrate sample_fcs/Specimen_001_H12_H12.fcs --lot sample_fcs/beads_lot.yaml --plot reports/demo/beads.png
	$(BIN)/assaykit gate sample_fcs/Specimen_001_A1_A01.fcs --beads sample_fcs/Specimen_001_H12_H12.fcs \
		--lot sample_fcs/beads_lot.yaml --plot reports/demo/A1-gating.png
	@echo "figures: reports/demo/beads.png (bead calibration), reports/demo/A1-gating.png (gating)"
	@echo "demo run: sample_fcs/ (see sample_fcs/README.md)"

test: $(STAMP)
	$(BIN)/ruff check assaykit tests benchmarks
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/pip install -q -e '.[bench]'
	$(BIN)/python benchmarks/bench_read.py
	$(BIN)/python benchmarks/bench_gate.py

lint: $(STAMP)
	$(BIN)/ruff check assaykit tests benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
