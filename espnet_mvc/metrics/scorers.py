"""Per-metric scorers of one utterance, as a table, and the utterance loop over it.

Each scorer says which ``--metrics`` groups it fills (:attr:`Scorer.metrics`), what it
needs (:attr:`Scorer.needs`) and how it scores (:meth:`Scorer.score`). It writes its
columns into the utterance's row or records why a metric was skipped; it never raises.
:func:`score_utterance` runs the table (:data:`SCORERS`) in order, loading the synthesized
wav, the reference and the WORLD alignment once, for the scorers that ask for them.

A *skip* (bad or missing input for this utterance) is counted in ``n skipped``; *n/a*
(the metric cannot apply, e.g. English-only ASR for Spanish) is reported but not counted.
"""

from __future__ import annotations

import os
import warnings
from typing import Dict, Iterable, List, Optional, Tuple

import numpy as np

from espnet_mvc.metrics.audio import AudioError
from espnet_mvc.metrics.score_inputs import load_entry

_UNSET = object()


class Utterance:
    """One utterance being scored: its job, its row, and the inputs shared by scorers.

    Args:
        job: What :func:`espnet_mvc.metrics.score_set.make_jobs` planned: ``utt``,
            ``metrics`` (the requested groups), ``opts``, ``lang``, ``na`` (metric -> why
            n/a), the entries ``syn`` / ``ref`` / ``spk``, ``text``, ``spk_from_ref``, the
            RTF log's ``rtf`` / ``elapsed_s`` / ``audio_s`` / ``peak_mem`` and
            ``expected_fs``.
    """

    def __init__(self, job: dict):
        self.job = job
        self.requested: List[str] = list(job["metrics"])
        self.want = set(self.requested)
        self.opts: dict = job["opts"]
        self.row: Dict[str, object] = {"utt": job["utt"], "lang": job.get("lang") or ""}
        self.skipped: Dict[str, str] = {}  # metric -> reason (counted)
        self.na: Dict[str, str] = {m: r for m, r in job.get("na", {}).items() if m in self.want}
        self.gen: Optional[np.ndarray] = None  # the synthesized waveform (T,), float64
        self.fs: Optional[int] = None
        self._reference = _UNSET
        self._alignment = _UNSET

    def active(self, metrics: Iterable[str]) -> bool:
        """Whether any of ``metrics`` is requested and applicable."""
        return any(m in self.want and m not in self.na for m in metrics)

    def skip(self, metrics: Iterable[str], reason: str) -> None:
        """Record ``reason`` for each requested metric not yet skipped or n/a."""
        for m in metrics:
            if m in self.want and m not in self.skipped and m not in self.na:
                self.skipped[m] = reason

    def load_synthesized(self) -> bool:
        """Load the synthesized wav; on failure skip every audio metric.

        Returns:
            Whether the audio scorers can run.
        """
        if not self.job.get("syn"):
            # every requested metric, RTF too: an utterance without output is a skip
            self.skip(self.requested, "no synthesized wav")
            return False
        audio_metrics = [m for m in self.requested if m != "rtf"]
        try:
            self.gen, self.fs = load_entry(self.job["syn"])
        except AudioError as e:
            self.skip(audio_metrics, f"synthesized wav: {e}")
            return False
        self.row["fs"] = self.fs
        expected = self.job.get("expected_fs")
        if expected and self.fs != expected:
            self.skip(audio_metrics, f"synthesized wav at {self.fs} Hz, expected {expected} Hz")
            return False
        return True

    def reference(self) -> Optional[np.ndarray]:
        """The ground-truth waveform at the synthesized rate, loaded once.

        Returns:
            The reference (T',), float64, or None (every reference metric then skipped).
        """
        if self._reference is _UNSET:
            self._reference = self._load_reference()
        return self._reference

    def _load_reference(self) -> Optional[np.ndarray]:
        ref_metrics = [m for m in REF_METRICS if m in self.want and m not in self.na]
        if not self.job.get("ref"):
            self.skip(ref_metrics, "no reference wav for this utterance")
            return None
        try:
            ref, rfs = load_entry(self.job["ref"])
        except AudioError as e:
            self.skip(ref_metrics, f"reference wav: {e}")
            return None
        if rfs == self.fs:
            return ref
        if not self.opts["resample_ref"]:
            self.skip(ref_metrics, f"reference at {rfs} Hz, synthesized at {self.fs} Hz "
                      "(use --resample-ref)")
            return None
        from espnet_mvc.inference.reference_audio import resample

        return resample(ref, rfs, self.fs, dtype=np.float64)

    def alignment(self) -> Optional[tuple]:
        """WORLD features of both waveforms and their DTW path, computed once.

        Returns:
            ``(gen_features, ref_features, (ix, iy))`` or None (reference metrics skipped).
        """
        if self._alignment is _UNSET:
            self._alignment = None
            ref = self.reference()
            if ref is not None:
                from espnet_mvc.metrics import world

                try:
                    gw = world.analyze(self.gen, self.fs, f0_method=self.opts["f0_method"])
                    rw = world.analyze(ref, self.fs, f0_method=self.opts["f0_method"])
                    self._alignment = (gw, rw, world.align(gw, rw))
                except Exception as e:
                    ref_metrics = [m for m in REF_METRICS if m in self.want and m not in self.na]
                    self.skip(ref_metrics, f"WORLD analysis/DTW failed: {type(e).__name__}: {e}")
        return self._alignment

    def finish(self) -> dict:
        """The row, with ``skipped``, ``na``, ``status`` and ``notes`` set."""
        row = self.row
        row["skipped"] = self.skipped
        row["na"] = self.na
        # RTF comes from the decode log; an utterance none of whose audio could be
        # scored counts as skipped even when its RTF line exists
        computed = [m for m in self.want
                    if m not in self.skipped and m not in self.na and m != "rtf"]
        row["status"] = ("skipped" if not computed and self.skipped
                         else ("partial" if self.skipped else "ok"))
        notes = [f"{m}: {r}" for m, r in self.skipped.items()]
        notes += [f"{m}: n/a ({r})" for m, r in self.na.items()]
        row["notes"] = "; ".join(notes)
        return row


