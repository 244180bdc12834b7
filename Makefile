# The two commands a newcomer needs: `make demo` and `make test`. Both set themselves up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The browser tests drive Debian's Chromium; Playwright never downloads a browser of its own.
CHROMIUM := /usr/bin/chromium
SSHD := /usr/sbin/sshd
RUNC := /usr/sbin/runc
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: demo test lint typecheck smoke unit bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

$(CHROMIUM):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium

# The several-hosts tests reach each host's tasks by ssh (`task run`, `task ssh`), as people do.
$(SSHD):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq openssh-server

# Tasks in images: runc runs them, skopeo pulls and umoci unpacks images, catatonit holds each
# container open; the tests build images from busybox-static and serve them with the
# distribution registry.
$(RUNC):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq runc skopeo umoci catatonit \
		busybox-static docker-registry

demo: $(STAMP)
	$(BIN)/python -m daybreak.demo

lint: $(STAMP)
	$(BIN)/ruff check
	$(BIN)/ruff format --check

typecheck: $(STAMP)
	$(BIN)/mypy

# Four workers on two cores: the end-to-end tests mostly wait on real processes. Work-stealing
# keeps the last minutes from running on one worker (838 s with the default, 576 s with it).
unit: $(STAMP) $(CHROMIUM) $(SSHD) $(RUNC)
	$(BIN)/pytest -n 4 --dist worksteal

# The package as a user installs it: the wheel in a fresh virtualenv runs the example job.
smoke: $(STAMP)
	$(BIN)/python tests/smoke_wheel.py

test: lint typecheck smoke unit

# The fleet benchmark's full size (5,000 agents, 100,000 instances) is run by hand.
bench: $(STAMP)
	@for script in benchmarks/*.py; do [ -e "$$script" ] || continue; \
		extra=; [ "$$script" = benchmarks/fleet.py ] && extra=--quick; \
		echo "== $$script $$extra"; $(BIN)/python $$script $$extra; done

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis test-output
