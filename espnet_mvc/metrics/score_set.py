"""Scoring a set: which metrics apply, one job per utterance, and the jobs run in workers.

The steps of :func:`espnet_mvc.bin.score.main` between reading the inputs
(:mod:`.score_inputs`) and writing the outputs (:mod:`.score_report`).
"""

from __future__ import annotations

import collections
import logging
import os
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from espnet_mvc.metrics.score_inputs import RtfLog, ScoreInputs, probe_rate
from espnet_mvc.metrics.scorers import REF_METRICS, init_worker, score_utterance
from espnet_mvc.text.languages import normalize_lang

#: vocabulary size of the multilingual Whisper models (English-only ones have 51864)
MULTILINGUAL_VOCAB = 51865


def not_applicable(
    want: List[str], inputs: ScoreInputs, no_spk_from_ref: bool, rtf: RtfLog, warn: List[str]
) -> Dict[str, str]:
    """Metrics that cannot apply to any utterance: n/a, not skips.

    Args:
        want: The requested metric groups.
        inputs: The lists read.
        no_spk_from_ref: ``--no-spk-from-ref``: no ground-truth fallback for SpkSim.
        rtf: The RTF log read.
        warn: One warning per requested n/a metric is appended here.

    Returns:
        metric -> reason.
    """
    na: Dict[str, str] = {}
    if inputs.refs is None:
        for m in REF_METRICS:
            na[m] = "no reference given (--ref-wav-scp / --ref-dir)"
    if inputs.texts is None:
        na["wer"] = na["cer"] = "no transcript given (--text)"
    if inputs.spks is None and (inputs.refs is None or no_spk_from_ref):
        na["spksim"] = "no speaker reference given (--ref-spk-scp)"
    if rtf.not_applicable is not None:
        na["rtf"] = rtf.not_applicable
    for m, r in na.items():
        if m in want:
            warn.append(f"{m}: n/a for all utterances: {r}")
    return na


def expected_rate(fs: Optional[int], syn: Dict[str, str], warn: List[str]) -> Optional[int]:
    """The sample rate synthesized wavs must have: ``--fs``, else the most common one.

    Args:
        fs: ``--fs``, or None.
        syn: The synthesized wav entries.
        warn: A warning is appended when the wavs have several rates.

    Returns:
        The rate, or None when no entry's rate could be read.
    """
    if fs is not None:
        return fs
    rates = collections.Counter(r for r in (probe_rate(e) for e in syn.values()) if r)
    if not rates:
        return None
    fs = rates.most_common(1)[0][0]
    if len(rates) > 1:
        warn.append(f"synthesized wavs have several sample rates {dict(rates)}; "
                    f"scoring those at {fs} Hz (use --fs to choose)")
    return fs


def describe_asr(
    asr_model: Optional[str], want: List[str], na: Dict[str, str]
) -> Tuple[Optional[str], Optional[bool]]:
    """Name the ASR model and whether it is multilingual, from its files, without loading it.

    Args:
        asr_model: ``--asr-model``, or None for the default model.
        want: The requested metric groups.
        na: Metrics n/a for every utterance.

    Returns:
        (name for ``summary.json`` or None when WER is not scored, multilingual or None
        when unknown).
    """
    if "wer" not in want or "wer" in na:
        return None, None
    try:
        from espnet_mvc.metrics.asr import default_model_dir

        mdir = Path(asr_model) if asr_model else default_model_dir()
        multilingual = None
        if mdir is not None and (mdir / "vocabulary.txt").is_file():
            with open(mdir / "vocabulary.txt", encoding="utf-8", errors="replace") as f:
                multilingual = sum(1 for _ in f) >= MULTILINGUAL_VOCAB
        kind = "multilingual" if multilingual else "English-only"
        return f"faster-whisper {mdir} ({kind})", multilingual
    except Exception as e:
        return f"unavailable: {e}", None


