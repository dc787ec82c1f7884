.PHONY: run test fuzz lint bench stack-up stack-down install lock messages

# Everything runs in .venv/ (made by scripts/install.sh with the machine's python3).
PY := .venv/bin/python

run:        ## install what is missing, start Keycloak + Mongo + Amazon stand-in, seed, serve on :8080
	bash scripts/run.sh

test:       ## install what is missing, start the real stack, run every test, stop what was started
	bash scripts/test.sh

# `make test` runs the fuzzers bounded (25 examples per operation and mode, the same ones each
# run); this runs them with FUZZ_EXAMPLES examples and fresh random data each time.
FUZZ_EXAMPLES ?= 500
fuzz:       ## the OpenAPI and OAuth form fuzzers, FUZZ_EXAMPLES (500) examples, random each run
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) bash scripts/test.sh -s \
		tests/linking/test_openapi_fuzz.py tests/test_oauth_form_fuzz.py

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

# After changing a text of the customer pages: the texts extracted into messages.pot (see
# babel.cfg) and merged into every language's messages.po; translate the new ones there
# (an empty msgstr shows the English text), install.sh compiles them. README: "Languages".
messages:   ## extract the pages' texts and merge them into service/locale/*/LC_MESSAGES/messages.po
	bash scripts/install.sh
	.venv/bin/pybabel extract -F babel.cfg -k N_ -k UntrustedRedirect -k BadRequest \
		-k Forbidden -k OidcError --no-location --sort-output --omit-header \
		-o service/locale/messages.pot .
	.venv/bin/pybabel update -i service/locale/messages.pot -d service/locale -D messages \
		--ignore-obsolete --width 100
	.venv/bin/pybabel compile -d service/locale -D messages --statistics

stack-up:   ## Keycloak and the Mongo-protocol server alone (stack.sh pings Mongo with the venv's python3)
	bash scripts/install.sh
	PATH="$(CURDIR)/.venv/bin:$$PATH" bash scripts/stack.sh up

stack-down:
	PATH="$(CURDIR)/.venv/bin:$$PATH" bash scripts/stack.sh down
