.PHONY: run test lint bench stack-up stack-down install

run:        ## install what is missing, start Keycloak + Mongo + Amazon stand-in, seed, serve on :8080
	bash scripts/run.sh

test:       ## install what is missing, start the real stack, run every test, stop what was started
	bash scripts/test.sh

lint:       ## formatting, lint rules and strict typing (what .pre-commit-config.yaml runs)
	ruff format --check service tests bench scripts
	ruff check service tests bench scripts
	mypy

bench:
	bash scripts/bench.sh

install:
	bash scripts/install.sh --with-browser

stack-up:
	bash scripts/stack.sh up

stack-down:
	bash scripts/stack.sh down
