#!/usr/bin/env python3
"""Where a vocoder loses DNSMOS: in its magnitudes, its phases, or on the TTS model's mels.

    local/vocoder_dnsmos.py --data dump_x/raw/test \\
        --decoded-feats exp_x/<tts exp>/<decode>/test/denorm/feats.scp \\
        exp_x/vocoder/vocoder.pth [exp_x/vocoder_ph/vocoder.pth ...]

For each utterance of ``--data`` (its ``wav.scp``) and each vocoder (a plugin Vocos
``vocoder.pth`` with its ``vocoder.yaml``), DNSMOS P.835 (OVRL, and its SIG and BAK parts)
of:

* ``recordings``: the recordings themselves;
* ``resynth``: the recordings' own STFT on the vocoder's frames, inverted (what the framing
  alone costs: nothing, up to the edges);
* ``copy``: the vocoder on the recordings' mels (copy synthesis);
* ``copy_recording_magnitude``: the recordings' STFT magnitudes with the vocoder's phases;
* ``copy_recording_phase``: the vocoder's magnitudes with the recordings' phases;
* ``decoded``: the vocoder on a TTS model's decoded mels (``--decoded-feats``, the
  ``denorm/feats.scp`` of a stage-8 decode of the same set), if given.

``copy`` against the two swaps says which of the vocoder's outputs, magnitude or phase, the
gap to the recordings is in; ``copy`` against ``decoded`` what the TTS model's mels add.
Printed as ``<vocoder dir>_<case>_<metric>: value`` lines, means over the utterances.
"""

import argparse
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import soundfile as sf
import torch
from espnet2.fileio.read_text import read_2columns_text

from espnet_mvc.metrics.dnsmos import dnsmos
from espnet_mvc.vocoder import load_vocoder
from espnet_mvc.vocoder.data import build_feats_extract, compute_mel

METRICS = ("dnsmos", "dnsmos_sig", "dnsmos_bak")


def vocoder_cases(vocoder, wav: np.ndarray, decoded_mel: Optional[np.ndarray],
                  feats: Optional[torch.nn.Module] = None) -> Dict[str, np.ndarray]:
    """The waveforms of every case (see the module docstring) for one recording.

    Args:
        vocoder: :class:`espnet_mvc.vocoder.Vocoder` with a Vocos generator.
        wav (ndarray): The recording (L,), at the vocoder's rate.
        decoded_mel (Optional[ndarray]): A TTS model's log-mel of the same sentence (T, n_mels).
        feats: The vocoder's feature extractor (built from its config when not given).
    """
    gen = vocoder.generator
    if not hasattr(gen, "spectrum"):
        raise ValueError(f"{type(gen).__name__} does not expose its STFT (a Vocos generator does)")
    if feats is None:
        feats = build_feats_extract(vocoder.feats_extract_conf)
    x = torch.from_numpy(wav.astype(np.float32))
    with torch.no_grad():
        mel = compute_mel(feats, x)  # (T, n_mels)
        spec = gen.spectrum(mel.T.unsqueeze(0))  # (1, F, T)
        frames = spec.shape[-1]
        length = frames * gen.hop_length
        x = torch.nn.functional.pad(x, (0, max(0, length - len(x))))[:length]
        real = torch.stft(x, gen.n_fft, gen.hop_length, gen.n_fft, gen.window, center=True,
                          return_complex=True)[:, :frames].unsqueeze(0)
        cases = {
            "resynth": real,
            "copy": spec,
            "copy_recording_magnitude": torch.polar(real.abs(), spec.angle()),
            "copy_recording_phase": torch.polar(spec.abs(), real.angle()),
        }
        out = {k: gen.istft(s)[0].numpy() for k, s in cases.items()}
        if decoded_mel is not None:
            out["decoded"] = vocoder(torch.from_numpy(decoded_mel).float()).numpy()
    return out


def diagnose(data_dir: Path, vocoder_files: Sequence[Path], decoded_feats: Optional[Path] = None,
             limit: Optional[int] = None) -> Dict[str, float]:
    """Mean DNSMOS of each case and vocoder (keys ``<vocoder dir>_<case>_<metric>``, and
    ``recordings_<metric>``)."""
    wavs = read_2columns_text(data_dir / "wav.scp")
    utts = sorted(wavs)[:limit]
    decoded = read_2columns_text(decoded_feats) if decoded_feats else {}
    missing = [u for u in utts if decoded and u not in decoded]
    if missing:
        raise ValueError(f"{decoded_feats}: no decoded mels for {missing[:3]} ({len(missing)})")
    scores: Dict[str, List[Dict[str, float]]] = {}
    vocoders = [(Path(f).parent.name, voc, build_feats_extract(voc.feats_extract_conf))
                for f in vocoder_files for voc in [load_vocoder(f)]]
    for u in utts:
        wav, fs = sf.read(wavs[u], dtype="float32")
        mel = np.load(decoded[u]) if decoded else None
        scores.setdefault("recordings", []).append(dnsmos(wav, fs))
        for name, voc, feats in vocoders:
            if fs != voc.fs:
                raise ValueError(f"{wavs[u]}: {fs} Hz, but the vocoder {name} is {voc.fs} Hz")
            for case, y in vocoder_cases(voc, wav, mel, feats).items():
                scores.setdefault(f"{name}_{case}", []).append(dnsmos(y, fs))
    return {f"{k}_{m}": float(np.mean([r[m] for r in v]))
            for k, v in scores.items() for m in METRICS}


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("vocoders", nargs="+", type=Path, help="vocoder.pth files")
    p.add_argument("--data", type=Path, required=True, help="data dir with wav.scp")
    p.add_argument("--decoded-feats", type=Path, default=None,
                   help="denorm/feats.scp of a stage-8 decode of the same set")
    p.add_argument("--limit", type=int, default=None, help="the first N utterances only")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    for k, v in diagnose(args.data, args.vocoders, args.decoded_feats, args.limit).items():
        print(f"{k}: {v:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
