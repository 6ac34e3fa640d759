# Two commands for a new user: `make demo` and `make test`. Both create .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench install clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

DEMO_METERS := --meter examples/meters/dn15-class2.yaml --meter examples/meters/dn15-class2-sample2.yaml \
               --meter examples/meters/dn15-class2-sample3.yaml

# The metrology core on one point, then the R 49 intrinsic-error programme on the simulated lab with
# three meters in series (records in out/demo.db).
demo: $(STAMP)
	$(BIN)/meterlab demo
	mkdir -p out
	$(BIN)/meterlab run procedures/r49/intrinsic-error.yaml $(DEMO_METERS) \
		--scenario examples/scenarios/demo-three-meters.yaml --db out/demo.db --operator demo --yes

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache
