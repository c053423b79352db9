# One entry point for set-up, demo, tests, web UI and benchmarks. Every target installs what it needs first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export COSAVATAR_HOME ?= $(CURDIR)/.cosavatar
export DAGSTER_HOME ?= $(COSAVATAR_HOME)/dagster
MLFLOW_URI = $(or $(MLFLOW_TRACKING_URI),sqlite:///$(COSAVATAR_HOME)/mlflow.db)

.PHONY: install lint demo test test-fast ui docs bench bench-nerf bench-expression bench-consistency bench-delivery bench-ip2p gpu-check bench-capacity clean-home

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

install: $(BIN)/.installed

## make demo [VIDEO=path/to/clip.mp4] [PRESET=preview|standard|high]
demo: $(BIN)/.installed
	$(BIN)/cosavatar demo $(if $(VIDEO),--video "$(VIDEO)") $(if $(PRESET),--preset $(PRESET))

test: $(BIN)/.installed
	$(BIN)/python -m pytest -q

## the tests that need neither the team's clips nor an avatar beyond `tiny` (what CI runs is `make test`)
test-fast: $(BIN)/.installed
	$(BIN)/python -m pytest -q -m "not slow and not real_clips"

## ruff: lint and format check (settings in pyproject.toml); `$(BIN)/ruff format .` applies the format
lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## Dagster web UI + daemon on :3000 and MLflow UI on :5000, over the same store as the CLI
ui: $(BIN)/.installed
	$(BIN)/cosavatar instance-config >/dev/null
	@echo "Dagster: http://127.0.0.1:3000   MLflow: http://127.0.0.1:5000   (Ctrl-C stops both)"
	@bash -c 'set -m; "$(BIN)/mlflow" ui --backend-store-uri "$(MLFLOW_URI)" --host 127.0.0.1 --port 5000 & \
	  trap "kill -INT $$! 2>/dev/null" EXIT; "$(BIN)/dagster" dev -w workspace.yaml -h 127.0.0.1 -p 3000'

## the README's figures table, from the committed results in benchmarks/results/
docs: $(BIN)/.installed
	$(BIN)/python benchmarks/readme_figures.py

## Benchmarks: each target runs benchmarks/<script>.py (results: printed, and committed ones under benchmarks/results/)
# the frames stage's time and peak memory, printed
bench_script_bench := frames_stage
# NeRF throughput vs a positional-encoding MLP, held-out PSNR after 2 / 5 / 10 minutes, printed (~20 min)
bench_script_bench-nerf := nerf_train
# expression control: today's codes vs landmark warping, side by side, seeds 0 and 1 (~23 min on 2 cores) -> expression.json
bench_script_bench-expression := expression
# the NeRF loop vs per-frame edits, with a controlled inconsistent editor (~12 min on 2 cores) -> consistency.json
bench_script_bench-consistency := consistency
# the edit delivered in the whole frame vs bicubic upsampling and today's crop, two clips (~5 min) -> delivery.json
bench_script_bench-delivery := delivery
# InstructPix2Pix at Stable Diffusion 1.5's size with random weights, through our editor at 512 px -> ip2p_edit_<device>.json
bench_script_bench-ip2p := ip2p_edit
# on a lent GPU only: high avatar, full-size IP2P batch, one standard edit round (<= 8 min) -> gpu_check_cuda.json
bench_script_gpu-check := gpu_check
# per-stage time and memory (default tiny,preview: ~18 min; PRESETS=standard adds > 45 min on 2 cores) -> capacity.json
bench_script_bench-capacity := stage_capacity
bench-capacity: BENCH_ARGS = $(if $(PRESETS),--presets $(PRESETS))

bench bench-nerf bench-expression bench-consistency bench-delivery bench-ip2p gpu-check bench-capacity: $(BIN)/.installed
	$(BIN)/python benchmarks/$(bench_script_$@).py $(BENCH_ARGS)

clean-home:
	rm -rf "$(COSAVATAR_HOME)"
