.PHONY: run test venv lint format

# Set up and run the app on embedded defaults with the Exchange simulator and demo data.
run:
	scripts/run-demo.sh

# The whole test suite (installs and starts PostgreSQL, Redis and Chromium when missing).
test:
	scripts/test.sh

venv:
	scripts/venv.sh

lint:
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

format:
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .
