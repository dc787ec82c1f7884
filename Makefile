.PHONY: run test lint bench stack-up stack-down install lock

# Everything runs in .venv/ (made by scripts/install.sh with the machine's python3).
PY := .venv/bin/python

run:        ## install what is missing, start Keycloak + Mongo + Amazon stand-in, seed, serve on :8080
	bash scripts/run.sh

test:       ## install what is missing, start the real stack, run every test, stop what was started
	bash scripts/test.sh

lint:       ## formatting, lint rules and strict typing (what .pre-commit-config.yaml runs)
	bash scripts/install.sh
	$(PY) -m ruff format --check service tests bench scripts
	$(PY) -m ruff check service tests bench scripts
	$(PY) -m mypy

bench:
	bash scripts/bench.sh

install:    ## .venv with the package (editable, dev extras) and chromium for the browser tests
	bash scripts/install.sh --with-browser

# After changing [project] dependencies; `make lock LOCK_ARGS=--upgrade` moves every pin to the
# newest release (pip-compile otherwise keeps the pins that still fit).
lock:       ## re-resolve requirements.lock (runtime dependencies, with hashes) from pyproject.toml
	tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	python3 -m venv "$$tmp" && "$$tmp/bin/python" -m pip install -q pip-tools && \
	CUSTOM_COMPILE_COMMAND="make lock" "$$tmp/bin/pip-compile" -q $(LOCK_ARGS) \
		--generate-hashes --allow-unsafe --strip-extras --no-emit-index-url \
		--no-emit-find-links -o requirements.lock pyproject.toml

stack-up:   ## Keycloak and the Mongo-protocol server alone (stack.sh pings Mongo with the venv's python3)
	bash scripts/install.sh
	PATH="$(CURDIR)/.venv/bin:$$PATH" bash scripts/stack.sh up

stack-down:
	PATH="$(CURDIR)/.venv/bin:$$PATH" bash scripts/stack.sh down
