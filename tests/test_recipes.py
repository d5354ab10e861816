"""Recipe machinery: tts.sh stages on tiny fake corpora laid out like the real ones,
clear errors on bad input, ESPnet --dry_run for every training config, and the embedded
mini_espeak recipe from nothing to synthesized wavs (stages 1-8, ESPnet's current numbers:
1 data, 2 format wav.scp, 3 speaker/language inputs, 4 filter, 5 token list, 6 collect stats,
7 train, 8 decode, 9 score, 10 pack, 11 upload).

Every recipe runs in a copy under tmp_path whose tts.sh/path.sh/scripts are symlinks to
egs2/TEMPLATE/tts1, as in the repository.
"""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

from espnet_mvc.text.espeak import EspeakSynthesizer

ROOT = Path(__file__).resolve().parents[1]
EGS = ROOT / "egs2"
TEMPLATE = EGS / "TEMPLATE" / "tts1"

EN = [
    "The quick brown fox jumps over the lazy dog.",
    "A small boat drifted toward the island.",
    "Please bring a warm coat tonight.",
    "We planted beans behind the house.",
    "The museum opens late on Thursdays.",
    "Snow fell quietly over the village.",
]
TEXTS = {
    "en": EN,
    "es": ["Hola, ¿qué tal estás hoy?", "El tren sale en diez minutos.", "Mañana va a llover.", "La casa es muy bonita."],
    "de": ["Guten Morgen, wie geht es dir?", "Der Zug fährt bald ab.", "Morgen wird es regnen.", "Das Haus ist sehr schön."],
    "fr": ["Bonjour, comment allez-vous ?", "Les amis sont arrivés hier.", "Il va pleuvoir demain.", "La maison est très belle."],
}


def make_recipe(name: str, tmp_path: Path) -> Path:
    """A working copy of egs2/<name>/tts1 with ESPnet-style symlinks to the TEMPLATE."""
    src = EGS / name / "tts1"
    dst = tmp_path / name / "tts1"
    dst.mkdir(parents=True)
    for item in ("local", "conf"):
        shutil.copytree(src / item, dst / item, symlinks=True)
    shutil.copy(src / "run.sh", dst / "run.sh")
    for f in ("tts.sh", "path.sh", "cmd.sh", "db.sh", "scripts"):
        assert (src / f).is_symlink(), f"{src / f} should be a symlink to the TEMPLATE"
        os.symlink(TEMPLATE / f, dst / f)
    return dst


def run(cmd, cwd, timeout=900, env=None):
    e = dict(os.environ)
    e.pop("VIRTUAL_ENV", None)
    e["PATH"] = str(Path(sys.executable).parent) + os.pathsep + e["PATH"]
    e.update(env or {})
    return subprocess.run(
        cmd, cwd=cwd, shell=isinstance(cmd, str), capture_output=True, text=True, timeout=timeout, env=e
    )


def ok(p):
    assert p.returncode == 0, f"exit {p.returncode}\n--- stdout\n{p.stdout[-3000:]}\n--- stderr\n{p.stderr[-6000:]}"
    return p


def fails_with(p, *needles):
    out = p.stdout + p.stderr
    assert p.returncode != 0, f"expected a failure\n{out[-3000:]}"
    for n in needles:
        assert n in out, f"'{n}' not in the error output:\n{out[-3000:]}"


def read_kv(path):
    return dict(line.split(maxsplit=1) for line in Path(path).read_text(encoding="utf-8").splitlines())


@pytest.fixture(scope="module")
def synth():
    cache = {}

    def get(voice):
        if voice not in cache:
            cache[voice] = EspeakSynthesizer(voice)
        return cache[voice]

    return get