def make_jobs(
    utts: List[str], want: List[str], opts: dict, inputs: ScoreInputs, default_lang: str,
    na_all: Dict[str, str], multilingual: Optional[bool], spk_from_ref: bool,
    rtf: RtfLog, expected_fs: Optional[int], warn: List[str],
) -> List[dict]:
    """One job per utterance, for :func:`espnet_mvc.metrics.scorers.score_utterance`.

    Args:
        utts: Utterance ids (synthesized or referenced), sorted.
        want: The requested metric groups.
        opts: Scorer options (models, threads, F0 method, ...).
        inputs: The lists read.
        default_lang: ``--lang``, for utterances missing from utt2lang.
        na_all: Metrics n/a for every utterance.
        multilingual: Whether the ASR model is multilingual (None: unknown).
        spk_from_ref: Whether SpkSim may fall back to the ground-truth wav.
        rtf: The RTF log read.
        expected_fs: The rate synthesized wavs must have.
        warn: One warning per language the ASR cannot score is appended here.

    Returns:
        The jobs, in ``utts`` order.
    """
    jobs = []
    warned_lang = set()
    refs = inputs.refs or {}
    for u in utts:
        lang = normalize_lang(inputs.langs.get(u), normalize_lang(default_lang))
        na = dict(na_all)
        if "wer" in want and "wer" not in na and multilingual is False and lang != "en":
            na["wer"] = na["cer"] = f"English-only ASR, language '{lang}'"
            if lang not in warned_lang:
                warned_lang.add(lang)
                warn.append(f"WER/CER n/a for language '{lang}': the shipped Whisper model is "
                            "English-only (pass --asr-model DIR with a multilingual one)")
        rt = rtf.per_utt.get(u, {})
        jobs.append(dict(
            utt=u, metrics=want, opts=opts, lang=lang, na=na,
            syn=inputs.syn.get(u), ref=refs.get(u),
            text=None if inputs.texts is None else inputs.texts.get(u),
            spk=None if inputs.spks is None else inputs.spks.get(u),
            spk_from_ref=spk_from_ref,
            rtf=rt.get("rtf"), peak_mem=rt.get("peak_mem"), elapsed_s=rt.get("elapsed_s"),
            audio_s=rt.get("audio_s"), expected_fs=expected_fs,
        ))
    return jobs


def _skipped_row(job: dict, want: List[str], reason: str) -> dict:
    return dict(utt=job["utt"], lang=job["lang"], status="skipped",
                skipped={m: reason for m in want}, na={}, notes=reason)


def run_jobs(jobs: List[dict], want: List[str], nj: int, threads: int) -> List[dict]:
    """Score every job, in ``nj`` worker processes when ``nj > 1``.

    Args:
        jobs: From :func:`make_jobs`.
        want: The requested metric groups.
        nj: Worker processes.
        threads: Intra-op threads per worker.

    Returns:
        One row per job, sorted by utterance id; a crashed worker's utterances are skipped.
    """
    rows: List[dict] = []
    if nj > 1:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor
        from concurrent.futures.process import BrokenProcessPool

        # never plain fork: a parent that already ran a model (threads, OpenMP pools,
        # CTranslate2) deadlocks its forked children. forkserver forks from a clean
        # process that imported the scorers once; elsewhere spawn.
        if "forkserver" in mp.get_all_start_methods():
            ctx = mp.get_context("forkserver")
            ctx.set_forkserver_preload(["espnet_mvc.metrics.scorers"])
        else:
            ctx = mp.get_context("spawn")
        done_utts = set()
        try:
            with ProcessPoolExecutor(nj, mp_context=ctx, initializer=init_worker,
                                     initargs=(threads,)) as ex:
                for r in ex.map(score_utterance, jobs, chunksize=1):
                    rows.append(r)
                    done_utts.add(r["utt"])
        except BrokenProcessPool as e:
            logging.error(f"a scoring worker died ({e}); marking the remaining utterances skipped")
            rows += [_skipped_row(j, want, "scoring worker crashed")
                     for j in jobs if j["utt"] not in done_utts]
    else:
        for j in jobs:
            try:
                rows.append(score_utterance(j))
            except Exception as e:  # defensive: score_utterance should not raise
                rows.append(_skipped_row(j, want, f"internal error: {e}"))
    rows.sort(key=lambda r: r["utt"])
    return rows


def skip_warnings(rows: List[dict], want: List[str]) -> List[str]:
    """One line per utterance and skip reason: ``<utt>: skipped <metrics>: <reason>``."""
    out = []
    for r in rows:
        by_reason: Dict[str, List[str]] = {}
        for m in want:
            if m in r["skipped"]:
                by_reason.setdefault(r["skipped"][m], []).append(m)
        for reason, ms in by_reason.items():
            out.append(f"{r['utt']}: skipped {','.join(ms)}: {reason}")
    return out


def worker_plan(nj: int, n_utts: int) -> Tuple[int, int]:
    """(worker processes, threads per worker): at most one worker per utterance, the
    machine's cores shared between them."""
    ncpu = os.cpu_count() or 1
    nj = max(1, min(nj, n_utts or 1))
    return nj, max(1, ncpu // nj)
