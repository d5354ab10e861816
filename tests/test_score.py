"""`python -m espnet_mvc.bin.score` end to end on a tiny espeak corpus with bad inputs:
every bad utterance is skipped with a warning and counted, the good ones keep their
scores, and the RESULTS.md row is added/replaced per experiment tag."""

import json
import shutil
import warnings

import numpy as np
import pytest
import soundfile as sf

from espnet_mvc.bin import score
from espnet_mvc.metrics import testaudio as ta

warnings.simplefilter("ignore")

SENTS = {
    "utt0": "Please call Stella and ask her to bring these things.",
    "utt1": "The birch canoe slid on the smooth planks.",
    "utt2": "Glue the sheet to the dark blue background.",
}
GOOD = ["utt0", "utt1", "utt2"]
BAD_SYN = ["corrupt", "empty", "missingsyn", "rate16k", "silent"]


def _write(path, x, fs):
    sf.write(str(path), x, fs, subtype="PCM_16")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """ref/ (ground truth, voice en-us+f2 at 175 wpm) and syn/ (outputs: utt0 an exact copy,
    utt1/utt2 the same voice at 150 wpm) plus one utterance for each kind of bad input."""
    d = tmp_path_factory.mktemp("corpus")
    (d / "ref").mkdir()
    (d / "syn").mkdir()
    scp, text, u2l, rtf = [], [], [], []
    fs = None
    for u, s in SENTS.items():
        ref, fs = ta.speech(s, "en-us+f2", rate=175)
        syn = ref if u == "utt0" else ta.speech(s, "en-us+f2", rate=150)[0]
        _write(d / "ref" / f"{u}.wav", ref, fs)
        _write(d / "syn" / f"{u}.wav", syn, fs)
        scp.append(f"{u} {d}/ref/{u}.wav")
        text.append(f"{u} {s}")
        u2l.append(f"{u} en")
    ref0 = f"{d}/ref/utt0.wav"
    # synthesized output without a reference entry: WER/DNSMOS only
    _write(d / "syn" / "noref.wav", ta.speech(SENTS["utt0"], "en-us+f2")[0], fs)
    text.append(f"noref {SENTS['utt0']}")
    # reference and output but no transcript (mismatched ids)
    _write(d / "syn" / "notext.wav", ta.speech(SENTS["utt1"], "en-us+f2")[0], fs)
    _write(d / "ref" / "notext.wav", ta.speech(SENTS["utt1"], "en-us+f2")[0], fs)
    scp.append(f"notext {d}/ref/notext.wav")
    # Spanish: English-only ASR -> WER n/a (not a skip)
    es, _ = ta.speech("Hola, buenos días a todos.", "es")
    _write(d / "syn" / "spanish.wav", es, fs)
    _write(d / "ref" / "spanish.wav", es, fs)
    scp.append(f"spanish {d}/ref/spanish.wav")
    text.append("spanish Hola, buenos días a todos.")
    u2l.append("spanish es")
    # bad synthesized wavs (each has a reference entry)
    _write(d / "syn" / "silent.wav", np.zeros(fs), fs)
    (d / "syn" / "corrupt.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEnot really a wav")
    (d / "syn" / "empty.wav").write_bytes(b"")
    _write(d / "syn" / "rate16k.wav", ta.speech(SENTS["utt2"], "en-us+f2")[0][:16000], 16000)
    for u in BAD_SYN:
        scp.append(f"{u} {ref0}")
        text.append(f"{u} {SENTS['utt0']}")
    for u in GOOD + ["noref", "notext", "spanish"] + BAD_SYN:
        rtf.append(f"{u} 0.{len(u)} {100 + len(u)}")
    rtf.append("peak_mem_mib 900")
    (d / "wav.scp").write_text("\n".join(scp) + "\n")
    (d / "text").write_text("\n".join(text) + "\n")
    (d / "utt2lang").write_text("\n".join(u2l) + "\n")
    (d / "rtf").write_text("\n".join(rtf) + "\n")
    return d


