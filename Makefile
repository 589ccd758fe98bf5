# Two commands for a newcomer:  `make demo`  (install + run the end-to-end demo on bundled
# data, no download) and  `make test`  (install + run the test suite). .ci/run runs `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: install demo test bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# The CPU build of torch 2.13.0 is installed first so that nothing pulls the CUDA build.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

demo: install
	$(BIN)/discogs-tools demo

# The suite runs in TEST_WORKERS pytest-xdist processes (tests/conftest.py: the demo and the guide
# walkthrough on one, everything else on the other). TEST_WORKERS=0 runs it in this one process.
TEST_WORKERS ?= 2

test: install
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS)

clean:
	rm -rf $(VENV) workspace .pytest_cache
