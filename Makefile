PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup browser demo lint test test-fast test-slow bench clean

$(BIN)/mlexpert: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,deep]'
	touch $(BIN)/mlexpert

setup: $(BIN)/mlexpert

# Headless Chromium renders the HTML reports in tests (Debian's package; needs apt as root).
browser:
	command -v chromium >/dev/null || (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium)

demo: setup
	$(BIN)/python examples/demo_data.py demo
	$(BIN)/mlexpert fit demo/train.csv --target churn --time-limit 30 --out demo/model --force
	$(BIN)/mlexpert report demo/model --data demo/test.csv --sensitive-column senior_citizen \
		--card-notes examples/card_notes.md --out demo/card.html
	$(BIN)/mlexpert evaluate demo/model demo/test.csv
	$(BIN)/mlexpert predict demo/model demo/test.csv --id-column customer_id --out demo/predictions.csv
	@echo "model card written to demo/card.html"
	@echo "predictions written to demo/predictions.csv"; head -n 5 demo/predictions.csv

lint: setup
	$(BIN)/ruff check mlexpert tests bench examples

# Two pytest-xdist workers, each kept to one core and dealt whole test files (tests/conftest.py:
# our units through --dist loadscope; xdist's own loadgroup is broken under pytest 9.2).
TEST_WORKERS := -n 2 --dist loadscope

test: setup browser lint
	$(BIN)/python -m pytest -q $(TEST_WORKERS)

# The inner loop (< 3 min): no chromium, and no test marked heavy (see tests/conftest.py).
test-fast: setup lint
	$(BIN)/python -m pytest -q $(TEST_WORKERS) -m 'not slow and not heavy'

test-slow: setup browser
	$(BIN)/python -m pytest -q -m slow

bench: setup
	$(BIN)/python bench/import_time.py

clean:
	rm -rf $(VENV) demo .pytest_cache
