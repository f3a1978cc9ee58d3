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

.PHONY: screenshots

# Screenshots of the main pages at desktop and phone widths into ./screenshots/ (not committed).
screenshots:
	scripts/venv.sh
	scripts/services.sh chromium
	.venv/bin/python scripts/screenshots.py

.PHONY: bench

# Every benchmark in bench/ (the HTTP ones start PostgreSQL and Redis when missing, and their
# own simulator, database and gunicorn). Figures are wall-clock: run on an otherwise idle machine.
# bench_graph_client.py measures msgraph-sdk, the optional "bench" extra (never the app's).
bench:
	scripts/services.sh postgres redis
	@.venv/bin/python -c "import msgraph" 2>/dev/null || .venv/bin/pip install -q -e '.[bench]'
	@set -e; for script in bench/bench_*.py; do \
		echo "== $$script"; .venv/bin/python $$script; echo; \
	done

.PHONY: bench-team

# Team pages alone (about two minutes; `make bench` runs it too): a 20-member round-robin
# page's slots API over EWS and Graph against its goals, the per-owner cache shared with a
# member's own page, and the pure engine for 20 members x 90 days.
bench-team:
	scripts/services.sh postgres redis
	.venv/bin/python bench/bench_team.py

.PHONY: load

# The issue-7 load test (about 3 minutes, loopback only): slots and bookings on gunicorn +
# PostgreSQL + Redis + a Celery worker, with Exchange down for 30 s and the worker SIGKILLed;
# prints throughput and latency as ratios to /healthz, and fails on any 500, lost booking or
# duplicated event. Run it on an otherwise idle machine.
load:
	scripts/services.sh postgres redis
	.venv/bin/python bench/load_test.py

# Refresh the translation catalogs from the code and templates, then compile them (both the
# .po files and the .mo files are committed: tests/test_languages.py checks they agree).
.PHONY: messages
messages: venv
	DEBUG=True .venv/bin/python manage.py makemessages -l de -l fr -i ".venv/*" -i "var/*" -i "tests/*" -i "bench/*"
	DEBUG=True .venv/bin/python manage.py makemessages -d djangojs -l de -l fr -i ".venv/*" -i "var/*" -i "tests/*" -i "bench/*" -i "static/admin/*"
	DEBUG=True .venv/bin/python manage.py compilemessages -i ".venv" -i "var"