def _run(*argv):
    assert score.main([str(a) for a in argv]) == 0


def _tsv(path):
    lines = path.read_text().splitlines()
    head = lines[0].split("\t")
    return {r.split("\t")[0]: dict(zip(head, r.split("\t"))) for r in lines[1:]}


@pytest.fixture(scope="module")
def full_run(corpus):
    out = corpus / "exp_full"
    _run("--syn-dir", corpus / "syn", "--ref-wav-scp", corpus / "wav.scp",
         "--text", corpus / "text", "--utt2lang", corpus / "utt2lang",
         "--rtf-file", corpus / "rtf", "--out-dir", out, "--exp-tag", "full",
         "--results-md", corpus / "RESULTS.md")
    return out


def test_full_run_counts_and_skips(full_run, corpus):
    s = json.loads((full_run / "summary.json").read_text())
    assert s["n_total"] == 11
    assert s["n_scored"] == 4  # utt0-2 and spanish (WER n/a there is not a skip)
    assert s["n_skipped"] == 7 and s["n_fully_skipped"] == len(BAD_SYN)
    rows = _tsv(full_run / "scores.tsv")
    assert set(rows) == set(GOOD + ["noref", "notext", "spanish"] + BAD_SYN)
    for u in GOOD + ["spanish"]:
        assert rows[u]["status"] == "ok", rows[u]["notes"]
    for u in BAD_SYN:
        assert rows[u]["status"] == "skipped" and rows[u]["notes"]
    assert "no reference wav" in rows["noref"]["notes"] and rows["noref"]["wer"] != ""
    assert rows["noref"]["mcd"] == "" and rows["noref"]["status"] == "partial"
    assert "no transcript" in rows["notext"]["notes"] and rows["notext"]["mcd"] != ""
    assert rows["spanish"]["wer"] == "" and "English-only" in rows["spanish"]["notes"]
    assert "silent" in rows["silent"]["notes"] and "16000 Hz" in rows["rate16k"]["notes"]
    assert "unreadable" in rows["corrupt"]["notes"] and "empty" in rows["empty"]["notes"]
    assert "no synthesized wav" in rows["missingsyn"]["notes"]
    log = (full_run / "warnings.log").read_text()
    for u in BAD_SYN + ["noref", "notext"]:
        assert f"{u}: skipped" in log
    assert "English-only" in log


def test_full_run_values(full_run):
    rows = _tsv(full_run / "scores.tsv")
    s = json.loads((full_run / "summary.json").read_text())["metrics"]
    # utt0 is an exact copy of its reference
    assert float(rows["utt0"]["mcd"]) == 0.0 and float(rows["utt0"]["f0rmse"]) == 0.0
    assert float(rows["utt0"]["pesq"]) > 4.5 and float(rows["utt0"]["stoi"]) > 0.99
    assert rows["utt0"]["align"] == "length" and rows["utt1"]["align"] == "dtw"
    assert float(rows["utt0"]["spksim"]) > 0.99 and rows["utt0"]["spk_ref"] == "ground-truth"
    for u in ("utt1", "utt2"):  # same voice, other speaking rate: imperfect but close
        assert 0 < float(rows[u]["mcd"]) < 8
        assert float(rows[u]["stoi"]) < float(rows["utt0"]["stoi"])
        assert float(rows[u]["spksim"]) > 0.8
    for k in ("mcd", "f0rmse", "pesq", "stoi", "dnsmos", "spksim", "rtf", "wer", "cer"):
        assert s[k]["mean"] is not None and np.isfinite(s[k]["mean"]), k
    assert 1 <= s["dnsmos"]["mean"] <= 5
    assert s["wer"]["mean"] < 60
    assert s["peak_mem_mib"]["mean"] == 900
    assert s["rtf"]["n"] == 11  # RTF comes from the log even for unreadable wavs


