# bayescale: make demo | make test | make bench | make lint
# Finds a Python >= 3.12 on its own (python3.13, python3.12, python3 if new enough, or a
# pyenv-installed 3.12+), creates .venv once and reuses it.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: demo test bench lint clean

$(PY):
	@set -e; pybin=""; \
	for c in python3.13 python3.12 python3; do \
	  if command -v $$c >/dev/null 2>&1 && $$c -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then pybin=$$(command -v $$c); break; fi; \
	done; \
	if [ -z "$$pybin" ]; then \
	  root=$${PYENV_ROOT:-$$HOME/.pyenv}; \
	  for d in $$(ls -d $$root/versions/3.1[2-9]* 2>/dev/null | sort -Vr); do \
	    if [ -x $$d/bin/python ]; then pybin=$$d/bin/python; break; fi; \
	  done; \
	fi; \
	if [ -z "$$pybin" ]; then echo "error: no Python >= 3.12 found (tried python3.13, python3.12, python3, pyenv)" >&2; exit 1; fi; \
	echo "using $$pybin ($$($$pybin --version))"; \
	$$pybin -m venv $(VENV); \
	$(PY) -m pip install --quiet --upgrade pip 2>&1 | grep -v "is ignored" || true

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e . 2>&1 | grep -v "is ignored: it is neither" || true
	$(PY) -c "import bayescale" && touch $@

$(DEV_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[dev]' 2>&1 | grep -v "is ignored: it is neither" || true
	$(PY) -c "import bayescale, pytest, hypothesis" && touch $@ $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/bayescale demo --out bayescale-out/demo

test: $(DEV_STAMP)
	$(PY) -m pytest -q

bench: $(DEV_STAMP)
	$(PY) benchmarks/calibration_sim.py --json benchmarks/results/calibration_sim.json
	$(PY) benchmarks/calibration_real.py --json benchmarks/results/calibration.json
	$(PY) benchmarks/bench_fit.py --json benchmarks/results/bench_fit.json

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check bayescale tests benchmarks
	$(VENV)/bin/ruff format --check bayescale tests benchmarks
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) bayescale-out .pytest_cache .mypy_cache