class Scorer:
    """One metric group: what it fills, what it needs, how it scores.

    Attributes:
        metrics: The ``--metrics`` names it fills (its TSV columns may be more).
        needs: The inputs it reads, for the reader: ``rtf log``, ``audio``, ``reference``,
            ``text``, ``speaker reference``.
        needs_audio: Whether it runs on the synthesized wav (loaded before it runs).
    """

    metrics: Tuple[str, ...] = ()
    needs: Tuple[str, ...] = ("audio",)
    needs_audio = True

    def score(self, u: Utterance) -> None:
        """Fill ``u.row`` or call ``u.skip``; never raise."""
        raise NotImplementedError


class RtfScorer(Scorer):
    """RTF and peak memory, from stage 8's log rather than from the audio."""

    metrics = ("rtf",)
    needs = ("rtf log",)
    needs_audio = False

    def score(self, u: Utterance) -> None:
        if u.job.get("rtf") is None:
            u.skip(["rtf"], "no RTF line for this utterance")
            return
        u.row["rtf"] = u.job["rtf"]
        for k in ("elapsed_s", "audio_s", "peak_mem"):
            if u.job.get(k) is not None:
                u.row[k] = u.job[k]


class AlignedScorer(Scorer):
    """A scorer of the synthesized wav against the reference over their WORLD DTW path
    (:meth:`Utterance.alignment`); it does not run when there is no alignment."""

    needs = ("audio", "reference")

    def score(self, u: Utterance) -> None:
        aligned = u.alignment()
        if aligned is not None:
            self.score_aligned(u, *aligned)

    def score_aligned(self, u: Utterance, gw, rw, path) -> None:
        """Fill ``u.row`` or call ``u.skip`` from the WORLD features ``gw`` (synthesized)
        and ``rw`` (reference) and their DTW ``path`` ``(ix, iy)``; never raise."""
        raise NotImplementedError


class McdScorer(AlignedScorer):
    """Mel-cepstral distortion (dB) over the WORLD DTW path."""

    metrics = ("mcd",)

    def score_aligned(self, u: Utterance, gw, rw, path) -> None:
        from espnet_mvc.metrics import mcd

        try:
            u.row["mcd"] = mcd.mcd_from_features(gw, rw, path, include_c0=u.opts["mcd_c0"])
        except Exception as e:
            u.skip(["mcd"], f"MCD failed: {e}")


class F0Scorer(AlignedScorer):
    """log-F0 RMSE and V/UV error over the WORLD DTW path."""

    metrics = ("f0rmse",)

    def score_aligned(self, u: Utterance, gw, rw, path) -> None:
        from espnet_mvc.metrics import f0

        try:
            u.row.update(f0.f0_stats_from_features(gw, rw, path))
        except Exception as e:
            u.skip(["f0rmse"], f"F0 RMSE: {e}")


class PesqStoiScorer(AlignedScorer):
    """Wide-band PESQ and STOI after aligning the output to the reference."""

    metrics = ("pesq", "stoi")

    def score_aligned(self, u: Utterance, gw, rw, path) -> None:
        from espnet_mvc.metrics.intelligibility import pesq_stoi

        try:
            r = pesq_stoi(u.gen, u.reference(), u.fs, path, gw.frame_period,
                          "pesq" in u.want, "stoi" in u.want)
            u.row["align"] = r["align"]
            for m in self.metrics:
                if m in r:
                    u.row[m] = r[m]
                elif f"{m}_error" in r:
                    u.skip([m], r[f"{m}_error"])
        except Exception as e:
            u.skip(self.metrics, f"PESQ/STOI failed: {type(e).__name__}: {e}")


