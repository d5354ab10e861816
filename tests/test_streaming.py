"""Streaming synthesis (espnet_mvc.inference.streaming): exactness with full look-ahead,
closeness with a finite one, seamless vocoded chunks.

Tolerances (tiny config, random weights, float32, CPU):
  * L = inf: streamed mel vs offline ``MVC.inference`` mel, same seed: max |diff| < 1e-4
    (seen: ~1e-6; only float summation order differs).
  * L = inf, conv vocoder with context >= its receptive field: streamed vs offline-vocoded
    waveform max |diff| < 1e-4 * max |wav| everywhere, seams included (both sides of every
    crossfade are exact).
  * finite L: the mel differs from offline (reported in the assertion messages), more for
    smaller L; clicks: the largest sample-to-sample jump at any seam is no larger than the
    largest jump inside the signal.
"""

import math

import numpy as np
import pytest
import torch
import yaml

from espnet_mvc.inference.streaming import MVCStreamer
from espnet_mvc.metrics.mcd import mcd_from_log_mels
from espnet_mvc.tts.mvc.mvc import MVC

ODIM = 80
IDIM = 20
HOP = 64
FS = 16000
INF = float("inf")


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # tiny tensors: one thread avoids OpenMP spin contention on shared CPUs
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def tiny_model(seed: int = 0, **overrides) -> MVC:
    torch.manual_seed(seed)
    with open("conf/mvc_tiny.yaml") as f:
        conf = yaml.safe_load(f)["tts_conf"]
    conf.update(overrides)
    m = MVC(idim=IDIM, odim=ODIM, **conf).eval()
    with torch.no_grad():
        # untrained: make the decoder's output layer (zero-initialised) and the durations
        # (about 4 frames per token) non-trivial so the tests exercise every path
        torch.nn.init.normal_(m.decoder.estimator.out.weight, std=0.2)
        torch.nn.init.normal_(m.decoder.estimator.out.bias, std=0.2)
        m.duration_predictor.proj.weight.mul_(0.3)
        m.duration_predictor.proj.bias.fill_(math.log(5.0))
    return m


@pytest.fixture(scope="module")
def model():
    return tiny_model()


@pytest.fixture(scope="module")
def inputs():
    g = torch.Generator().manual_seed(1)
    text = torch.randint(2, IDIM, (17,), generator=g)
    ref = torch.randn(40, ODIM, generator=g)
    return text, ref