# ----------------------------------------------------------------------------------
# fake corpora, laid out exactly like the real ones
# ----------------------------------------------------------------------------------
def fake_ljspeech(root: Path, synth, n=10) -> Path:
    lj = root / "LJSpeech-1.1"
    (lj / "wavs").mkdir(parents=True)
    lines = []
    for i in range(n):
        uid = f"LJ001-{i + 1:04d}"
        text = EN[i % len(EN)]
        synth("en-us+f2").to_file(text, lj / "wavs" / f"{uid}.wav")
        lines.append(f"{uid}|{text}|{text}")
    (lj / "metadata.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return lj


def fake_vctk(root: Path, synth, spks=("p225", "p226", "p227"), n=12) -> Path:
    v = root / "VCTK-Corpus-0.92"
    voices = ["en-us+f2", "en-us+m3", "en+f4", "en-us+m1"]
    for k, spk in enumerate(spks + ("p315",)):
        (v / "wav48_silence_trimmed" / spk).mkdir(parents=True)
        if spk != "p315":
            (v / "txt" / spk).mkdir(parents=True)
        for i in range(n if spk != "p315" else 2):
            uid = f"{spk}_{i + 1:03d}"
            text = EN[(i + k) % len(EN)]
            synth(voices[k % len(voices)]).to_file(
                text, v / "wav48_silence_trimmed" / spk / f"{uid}_mic1.flac", fs=48000
            )
            if spk != "p315":  # p315 has no transcripts in the real corpus
                (v / "txt" / spk / f"{uid}.txt").write_text(text + "\n", encoding="utf-8")
    return v


def fake_css10(root: Path, synth, n=6) -> Path:
    c = root / "css10"
    books = {"es": "don_quijote", "de": "achtgesichterambiwasse", "fr": "les_miserables"}
    voices = {"es": "es+m3", "de": "de+m1", "fr": "fr+f2"}
    for lang, book in books.items():
        (c / lang / book).mkdir(parents=True)
        lines = []
        for i in range(n):
            rel = f"{book}/{book}_{i:04d}.wav"
            text = TEXTS[lang][i % len(TEXTS[lang])]
            dur = synth(voices[lang]).to_file(text, c / lang / rel)
            lines.append(f"{rel}|{text}|{text}|{dur:.2f}")
        (c / lang / "transcript.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return c


# ----------------------------------------------------------------------------------
# option parser
# ----------------------------------------------------------------------------------
def test_parse_options(tmp_path):
    script = tmp_path / "t.sh"
    script.write_text(
        f"""#!/usr/bin/env bash
set -e -u
stage=1; stop_stage=10; use_sid=false; test_sets=""
. {TEMPLATE}/scripts/utils/parse_options.sh
echo "$stage|$stop_stage|$use_sid|$test_sets|$*"
"""
    )
    p = ok(run(["bash", str(script), "--stage", "2", "--stop-stage=7", "--use_sid", "true",
                "--test_sets", "a b", "rest"], tmp_path))
    assert p.stdout.strip() == "2|7|true|a b|rest"
    fails_with(run(["bash", str(script), "--nope", "1"], tmp_path), "unknown option --nope")
    fails_with(run(["bash", str(script), "--use_sid", "yes"], tmp_path), "takes true or false")
    fails_with(run(["bash", str(script), "--stage"], tmp_path), "needs a value")


GAN_MODEL = ["--inference_model", "train.total_count.ave.pth"]
MODEL_OPTS = {  # --tts_task --train_config --feats_extract --feats_normalize, per system
    "mvc": ["tts", "conf/train.yaml", "fbank", "global_mvn"],
    "mvc_hifigan": ["gan_tts", "conf/tuning/train_joint_mvc_hifigan.yaml", "fbank", "global_mvn"],
    "vits": ["gan_tts", "conf/tuning/train_vits.yaml", "linear_spectrogram", "none"],
    "jets": ["gan_tts", "conf/tuning/train_jets.yaml", "fbank", "global_mvn"],
}


def expected_model_opts(recipe, model):
    """The options run.sh appends for --model, as each recipe has always passed them."""
    task, config, feats, norm = MODEL_OPTS[model]
    opts = ["--tts_task", task, "--train_config", config, "--feats_extract", feats,
            "--feats_normalize", norm]
    if recipe == "mini_espeak":
        opts += ["--use_sid", "false" if model == "mvc" else "true", "--use_lid", "true"]
    elif recipe == "vctk" and model in ("vits", "jets"):
        opts += ["--use_sid", "true"]
    return opts + (GAN_MODEL if model != "mvc" else [])


@pytest.mark.parametrize("recipe", ["ljspeech", "vctk", "css10", "mini_espeak"])
def test_run_sh_model_selection(recipe, tmp_path):
    """run.sh --model (scripts/select_model.sh): the options given to tts.sh per system, the
    other arguments after them in order, and clear errors."""
    d = make_recipe(recipe, tmp_path)
    (d / "tts.sh").unlink()
    (d / "tts.sh").write_text('#!/usr/bin/env bash\nprintf "%s\\n" "$@"\n')
    (d / "tts.sh").chmod(0o755)
    models = ["mvc", "vits", "jets"] + ([] if recipe == "mini_espeak" else ["mvc_hifigan"])
    for model in models:
        for form in (["--model", model], [f"--model={model}"]):
            argv = ok(run(["./run.sh", "--stage", "3"] + form + ["--x", "a b"], d)).stdout.splitlines()
            opts = expected_model_opts(recipe, model)
            assert argv[-len(opts) - 4:] == opts + ["--stage", "3", "--x", "a b"], (model, argv)
            fs = argv[argv.index("--fs") + 1]
            if recipe == "vctk":  # ESPnet's VCTK protocol: VITS at 22.05 kHz, the others at 24
                assert argv[argv.index("--dumpdir") + 1] == f"dump/{fs}"
                assert fs == ("22050" if model == "vits" else "24000"), model
                assert argv[argv.index("--n_shift") + 1] == ("256" if model == "vits" else "300")
            else:
                assert fs == "22050"
    default = ok(run(["./run.sh"], d)).stdout.splitlines()
    mvc = expected_model_opts(recipe, "mvc")
    assert default[-len(mvc):] == mvc
    listed = "mvc, vits or jets" if recipe == "mini_espeak" else "mvc, mvc_hifigan, vits or jets"
    p = run(["./run.sh", "--model", "tacotron2"], d)
    assert p.returncode == 2 and f"unknown --model 'tacotron2' ({listed})" in p.stderr
    if recipe == "mini_espeak":
        assert run(["./run.sh", "--model", "mvc_hifigan"], d).returncode == 2
    p = run(["./run.sh", "--stage", "1", "--model"], d)
    assert p.returncode == 2 and "--model needs a value" in p.stderr


def test_tts_sh_help_and_required(tmp_path):
    d = make_recipe("ljspeech", tmp_path)
    p = ok(run(["./tts.sh", "--help"], d))
    assert "--stop_stage" in p.stdout and "--g2p" in p.stdout
    fails_with(run(["./tts.sh", "--stage", "3"], d), "--train_set is required")


def test_tts_sh_needs_a_python_that_imports_espnet_mvc(tmp_path):
    """The stages run python -m espnet_mvc...: a --python without the package stops first."""
    d = make_recipe("ljspeech", tmp_path)
    bare = tmp_path / "bare_python"  # -I -S: neither PYTHONPATH nor any site-packages
    bare.write_text(f'#!/bin/sh\nexec {sys.executable} -I -S "$@"\n')
    bare.chmod(0o755)
    fails_with(run(["./run.sh", "--stage", "2", "--python", str(bare)], d),
               f"espnet_mvc cannot be imported by {bare}: ModuleNotFoundError", "--python")


# ----------------------------------------------------------------------------------
# LJSpeech
# ----------------------------------------------------------------------------------
def test_ljspeech_stages_1_2(tmp_path, synth):
    lj = fake_ljspeech(tmp_path / "corpus", synth)
    d = make_recipe("ljspeech", tmp_path)
    ok(run(["./run.sh", "--stage", "1", "--stop-stage", "2", "--nj", "2",
            "--local_data_opts", f"--db_root {lj.parent} --n_dev 2 --n_eval 2"], d))
    tr = read_kv(d / "data/tr_no_dev/wav.scp")
    assert len(tr) == 6 and len(read_kv(d / "data/dev/text")) == 2
    assert sorted(read_kv(d / "data/eval1/text")) == ["LJ001-0009", "LJ001-0010"]  # ESPnet: last ones
    dump = d / "dump/raw/org/tr_no_dev"
    scp = read_kv(dump / "wav.scp")
    assert len(scp) == 6
    wav, sr = sf.read(d / scp["LJ001-0001"])
    assert sr == 22050 and len(wav) > 22050 * 0.5
    assert read_kv(dump / "utt2num_samples")["LJ001-0001"] == str(len(wav))
    assert (d / "dump/raw/eval1/wav.scp").is_file()
    assert not list(d.glob("dump/raw/**/*.tmp"))  # nothing half-written left


def test_ljspeech_stage2_resamples_and_rerun_is_safe(tmp_path, synth):
    lj = fake_ljspeech(tmp_path / "corpus", synth, n=6)
    d = make_recipe("ljspeech", tmp_path)
    args = ["./run.sh", "--stage", "1", "--stop-stage", "4", "--nj", "2", "--fs", "16000",
            "--local_data_opts", f"--db_root {lj} --n_dev 1 --n_eval 1"]
    ok(run(args, d))
    ok(run(args, d))  # re-running finished stages is safe
    scp = read_kv(d / "dump/raw/tr_no_dev/wav.scp")
    assert len(scp) == 4
    assert sf.info(str(d / next(iter(scp.values())))).samplerate == 16000
    # stage 2 refuses to upsample, naming the stage, the scp and the utterance
    p = run(["./run.sh", "--stage", "2", "--stop-stage", "2", "--fs", "44100"], d)
    fails_with(p, "ERROR [stage 2]", "sample rate 22050 Hz is below --fs 44100", "wav.scp")


def test_slurm_backend_wraps_jobs_in_srun(tmp_path, synth):
    lj = fake_ljspeech(tmp_path / "corpus", synth, n=6)
    d = make_recipe("ljspeech", tmp_path)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "srun").write_text(
        "#!/usr/bin/env bash\n"
        'echo "srun $*" >> "$SRUN_LOG"\n'
        'while [ $# -gt 0 ]; do case "$1" in --*) shift ;; *) break ;; esac; done\n'
        'exec "$@"\n'
    )
    (bindir / "srun").chmod(0o755)
    log = tmp_path / "srun.log"
    env = {"PATH": f"{bindir}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "SRUN_LOG": str(log)}
    ok(run(["./run.sh", "--stage", "1", "--stop-stage", "2", "--nj", "2", "--cmd_backend", "slurm",
            "--slurm_opts", "--partition=cpu", "--local_data_opts", f"--db_root {lj} --n_dev 1 --n_eval 1"],
           d, env=env))
    calls = log.read_text().splitlines()
    assert len(calls) == 2 + 1 + 1  # tr_no_dev: 2 jobs; dev, eval1: 1 utterance -> 1 job each
    assert all("--job-name=format_" in c and "--partition=cpu" in c
               and "-m espnet_mvc.recipe.format_wav" in c for c in calls)
    assert len(read_kv(d / "dump/raw/org/tr_no_dev/wav.scp")) == 4


def test_ljspeech_missing_corpus(tmp_path):
    d = make_recipe("ljspeech", tmp_path)
    missing = tmp_path / "nowhere"
    p = run(["./run.sh", "--stage", "1", "--stop-stage", "1", "--local_data_opts", f"--db_root {missing}"], d)
    fails_with(p, "LJSpeech not found at", str(missing), "ERROR [stage 1]")


def test_ljspeech_download_failure_is_clear_and_quick(tmp_path):
    d = make_recipe("ljspeech", tmp_path)
    p = run(["bash", "local/data.sh", "--db_root", "downloads",
             "--url", "http://127.0.0.1:9/LJSpeech-1.1.tar.bz2"], d, timeout=120)
    fails_with(p, "cannot reach", "db_root")


def test_ljspeech_wrong_layout(tmp_path):
    d = make_recipe("ljspeech", tmp_path)
    bad = tmp_path / "bad" / "LJSpeech-1.1"
    (bad / "wavs").mkdir(parents=True)
    fails_with(run(["bash", "local/data.sh", "--db_root", str(bad)], d), "metadata.csv not found")


def test_ljspeech_unreadable_and_wrong_rate(tmp_path, synth):
    lj = fake_ljspeech(tmp_path / "c1", synth, n=6)
    (lj / "wavs" / "LJ001-0003.wav").write_bytes(b"this is not a wav file at all" * 10)
    d = make_recipe("ljspeech", tmp_path)
    p = run(["bash", "local/data.sh", "--db_root", str(lj), "--n_dev", "1", "--n_eval", "1"], d)
    fails_with(p, "unreadable audio", "LJ001-0003.wav")

    lj2 = fake_ljspeech(tmp_path / "c2", synth, n=6)
    sf.write(lj2 / "wavs" / "LJ001-0002.wav", np.zeros(16000, dtype=np.float32) + 0.1, 16000)
    p = run(["bash", "local/data.sh", "--db_root", str(lj2), "--n_dev", "1", "--n_eval", "1"], d)
    fails_with(p, "LJ001-0002.wav has sample rate 16000 Hz, expected 22050 Hz")

    lj3 = fake_ljspeech(tmp_path / "c3", synth, n=6)
    (lj3 / "wavs" / "LJ001-0004.wav").write_bytes(b"")
    p = run(["bash", "local/data.sh", "--db_root", str(lj3), "--n_dev", "1", "--n_eval", "1"], d)
    fails_with(p, "empty audio file", "LJ001-0004.wav")


# ----------------------------------------------------------------------------------
# VCTK
# ----------------------------------------------------------------------------------
def test_vctk_stages_1_2(tmp_path, synth):
    v = fake_vctk(tmp_path / "corpus", synth)
    d = make_recipe("vctk", tmp_path)
    ok(run(["./run.sh", "--stage", "1", "--stop-stage", "2", "--nj", "2", "--local_data_opts",
            f"--db_root {v} --zeroshot_speakers p225 --n_zeroshot 3 --n_dev 2 --n_eval 2"], d))
    tr = read_kv(d / "data/tr_no_dev/utt2spk")
    assert set(tr.values()) == {"p226", "p227"}  # held-out p225 and text-less p315 not trained on
    assert len(tr) == 2 * (12 - 4)
    ev = read_kv(d / "data/eval1/utt2spk")
    assert sorted(ev) == ["p226_009", "p226_010", "p227_009", "p227_010"]
    zs = read_kv(d / "data/test_zeroshot/utt2spk")
    assert set(zs.values()) == {"p225"} and len(zs) == 3
    refs = read_kv(d / "data/test_zeroshot/ref.scp")
    assert all("p225" in r and not r.endswith(f"{u}_mic1.flac") for u, r in refs.items())
    # 24 kHz dump (ESPnet's VCTK protocol), one dump per sampling rate
    scp = read_kv(d / "dump/24000/raw/test_zeroshot/wav.scp")
    assert sf.info(str(d / next(iter(scp.values())))).samplerate == 24000
    ref = read_kv(d / "dump/24000/raw/test_zeroshot/ref.scp")
    assert sf.info(str(d / next(iter(ref.values())))).samplerate == 24000


def test_vctk_stage3_speaker_ids_and_embeddings(tmp_path, synth):
    """Stage 3 (ESPnet's): speaker ids and Resemblyzer embeddings on the stage-2 dumps, before
    the filter; stage 4 keeps those of the utterances it keeps."""
    pytest.importorskip("resemblyzer", reason="Resemblyzer (the [score] extra) not installed")
    import kaldiio

    from espnet_mvc.metrics.speaker import embed

    v = fake_vctk(tmp_path / "corpus", synth, n=6)
    d = make_recipe("vctk", tmp_path)
    common = ["--nj", "1", "--use_sid", "true", "--use_spk_embed", "true"]
    p = ok(run(["./run.sh", "--stage", "1", "--stop-stage", "3"] + common + ["--local_data_opts",
               f"--db_root {v} --zeroshot_speakers p225 --n_zeroshot 2 --n_dev 1 --n_eval 1"], d))
    assert "Stage 3: Speaker and language inputs" in p.stderr
    raw, emb = d / "dump/24000/raw", d / "dump/24000/resemblyzer"
    assert not (raw / "tr_no_dev").exists()  # the filter is stage 4
    org_sid = read_kv(raw / "org/tr_no_dev/utt2sid")
    assert set(org_sid.values()) == {"1", "2"} and read_kv(raw / "org/tr_no_dev/spk2sid")["<unk>"] == "0"
    assert set(read_kv(raw / "test_zeroshot/utt2sid").values()) == {"0"}  # unseen speaker
    assert read_kv(emb / "org/tr_no_dev/resemblyzer.scp").keys() == org_sid.keys()
    # drop the shorter training utterances (keeping one of dev): stage 4 keeps the ids and
    # embeddings of the rest
    n = {u: int(x) for u, x in read_kv(raw / "org/tr_no_dev/utt2num_samples").items()}
    dev_max = max(int(x) for x in read_kv(raw / "org/dev/utt2num_samples").values())
    limit = min(sorted(n.values())[len(n) // 2 - 1] + 24, dev_max) / 24000
    ok(run(["./run.sh", "--stage", "4", "--stop-stage", "4", "--min_wav_duration", f"{limit:.4f}"] + common, d))
    kept = read_kv(raw / "tr_no_dev/wav.scp").keys()
    assert 0 < len(kept) < len(n)
    assert read_kv(raw / "tr_no_dev/utt2sid").keys() == kept

    def vectors(scp):  # the scps name their arks relative to the recipe
        return {u: kaldiio.load_mat(str(d / a)) for u, a in read_kv(scp).items()}

    vecs = vectors(emb / "tr_no_dev/resemblyzer.scp")
    assert sorted(vecs) == sorted(kept)
    assert (emb / "tr_no_dev/embed_dim").read_text().strip() == "256"
    for x in vecs.values():
        assert x.shape == (256,) and x.dtype == np.float32 and abs(np.linalg.norm(x) - 1) < 1e-4
    # a zero-shot utterance's embedding is of its voice reference, not of the audio to predict
    u, ref = next(iter(read_kv(raw / "test_zeroshot/ref.scp").items()))
    wav, fs = sf.read(d / ref, dtype="float32")
    assert np.allclose(vectors(emb / "test_zeroshot/resemblyzer.scp")[u], embed(wav, fs)[0], atol=1e-5)
    # a config is checked against the embeddings before stage 6 does any work
    from espnet_mvc.recipe import datadir

    conf = tmp_path / "c.yaml"
    for tts_conf, dim, msg in (
        ("{adim: 8}", 256, "sets no spk_embed_dim; set spk_embed_dim: 256"),
        ("{spk_embed_dim: 192}", 256, "spk_embed_dim=192 but the speaker embeddings have 256 dims"),
        ("{spk_embed_dim: 256}", 0, "needs speaker embeddings: run from stage 3 with --use_spk_embed true"),
    ):
        conf.write_text(f"tts: mvc\ntts_conf: {tts_conf}\n")
        with pytest.raises(datadir.DataDirError, match=msg):
            datadir.check_config(conf, raw / "tr_no_dev", False, False, dim)
    conf.write_text("tts: mvc\ntts_conf: {spk_embed_dim: 256}\n")
    datadir.check_config(conf, raw / "tr_no_dev", False, False, 256)  # fits


def test_vctk_wrong_layout(tmp_path):
    d = make_recipe("vctk", tmp_path)
    bad = tmp_path / "VCTK-Corpus"
    (bad / "wav48").mkdir(parents=True)  # the old 0.80 layout
    p = run(["bash", "local/data.sh", "--db_root", str(bad)], d)
    fails_with(p, "wav48_silence_trimmed", "not found")


# ----------------------------------------------------------------------------------
# CSS10
# ----------------------------------------------------------------------------------
def test_css10_stages_1_5_per_language_phonemes(tmp_path, synth):
    c = fake_css10(tmp_path / "corpus", synth)
    d = make_recipe("css10", tmp_path)
    ok(run(["./run.sh", "--stage", "1", "--stop-stage", "5", "--nj", "2",
            "--local_data_opts", f"--db_root {c} --n_dev 1 --n_eval 1"], d))
    u2l = read_kv(d / "data/tr_no_dev/utt2lang")
    assert sorted(set(u2l.values())) == ["de", "es", "fr"] and len(u2l) == 12
    phn = read_kv(d / "dump/raw/tr_no_dev/text_phn")
    fr = [v for k, v in phn.items() if k.startswith("css10_fr")]
    assert fr and not any(t.endswith("-") for v in fr for t in v.split())  # liaison stripped
    es = next(v for k, v in phn.items() if k.startswith("css10_es"))
    assert "ˈ" in es  # espeak stress marks: phonemes, not letters
    tokens = (d / "data/token_list/phn_none_espeak_ng_multilingual/tokens.txt").read_text().split("\n")
    assert tokens[:2] == ["<blank>", "<unk>"] and tokens[-2] == "<sos/eos>"
    # stage 3 made the language ids before the filter (stage 4), which carried them over
    lang2lid = read_kv(d / "dump/raw/tr_no_dev/lang2lid")
    assert lang2lid["<unk>"] == "0" and set(lang2lid) == {"<unk>", "de", "es", "fr"}
    assert lang2lid == read_kv(d / "dump/raw/org/tr_no_dev/lang2lid")
    assert read_kv(d / "dump/raw/tr_no_dev/utt2lid").keys() == read_kv(d / "dump/raw/tr_no_dev/wav.scp").keys()
    assert set(read_kv(d / "dump/raw/eval1/utt2lid").values()) <= {"1", "2", "3"}


def test_css10_missing_corpus_and_language(tmp_path, synth):
    d = make_recipe("css10", tmp_path)
    p = run(["bash", "local/data.sh"], d, env={"CSS10": ""})
    fails_with(p, "CSS10 location unknown", "Kaggle")
    c = fake_css10(tmp_path / "corpus", synth, n=4)
    shutil.rmtree(c / "de")
    p = run(["bash", "local/data.sh", "--db_root", str(c), "--n_dev", "1", "--n_eval", "1"], d)
    fails_with(p, "CSS10 de: transcript.txt not found", str(c / "de" / "transcript.txt"))


# ----------------------------------------------------------------------------------
# every training config passes ESPnet's --dry_run
# ----------------------------------------------------------------------------------
CONFIGS = sorted(
    str(p.relative_to(EGS)) for p in EGS.glob("*/tts1/conf/tuning/train_*.yaml")
)


def _fake_stats(path: Path, dim: int):
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, count=np.array(100.0), sum=np.zeros(dim), sum_square=np.full(dim, 100.0))


def random_weight_exp(system: str, tmp: Path, symbols, name: str = "exp") -> Path:
    """A randomly initialised (seed 0) exp dir of mini_espeak's ``train_<system>.yaml`` as the
    recipe's trainer writes it: ``config.yaml`` + ``model.pth``, with faked global_mvn
    statistics and the token list ``<blank> <unk> *symbols <sos/eos>``."""
    import torch
    import yaml
    from espnet2.tasks.gan_tts import GANTTSTask
    from espnet2.tasks.tts import TTSTask

    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "tokens.txt").write_text("\n".join(["<blank>", "<unk>", *symbols, "<sos/eos>"]) + "\n")
    for stats, dim in (("feats", 80), ("pitch", 1), ("energy", 1)):
        _fake_stats(tmp / f"{stats}_stats.npz", dim)
    task, args = dry_run_args(f"mini_espeak/tts1/conf/tuning/train_{system}.yaml", tmp)
    del args[args.index("--dry_run"):args.index("--dry_run") + 2]
    args += ["--train_data_path_and_name_and_type", "x,text,text",
             "--valid_data_path_and_name_and_type", "x,text,text",
             "--train_shape_file", "x", "--valid_shape_file", "x"]
    task = GANTTSTask if task == "gan_tts" else TTSTask
    targs = task.get_parser().parse_args(args)
    torch.manual_seed(0)
    model = task.build_model(targs)
    exp = tmp / name
    exp.mkdir()
    torch.save(model.state_dict(), exp / "model.pth")
    (exp / "config.yaml").write_text(yaml.safe_dump(vars(targs)))
    return exp


def dry_run_args(config: str, tmp: Path):
    """(task, argv) as tts.sh would run the trainer for this config, plus --dry_run true."""
    import yaml

    path = EGS / config
    conf = yaml.safe_load(path.read_text())
    task = "gan_tts" if conf["tts"] in ("vits", "jets", "joint_text2wav") else "tts"
    # feature protocol of the recipe the config belongs to (what its run.sh passes)
    recipe = config.split("/")[0]
    fs, n_fft, hop, win = 22050, 1024, 256, "null"
    if recipe == "vctk" and conf["tts"] != "vits":
        fs, n_fft, hop, win = 24000, 2048, 300, 1200
    if recipe == "kokoro_en":  # every system at the corpus's 24 kHz / hop 300
        fs, n_fft, hop, win = 24000, 1024, 300, 1024
    if conf["tts"] == "vits":
        fe, norm = "linear_spectrogram", "none"
        fe_conf = [f"n_fft={n_fft}", f"hop_length={hop}", f"win_length={win}"]
    else:
        fe, norm = "fbank", "global_mvn"
        fe_conf = [f"n_fft={n_fft}", f"hop_length={hop}", f"win_length={win}", f"fs={fs}",
                   "fmin=80", "fmax=7600", "n_mels=80"]
    args = ["--config", str(path), "--dry_run", "true", "--token_list", str(tmp / "tokens.txt"),
            "--output_dir", str(tmp / "exp" / config.replace("/", "_")),
            "--token_type", "phn", "--g2p", "none", "--cleaner", "none", "--use_preprocessor", "true",
            "--feats_extract", fe, "--normalize", norm, "--ngpu", "0"]
    for c in fe_conf:
        args += ["--feats_extract_conf", c]
    if norm == "global_mvn":
        args += ["--normalize_conf", f"stats_file={tmp / 'feats_stats.npz'}"]
    if conf.get("pitch_extract"):
        args += ["--pitch_normalize_conf", f"stats_file={tmp / 'pitch_stats.npz'}",
                 "--energy_normalize_conf", f"stats_file={tmp / 'energy_stats.npz'}"]
    return task, args


DRY_RUNNER = """
import json, sys, traceback
import espnet_mvc  # registers the plugin, as espnet_mvc.espnet.tts_train does
from espnet2.tasks.tts import TTSTask
from espnet2.tasks.gan_tts import GANTTSTask
jobs = json.load(open(sys.argv[1]))
res = {}
for name, (task, args) in jobs.items():
    try:
        (GANTTSTask if task == "gan_tts" else TTSTask).main(cmd=args)
        res[name] = "ok"
    except SystemExit as e:
        res[name] = f"SystemExit {e.code}"
    except Exception:
        res[name] = traceback.format_exc()[-3000:]
json.dump(res, open(sys.argv[2], "w"))
"""


@pytest.fixture(scope="module")
def dry_runs(tmp_path_factory):
    """ESPnet's --dry_run for every config, in one process (ESPnet imports once)."""
    import json

    tmp = tmp_path_factory.mktemp("dry_run")
    (tmp / "tokens.txt").write_text(
        "\n".join(["<blank>", "<unk>"] + [f"p{i}" for i in range(60)] + ["<sos/eos>"]) + "\n"
    )
    _fake_stats(tmp / "feats_stats.npz", 80)
    _fake_stats(tmp / "pitch_stats.npz", 1)
    _fake_stats(tmp / "energy_stats.npz", 1)
    jobs = {c: dry_run_args(c, tmp) for c in CONFIGS}
    (tmp / "jobs.json").write_text(json.dumps(jobs))
    (tmp / "runner.py").write_text(DRY_RUNNER)
    p = run([sys.executable, str(tmp / "runner.py"), str(tmp / "jobs.json"), str(tmp / "res.json")],
            tmp, timeout=1800)
    ok(p)
    return json.loads((tmp / "res.json").read_text())


@pytest.mark.parametrize("config", CONFIGS)
def test_config_dry_run(config, dry_runs):
    assert dry_runs[config] == "ok", dry_runs[config]


def test_dry_run_cli_entry_point(tmp_path):
    """The same check through the command line tts.sh uses."""
    (tmp_path / "tokens.txt").write_text("\n".join(["<blank>", "<unk>", "a", "b", "c", "<sos/eos>"]) + "\n")
    for n, d in (("feats", 80), ("pitch", 1), ("energy", 1)):
        _fake_stats(tmp_path / f"{n}_stats.npz", d)
    task, args = dry_run_args("mini_espeak/tts1/conf/tuning/train_mvc_tiny.yaml", tmp_path)
    train = [sys.executable, "-m", "espnet_mvc.espnet.tts_train", "--task", task]
    ok(run(train + args, tmp_path, timeout=600))
    # a broken config is reported, not silently accepted
    bad = tmp_path / "bad.yaml"
    bad.write_text("tts: mvc\ntts_conf:\n    no_such_option: 1\n")
    args[args.index("--config") + 1] = str(bad)
    p = run(train + args, tmp_path, timeout=600)
    assert p.returncode != 0


def test_every_recipe_has_its_configs():
    for r in ("ljspeech", "vctk", "css10"):
        for c in ("train_mvc", "train_joint_mvc_hifigan", "train_vits", "train_jets"):
            assert f"{r}/tts1/conf/tuning/{c}.yaml" in CONFIGS
        assert (EGS / r / "tts1/conf/decode.yaml").is_file()
    for c in ("train_mvc_cpu", "train_mvc_tiny", "train_vits", "train_jets"):
        assert f"mini_espeak/tts1/conf/tuning/{c}.yaml" in CONFIGS
    # ESPnet's layout: conf/train.yaml links to the recipe's MVC config in conf/tuning/
    default = {"ljspeech": "train_mvc", "vctk": "train_mvc", "css10": "train_mvc",
               "mini_espeak": "train_mvc_cpu", "kokoro_en": "train_mvc_cpu"}
    assert sorted(default) == sorted(p.name for p in EGS.iterdir() if (p / "tts1/run.sh").is_file())
    for r, name in default.items():
        conf = EGS / r / "tts1/conf"
        assert (conf / "train.yaml").resolve() == (conf / "tuning" / f"{name}.yaml").resolve()
        assert sorted(p.name for p in conf.iterdir()) == ["decode.yaml", "train.yaml", "tuning"]
    # the curated results of a recipe: RESULTS.md at its root (figures may sit in results/)
    assert all((EGS / r / "tts1/RESULTS.md").is_file() for r in ("mini_espeak", "kokoro_en"))
    assert not list(EGS.glob("*/tts1/results/RESULTS.md"))


# ----------------------------------------------------------------------------------
# stage 8 timing -> stage 9 RTF, for the baselines the recipes compare MVC with
# ----------------------------------------------------------------------------------
def _rtf_lines(path):
    """{utt: {key: float}} and the run-level peak line of a stage-8 rtf file."""
    per, peak = {}, None
    for line in Path(path).read_text().splitlines():
        tok = line.split()
        if line.startswith("#"):
            continue
        if tok[0] == "peak_mem_mib":
            peak = (float(tok[1]), tok[2])
        else:
            per[tok[0]] = {k: float(v) for k, v in (t.split("=") for t in tok[1:])}
    return per, peak


@pytest.mark.parametrize("system", ["vits", "jets"])
def test_stage8_timing_of_baselines_reaches_the_score(system, tmp_path):
    """ESPnet's VITS / JETS (mini_espeak's configs, random weights) decoded as stage 8 does
    (espnet_mvc.espnet.tts_inference, two jobs, merge_decode): every job times its utterances,
    and stage 9's summary.json and RESULTS.md row carry total synthesis time / total audio."""
    import json

    import torch

    from espnet_mvc.bin import score
    from espnet_mvc.espnet import tts_inference
    from espnet_mvc.recipe import datadir

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        exp = random_weight_exp(system, tmp_path, [f"p{i}" for i in range(60)])
        data = tmp_path / "data"
        data.mkdir()
        utts = {"u1": "p3 p4 p5 p6 p7 p8", "u2": "p10 p11 p12", "u3": "p20 p21 p22 p23 p24 p25 p26 p27"}
        (data / "text").write_text("".join(f"{u} {t}\n" for u, t in utts.items()))
        (data / "utt2sid").write_text("u1 1\nu2 2\nu3 3\n")
        (data / "utt2lid").write_text("u1 1\nu2 2\nu3 1\n")
        tmp, final = tmp_path / "decode" / "test.tmp", tmp_path / "decode" / "test"
        jobs = {1: ["u1", "u2"], 2: ["u3"]}
        for j, keys in jobs.items():
            (tmp / "logs").mkdir(parents=True, exist_ok=True)
            (tmp / "logs" / f"keys.{j}.scp").write_text("".join(f"{u} {utts[u]}\n" for u in keys))
            tts_inference.main([
                "--ngpu", "0", "--key_file", str(tmp / "logs" / f"keys.{j}.scp"),
                "--data_path_and_name_and_type", f"{data / 'text'},text,text",
                "--data_path_and_name_and_type", f"{data / 'utt2sid'},sids,text_int",
                "--data_path_and_name_and_type", f"{data / 'utt2lid'},lids,text_int",
                "--model_file", str(exp / "model.pth"), "--train_config", str(exp / "config.yaml"),
                "--output_dir", str(tmp / "logs" / f"output.{j}"), "--vocoder_file", "none",
            ])
    finally:
        torch.set_num_threads(threads)
    for j, keys in jobs.items():
        out = tmp / "logs" / f"output.{j}"
        per, peak = _rtf_lines(out / "rtf")
        assert sorted(per) == keys
        for u, e in per.items():
            info = sf.info(str(out / "wav" / f"{u}.wav"))
            assert e["audio_s"] == pytest.approx(info.frames / info.samplerate, rel=1e-5)
            assert 0 < e["elapsed_s"] < 120 and e["cpu_s"] > 0
            assert e["rtf"] == pytest.approx(e["elapsed_s"] / e["audio_s"], rel=1e-4)
        assert peak[1] == "kind=max_rss" and peak[0] > 100  # MiB: torch + ESPnet + the model
    datadir.merge_decode(tmp, final, 2, data / "text")
    tmp.rename(final)
    per, _ = _rtf_lines(final / "rtf")
    assert sorted(per) == ["u1", "u2", "u3"]
    total = sum(e["elapsed_s"] for e in per.values()) / sum(e["audio_s"] for e in per.values())
    md = tmp_path / "RESULTS.md"
    assert score.main(["--syn-dir", str(final / "wav"), "--wav-scp", str(final / "wav.scp"),
                       "--rtf-file", str(final / "rtf"), "--metrics", "rtf",
                       "--out-dir", str(final / "scores"), "--exp-tag", system,
                       "--results-md", str(md)]) == 0
    s = json.loads((final / "scores" / "summary.json").read_text())
    assert s["metrics"]["rtf"]["mean"] == pytest.approx(total, rel=1e-6)
    assert s["metrics"]["rtf"]["kind"].startswith("total synthesis wall time")
    assert s["metrics"]["rtf"]["n"] == 3 and s["n_scored"] == 3
    row = next(ln for ln in md.read_text().splitlines() if ln.startswith(f"| {system} |"))
    assert row.split("|")[10].strip() == f"{total:.4f}"


# ----------------------------------------------------------------------------------
# the embedded recipe, end to end
# ----------------------------------------------------------------------------------
def test_mini_espeak_data_is_deterministic(tmp_path):
    d = make_recipe("mini_espeak", tmp_path)
    opts = ["--n_utts_per_spk", "2", "--n_eval_utts", "1", "--n_zeroshot_utts", "1", "--langs", "en fr"]
    ok(run(["bash", "local/data.sh", "--corpus_dir", "c1"] + opts, d))
    a = {u: sf.read(d / w)[0] for u, w in read_kv(d / "data/train/wav.scp").items()}
    text_a = (d / "data/train/text").read_text()
    ok(run(["bash", "local/data.sh", "--corpus_dir", "c2"] + opts, d))
    b = {u: sf.read(d / w)[0] for u, w in read_kv(d / "data/train/wav.scp").items()}
    assert text_a == (d / "data/train/text").read_text()
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert set(read_kv(d / "data/train/utt2lang").values()) == {"en", "fr"}
    zs_spk = set(read_kv(d / "data/test_zeroshot/utt2spk").values())
    assert zs_spk and not zs_spk & set(read_kv(d / "data/train/utt2spk").values())
    train_texts = set(read_kv(d / "data/train/text").values())
    assert not train_texts & set(read_kv(d / "data/test/text").values())  # held-out texts
    fails_with(run(["bash", "local/data.sh", "--langs", "en xx"], d), "no mini_espeak speakers for language")


@pytest.mark.slow
def test_mini_espeak_stages_1_to_8(tmp_path):
    import json

    d = make_recipe("mini_espeak", tmp_path)
    # stages 1-7 end with a trained model, as in ESPnet; 8 decodes
    p = ok(run(
        ["./run.sh", "--stage", "1", "--stop-stage", "8", "--nj", "2", "--inference_nj", "2",
         "--train_config", "conf/tuning/train_mvc_tiny.yaml",
         "--local_data_opts", "--n_utts_per_spk 3 --n_eval_utts 1 --n_zeroshot_utts 1 --langs 'en es'"],
        d, timeout=1500,
    ))
    for s in range(1, 9):
        assert f"Stage {s}:" in p.stderr
    assert "Stage 9:" not in p.stderr and "Stage 7: Train" in p.stderr and "Stage 8: Decode" in p.stderr
    exp = d / "exp/tts_train_mvc_tiny_raw_phn_espeak_ng_multilingual"
    assert (exp / "config.yaml").is_file()
    for dset, n in (("test", 6), ("test_zeroshot", 3)):  # 4 en + 2 es seen; 2 en + 1 es unseen
        scp = read_kv(exp / "decode_valid.loss.ave" / dset / "wav.scp")
        assert len(scp) == n
        for w in scp.values():
            wav, sr = sf.read(d / w)
            assert sr == 22050 and len(wav) > 0
        # stage 8 timed every utterance (the audio is the wav it wrote)
        per, peak = _rtf_lines(exp / "decode_valid.loss.ave" / dset / "rtf")
        assert sorted(per) == sorted(scp) and peak[0] > 100
        for u, w in scp.items():
            assert per[u]["audio_s"] == pytest.approx(sf.info(str(d / w)).duration, rel=1e-5)
        assert f"{dset}: RTF " in p.stderr
    # stage 9 (RTF only: no ASR model needed) puts the set's RTF in summary.json / RESULTS.md
    shutil.copy(EGS / "mini_espeak/tts1/RESULTS.md", d / "RESULTS.md")  # the curated one
    tracked = (d / "RESULTS.md").read_bytes()
    ok(run(["./run.sh", "--stage", "9", "--stop-stage", "9", "--train_config",
            "conf/tuning/train_mvc_tiny.yaml", "--score_opts", "--metrics rtf"], d, timeout=600))
    md = (exp / "RESULTS.md").read_text()  # under exp/, not the tracked recipe RESULTS.md
    assert (d / "RESULTS.md").read_bytes() == tracked and not list(d.glob("RESULTS.md.*"))
    for dset in ("test", "test_zeroshot"):
        dec = exp / "decode_valid.loss.ave" / dset
        per, _ = _rtf_lines(dec / "rtf")
        total = sum(e["elapsed_s"] for e in per.values()) / sum(e["audio_s"] for e in per.values())
        s = json.loads((dec / "scores" / "summary.json").read_text())
        assert s["metrics"]["rtf"]["mean"] == pytest.approx(total, rel=1e-6)
        row = next(ln for ln in md.splitlines() if f"/{dset} |" in ln)
        assert row.split("|")[10].strip() == f"{total:.4f}"
    # stages 10-11: pack, and list what an upload would send
    p = ok(run(["./run.sh", "--stage", "10", "--stop-stage", "11", "--train_config",
                "conf/tuning/train_mvc_tiny.yaml", "--hf_repo", "someone/mvc_mini", "--hf_dry_run", "true"], d))
    assert (exp / "packed.zip").is_file()
    with zipfile.ZipFile(exp / "packed.zip") as z:  # raw text reads in English (en, es)
        meta = yaml.safe_load(z.read("meta.yaml"))
        assert yaml.safe_load(z.read(meta["yaml_files"]["train_config"]))["g2p"] == \
            "espeak_ng_multilingual_en"
    assert yaml.safe_load((exp / "config.yaml").read_text())["g2p"] is None  # as trained
    assert "[dry run] would upload to https://huggingface.co/someone/mvc_mini" in p.stdout
    assert "config.yaml" in p.stdout and "feats_stats.npz" in p.stdout
    # re-running training is safe: it resumes from the finished checkpoint
    p = ok(run(["./run.sh", "--stage", "7", "--stop-stage", "7",
                "--train_config", "conf/tuning/train_mvc_tiny.yaml"], d, timeout=900))
    assert "Stage 7 done" in p.stderr
