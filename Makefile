# Two commands for a fresh machine: `make demo` and `make test`. Each makes .venv if missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo headless-demo test lint format bench

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("tpudeck needs Python >= 3.10") if sys.version_info < (3, 10) else None'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# The browser test drives `tpudeck serve` in Debian's Chromium (Playwright finds no browser
# of its own here: there is no network to download one).
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

$(CHROMIUM):
	$(SUDO) apt-get install -y -q chromium >/dev/null || ($(SUDO) apt-get update -q && \
		$(SUDO) apt-get install -y -q chromium >/dev/null) || \
		{ echo "the browser test needs Debian's chromium: apt-get install chromium"; exit 1; }

demo: $(STAMP)
	$(BIN)/tpudeck demo

headless-demo: $(STAMP)
	$(BIN)/tpudeck train --demo

test: $(STAMP) $(CHROMIUM)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q --durations=25 -n 2 --dist loadfile -m "not serial"
	$(BIN)/python -m pytest -q --durations=5 -m serial

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python bench/train_throughput.py
	$(BIN)/python bench/checkpoint.py
	$(BIN)/python bench/scan_layers.py
	$(BIN)/python bench/token_loss.py
	$(BIN)/python bench/image_pipeline.py --images 1000
	$(BIN)/python bench/holder_scan.py
	$(BIN)/python bench/tui.py
	$(BIN)/python bench/telemetry.py
