"""Streaming benchmark: first-chunk latency, total RTF and distance to offline, per look-ahead.

    python -m espnet_mvc.bin.benchmark streaming [--quick] [--model EXP_OR_ZIP --text "..."]
    python -m espnet_mvc.benchmarks.streaming_latency [same options]

Default (no ``--model``): MVC at the paper size (``conf/mvc_base.yaml``) with **random
weights** -- timing does not depend on the weights; the streamed-vs-offline mel distance is
that of an untrained network (same model, same seed), so it shows how far the look-ahead
truncation moves the output, not how audible that is. The U-Net's output conv, which is
zero-initialised (an untrained decoder returns its noise), gets random weights. A ~5 s
"sentence": 72 random phoneme ids; the duration head is set to a constant 6 frames per
phoneme (its weight zeroed, its bias log(7)) so the utterance has 432 frames (5.0 s at
22.05 kHz, hop 256) -- a random duration head gives ~1 frame per phoneme. Voice cloning from a 3 s reference mel (the style encoder
runs on every call and is part of the latency). Vocoder: ESPnet's ``HiFiGANGenerator`` at
its LJSpeech V1 size (random weights, weight norm removed as for inference), ``--vocoder``
picks another (``hifigan_v2``: 128 channels; ``griffin_lim``; ``none``: mel only).

For each look-ahead L in {0.25, 0.5, 1.0, inf} s (chunk 0.25 s, 4 Euler steps):

* first-chunk latency: wall time from the start of the stream to the first audio chunk
  (text side + style + first prosody window + 4 chunked U-Net evaluations + vocoder);
  median and min over ``--repeats`` runs (runs of all L are interleaved so that a change of
  machine load hits all alike), with the per-stage breakdown of the median run;
* total RTF: stream wall time / audio duration;
* distance of the streamed mel to the offline ``MVC.inference`` mel with the same seed:
  max |diff| and a frame-aligned mel-cepstral distance (MCD, dB: DCT-II of the log-mel,
  c1..c24, no DTW; computed directly on the mel features, de-normalised when the model has
  a ``global_mvn``). WER needs a trained model: with ``--model`` the streamed and offline
  waveforms are transcribed with ``espnet_mvc.metrics`` (faster-whisper) and the WER of
  each against the input text is printed.

Timing on a shared machine: OpenMP's default busy-waiting makes 2 threads collapse (50x
slower matmuls seen here at load 8 on 2 cores), so this module sets
``OMP_WAIT_POLICY=PASSIVE`` unless the environment sets it. libgomp reads it when torch is
imported, which ``import espnet_mvc`` already does, so ``python -m
espnet_mvc.benchmarks.streaming_latency`` re-executes itself once with the variable set;
called as ``main(argv)`` (the dispatcher) it prints a warning instead when more than one
thread is used without it. CPU time (process, all threads) is printed beside wall time: it is
what the work costs whatever share of the machine the process got.

Last line: ``first_chunk_latency_ms_L0.5: <median ms>``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import numpy as np

from espnet_mvc.benchmarks.machine import cpu_capability, machine_note

FS = 22050
HOP = 256
N_PHONEMES = 72
FRAMES_PER_PHONEME = 6
REF_SECONDS = 3.0
LOOKAHEADS = (0.25, 0.5, 1.0, float("inf"))
DEFAULT_TEXT = (
    "The quick brown fox jumps over the lazy dog, and then it runs far away into the woods."
)


def _fmt_l(la: float) -> str:
    return "inf" if math.isinf(la) else f"{la:g}"


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="python -m espnet_mvc.bin.benchmark streaming",
        description="Streaming MVC: first-chunk latency, total RTF and streamed-vs-offline "
                    "distance for look-aheads L in {0.25, 0.5, 1.0, inf} s.",
    )
    p.add_argument("--quick", action="store_true", help="1 timed run per L (default 3)")
    p.add_argument("--repeats", type=int, default=None)
    p.add_argument("--lookaheads", type=float, nargs="+", default=list(LOOKAHEADS),
                   help="look-aheads in seconds ('inf' allowed)")
    p.add_argument("--chunk", type=float, default=0.25, help="chunk length (s)")
    p.add_argument("--first-chunk", type=float, default=None,
                   help="a shorter first chunk (s) for lower first-chunk latency")
    p.add_argument("--steps", type=int, default=4, help="flow-matching Euler steps")
    p.add_argument("--vocoder", default="hifigan_v1",
                   choices=["hifigan_v1", "hifigan_v2", "griffin_lim", "none"],
                   help="vocoder for the random-weight model (a --model uses its own)")
    p.add_argument("--vocoder-context", type=int, nargs=2, default=[8, 8],
                   metavar=("LEFT", "RIGHT"), help="mel context frames of each vocoder window")
    p.add_argument("--threads", type=int, default=None, help="default min(2, cpus)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model", default=None,
                   help="trained model (packed zip / exp dir): real text, WER via Whisper")
    p.add_argument("--text", default=DEFAULT_TEXT, help="sentence (with --model)")
    p.add_argument("--lang", default=None)
    p.add_argument("--lang2lid", default=None, type=Path,
                   help="language id map (with --model, when not beside its config)")
    p.add_argument("--ref", default=None, help="reference wav (with --model; default: espeak)")
    p.add_argument("--asr-model", default=None, help="CTranslate2 Whisper dir for the WER")
    p.add_argument("--out-dir", default="bench_out", type=Path)
    p.add_argument("--config", default=None, type=Path,
                   help="MVC config for the random-weight model (default conf/mvc_base.yaml)")
    return p.parse_args(argv)


# ---------------------------------------------------------------------------- systems
class Setup:
    """The model, vocoder, inputs and (optionally) the ASR of one benchmark run."""

    mvc: Any
    vocoder: Optional[Callable]
    denormalize: Optional[Callable]
    text_ids: Any
    ref_feats: Any
    extra: Dict[str, Any]
    text: Optional[str] = None
    description: str = ""


def _random_setup(args) -> Setup:
    import torch

    from espnet_mvc.benchmarks import baselines as B

    torch.manual_seed(args.seed)
    conf = B.load_mvc_conf(args.config) if args.config else B.load_mvc_conf()
    vocab = 100
    mvc = B.build_mvc(idim=vocab, conf=conf)
    with torch.no_grad():  # constant durations: a 5 s utterance (see module doc)
        mvc.duration_predictor.proj.weight.zero_()
        mvc.duration_predictor.proj.bias.fill_(
            math.log(FRAMES_PER_PHONEME + mvc.duration_predictor.offset))
        # the U-Net's output conv is zero-initialised (untrained: v = 0, mel = noise); give
        # it random weights so the mel depends on mu, the style and the look-ahead
        out = mvc.decoder.estimator.out
        torch.nn.init.normal_(out.weight, std=out.in_channels ** -0.5)
    s = Setup()
    s.mvc = mvc
    s.text_ids = B.random_text(N_PHONEMES, vocab, seed=args.seed)[0]
    g = torch.Generator().manual_seed(args.seed + 1)
    s.ref_feats = torch.randn(int(REF_SECONDS * FS / HOP), mvc.odim, generator=g)
    s.denormalize = None
    s.extra = {}
    s.vocoder = None
    voc_desc = "none (mel chunks)"
    if args.vocoder in ("hifigan_v1", "hifigan_v2"):
        from espnet2.gan_tts.hifigan import HiFiGANGenerator

        conf_v = dict(B.HIFIGAN_V1, in_channels=mvc.odim)
        if args.vocoder == "hifigan_v2":
            conf_v.update(channels=128)
        gen = HiFiGANGenerator(**conf_v).eval()
        gen.remove_weight_norm()
        s.vocoder = gen.inference
        voc_desc = f"HiFiGANGenerator {args.vocoder} (random weights, weight norm removed)"
    elif args.vocoder == "griffin_lim":
        from espnet2.utils.griffin_lim import Spectrogram2Waveform

        s.vocoder = Spectrogram2Waveform(n_fft=1024, n_shift=HOP, fs=FS, n_mels=mvc.odim,
                                         fmin=80, fmax=7600, griffin_lim_iters=8)
        voc_desc = "Griffin-Lim (8 iterations)"
    s.description = (
        f"MVC {('conf ' + str(args.config)) if args.config else 'conf/mvc_base.yaml'} "
        f"(random weights; duration head fixed at {FRAMES_PER_PHONEME} frames/phoneme, "
        f"U-Net output conv randomised), "
        f"{N_PHONEMES} random phonemes, {REF_SECONDS:g} s random reference mel; vocoder: "
        f"{voc_desc}"
    )
    s.fs, s.hop = FS, HOP
    return s


def _trained_setup(args) -> Setup:
    from espnet_mvc.espnet.registry import is_mvc
    from espnet_mvc.inference.synthesizer import MVCSynthesizer

    syn = MVCSynthesizer.from_pretrained(args.model)
    if args.lang2lid is not None:
        syn.lang2lid = {k: int(v) for k, v in (
            line.split() for line in args.lang2lid.read_text().splitlines() if line.strip())}
    if not is_mvc(syn.t2s.tts):
        raise SystemExit(f"{args.model}: not an MVC model; streaming needs MVC")
    ref = args.ref
    if syn.uses_reference and ref is None:
        from espnet_mvc.metrics import testaudio

        wav, sr = testaudio.speech("This is the reference voice for the benchmark.")
        ref = (wav.astype(np.float32) / (32768.0 if wav.dtype.kind == "i" else 1.0), sr)
    ids = syn.text_to_ids(args.text, args.lang)
    kw = syn.voice_inputs(ref, None, args.lang, None)
    model = syn.t2s.model
    s = Setup()
    s.mvc = syn.mvc
    s.text_ids = ids
    s.ref_feats = syn.reference_features(kw["speech"]) if "speech" in kw else None
    streamer = syn.streamer()  # the vocoder and denormalisation MVCSynthesizer.stream uses
    s.vocoder, s.denormalize = streamer.vocoder, streamer.denormalize
    if model.normalize is not None and s.denormalize is None:
        # a joint model vocodes its normalised mel; the MCD still compares log mels
        def denorm(mel):
            return model.normalize.inverse(mel.clone()[None])[0][0]

        s.mel_denormalize = denorm
    s.extra = {k: kw[k] for k in ("sids", "lids") if k in kw}
    s.text = args.text
    s.fs = syn.fs
    s.hop = streamer.hop_length
    s.description = f"trained model {args.model} ({type(s.vocoder).__name__} vocoder)"
    return s


# ---------------------------------------------------------------------------- measuring
def _wer(asr, text: str, wav: np.ndarray, fs: int, lang: Optional[str]) -> Optional[float]:
    from espnet_mvc.metrics.asr import error_counts

    hyp = asr.transcribe(wav, fs, lang or "en")
    c = error_counts(text, hyp)
    return 100.0 * c["word_err"] / max(c["word_n"], 1)


def _timed_runs(streamer, setup: Setup, args, stream_kw: dict, lookaheads, repeats: int):
    """Time offline synthesis and streaming at each look-ahead, interleaved, after a warm-up.

    Returns:
        (offline mel (T_frames, n_mels), offline wav or None, offline wall times [s],
        look-ahead key -> the runs' ``StreamStats.summary()``, look-ahead key -> the last
        run's (stats, wav)).
    """
    import torch

    mvc, hop = setup.mvc, setup.hop

    def offline():
        t0 = time.perf_counter()
        with torch.no_grad():
            out = mvc.inference(setup.text_ids, feats=setup.ref_feats, n_timesteps=args.steps,
                                seed=args.seed, **setup.extra)
            mel = out["feat_gen"]
            wav = None
            if setup.vocoder is not None:
                x = mel if setup.denormalize is None else setup.denormalize(mel)
                from espnet_mvc.inference.streaming import to_wave

                wav = to_wave(setup.vocoder(x), mel.shape[0] * hop)
        return mel, wav, time.perf_counter() - t0

    def run(la):
        chunks = list(streamer.stream(setup.text_ids, lookahead_seconds=la, **stream_kw))
        st = streamer.last_stats
        return st, (np.concatenate(chunks) if setup.vocoder is not None else None)

    with torch.inference_mode():
        # warm-up (allocations, the compiled scan's first call)
        off_mel, off_wav, _ = offline()
        for la in lookaheads:
            run(la)
        off_times = []
        times: Dict[str, List[Any]] = {_fmt_l(la): [] for la in lookaheads}
        last: Dict[str, Any] = {}
        for _ in range(repeats):
            off_mel, off_wav, dt = offline()
            off_times.append(dt)
            for la in lookaheads:  # interleaved
                st, wav = run(la)
                times[_fmt_l(la)].append(st.summary())
                last[_fmt_l(la)] = (st, wav)
    return off_mel, off_wav, off_times, times, last


def _load_asr(args, setup: Setup):
    """Whisper for the WER column (a trained model with a vocoder only), or None."""
    if not (args.model and setup.vocoder is not None):
        return None
    try:
        from espnet_mvc.metrics.asr import WhisperASR

        return WhisperASR(args.asr_model)
    except Exception as e:  # missing faster-whisper / model: say so, keep going
        print(f"# WER unavailable: {e}")
        return None


def _lookahead_rows(setup: Setup, args, lookaheads, times, last, off_mel, audio_s: float,
                    asr) -> List[Dict[str, Any]]:
    """Print the table, one row per look-ahead, and return its rows."""
    from espnet_mvc.metrics.mcd import mcd_from_log_mels

    mel_denorm = getattr(setup, "mel_denormalize", None) or setup.denormalize

    def as_log_mel(m):
        return m if mel_denorm is None else mel_denorm(m)

    header = (f"{'L(s)':>5} {'La':>4} {'chunks':>6} {'first_ms':>9} {'first_min':>9} "
              f"{'first_cpu':>9} {'RTF':>6} {'RTF_cpu':>7} {'text':>6} {'pros':>6} {'dec':>6} "
              f"{'voc':>6} {'mel_maxdiff':>11} {'MCD_dB':>7}" + (f" {'WER%':>6}" if asr else ""))
    print("# first_ms / first_min = median / min first-chunk latency (wall); first_cpu = its "
          "process CPU ms (median); RTF = wall / audio, RTF_cpu = CPU / audio; text/pros/dec/"
          "voc = wall ms of the median run in: text side (style + text encoder + durations), "
          "and over all chunks prosody / decoder / vocoder")
    print(header)
    rows = []
    for la in lookaheads:
        key = _fmt_l(la)
        runs = times[key]
        firsts = [r["first_chunk_latency_ms"] for r in runs]
        med = statistics.median(firsts)
        rep = sorted(runs, key=lambda r: r["first_chunk_latency_ms"])[len(runs) // 2]
        rtf = statistics.median(r["rtf"] for r in runs)
        cpu_first = statistics.median(r["first_chunk_cpu_ms"] for r in runs)
        rtf_cpu = statistics.median(r["total_cpu_s"] for r in runs) / audio_s
        st, wav = last[key]
        diff = float((st.mel - off_mel).abs().max())
        mcd = mcd_from_log_mels(as_log_mel(st.mel), as_log_mel(off_mel))
        wer = _wer(asr, setup.text, wav, setup.fs, args.lang) if asr else None
        row = dict(L=key, lookahead_frames=st.lookahead_frames, chunks=st.n_chunks,
                   first_chunk_latency_ms=med, first_chunk_latency_ms_min=min(firsts),
                   first_chunk_latency_ms_all=firsts, first_chunk_cpu_ms=cpu_first,
                   rtf=rtf, rtf_cpu=rtf_cpu, breakdown=rep,
                   mel_max_abs_diff=diff, mcd_db=mcd, wer=wer)
        rows.append(row)
        la_s = "all" if st.lookahead_frames is None else str(st.lookahead_frames)
        print(f"{key:>5} {la_s:>4} {st.n_chunks:>6} {med:>9.1f} {min(firsts):>9.1f} "
              f"{cpu_first:>9.1f} {rtf:>6.3f} {rtf_cpu:>7.3f} "
              f"{rep['text_side_ms']:>6.0f} {rep['prosody_ms']:>6.0f} "
              f"{rep['decoder_ms']:>6.0f} {rep['vocoder_ms']:>6.0f} {diff:>11.2e} "
              f"{mcd:>7.3f}" + (f" {wer:>6.1f}" if asr else ""), flush=True)
    return rows


def main(argv=None) -> int:
    """Run the benchmark (module docstring) on ``argv``; prints the table, returns 0."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from espnet_mvc.benchmarks import baselines as B
    from espnet_mvc.inference.streaming import MVCStreamer

    threads = B.set_threads(args.threads)
    if threads > 1 and "OMP_WAIT_POLICY" not in os.environ:
        print("# WARNING: OMP_WAIT_POLICY is not set: on a busy machine OpenMP busy-waiting "
              "makes >1 thread collapse; run with OMP_WAIT_POLICY=PASSIVE or --threads 1")
    repeats = args.repeats or (1 if args.quick else 3)
    t_build = time.perf_counter()
    setup = _trained_setup(args) if args.model else _random_setup(args)
    build_s = time.perf_counter() - t_build
    setup.mvc.eval()
    fs, hop = setup.fs, setup.hop
    streamer = MVCStreamer(setup.mvc, setup.vocoder, denormalize=setup.denormalize,
                           hop_length=hop, fs=fs)
    lookaheads = list(dict.fromkeys(args.lookaheads))
    print(f"# streaming benchmark: chunk {args.chunk:g} s, L = "
          f"{[_fmt_l(x) for x in lookaheads]} s, {args.steps} Euler steps, "
          f"threads={threads}, repeats={repeats}")
    print(f"# {setup.description}")
    print(f"# {machine_note()}  (build {build_s:.1f}s)")
    print(f"# cpu_capability: {cpu_capability()}")

    stream_kw = dict(ref_feats=setup.ref_feats, n_timesteps=args.steps, seed=args.seed,
                     chunk_seconds=args.chunk, vocoder_context_frames=tuple(args.vocoder_context),
                     **setup.extra)
    if args.first_chunk:
        stream_kw["first_chunk_frames"] = streamer.chunk_frames(args.first_chunk, None)
    off_mel, off_wav, off_times, times, last = _timed_runs(
        streamer, setup, args, stream_kw, lookaheads, repeats)

    n_frames = off_mel.shape[0]
    audio_s = n_frames * hop / fs
    off_med = statistics.median(off_times)
    asr = _load_asr(args, setup)
    wer_off = _wer(asr, setup.text, off_wav, fs, args.lang) if asr else None

    print(f"# utterance: {n_frames} frames = {audio_s:.2f} s audio; offline synthesis "
          f"{'+ vocoder ' if setup.vocoder is not None else ''}{1e3 * off_med:.0f} ms "
          f"(RTF {off_med / audio_s:.3f}) = offline first-audio latency")
    rows = _lookahead_rows(setup, args, lookaheads, times, last, off_mel, audio_s, asr)
    if asr:
        print(f"# WER of the offline output: {wer_off:.1f}%  (Whisper, vs the input text)")
    elif not args.model:
        print("# WER: needs a trained model (--model); with random weights only the mel "
              "distance to offline is meaningful")

    # first chunk alone, stage by stage (the L=0.5 setting): where the latency goes
    prof = _first_chunk_profile(streamer, setup, stream_kw, lookaheads, repeats)
    if prof:
        walls = {k: v for k, v in prof.items() if not k.endswith("_cpu")}
        print("# first chunk at L=0.5, stage by stage, median wall ms (CPU ms): " +
              ", ".join(f"{k} {v:.1f} ({prof[k + '_cpu']:.1f})" for k, v in walls.items()) +
              f"; sum {sum(walls.values()):.1f} ({sum(prof[k + '_cpu'] for k in walls):.1f})")

    args.out_dir.mkdir(parents=True, exist_ok=True)
    summary = dict(description=setup.description, machine=machine_note(),
                   cpu_capability=cpu_capability(), threads=threads, repeats=repeats,
                   chunk_s=args.chunk, steps=args.steps, frames=n_frames,
                   audio_s=audio_s, offline_s=off_med, rows=rows, first_chunk_stages_ms=prof,
                   wer_offline=wer_off)
    (args.out_dir / "streaming_results.json").write_text(
        json.dumps(summary, indent=1, default=str))
    l05 = next((r for r in rows if r["L"] == "0.5"), rows[0])
    print(f"first_chunk_latency_ms_L{l05['L']}: {l05['first_chunk_latency_ms']:.1f}")
    return 0


def _first_chunk_profile(streamer, setup, stream_kw, lookaheads, repeats) -> Dict[str, float]:
    """Median wall ms of each stage of the first chunk at L=0.5 s, timed one by one."""
    import torch

    from espnet_mvc.tts.mvc.decode_options import DecodeOptions

    m = streamer.model
    options = DecodeOptions(n_timesteps=stream_kw.get("n_timesteps"))
    C = streamer.chunk_frames(stream_kw["chunk_seconds"], stream_kw.get("first_chunk_frames"))
    La = streamer.seconds_to_frames(0.5)
    stages: Dict[str, List[float]] = {}
    cpu: Dict[str, List[float]] = {}
    c_last = [0.0]

    def tick(name, t0):
        stages.setdefault(name, []).append(1e3 * (time.perf_counter() - t0))
        c = time.process_time()
        cpu.setdefault(name, []).append(1e3 * (c - c_last[0]))
        c_last[0] = c
        return time.perf_counter()

    with torch.inference_mode():
        for _ in range(max(repeats, 3)):
            t = time.perf_counter()
            c_last[0] = time.process_time()
            # the stages MVC.inference and the streamer run, one by one
            style = streamer.style(stream_kw.get("ref_feats"), stream_kw.get("sids"), None,
                                   stream_kw.get("lids"))
            if m.use_gst:  # (a sid / lid style is a lookup: timed with the text encoder)
                t = tick("style_encoder", t)
            text = torch.as_tensor(setup.text_ids).view(1, -1)
            lens = torch.tensor([text.shape[1]])
            hs = m.encode_text(text, lens, style)
            t = tick("text_encoder", t)
            ds = m.predict_durations(hs, lens, style)
            h = m.expand_to_frames(hs, ds, lens)
            t = tick("durations+LR", t)
            e = min(h.shape[1], C + La)
            mu, _, _, _ = m.decoder_condition_chunk(h[:, :e], C, style)
            t = tick("prosody", t)
            x, _ = m.sample_mel_chunk(mu, m.starting_noise(e, like=mu), C, style,
                                      options=options)
            t = tick("decoder", t)
            if streamer.vocoder is not None:
                vl, vr = stream_kw["vocoder_context_frames"]
                mel = x[0][: C + vr]
                if streamer.denormalize is not None:
                    mel = streamer.denormalize(mel)
                streamer.vocoder(mel)
                tick("vocoder", t)
    out = {k: statistics.median(v) for k, v in stages.items()}
    out.update({f"{k}_cpu": statistics.median(v) for k, v in cpu.items()})
    return out


if __name__ == "__main__":
    if "OMP_WAIT_POLICY" not in os.environ:  # must be set before torch (libgomp) loads
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
        os.execv(sys.executable,
                 [sys.executable, "-m", "espnet_mvc.benchmarks.streaming_latency"] + sys.argv[1:])
    sys.exit(main())
