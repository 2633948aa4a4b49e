# Two commands set up a fresh machine: `make demo` and `make test`. Both build .venv via `make install`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
ALT := $(BIN)/alternators
STAMP := $(VENV)/.installed
# torch is pinned to the local CPU build first, so that resolving the package's own
# `torch>=2.2` never pulls a newer multi-GB CUDA wheel.
TORCH_PIN := torch==2.13.0
RUN := runs/pinwheel

.PHONY: install demo test lint bench-install bench-quality bench-frontier bench-tables bench-sequence bench-series bench-speed bench-scale pretrained clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet $(TORCH_PIN)
	$(BIN)/pip install --quiet -e '.[dev]' $(TORCH_PIN)
	touch $(STAMP)

demo: install
	$(ALT) train pinwheel --out $(RUN) --overwrite
	$(ALT) sample --checkpoint $(RUN)/model.pt -n 5000 --seed 1 -o $(RUN)/samples.csv
	$(ALT) evaluate --samples $(RUN)/samples.csv --reference pinwheel --plot $(RUN)/samples.png \
		| tee $(RUN)/evaluation.txt
	$(ALT) animate --checkpoint $(RUN)/model.pt -o $(RUN)/cycle.gif
	@echo "demo done: see $(RUN)/ (model.pt, samples.csv, samples.png, evaluation.txt, cycle.gif)"

test: install
	$(BIN)/python -m pytest

# Every benchmark runs from the repository root as a module; extra options: ARGS="...".
bench-install: install
	$(BIN)/pip install --quiet -e '.[dev,bench]' $(TORCH_PIN)

bench-quality: bench-install
	$(BIN)/python -m benchmarks.quality $(ARGS)

bench-frontier: bench-install
	$(BIN)/python -m benchmarks.frontier $(ARGS)

bench-tables: bench-install
	$(BIN)/python -m benchmarks.tables $(ARGS)

bench-sequence: install
	$(BIN)/python -m benchmarks.sequence $(ARGS)

bench-series: bench-install
	$(BIN)/python -m benchmarks.series $(ARGS)

bench-speed: install
	$(BIN)/python -m benchmarks.speed $(ARGS)

bench-scale: install
	$(BIN)/python -m benchmarks.scale $(ARGS)

# Rebuild the shipped checkpoints with the CLI at default settings.
pretrained: install
	for d in pinwheel checkerboard 2spirals 8gaussians lorenz; do \
		$(ALT) train $$d --out build/pretrained/$$d --overwrite --device cpu && \
		$(BIN)/python -m alternators_cli.checkpoint slim build/pretrained/$$d/model.pt \
			alternators_cli/pretrained/$$d.pt || exit 1; \
	done

lint: install
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) runs .pytest_cache