class AsrScorer(Scorer):
    """WER and CER (%) of a Whisper transcript against the text."""

    metrics = ("wer", "cer")
    needs = ("audio", "text")

    def score(self, u: Utterance) -> None:
        text = u.job.get("text")
        if text is None:
            u.skip(self.metrics, "no transcript for this utterance")
            return
        if not text.strip():
            u.skip(self.metrics, "empty transcript")
            return
        from espnet_mvc.metrics.asr import error_counts

        lang = u.row["lang"] or "en"
        try:
            asr = _asr(u.opts)
            if not asr.supports(lang):
                for m in self.metrics:
                    u.na[m] = f"English-only ASR, language '{u.row['lang']}'"
                return
            hyp = asr.transcribe(u.gen, u.fs, lang)
            c = error_counts(text, hyp)
            if c["word_n"] == 0:
                u.skip(self.metrics, "transcript has no words after normalization")
                return
            u.row.update(c)
            u.row["hyp"] = hyp
            u.row["wer"] = 100.0 * c["word_err"] / c["word_n"]
            u.row["cer"] = 100.0 * c["char_err"] / max(1, c["char_n"])
        except Exception as e:
            u.skip(self.metrics, f"ASR failed: {e}")


class DnsmosScorer(Scorer):
    """DNSMOS P.835 (OVRL, SIG, BAK) and P.808, no reference needed."""

    metrics = ("dnsmos",)

    def score(self, u: Utterance) -> None:
        try:
            from espnet_mvc.metrics.dnsmos import dnsmos

            u.row.update(dnsmos(u.gen, u.fs))
        except Exception as e:
            u.skip(self.metrics, f"DNSMOS failed: {e}")


class SpeakerScorer(Scorer):
    """Cosine of speaker embeddings: output vs cloning reference, else vs ground truth."""

    metrics = ("spksim",)
    needs = ("audio", "speaker reference")

    def score(self, u: Utterance) -> None:
        entry, spk_ref = u.job.get("spk"), "clone-ref"
        if entry is None and u.job.get("spk_from_ref"):
            entry, spk_ref = u.job.get("ref"), "ground-truth"
        if not entry:
            u.skip(self.metrics, "no speaker reference wav for this utterance")
            return
        try:
            from espnet_mvc.metrics.speaker import speaker_similarity

            sref, sfs = load_entry(entry)
            sim, method = speaker_similarity(u.gen, u.fs, sref, sfs, u.opts["spk_encoder"])
            u.row.update(spksim=sim, spksim_method=method, spk_ref=spk_ref)
        except Exception as e:
            u.skip(self.metrics, f"speaker similarity: {e}")


#: the scorers in the order they run (the order of an utterance's notes)
SCORERS: Tuple[Scorer, ...] = (
    RtfScorer(), McdScorer(), F0Scorer(), PesqStoiScorer(), AsrScorer(), DnsmosScorer(),
    SpeakerScorer(),
)
#: metrics that compare with the ground-truth wav (n/a for every utterance without one)
REF_METRICS = tuple(m for s in SCORERS if "reference" in s.needs for m in s.metrics)


def score_utterance(job: dict) -> dict:
    """Score one utterance with every requested scorer; never raises.

    Args:
        job: See :class:`Utterance`.

    Returns:
        The row: TSV columns plus ``skipped`` and ``na`` (metric -> reason).
    """
    warnings.simplefilter("ignore")
    u = Utterance(job)
    for scorer in SCORERS:
        # the synthesized wav is read once, before the first audio scorer, even when no
        # audio metric is requested: its rate and readability decide the utterance's status
        if scorer.needs_audio and u.gen is None and not u.load_synthesized():
            break
        if u.active(scorer.metrics):
            scorer.score(u)
    return u.finish()


# one Whisper per process: loading it costs seconds, and workers score many utterances
_ASR = None
_ASR_ERR: Optional[str] = None


def _asr(opts: dict):
    global _ASR, _ASR_ERR
    if _ASR is None and _ASR_ERR is None:
        from espnet_mvc.metrics.asr import WhisperASR

        try:
            _ASR = WhisperASR(
                opts["asr_model"], cpu_threads=opts["asr_threads"], beam_size=opts["asr_beam"]
            )
        except Exception as e:
            _ASR_ERR = f"ASR unavailable: {e}"
    if _ASR is None:
        raise AudioError(_ASR_ERR)
    return _ASR


def init_worker(threads: int) -> None:
    """Process-pool initializer: ``threads`` intra-op threads per scoring worker."""
    os.environ["OMP_NUM_THREADS"] = str(threads)
    warnings.simplefilter("ignore")
    try:
        import torch

        torch.set_num_threads(threads)
    except Exception:
        pass
