"""It learns: a short CPU training run of the tiny MVC on a few dozen synthetic utterances
drives the mel (prior) loss and the duration loss far below their starting values, the
flow-matching loss down too, and the trained model predicts utterance lengths.

Data: deterministic synthetic "speech". Each of 10 phone tokens is a harmonic tone with its
own F0, two formant-like spectral peaks and its own duration (2-8 frames of 256 samples);
an utterance concatenates the tones of 4-8 random tokens. Features are ESPnet's fbank
(22.05 kHz, n_fft 1024, hop 256, 80 mels) with global mean/variance normalisation, as in
training. (espeak-ng speech, ``espnet_mvc.text.espeak``, would also do, but tones give
known ground-truth durations and no dependence on espeak's process-wide synthesis state.)

The loop is plain PyTorch (Adam on the MVC module, as ESPnet's trainer would do with
``optim: adam``): 250 steps of batch 8, ~30-60 s on 2 CPU cores.
"""

import numpy as np
import pytest
import torch

from espnet_mvc.tts.mvc import MVC

FS, HOP = 22050, 256
N_PHONES = 10
IDIM = N_PHONES + 3  # <blank>, <unk>, phones, <sos/eos>
DUR = {2 + k: 2 + (k * 3) % 7 for k in range(N_PHONES)}  # frames per phone: 2..8
F0 = {2 + k: 100.0 + 23.0 * k for k in range(N_PHONES)}
FORMANTS = {2 + k: (300.0 + 170.0 * k, 2600.0 - 150.0 * k) for k in range(N_PHONES)}
N_UTTS, BATCH, STEPS, LR = 32, 8, 250, 2e-3


def _tone(token: int, n: int) -> np.ndarray:
    t = np.arange(n) / FS
    phase = 2 * np.pi * F0[token] * t
    x = np.zeros(n)
    for h in range(1, 25):
        fh = h * F0[token]
        if fh > 7000:
            break
        gain = sum(np.exp(-(((fh - fm) / 250.0) ** 2)) for fm in FORMANTS[token]) + 0.02
        x += gain * np.sin(h * phase)
    return 0.5 * x * np.hanning(n) ** 0.25 / (np.abs(x).max() + 1e-9)


@pytest.fixture(scope="module")
def corpus():
    from espnet2.tts.feats_extract.log_mel_fbank import LogMelFbank

    rng = np.random.default_rng(0)
    fbank = LogMelFbank(fs=FS, n_fft=1024, hop_length=HOP, n_mels=80, fmin=80, fmax=7600)
    texts, feats = [], []
    for _ in range(N_UTTS):
        tokens = rng.integers(2, 2 + N_PHONES, size=int(rng.integers(4, 9))).tolist()
        wav = torch.tensor(np.concatenate([_tone(k, DUR[k] * HOP) for k in tokens]),
                           dtype=torch.float32)
        with torch.no_grad():
            f, _ = fbank(wav[None], torch.tensor([wav.numel()]))
        texts.append(torch.tensor(tokens))
        feats.append(f[0])
    stacked = torch.cat(feats)
    mean, std = stacked.mean(0), stacked.std(0)
    feats = [(f - mean) / std for f in feats]
    # fbank frames = samples / hop + 1: the token durations cover the utterance
    for t, f in zip(texts, feats):
        assert f.shape[0] == sum(DUR[int(k)] for k in t) + 1
    return texts, feats


def _batch(corpus, idx):
    texts, feats = corpus
    tl = torch.tensor([texts[i].numel() for i in idx])
    fl = torch.tensor([feats[i].shape[0] for i in idx])
    text = torch.zeros(len(idx), int(tl.max()), dtype=torch.long)
    mel = torch.zeros(len(idx), int(fl.max()), 80)
    for j, i in enumerate(idx):
        text[j, : tl[j]] = texts[i]
        mel[j, : fl[j]] = feats[i]
    return text, tl, mel, fl


def _length_error(mvc, corpus):
    """Mean relative error of the predicted utterance length (frames) on the corpus."""
    texts, feats = corpus
    errors = []
    with torch.no_grad():
        for text, mel in zip(texts, feats):
            out = mvc.inference(text, feats=mel, temperature=0.0, n_timesteps=1)
            errors.append(abs(int(out["duration"].sum()) - mel.shape[0]) / mel.shape[0])
    return float(np.mean(errors))


@pytest.mark.slow
def test_short_training_run_learns(corpus, mvc_conf):
    torch.manual_seed(0)
    mvc = MVC(idim=IDIM, odim=80, **mvc_conf("mvc_tiny")["tts_conf"])
    mvc.eval()
    error_before = _length_error(mvc, corpus)
    optim = torch.optim.Adam(mvc.parameters(), lr=LR)
    order = torch.Generator().manual_seed(0)
    history = []
    mvc.train()
    for _ in range(STEPS):
        idx = torch.randperm(N_UTTS, generator=order)[:BATCH].tolist()
        loss, stats, _ = mvc(*_batch(corpus, idx))
        optim.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(mvc.parameters(), 1.0)
        optim.step()
        history.append({k: float(v) for k, v in stats.items()})
        assert np.isfinite(history[-1]["loss"]), history[-1]

    def mean(key, sl):
        return float(np.mean([h[key] for h in history[sl]]))

    first, last = slice(0, 5), slice(-20, None)
    ratios = {k: mean(k, last) / mean(k, first)
              for k in ("prior_loss", "dur_loss", "diff_loss", "loss")}
    report = {k: (round(mean(k, first), 3), round(mean(k, last), 3), round(r, 3))
              for k, r in ratios.items()}
    assert ratios["prior_loss"] < 0.5, report
    assert ratios["dur_loss"] < 0.5, report
    assert ratios["diff_loss"] < 0.8, report
    assert ratios["loss"] < 0.5, report

    # the duration predictor learned the utterance lengths (untrained: ~1 frame/token)
    mvc.eval()
    error_after = _length_error(mvc, corpus)
    assert error_before > 0.5, error_before
    assert error_after < 0.2, (error_before, error_after)