def tiny_hifigan(hop: int = HOP):
    from espnet2.gan_tts.hifigan import HiFiGANGenerator

    torch.manual_seed(3)
    gen = HiFiGANGenerator(
        in_channels=ODIM, out_channels=1, channels=32, kernel_size=7,
        upsample_scales=[8, hop // 8], upsample_kernel_sizes=[16, 2 * (hop // 8)],
        resblock_kernel_sizes=[3], resblock_dilations=[[1, 3]],
    ).eval()
    gen.remove_weight_norm()
    return gen


def streamed_mel(streamer, text, ref, **kw):
    chunks = list(streamer.stream(text, ref_feats=ref, **kw))
    return torch.from_numpy(np.concatenate(chunks)), chunks


# ---------------------------------------------------------------------------- exactness
@pytest.mark.parametrize("chunk", [2, 4, 8, 16])
def test_infinite_lookahead_equals_offline(model, inputs, chunk):
    text, ref = inputs
    off = model.inference(text, feats=ref, seed=7)["feat_gen"]
    st = MVCStreamer(model, None, hop_length=HOP, fs=FS)
    mel, chunks = streamed_mel(st, text, ref, chunk_frames=chunk, lookahead_seconds=INF,
                               seed=7)
    T = off.shape[0]
    assert T >= 40, "durations too short for a meaningful test"
    assert mel.shape == off.shape
    assert len(chunks) == math.ceil(T / chunk)
    assert all(c.shape[0] == chunk for c in chunks[:-1])
    diff = (mel - off).abs().max().item()
    assert diff < 1e-4, f"chunk {chunk}: max |streamed - offline| = {diff}"
    stats = st.last_stats
    assert stats.n_chunks == len(chunks) and stats.n_frames == T
    assert 0 < stats.first_chunk_latency_s <= stats.total_s
    assert len(stats.chunk_ready_s) == len(chunks)
    assert torch.equal(stats.mel, mel)


@pytest.mark.parametrize("solver,steps", [("euler", 3), ("midpoint", 2)])
def test_exact_for_each_solver(model, inputs, solver, steps):
    text, ref = inputs
    off = model.inference(text, feats=ref, seed=2, solver=solver, n_timesteps=steps,
                          temperature=0.9)["feat_gen"]
    st = MVCStreamer(model, None, hop_length=HOP, fs=FS)
    mel, _ = streamed_mel(st, text, ref, chunk_frames=6, lookahead_seconds=INF, seed=2,
                          solver=solver, n_timesteps=steps, temperature=0.9)
    assert st.last_stats.n_evaluations == steps * (2 if solver == "midpoint" else 1)
    assert (mel - off).abs().max().item() < 1e-4


def test_lookahead_reaching_the_end_is_exact(model, inputs):
    """A finite look-ahead longer than the utterance is the offline result too."""
    text, ref = inputs
    off = model.inference(text, feats=ref, seed=0)["feat_gen"]
    st = MVCStreamer(model, None, hop_length=HOP, fs=FS)
    mel, _ = streamed_mel(st, text, ref, chunk_frames=4, lookahead_frames=off.shape[0],
                          seed=0)
    assert (mel - off).abs().max().item() < 1e-4


def test_exact_with_sids_and_no_adaln():
    m = tiny_model(seed=5, style_encoder="none", spks=3, adaln=False)
    text = torch.randint(2, IDIM, (11,), generator=torch.Generator().manual_seed(4))
    sids = torch.tensor([2])
    off = m.inference(text, sids=sids, seed=1)["feat_gen"]
    st = MVCStreamer(m, None, hop_length=HOP, fs=FS)
    chunks = list(st.stream(text, sids=sids, chunk_frames=4, lookahead_seconds=INF, seed=1))
    assert (torch.from_numpy(np.concatenate(chunks)) - off).abs().max().item() < 1e-4


def test_denoiser_and_prosody_chunks_match_offline(model):
    """Unit level: the chunked U-Net / prosody stack over windows reaching the end."""
    torch.manual_seed(0)
    est = model.decoder.estimator
    pros = model.prosody_predictor
    for T in (21, 30):
        x, mu = torch.randn(1, ODIM, T), torch.randn(1, ODIM, T)
        t, style = torch.tensor([0.4]), torch.randn(1, model.style_dim)
        h = torch.randn(1, T, model.adim)
        with torch.no_grad():
            ref_v = est(x, torch.ones(1, 1, T), mu, t, style)
            ref_c, ref_f0, _ = pros(h, torch.tensor([T]), style)
            cache = pcache = None
            vs, cs, f0s = [], [], []
            for s in range(0, T, 4):
                c = min(4, T - s)
                v, cache = est.forward_chunk(x[..., s:], torch.ones(1, 1, T - s),
                                             mu[..., s:], t, style, c, cache)
                cc, f0, _, pcache = pros.forward_chunk(h[:, s:], c, style, pcache)
                vs.append(v[..., :c])
                cs.append(cc[:, :c])
                f0s.append(f0[:, :c])
        assert (torch.cat(vs, -1) - ref_v).abs().max() < 1e-4
        assert (torch.cat(cs, 1) - ref_c).abs().max() < 1e-4
        assert (torch.cat(f0s, 1) - ref_f0).abs().max() < 1e-4


# ---------------------------------------------------------------------------- finite look-ahead
def test_finite_lookahead_close_not_identical(model, inputs):
    text, ref = inputs
    off = model.inference(text, feats=ref, seed=7)["feat_gen"]
    st = MVCStreamer(model, None, hop_length=HOP, fs=FS)
    errs = {}
    for la in (0, 4, 12):
        mel, _ = streamed_mel(st, text, ref, chunk_frames=4, lookahead_frames=la, seed=7)
        assert mel.shape == off.shape and torch.isfinite(mel).all()
        errs[la] = dict(
            max=(mel - off).abs().max().item(),
            mean=(mel - off).abs().mean().item(),
            mcd=mcd_from_log_mels(mel, off),
        )
    scale = off.abs().mean().item()
    assert errs[0]["max"] > 1e-4, f"finite look-ahead unexpectedly exact: {errs}"
    # closer to offline with more look-ahead (mean error), and far below the signal level
    assert errs[12]["mean"] < errs[0]["mean"], errs
    assert errs[12]["mean"] < 0.2 * scale, (errs, scale)


# ---------------------------------------------------------------------------- vocoder
def max_jumps(wav: np.ndarray, seams):
    d = np.abs(np.diff(wav))
    seam_idx = np.array([s - 1 for s in seams if 0 < s < len(wav)])
    inside = np.delete(d, seam_idx) if len(seam_idx) else d
    return (d[seam_idx].max() if len(seam_idx) else 0.0), inside.max()


def test_vocoded_stream_matches_offline_vocoding(model, inputs):
    text, ref = inputs
    voc = tiny_hifigan()
    off_mel = model.inference(text, feats=ref, seed=7)["feat_gen"]
    with torch.no_grad():
        off_wav = voc.inference(off_mel).view(-1).numpy()
    st = MVCStreamer(model, voc.inference, hop_length=HOP, fs=FS)
    chunks = list(st.stream(text, ref_feats=ref, chunk_frames=4, lookahead_seconds=INF,
                            seed=7, vocoder_context_frames=(12, 12), crossfade_samples=32))
    wav = np.concatenate(chunks)
    assert wav.dtype == np.float32 and len(wav) == off_mel.shape[0] * HOP
    assert [len(c) for c in chunks] == st.last_stats.chunk_samples
    assert st.last_stats.vocoder_s > 0
    peak = np.abs(off_wav).max()
    diff = np.abs(wav - off_wav).max()
    assert diff < 1e-4 * peak, f"max |streamed - offline wav| = {diff} (peak {peak})"


@pytest.mark.parametrize("crossfade", ["linear", "equal_power"])
def test_finite_lookahead_stream_has_no_clicks(model, inputs, crossfade):
    text, ref = inputs
    voc = tiny_hifigan()
    off_mel = model.inference(text, feats=ref, seed=7)["feat_gen"]
    with torch.no_grad():
        off_wav = voc.inference(off_mel).view(-1).numpy()
    st = MVCStreamer(model, voc.inference, hop_length=HOP, fs=FS)
    chunks = list(st.stream(text, ref_feats=ref, chunk_frames=4, lookahead_frames=6, seed=7,
                            vocoder_context_frames=(8, 4), crossfade=crossfade))
    wav = np.concatenate(chunks)
    assert len(wav) == len(off_wav)
    seams = np.cumsum([len(c) for c in chunks])[:-1]
    at_seams, inside = max_jumps(wav, seams)
    assert at_seams <= inside, f"click: seam jump {at_seams} > max inner jump {inside}"
    # close to the offline waveform (same noise, same vocoder), not identical
    rel = np.sqrt(np.mean((wav - off_wav) ** 2) / np.mean(off_wav**2))
    assert 0 < rel < 0.5, rel


def test_no_context_vocoding_still_has_right_length(model, inputs):
    text, ref = inputs
    voc = tiny_hifigan()
    st = MVCStreamer(model, voc.inference, hop_length=HOP, fs=FS)
    wav, stats = st.synthesize(text, ref_feats=ref, chunk_frames=2, lookahead_frames=0,
                               vocoder_context_frames=0)
    assert len(wav) == stats.n_frames * HOP


def test_griffin_lim_vocoder_and_denormalize(model, inputs):
    from espnet2.utils.griffin_lim import Spectrogram2Waveform

    text, ref = inputs
    gl = Spectrogram2Waveform(n_fft=256, n_shift=HOP, fs=FS, n_mels=ODIM, fmin=0,
                              fmax=FS // 2, griffin_lim_iters=2)
    calls = []

    def denorm(mel):
        calls.append(mel.shape[0])
        return mel * 0.5 - 2.0

    st = MVCStreamer(model, gl, denormalize=denorm, hop_length=HOP, fs=FS)
    wav, stats = st.synthesize(text, ref_feats=ref, chunk_frames=8, lookahead_frames=8)
    assert len(wav) == stats.n_frames * HOP and np.isfinite(wav).all()
    assert len(calls) == stats.n_chunks


# ---------------------------------------------------------------------------- API
def test_precomputed_style_gives_the_same_stream(model, inputs):
    text, ref = inputs
    st = MVCStreamer(model, None, hop_length=HOP, fs=FS)
    a, _ = streamed_mel(st, text, ref, chunk_frames=4, lookahead_frames=6, seed=3)
    style = st.style(ref)
    b = torch.from_numpy(np.concatenate(list(st.stream(text, style=style, chunk_frames=4,
                                                       lookahead_frames=6, seed=3))))
    assert torch.equal(a, b)


def test_stats_record_timing(model, inputs):
    text, ref = inputs
    st = MVCStreamer(model, tiny_hifigan().inference, hop_length=HOP, fs=FS)
    gen = st.stream(text, ref_feats=ref, chunk_frames=8, lookahead_frames=8)
    first = next(gen)
    stats = st.last_stats
    assert stats.n_chunks == 1 and len(first) == 8 * HOP
    assert stats.first_chunk_latency_s > 0 and stats.first_chunk_cpu_s > 0
    rest = list(gen)
    assert stats.n_chunks == 1 + len(rest) == math.ceil(stats.n_frames / 8)
    assert stats.chunk_ready_s == sorted(stats.chunk_ready_s)
    s = stats.summary()
    assert s["n_chunks"] == stats.n_chunks and s["rtf"] > 0 and s["audio_s"] > 0


def test_seconds_to_frames_and_first_chunk(model, inputs):
    text, ref = inputs
    st = MVCStreamer(model, None, hop_length=HOP, fs=FS)
    # 0.02 s at 250 frames/s = 5 frames -> rounded up to 6 (even)
    chunks = list(st.stream(text, ref_feats=ref, chunk_seconds=0.02, lookahead_seconds=0.03,
                            first_chunk_frames=2))
    assert st.last_stats.chunk_frames == 6
    assert st.last_stats.lookahead_frames == math.ceil(0.03 * FS / HOP)
    assert chunks[0].shape[0] == 2 and all(c.shape[0] == 6 for c in chunks[1:-1])


def test_bad_arguments(model, inputs):
    text, ref = inputs
    st = MVCStreamer(model, None, hop_length=HOP, fs=FS)
    with pytest.raises(ValueError):
        st.stream(text, ref_feats=ref, chunk_seconds=0)
    with pytest.raises(ValueError):
        st.stream(text, ref_feats=ref, lookahead_seconds=-1)
    with pytest.raises(ValueError):
        st.stream(text, ref_feats=ref, crossfade="cubic")
    with pytest.raises(ValueError):
        next(st.stream(text, ref_feats=None))  # the model needs a reference
    with pytest.raises(ValueError):
        st.stream(text, ref_feats=ref, alpha=0)
    est = model.decoder.estimator
    x = torch.randn(1, ODIM, 5)
    _, cache = est.forward_chunk(x, torch.ones(1, 1, 5), x, torch.zeros(1), torch.randn(1, 16),
                                 5, None)
    with pytest.raises(ValueError):  # an odd commit closes the stream
        est.forward_chunk(x, torch.ones(1, 1, 5), x, torch.zeros(1), torch.randn(1, 16), 2,
                          cache)


def test_benchmark_runs_tiny(tmp_path, capsys):
    import json

    from espnet_mvc.benchmarks import streaming_latency as bench

    rc = bench.main(["--quick", "--config", "conf/mvc_tiny.yaml", "--vocoder", "hifigan_v2",
                     "--lookaheads", "0.5", "inf", "--threads", "1", "--out-dir",
                     str(tmp_path)])
    assert rc == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert any(ln.startswith("# cpu_capability: ") for ln in lines[:6]), lines[:6]
    assert lines[-1].startswith("first_chunk_latency_ms_L0.5: ")
    assert float(lines[-1].split(":")[1]) > 0
    res = json.loads((tmp_path / "streaming_results.json").read_text())
    rows = {r["L"]: r for r in res["rows"]}
    assert rows["inf"]["mel_max_abs_diff"] < 1e-4  # unlimited look-ahead = offline
    assert rows["0.5"]["mel_max_abs_diff"] > rows["inf"]["mel_max_abs_diff"]
