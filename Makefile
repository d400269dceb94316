# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: install demo test lint docs bench clean

install: $(STAMP)

# Re-runs only when the metadata or the pins change; pip skips what is present.
$(STAMP): setup.cfg constraints.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -c constraints.txt torch
	$(PY) -m pip install -q -c constraints.txt -e '.[test,data,docs,distributed]'
	$(PY) -c 'from evoprune.backends import fused; fused.build()'   # the fused CPU kernels, built once (else torch is used)
	touch $(STAMP)

# The main job: the quick study (both settings, every operator) on the built-in data, then its report
# (`run` prints the summary once and writes out/quick/report/).
demo: $(STAMP)
	$(PY) -m evoprune run studies/quick.toml --out out/quick --workers 2

# Lint, the test suite, then the docs: every tutorial executed, warnings (a dead reference,
# a failing tutorial, prose quoting a number its code no longer prints) are errors.
test: $(STAMP)
	$(PY) -m ruff check evoprune tests examples benchmarks docs
	$(PY) -m pytest -q
	$(MAKE) --no-print-directory docs

docs: $(STAMP)
	$(PY) -m sphinx -W --keep-going -q -b html docs docs/_build/html
	@echo "docs: docs/_build/html/index.html"

bench: $(STAMP)
	$(PY) benchmarks/engine.py

clean:
	rm -rf $(VENV) docs/_build docs/tutorials out
