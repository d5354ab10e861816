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
	$(PIP) install --quiet --disable-pip-version-check -e '.[score,dev,teacher,serve,onnx]'
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

# The embedded default (egs2/kokoro_en, natural-voice English made offline by the Kokoro
# teacher): stages 1-9 on a small corpus with a few minutes of MVC training to show the
# pipeline, then the shipped reference model (espnet_mvc/pretrained/kokoro_en_mvc) reads
# the held-out sentences and is scored against the corpus recordings (the quality bar),
# and clones the real people of the real-voice set (local/realvoice.sh: Debian packages
# fetched by apt-get download, extraction only).
DEMO_OPTS ?=
# (its own corpus, data, dump and exp dirs: a full run of the recipe beside it is left alone)
DEMO_DATA_OPTS ?= --n_utts_per_spk 2 --n_blends 4 --n_warped 2 --n_eval_utts 1 --n_zeroshot_utts 2
demo: install
	cd egs2/kokoro_en/tts1 && ./run.sh --stage 1 --stop_stage 9 \
		--python "$(abspath $(PY))" \
		--local_data_opts "$(DEMO_DATA_OPTS) --corpus_dir downloads/kokoro_en_demo --data_dir data_demo" \
		--datadir data_demo --dumpdir dump_demo --expdir exp_demo \
		--train_config conf/tuning/train_mvc_demo.yaml \
		--vocoder_file "$(abspath espnet_mvc/pretrained/kokoro_en_mvc/vocoder.pth)" $(DEMO_OPTS)
	cd egs2/kokoro_en/tts1 && ./local/realvoice.sh --python "$(abspath $(PY))" \
		|| echo "WARNING: no real-voice set (see above): benchmark quality skips its real-voice lines"
	$(PY) -m espnet_mvc.bin.benchmark quality --quick

test: install
	$(PY) -m pytest -q tests

bench: install
	$(PY) -m espnet_mvc.bin.benchmark scan --quick

clean-venv:
	rm -rf $(VENV)
