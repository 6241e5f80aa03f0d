# BeatGAN: two commands. `make run` sets up and runs the main job; `make test` sets up and runs the tests.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DATA   ?= data/open_loops
OUT    ?= outputs

.PHONY: run test test-fast mutation lab setup system-deps browser corpus clean

# The venv is (re)installed when pyproject.toml changes.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	# musicnn carries the pretrained FAD embedding; its metadata pins numpy<1.17, so no dependencies
	$(PY) -m pip install --quiet --no-deps 'musicnn==0.1.0'
	# numba's cache races when two processes compile at once (numba#10128): compile it here, once
	$(PY) scripts/warm_numba.py
	@touch $@

system-deps:
	@bash scripts/install-system-deps.sh

# Debian's Chromium for the loop lab's browser test (tests/test_lab.py); `make run` does not need it.
browser:
	@bash scripts/install-browser.sh

setup: system-deps $(STAMP)

# Renders the open corpus (about 10 s); returns at once when the folder already holds it.
corpus: setup
	$(VENV)/bin/beatgan render-loops -o $(DATA) --no-progress

run: setup corpus
	$(PY) scripts/main_job.py --data $(DATA) --out $(OUT)

# The suite runs in parallel, one worker per core (at most 4; TEST_JOBS=0 runs it in this process).
# Each test file stays on one worker (--dist loadfile), so module and file fixtures are built once; the
# heaviest files go first (tests/conftest.py: HEAVY_FILES, with --no-loadscope-reorder).
TEST_JOBS ?= auto
PYTEST    := $(PY) -m pytest -ra -n $(TEST_JOBS) --maxprocesses 4 --dist loadfile --no-loadscope-reorder

test: setup browser
	$(PYTEST)

test-fast: setup browser
	$(PYTEST) -m "not slow"

# Mutation testing of the core modules against their fast tests (slow: tens of minutes; not part of `test`).
# Writes benchmarks/mutation/REPORT.md; MODULES="losses novelty" runs a subset.
mutation: setup
	$(PY) scripts/mutation.py $(MODULES)

lab: setup
	$(VENV)/bin/jupyter lab beat_gan.ipynb

clean:
	rm -rf $(OUT) data/open_loops .pytest_cache
