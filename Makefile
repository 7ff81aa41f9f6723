# Two commands on a fresh clone:  `make demo`  (main job on built-in synthetic data)  and  `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EXTRAS ?= train,models,ray,viz,dev

.PHONY: install demo test lint bench clean

$(BIN)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[$(EXTRAS)]'
	touch $@

install: $(BIN)/.installed

# the virtualenv's scripts (dynpose100k, evo_*, accelerate) come first on PATH when its programs run
RUN := PATH="$(abspath $(BIN)):$$PATH"

demo: install
	$(RUN) $(BIN)/dynpose100k demo --out outputs/demo

# two test processes (CI and the reference machine have 2 cores); each test file stays in one process, so a
# module's shared fixtures are built once. TEST_WORKERS=0 runs everything in this process.
TEST_WORKERS ?= 2
test: install
	$(RUN) $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

lint: install
	$(BIN)/ruff check dynpose100k builder train eval tests

bench: install
	$(RUN) $(BIN)/dynpose100k bench all --out outputs/bench

clean:
	rm -rf outputs .pytest_cache
