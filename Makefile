# Two entry points for a fresh clone: `make book` and `make test`.
# Both create (or reuse) the pinned environment in .venv from requirements.lock.
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Two cores: keep BLAS/OpenMP from oversubscribing them.
export OMP_NUM_THREADS ?= 2
export MKL_NUM_THREADS ?= 2
export PYTHONHASHSEED := 0
export MPLBACKEND := Agg

.PHONY: venv test book book-fresh bench clean env-yml

venv: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@command -v $(PY) >/dev/null || { echo "need $(PY) on PATH"; exit 1; }
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (pidlib)" >/dev/null
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q tests

book: $(STAMP)
	$(BIN)/python -m pidlib.book build

book-fresh: $(STAMP)
	$(BIN)/python -m pidlib.book build --fresh

bench: $(STAMP)
	$(BIN)/python benchmarks/estimators.py

env-yml: $(STAMP)
	$(BIN)/python pidlib/envfile.py requirements.lock > environment.yml

clean:
	rm -rf _build