def test_results_md_row(full_run, corpus):
    md = (corpus / "RESULTS.md").read_text()
    row = [ln for ln in md.splitlines() if ln.startswith("| full |")]
    assert len(row) == 1
    cells = [c.strip() for c in row[0].strip("|").split("|")]
    assert len(cells) == 13 and cells[-2:] == ["4", "7"]
    assert all(c not in ("", "n/a") for c in cells[1:11]), cells


def test_results_md_update_replaces_by_tag_and_keeps_prose(corpus, tmp_path):
    md = tmp_path / "RESULTS.md"
    md.write_text("# My recipe\n\nSome prose that must survive.\n")
    args = ["--syn-dir", corpus / "syn", "--ref-wav-scp", corpus / "wav.scp",
            "--metrics", "rtf", "--rtf-file", corpus / "rtf", "--results-md", md]
    _run(*args, "--out-dir", tmp_path / "a", "--exp-tag", "mvc")
    _run(*args, "--out-dir", tmp_path / "b", "--exp-tag", "vits")
    _run(*args, "--out-dir", tmp_path / "c", "--exp-tag", "mvc")
    text = md.read_text()
    assert "Some prose that must survive." in text
    rows = [ln for ln in text.splitlines() if ln.startswith("| mvc |") or ln.startswith("| vits |")]
    assert [r.split("|")[1].strip() for r in rows] == ["vits", "mvc"]
    assert text.count("| exp |") == 1
    cells = [c.strip() for c in rows[1].strip("|").split("|")]
    assert cells[1] == "–" and cells[9] != "n/a" and cells[10] == "900"


def test_recipe_call_form_and_parallel_jobs(corpus, full_run, tmp_path):
    """tts.sh stage 9: --syn-dir + --wav-scp + --ref-dir <data dir> (+ --text); --nj 2."""
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(corpus / "wav.scp", data / "wav.scp")
    shutil.copy(corpus / "text", data / "text")
    shutil.copy(corpus / "utt2lang", data / "utt2lang")
    syn_scp = tmp_path / "syn.scp"
    syn_scp.write_text("".join(f"{u} {corpus}/syn/{u}.wav\n" for u in GOOD + ["silent", "spanish"]))
    out = tmp_path / "score"
    _run("--syn-dir", corpus / "syn", "--wav-scp", syn_scp, "--ref-dir", data,
         "--out-dir", out, "--exp-tag", "recipe", "--metrics", "mcd,f0rmse,pesq,wer",
         "--nj", "2", "--results-md", tmp_path / "R.md")
    rows, ref = _tsv(out / "scores.tsv"), _tsv(full_run / "scores.tsv")
    # every reference utterance is accounted for; the ones not synthesized are skips
    assert rows["utt1"]["status"] == "ok" and rows["notext"]["status"] == "skipped"
    for u in GOOD:
        for k in ("mcd", "f0rmse", "pesq", "wer"):
            assert rows[u][k] == ref[u][k], (u, k)
    assert rows["spanish"]["wer"] == "" and rows["spanish"]["status"] == "ok"
    s = json.loads((out / "summary.json").read_text())
    assert s["inputs"]["text"] == str(data / "text")  # picked up from the data dir
    assert "dnsmos" not in s["metrics"]


def test_no_references_are_not_applicable_not_skips(corpus, tmp_path):
    syn = tmp_path / "syn"
    syn.mkdir()
    for u in ("utt0", "silent"):
        shutil.copy(corpus / "syn" / f"{u}.wav", syn / f"{u}.wav")
    out = tmp_path / "o"
    _run("--syn-dir", syn, "--out-dir", out, "--metrics", "mcd,stoi,spksim,dnsmos",
         "--exp-tag", "x", "--results-md", tmp_path / "R.md")
    s = json.loads((out / "summary.json").read_text())
    assert s["n_total"] == 2 and s["n_scored"] == 1
    assert s["n_skipped"] == 1  # only the silent wav, for DNSMOS
    assert s["skipped_by_metric"] == {"dnsmos": 1}
    assert s["not_applicable_by_metric"]["mcd"] == 2
    row = [ln for ln in (tmp_path / "R.md").read_text().splitlines() if ln.startswith("| x |")][0]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == "n/a" and cells[6] == "n/a" and cells[8] == "n/a" and cells[2] == "–"
    assert 1 <= float(cells[7]) <= 5


