# lakeforge: `make demo` runs the stock pipeline locally; `make test` runs the whole suite.
# Both set up everything they need on a fresh machine (a virtual environment with the
# pinned packages of requirements.lock).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml requirements.lock lakeforge/codec/_native.c lakeforge/codec/_native_encode.c | cksum | cut -d' ' -f1)
DEMO_DURATION ?= 900
DEMO_RATE ?= 20000
PYTEST_ARGS ?=

.PHONY: venv system-deps lint typecheck test demo bench bench-side-by-side clean

# uv installs the pinned packages in parallel: seconds, where pip takes a minute or two.
$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "lakeforge needs Python 3.11+, found " + sys.version' 
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "pip==25.3" "uv==0.13.9"
	$(BIN)/uv pip install --quiet --python $(BIN)/python -c requirements.lock -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

venv: $(STAMP)

# Debian packages (Prometheus, Chromium for dashboard screenshots): installed when root,
# else the exact apt-get line is printed.
system-deps:
	scripts/system-deps

lint: venv
	$(BIN)/ruff check lakeforge tests bench
	$(BIN)/ruff format --check lakeforge tests bench

typecheck: venv
	$(BIN)/mypy

test: lint typecheck system-deps
	$(BIN)/pytest $(PYTEST_ARGS)

# The stock pipeline with transforms and its Superset dashboard (installed on first use,
# in its own virtual environment). Ctrl-C stops everything cleanly.
demo: venv system-deps
	@echo "Running the stock pipeline for $(DEMO_DURATION)s at $(DEMO_RATE) trades/s (Ctrl-C stops it cleanly)..."
	$(BIN)/lakeforge run --pipeline examples/stocks --duration $(DEMO_DURATION) --rate $(DEMO_RATE) --dashboard
	$(BIN)/lakeforge status --pipeline examples/stocks
	@echo "Prove exactly once (reads every row; minutes for millions): .venv/bin/lakeforge verify --pipeline examples/stocks"
	@echo "Query the lake: .venv/bin/lakeforge query --pipeline examples/stocks \"SELECT * FROM gold.gold_top_movers LIMIT 5\""

bench: venv
	$(BIN)/python bench/end_to_end.py
	$(BIN)/python bench/codec_bench.py
	$(BIN)/python bench/bus_bench.py
	$(BIN)/python bench/lake_bench.py

# issue 6: lakeforge vs the ceiling, a per-record consumer and PyFlink, 10M trades.
bench-side-by-side: venv
	bash bench/side_by_side_setup.sh
	$(BIN)/python bench/side_by_side.py --trades 10000000 --streaming

clean:
	rm -rf $(VENV) examples/stocks/.lakeforge .pytest_cache .mypy_cache .ruff_cache
	find lakeforge -name "*.so" -delete
