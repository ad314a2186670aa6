# The two commands a new user needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test install migrate bench bench-entries clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

migrate: install
	$(PY) manage.py migrate --noinput

# Web on :8000, a django-q2 worker and the local Pinterest sandbox on :8001, until Ctrl-C.
run: migrate
	$(PY) manage.py demo_setup
	$(PY) manage.py run_local

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

bench: install
	$(PY) bench/bench_sync.py

bench-entries: install
	$(PY) bench/entries.py

clean:
	rm -rf $(VENV) db.sqlite3* test-db.sqlite3*