def test_differing_reference_rate_skips_or_resamples(corpus, tmp_path):
    x, fs = sf.read(corpus / "ref" / "utt1.wav")
    from espnet_mvc.inference.reference_audio import resample

    _write(tmp_path / "ref16k.wav", resample(x, fs, 16000, dtype=np.float64), 16000)
    scp = tmp_path / "wav.scp"
    scp.write_text(f"utt1 {tmp_path}/ref16k.wav\n")
    syn = tmp_path / "syn"
    syn.mkdir()
    shutil.copy(corpus / "syn" / "utt1.wav", syn / "utt1.wav")
    _run("--syn-dir", syn, "--ref-wav-scp", scp, "--out-dir", tmp_path / "a", "--metrics", "mcd")
    r = _tsv(tmp_path / "a" / "scores.tsv")["utt1"]
    assert r["status"] == "skipped" and "16000 Hz" in r["notes"]
    _run("--syn-dir", syn, "--ref-wav-scp", scp, "--out-dir", tmp_path / "b", "--metrics", "mcd",
         "--resample-ref")
    r = _tsv(tmp_path / "b" / "scores.tsv")["utt1"]
    # the 16 kHz reference has no 8-11 kHz band, so MCD is high but finite
    assert r["status"] == "ok" and 0 < float(r["mcd"]) < 20


def test_wrong_expected_rate_and_garbage_lists(corpus, tmp_path):
    scp = tmp_path / "wav.scp"
    scp.write_text(f"utt0 {corpus}/syn/utt0.wav\nutt1\n\nutt2 /nonexistent/x.wav\nutt0 dup\n")
    out = tmp_path / "o"
    _run("--wav-scp", scp, "--ref-wav-scp", corpus / "wav.scp", "--out-dir", out,
         "--metrics", "mcd", "--fs", "16000", "--exp-tag", "t")
    s = json.loads((out / "summary.json").read_text())
    rows = _tsv(out / "scores.tsv")
    assert "expected 16000 Hz" in rows["utt0"]["notes"]
    assert "not found" in rows["utt2"]["notes"]
    assert s["n_scored"] == 0 and s["n_skipped"] == s["n_total"]
    assert any("duplicate key 'utt0'" in w for w in s["warnings"])
    assert any("utt1" in w and "no value" in w for w in s["warnings"])


def test_metric_selection_parsing():
    assert score.parse_metrics("all") == list(score.ALL_METRICS)
    assert score.parse_metrics("cer,f0") == ["wer", "cer", "f0rmse"]
    with pytest.raises(SystemExit):
        score.parse_metrics("mcd,bogus")


def test_parser_accepts_both_call_forms():
    p = score.get_parser()
    a = p.parse_args(["--syn-dir", "s", "--ref-wav-scp", "r", "--text", "t", "--out-dir", "o",
                      "--exp-tag", "e", "--results-md", "R.md", "--metrics", "mcd", "--nj", "2"])
    assert a.syn_dir == "s" and a.ref_wav_scp == "r" and a.nj == 2
    b = p.parse_args(["--wav-scp", "w", "--ref-dir", "d", "--results-md", "R.md"])
    assert b.wav_scp == "w" and b.ref_dir == "d"
    with pytest.raises(SystemExit):
        score.main(["--ref-dir", "d"])  # no synthesized speech given


# ----------------------------------------------------------------------------------
# RTF from stage 8's timing file
# ----------------------------------------------------------------------------------
# (elapsed_s, cpu_s, audio_s) per utterance: the set's RTF (total time / total audio,
# 3.0 / 10.0 = 0.3) differs from the mean of the per-utterance RTFs ((1 + 0.25 + 0.2) / 3)
STAGE8_TIMES = {"utt0": (1.0, 1.5, 1.0), "utt1": (1.0, 2.0, 4.0), "utt2": (1.0, 0.5, 5.0)}


