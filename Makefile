# Two commands for a new user: `make demo` and `make test`. Both create .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench install clean

# Debian packages WeasyPrint (PDF reports) needs, and the browser the console's tests drive (Playwright cannot
# download its own here); installed when missing and we may (root), else named.
SYSTEM_PACKAGES := libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core chromium

$(STAMP): pyproject.toml
	@missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "PDF reports and the console's browser tests need these system packages:$$missing (sudo apt-get install$$missing)"; fi; \
	fi
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
	$(BIN)/python -m pytest -q -n auto --dist worksteal

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache
