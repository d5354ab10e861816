# Two entry points (see README): `make demo` and `make test`.
# Both create or reuse .venv and install the project from its own files.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
# pip 23.2 (the one a Python 3.11 venv ships) accepts the ci_sdr sdist that espnet needs;
# newer pips refuse it, so the venv's pip is never upgraded here.
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: install demo test bench clean-venv

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PIP) install --quiet --disable-pip-version-check -e '.[score,dev]'
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

# The embedded default: a small espeak-ng corpus made offline (4 languages, several
# voices), MVC trained for a CPU budget, decoded and scored (stages 1-8).
DEMO_OPTS ?=
demo: install
	cd egs2/mini_espeak/tts1 && ./run.sh --stage 1 --stop_stage 8 \
		--python "$(abspath $(PY))" $(DEMO_OPTS)

test: install
	$(PY) -m pytest -q tests

bench: install
	$(PY) -m espnet_mvc.bin.benchmark scan --quick

clean-venv:
	rm -rf $(VENV)