def _stage8_decode_dir(corpus, d, times=STAGE8_TIMES):
    """A decode dir as stage 8 leaves it: wav/, wav.scp and rtf (tts_inference's format)."""
    (d / "wav").mkdir(parents=True)
    for u in times:
        shutil.copy(corpus / "syn" / f"{u}.wav", d / "wav" / f"{u}.wav")
    (d / "wav.scp").write_text("".join(f"{u} {d}/wav/{u}.wav\n" for u in times))
    lines = ["# <utt> rtf=<elapsed_s / audio_s> elapsed_s=<wall s> cpu_s=<process CPU s> audio_s=<s>"]
    lines += [f"{u} rtf={e / a:.6g} elapsed_s={e} cpu_s={c} audio_s={a}" for u, (e, c, a) in times.items()]
    lines += ["peak_mem_mib 812.4 kind=max_rss", "peak_mem_mib 1024.6 kind=max_rss"]  # two jobs
    (d / "rtf").write_text("\n".join(lines) + "\n")
    return d


def _rtf_cells(md, tag):
    row = next(ln for ln in md.read_text().splitlines() if ln.startswith(f"| {tag} |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    return cells[9], cells[10]


def test_stage8_rtf_file_gives_the_sets_rtf(corpus, tmp_path):
    d = _stage8_decode_dir(corpus, tmp_path / "decode" / "test")
    md = tmp_path / "RESULTS.md"
    # the recipe's call, with the file found next to wav/ (and given explicitly: same result)
    for tag, extra in (("found", []), ("given", ["--rtf-file", d / "rtf"])):
        _run("--syn-dir", d / "wav", "--wav-scp", d / "wav.scp", "--metrics", "rtf",
             "--out-dir", tmp_path / tag, "--exp-tag", tag, "--results-md", md, *extra)
        s = json.loads((tmp_path / tag / "summary.json").read_text())
        rtf = s["metrics"]["rtf"]
        assert rtf["mean"] == pytest.approx(0.3) and rtf["n"] == 3
        assert rtf["per_utt_mean"] == pytest.approx(1.45 / 3)
        assert rtf["elapsed_s"] == pytest.approx(3.0) and rtf["audio_s"] == pytest.approx(10.0)
        assert rtf["cpu_rtf"] == pytest.approx(0.4)
        assert rtf["kind"] == "total synthesis wall time / total generated audio seconds"
        assert s["metrics"]["peak_mem_mib"]["mean"] == pytest.approx(1024.6)
        assert s["inputs"]["rtf_file"] == str(d / "rtf") and s["n_scored"] == 3
        assert not [w for w in s["warnings"] if "rtf" in w.lower()], s["warnings"]
        assert _rtf_cells(md, tag) == ("0.3000", "1025")
        rows = _tsv(tmp_path / tag / "scores.tsv")
        assert float(rows["utt1"]["rtf"]) == 0.25 and float(rows["utt1"]["audio_s"]) == 4.0
        assert float(rows["utt2"]["elapsed_s"]) == 1.0


def test_rtf_file_without_times_averages_per_utterance(corpus, tmp_path):
    """The older <utt> <rtf> [<peak>] form still scores (mean of per-utterance RTFs)."""
    out = tmp_path / "o"
    _run("--syn-dir", corpus / "syn", "--metrics", "rtf", "--rtf-file", corpus / "rtf",
         "--out-dir", out, "--exp-tag", "old")
    rtf = json.loads((out / "summary.json").read_text())["metrics"]["rtf"]
    assert rtf["kind"] == "mean of per-utterance RTFs" and "per_utt_mean" not in rtf
    utts = GOOD + ["noref", "notext", "spanish"] + [u for u in BAD_SYN if u != "missingsyn"]
    assert rtf["n"] == len(utts) == 10
    assert rtf["mean"] == pytest.approx(np.mean([float(f"0.{len(u)}") for u in utts]))


@pytest.mark.parametrize("case", ["missing", "directory", "binary", "garbage_text", "empty"])
def test_missing_or_corrupt_rtf_file_is_na_with_a_warning(case, corpus, tmp_path):
    """No usable timing file: RTF is n/a in summary.json and RESULTS.md, with a warning that
    names the file, and every other metric is scored as usual (n/a is not a skip)."""
    d = _stage8_decode_dir(corpus, tmp_path / "decode" / "test")
    rtf = d / "rtf"
    rtf.unlink()
    if case == "directory":
        rtf.mkdir()
    elif case == "binary":
        rtf.write_bytes(bytes(range(256)) * 64 + b"\n\x00\xff\xfe\n" * 50)
    elif case == "garbage_text":
        rtf.write_text("utt0 fast\nutt1 rtf=-1 elapsed_s=1 audio_s=2\nutt2 rtf=nan\n<html>\n")
    elif case == "empty":
        rtf.write_text("")
    ref_scp = tmp_path / "ref.scp"
    ref_scp.write_text("".join(f"{u} {corpus}/ref/{u}.wav\n" for u in STAGE8_TIMES))
    md = tmp_path / "RESULTS.md"
    out = tmp_path / "o"
    _run("--syn-dir", d / "wav", "--wav-scp", d / "wav.scp", "--metrics", "rtf,stoi",
         "--ref-wav-scp", ref_scp, "--rtf-file", rtf,
         "--out-dir", out, "--exp-tag", case, "--results-md", md)
    s = json.loads((out / "summary.json").read_text())
    assert s["metrics"]["rtf"]["mean"] is None and s["metrics"]["peak_mem_mib"]["mean"] is None
    assert s["n_scored"] == 3 and s["n_skipped"] == 0  # STOI still scored; RTF n/a, not a skip
    assert s["not_applicable_by_metric"]["rtf"] == 3
    assert s["metrics"]["stoi"]["mean"] > 0.9
    warned = [w for w in s["warnings"] if "rtf: n/a for all utterances" in w]
    assert len(warned) == 1 and str(rtf) in warned[0], s["warnings"]
    assert warned[0] in (out / "warnings.log").read_text()
    assert _rtf_cells(md, case) == ("n/a", "n/a")
    if case == "garbage_text":  # each bad line is named
        assert sum(f"{rtf}:" in w and "cannot parse" in w for w in s["warnings"]) == 4
    if case == "binary":  # a few lines named, the rest counted
        assert sum("cannot parse" in w for w in s["warnings"]) == 5
        assert any("more lines that are not RTF lines" in w for w in s["warnings"])


def test_partly_corrupt_rtf_file_keeps_the_good_lines(corpus, tmp_path):
    d = _stage8_decode_dir(corpus, tmp_path / "decode" / "test")
    text = (d / "rtf").read_text().replace("utt2 rtf=0.2", "utt2 rtf=zz")
    (d / "rtf").write_text(text)
    out = tmp_path / "o"
    _run("--syn-dir", d / "wav", "--wav-scp", d / "wav.scp", "--metrics", "rtf",
         "--out-dir", out, "--exp-tag", "partly")
    s = json.loads((out / "summary.json").read_text())
    assert s["metrics"]["rtf"]["mean"] == pytest.approx(2.0 / 5.0)  # utt0 + utt1 only
    assert s["metrics"]["rtf"]["n"] == 2 and s["skipped_by_metric"] == {"rtf": 1}
    assert any("cannot parse RTF line" in w and "utt2" in w for w in s["warnings"])
    assert "utt2: skipped rtf: no RTF line" in (out / "warnings.log").read_text()


def test_scorer_table_fills_every_metric_once():
    """The utterance loop runs the table: every --metrics group has exactly one scorer."""
    from espnet_mvc.metrics.scorers import REF_METRICS, SCORERS

    filled = [m for s in SCORERS for m in s.metrics]
    assert sorted(filled) == sorted(score.ALL_METRICS)
    assert REF_METRICS == ("mcd", "f0rmse", "pesq", "stoi")
    assert [s.needs_audio for s in SCORERS][0] is False  # RTF comes from the log, first
