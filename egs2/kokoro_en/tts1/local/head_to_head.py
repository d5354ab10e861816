#!/usr/bin/env python3
"""Helpers of local/head_to_head.sh: the training budget in CPU seconds, and the report.

    head_to_head.py next-max-epoch EXP BUDGET    # --max_epoch of the next training round (0: spent)
    head_to_head.py epoch-at EXP BUDGET [--fraction F] [--describe | --with-tag]
    head_to_head.py plan SYSTEM BUDGET --points P.. [--ablation-points P..]  # CPU s, role, points
    head_to_head.py real-ref EXP EPOCH VOCODER OUT_JSON   # MVC cloning a recorded voice
    head_to_head.py report --h2h-dir exp_h2h --systems mvc vits jets --budget B ...
                           [--ablation-points 0.25]

EXP is an ESPnet training output dir with the CPU ledger ``cpu_seconds.json``
(:mod:`espnet_mvc.espnet.cpu_ledger`): cumulative training CPU seconds at the end of each
epoch.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
from pathlib import Path
from typing import Dict, List, Optional

from espnet_mvc.espnet.cpu_ledger import epoch_cpu_seconds

CALIBRATION_EPOCHS = 2  # the first round, which measures the CPU seconds per epoch
SETS = ("test", "test_zeroshot")
# summary.json metric -> (table heading, decimals)
METRICS = {
    "wer": ("WER %", 1), "cer": ("CER %", 1), "mcd": ("MCD dB", 2), "f0rmse": ("log-F0 RMSE", 3),
    "dnsmos": ("DNSMOS", 2), "pesq": ("PESQ", 2), "stoi": ("STOI", 3), "spksim": ("spk sim", 3),
    "rtf": ("RTF (wall)", 3), "cpu_rtf": ("RTF (CPU)", 3),
}
NO_CLONING = ("n/a: ESPnet {name} picks a voice by speaker id (--use_sid true) and has no "
              "reference encoder, so it cannot speak in a voice it was not trained on")
SYSTEM_NAMES = {"mvc": "MVC", "vits": "VITS", "jets": "JETS",
                "mvc_aligner": "MVC, own aligner (no teacher durations)"}
MAIN_SYSTEMS = tuple(SYSTEM_NAMES)
_SEED = re.compile(r"^(.+)_seed(\d+)$")


def _known_ledger(exp: Path) -> Dict[int, float]:
    cpu = epoch_cpu_seconds(exp)
    unknown = sorted(e for e, v in cpu.items() if v is None)
    if unknown:
        raise SystemExit(
            f"error: {exp}/cpu_seconds.json has no CPU count for epochs {unknown} (trained "
            "before the ledger, or resumed from such an epoch): retrain that system from "
            "scratch for a budgeted comparison")
    return cpu


def next_max_epoch(exp: Path, budget: float) -> int:
    """The ``--max_epoch`` of the next training round; 0 once the budget is spent.

    The first round trains :data:`CALIBRATION_EPOCHS`. Each later one plans the whole
    epochs the rest of the budget is expected to hold, at the larger of the mean and the
    latest CPU seconds per epoch. It trains half of them (all of them when at most 2) and
    then measures again: an epoch's CPU cost rises with the machine's load, and a round
    planned from an earlier, quieter rate overran the budget by up to 2 epochs that were
    trained and never scored (a point scores the last epoch within it). Once not even one
    more epoch is expected to fit, the budget is spent.
    """
    cpu = _known_ledger(exp) if (exp / "cpu_seconds.json").exists() else {}
    if not cpu:
        return CALIBRATION_EPOCHS
    last = max(cpu)
    latest = cpu[last] - cpu.get(last - 1, 0.0)
    per_epoch = max(cpu[last] / last, latest)
    fit = math.floor((budget - cpu[last]) / per_epoch) if cpu[last] < budget else 0
    if fit <= 0:
        return 0
    return last + (fit if fit <= 2 else math.ceil(fit / 2))


def epoch_at(exp: Path, seconds: float) -> Optional[int]:
    """The last epoch whose cumulative training CPU seconds are within ``seconds``."""
    cpu = _known_ledger(exp)
    within = [e for e, v in cpu.items() if v <= seconds]
    return max(within) if within else None


# ---------------------------------------------------------------------------------------
# what a system's experiment dir holds


def variant_of(system: str):
    """(model, variant, seed) of a system name: ``mvc_depth2_seed1`` -> mvc, mvc_depth2, 1."""
    m = _SEED.match(system)
    variant, seed = (m.group(1), int(m.group(2))) if m else (system, 0)
    return variant.split("_")[0], variant, seed


def variant_name(variant: str) -> str:
    """``mvc_concat`` -> "MVC concat, no AdaLN, depth 4/2/2", ``mvc_depth2`` -> "MVC gated +
    AdaLN, depth 2 per stack"."""
    if variant == "mvc":
        return "MVC gated + AdaLN, depth 4/2/2"
    if variant == "mvc_concat":
        return "MVC concat, no AdaLN, depth 4/2/2"
    if variant.startswith("mvc_depth"):
        return f"MVC gated + AdaLN, depth {variant[len('mvc_depth'):]} per stack"
    return SYSTEM_NAMES.get(variant, variant)


def system_points(system: str, points: List[float], ablation_points: List[float]) -> List[float]:
    """The budget fractions at which a system is decoded: the main systems at ``points``,
    the MVC ablations at ``ablation_points``, and MVC at both (it is the ablations' baseline)."""
    if system in MAIN_SYSTEMS:
        return sorted(set(points) | set(ablation_points)) if system == "mvc" else list(points)
    return list(ablation_points)


def system_budget(system: str, budget: float, ablation_points: List[float]) -> float:
    """The CPU seconds a system trains for: the budget, or an ablation's largest point of it."""
    return budget if system in MAIN_SYSTEMS else budget * max(ablation_points)


def system_exp(h2h_dir: Path, system: str) -> Path:
    """``<h2h_dir>/<system>/tts_<tag>`` (exactly one, besides the stats dir)."""
    found = sorted(p for p in (h2h_dir / system).glob("tts_*")
                   if p.is_dir() and not p.name.startswith("tts_stats_"))
    if len(found) != 1:
        raise SystemExit(f"error: expected one {h2h_dir}/{system}/tts_<tag> dir, found "
                         f"{[str(p) for p in found] or 'none'} (local/head_to_head.sh --stage 2)")
    return found[0]


def iters_per_epoch(exp: Path) -> int:
    import yaml

    with open(exp / "config.yaml", encoding="utf-8") as f:
        return int(yaml.safe_load(f)["num_iters_per_epoch"])


_RESULTS = re.compile(r"(\d+)epoch results: \[train\] (.*?), \[valid\] (.*?)(?:, \[|$)")


def valid_curve(exp: Path) -> Dict[int, Dict[str, float]]:
    """Per-epoch validation statistics from ESPnet's ``train.log`` (the last run's line of
    an epoch wins: a resumed run may repeat an epoch that was not saved)."""
    out: Dict[int, Dict[str, float]] = {}
    for line in (exp / "train.log").read_text(encoding="utf-8", errors="replace").splitlines():
        m = _RESULTS.search(line)
        if not m:
            continue
        stats = {}
        for item in m.group(3).split(", "):
            k, _, v = item.partition("=")
            try:
                stats[k] = float(v)
            except ValueError:
                pass
        out[int(m.group(1))] = stats
    return out


VALID_LOSS_KEY = {"mvc": "loss", "vits": "generator_mel_loss", "jets": "generator_g_mel_loss"}


def inference_parameters(exp: Path, epoch: int, vocoder: Optional[Path]) -> Dict[str, int]:
    """Parameters used at synthesis: the generator of the GAN systems (not the
    discriminators), MVC without its training-only aligner, plus MVC's separate vocoder."""
    import torch

    state = torch.load(exp / f"{epoch}epoch.pth", map_location="cpu", weights_only=True)
    skip = ("feats_extract.", "normalize.", "pitch_normalize.", "energy_normalize.",
            "tts.aligner.", "tts.discriminator.")
    acoustic = sum(v.numel() for k, v in state.items() if not k.startswith(skip))
    out = {"acoustic": int(acoustic), "vocoder": 0}
    if vocoder is not None:
        out["vocoder"] = int(sum(v.numel() for v in torch.load(
            vocoder, map_location="cpu", weights_only=True).values()))
    out["total"] = out["acoustic"] + out["vocoder"]
    return out


# ---------------------------------------------------------------------------------------
# MVC cloning a real recorded voice


def real_ref(exp: Path, epoch: int, vocoder: Path, dumpdir: Path, out_json: Path) -> dict:
    """MVC speaks the test sentences in the voice of a recorded CMU ARCTIC clip.

    Scores: WER/CER (Whisper), similarity to the clip, and its margin over the similarity
    to the corpus's unseen-voice references (does it sound like the recorded speaker rather
    than like the synthetic voices it knows?).
    """
    import numpy as np
    import soundfile as sf
    from espnet2.fileio.read_text import read_2columns_text
    from pysptk.util import example_audio_file

    from espnet_mvc.api import MVCSynthesizer
    from espnet_mvc.metrics.asr import WhisperASR, error_counts, wer_cer
    from espnet_mvc.metrics.audio import load_wav
    from espnet_mvc.metrics.speaker import embed

    ref = Path(example_audio_file())  # CMU ARCTIC arctic_a0007, 16 kHz
    if not ref.is_file():
        raise SystemExit(f"error: the CMU ARCTIC clip {ref} is missing (pip install pysptk)")
    texts = read_2columns_text(dumpdir / "raw" / "test" / "text")
    tts = MVCSynthesizer(exp / "config.yaml", exp / f"{epoch}epoch.pth",
                         vocoder_file=str(vocoder), vocoder_config=str(vocoder.with_suffix(".yaml")))
    asr = WhisperASR()

    def unit(e):
        return e / np.linalg.norm(e)

    x, fs = load_wav(ref)
    ref_emb = unit(embed(x, fs)[0])
    corpus = sorted(set(read_2columns_text(dumpdir / "raw" / "test_zeroshot" / "ref.scp").values()))
    corpus_emb = [unit(embed(*load_wav(p))[0]) for p in corpus]
    wav_dir = out_json.parent / "wav"
    wav_dir.mkdir(parents=True, exist_ok=True)
    errors, own, others = [], [], []
    for utt, text in sorted(texts.items()):
        out = tts.synthesize(text, ref=str(ref))
        sf.write(wav_dir / f"{utt}.wav", out.wav, out.fs)
        errors.append(error_counts(text, asr.transcribe(out.wav, out.fs, "en")))
        e = unit(embed(out.wav, out.fs)[0])
        own.append(float(e @ ref_emb))
        others.append(float(np.mean([e @ c for c in corpus_emb])))
    scores = wer_cer(errors)
    result = dict(reference=f"CMU ARCTIC {ref.name} (pysptk's example audio, {fs} Hz, "
                            f"{len(x) / fs:.2f} s)",
                  n=len(texts), wer=scores["wer"], cer=scores["cer"],
                  spksim_to_reference=float(np.mean(own)),
                  spksim_to_corpus_unseen_references=float(np.mean(others)),
                  spksim_margin=float(np.mean(own) - np.mean(others)), epoch=epoch)
    out_json.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return result


# ---------------------------------------------------------------------------------------
# the report: results/head_to_head.json and figures, RESULTS.md at the recipe root


def decode_tag(budget: float, fraction: float) -> str:
    """The decode dir of a budget point, named by its CPU seconds (as head_to_head.sh does)."""
    return f"decode_h2h_{int(budget * fraction)}s"


def _summary(decode: Path, dset: str) -> Optional[dict]:
    path = decode / dset / "scores" / "summary.json"
    if not path.exists():
        return None
    summary = json.loads(path.read_text(encoding="utf-8"))
    out = {k: summary["metrics"][k]["mean"] for k in METRICS if k in summary["metrics"]}
    # the synthesis CPU seconds per audio second (one thread): unlike the wall-clock RTF,
    # it does not depend on what else the machine ran during the decode
    cpu_rtf = summary["metrics"].get("rtf", {}).get("cpu_rtf")
    if cpu_rtf is not None:
        out["cpu_rtf"] = cpu_rtf
    return out


def _zeroshot_margin(decode: Path, dumpdir: Path) -> Optional[float]:
    """Mean over unseen-voice items of sim(own reference) - mean sim(other references):
    ``benchmark quality``'s :func:`~espnet_mvc.benchmarks.quality.spk_sim_margin` on the
    decoded test_zeroshot set."""
    from espnet2.fileio.read_text import read_2columns_text

    from espnet_mvc.benchmarks.quality import HeldoutItem, spk_sim_margin
    from espnet_mvc.metrics.audio import load_wav

    wav_scp = decode / "test_zeroshot" / "wav.scp"
    if not wav_scp.exists():
        return None
    data = dumpdir / "raw" / "test_zeroshot"
    refs, spk, text = (read_2columns_text(data / f) for f in ("ref.scp", "utt2spk", "text"))
    wavs = read_2columns_text(wav_scp)
    items = [HeldoutItem(utt=u, spk=spk[u], set="zeroshot", text=text[u], ref=Path(refs[u]),
                         rec=Path(wavs[u])) for u in sorted(wavs)]
    audio = [load_wav(i.rec) for i in items]
    rates = {fs for _, fs in audio}
    if len(rates) != 1:
        raise SystemExit(f"error: {wav_scp}: wavs at several rates {sorted(rates)}")
    return spk_sim_margin([x for x, _ in audio], rates.pop(), items)


def _vocoder_cpu_seconds(vocoder: Path) -> Optional[float]:
    import yaml

    conf = vocoder.with_suffix(".yaml")
    if not conf.exists():
        return None
    with open(conf, encoding="utf-8") as f:
        return (yaml.safe_load(f).get("train") or {}).get("cpu_seconds")


def collect(args) -> dict:
    """Everything measured, per system and budget point (the JSON's content)."""
    import time

    from espnet_mvc.benchmarks.machine import cpu_capability

    ablation_points = args.ablation_points or args.points
    out = dict(budget_cpu_seconds=args.budget, points=args.points,
               ablation_points=ablation_points, systems={},
               machine=cpu_capability(), written=time.strftime("%Y-%m-%dT%H:%M:%S"))
    for s in args.systems:
        exp = system_exp(args.h2h_dir, s)
        cpu = _known_ledger(exp)
        iters = iters_per_epoch(exp)
        curve = valid_curve(exp)
        model, variant, seed = variant_of(s)
        key = VALID_LOSS_KEY.get(model, "loss")
        entry = dict(name=SYSTEM_NAMES.get(s) or f"{variant_name(variant)}, seed {seed}",
                     model=model, variant=variant, seed=seed, exp=str(exp), points={},
                     curve=[dict(epoch=e, steps=e * iters, cpu_seconds=cpu[e],
                                 valid_loss=curve[e].get(key))
                            for e in sorted(cpu) if e in curve],
                     valid_loss_key=key)
        vocoder = Path(args.vocoder_file) if model == "mvc" else None
        if vocoder is not None:
            # MVC's separate vocoder is trained once per corpus, outside the budget: its
            # CPU seconds are reported beside it (VITS and JETS train theirs inside it)
            entry["vocoder_train_cpu_seconds"] = _vocoder_cpu_seconds(vocoder)
        for p in system_points(s, args.points, ablation_points):
            epoch = epoch_at(exp, args.budget * p)
            if epoch is None:
                continue
            decode = exp / decode_tag(args.budget, p)
            point = dict(epoch=epoch, steps=epoch * iters, train_cpu_seconds=cpu[epoch],
                         valid_loss=curve.get(epoch, {}).get(key),
                         parameters=inference_parameters(exp, epoch, vocoder), sets={})
            for dset in SETS:
                point["sets"][dset] = _summary(decode, dset)
            if model == "mvc":
                point["sets"]["test_zeroshot_margin"] = _zeroshot_margin(decode, args.dumpdir)
                rr = decode / "real_ref" / "summary.json"
                point["real_reference"] = (json.loads(rr.read_text()) if rr.exists() else None)
            else:
                point["sets"]["test_zeroshot"] = NO_CLONING.format(name=entry["name"])
                point["real_reference"] = NO_CLONING.format(name=entry["name"])
            entry["points"][f"{p:g}"] = point
        out["systems"][s] = entry
    return out


def _fmt(v, decimals: int) -> str:
    return "-" if v is None else f"{v:.{decimals}f}"


def results_markdown(res: dict, figures: List[str]) -> str:
    """RESULTS.md from the JSON (never edited by hand)."""
    hours = res["budget_cpu_seconds"] / 3600
    command = (f"local/head_to_head.sh --budget {res['budget_cpu_seconds']:g} --points "
               + " ".join(f"{p:g}" for p in res["points"]))
    if res.get("ablation_points") and res["ablation_points"] != res["points"]:
        command += " --ablation_points " + " ".join(f"{p:g}" for p in res["ablation_points"])
    command += f' --systems "{" ".join(res["systems"])}"'
    lines = [
        "# Head to head: MVC vs ESPnet VITS vs ESPnet JETS on kokoro_en",
        "",
        "<!-- generated by local/head_to_head.py report from results/head_to_head.json; "
        "do not edit -->",
        "",
        f"Each system trained for the same budget, **{hours:g} CPU-hour{'' if hours == 1 else 's'}** of its training "
        "process (one thread), on the same dump, token list and splits; it is scored at "
        + ", ".join(f"{p:g}" for p in res["points"]) + " of the budget, with the epoch "
        "whose cumulative training CPU time is the last within it.",
        f"Machine: {res['machine']}.",
        "",
        "MVC's vocoder is trained once per corpus, outside the budget (its CPU seconds: "
        + ", ".join(f"{v:.0f}" for v in sorted({  # one vocoder, shared by the MVC systems
            e["vocoder_train_cpu_seconds"] for e in res["systems"].values()
            if e.get("vocoder_train_cpu_seconds") is not None}))
        + "); VITS and JETS train their waveform generators inside it.",
        "",
        f"Reproduce: `{command}` (stages 1-4; `--stage 4` alone remakes the tables and "
        "figures from the trained and scored systems).",
        "",
        NO_CLONING.format(name="VITS or JETS") + ".",
        "",
    ]
    for dset, title in (("test", "Seen voices (test)"),
                        ("test_zeroshot", "Unseen voices, zero-shot (test_zeroshot)")):
        lines += [f"## {title}", ""]
        head = ["system", "budget", "epoch", "steps", "train CPU s", "params (M)"]
        head += [METRICS[k][0] for k in METRICS]
        if dset == "test_zeroshot":
            head.append("spk-sim margin")
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for s, e in _main(res):
            for p, pt in _main_points(res, e):
                row = [e["name"], f"{float(p) * hours:g} h", str(pt["epoch"]), str(pt["steps"]),
                       f"{pt['train_cpu_seconds']:.0f}",
                       f"{pt['parameters']['total'] / 1e6:.2f}"]
                sc = pt["sets"][dset]
                if isinstance(sc, str):  # the reason is said once, above the tables
                    row += ["n/a"] + [""] * (len(head) - len(row) - 1)
                else:
                    row += [_fmt((sc or {}).get(k), METRICS[k][1]) for k in METRICS]
                    if dset == "test_zeroshot":
                        row.append(_fmt(pt["sets"].get("test_zeroshot_margin"), 3))
                lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    lines += ["## Cloning a real recorded voice", "",
              "| system | budget | reference | WER % | CER % | sim to reference | "
              "sim to corpus voices | margin |", "|---|---|---|---|---|---|---|---|"]
    for s, e in _main(res):
        for p, pt in _main_points(res, e):
            rr = pt["real_reference"]
            if isinstance(rr, dict):
                lines.append(f"| {e['name']} | {float(p) * hours:g} h | {rr['reference']} | "
                             f"{rr['wer']:.1f} | {rr['cer']:.1f} | "
                             f"{rr['spksim_to_reference']:.3f} | "
                             f"{rr['spksim_to_corpus_unseen_references']:.3f} | "
                             f"{rr['spksim_margin']:.3f} |")
            else:
                lines.append(f"| {e['name']} | {float(p) * hours:g} h | "
                             f"{'n/a' if rr else 'not decoded'} | | | | | |")
    lines += [""] + ablation_markdown(res)
    lines += ["## Figures", ""] + [f"![{Path(f).name}]({f})" for f in figures] + [""]
    return "\n".join(lines)


def _main(res: dict):
    return [(s, e) for s, e in res["systems"].items() if s in MAIN_SYSTEMS]


def _main_points(res: dict, entry: dict):
    """A main system's points of the head to head (not MVC's extra ablation points)."""
    keys = {f"{p:g}" for p in res["points"]}
    return [(p, pt) for p, pt in entry["points"].items() if p in keys]


ABLATION_COLUMNS = (  # (heading, getter of a point, decimals, (ranking name, unit) or None)
    # a CPU-second budget buys each seed a different number of whole epochs (the CPU cost
    # of an epoch varies with the machine's load), so the steps scored are shown too
    ("steps", lambda pt: pt.get("steps"), 0, None),
    ("WER % seen", lambda pt: (pt["sets"]["test"] or {}).get("wer"), 1, ("seen-voice WER", " %")),
    ("WER % zero-shot", lambda pt: (pt["sets"]["test_zeroshot"] or {}).get("wer"), 1, None),
    ("spk-sim margin", lambda pt: pt["sets"].get("test_zeroshot_margin"), 3, None),
    ("DNSMOS seen", lambda pt: (pt["sets"]["test"] or {}).get("dnsmos"), 2, None),
    ("valid loss", lambda pt: pt.get("valid_loss"), 3, ("validation loss", "")),
)


def disjoint_chance(n: int, m: int) -> float:
    """The chance that the ranges of ``n`` and ``m`` draws of one continuous distribution do
    not overlap: all of one sample below all of the other, either way round."""
    return 2.0 * math.factorial(n) * math.factorial(m) / math.factorial(n + m)


# the paper's ablations: gated fusion with AdaLN against concat at MVC's depths, and
# depth 2 against 4 against 6 blocks per stack
PAPER_QUESTIONS = (("mvc", "mvc_concat"), ("mvc_depth2", "mvc_depth4"),
                   ("mvc_depth4", "mvc_depth6"))


def _versus(low: tuple, high: tuple, name: str, unit: str, dec: int) -> str:
    """One ranking line: the lower-scoring variant against the higher, and whether their
    seeds' ranges overlap. Each of ``low``, ``high``: (mean, min, max, name, seeds)."""
    (m1, lo1, hi1, n1, k1), (m2, lo2, hi2, n2, k2) = low, high
    return (f"- {n1} ({m1:.{dec}f}{unit}) vs {n2} ({m2:.{dec}f}{unit}), {name}: "
            + (f"the seeds' ranges do not overlap (for two equal variants with {k1} and {k2} "
               f"seeds that happens by chance {disjoint_chance(k1, k2):.0%} of the time)"
               if hi1 < lo2 else "the seeds' ranges overlap: not shown to differ"))


def ablation_markdown(res: dict) -> List[str]:
    """The MVC variants over their seeds: mean [min, max] of each score per ablation point,
    and whether each step of the ranking (on seen-voice WER, and on validation loss) is
    larger than the seed spread."""
    groups: Dict[str, List[dict]] = {}
    for e in res["systems"].values():
        if e.get("model") == "mvc":
            groups.setdefault(e["variant"], []).append(e)
    if len(groups) < 2:
        return []
    hours = res["budget_cpu_seconds"] / 3600
    lines = ["## Ablations of MVC (same budget; mean [min, max] over seeds)", ""]
    head = ["variant", "budget", "seeds", "params (M)"] + [c[0] for c in ABLATION_COLUMNS]
    for p in (f"{p:g}" for p in res.get("ablation_points") or res["points"]):
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        # per variant, for each ranking column: (mean, min, max, name, seeds)
        by_variant: Dict[str, Dict[str, tuple]] = {}
        for variant, runs in sorted(groups.items()):
            pts = [r["points"][p] for r in runs if p in r["points"]]
            if not pts:
                continue
            row = [variant_name(variant), f"{float(p) * hours:g} h",
                   ", ".join(str(r["seed"]) for r in runs if p in r["points"]),
                   f"{pts[0]['parameters']['total'] / 1e6:.2f}"]
            for heading, get, dec, ranking in ABLATION_COLUMNS:
                vals = [v for v in (get(pt) for pt in pts) if v is not None]
                if not vals:
                    row.append("-")
                    continue
                mean = sum(vals) / len(vals)
                row.append(f"{mean:.{dec}f}" + (f" [{min(vals):.{dec}f}, {max(vals):.{dec}f}]"
                                                if len(vals) > 1 else ""))
                if ranking and len(vals) > 1:
                    by_variant.setdefault(variant, {})[heading] = (
                        mean, min(vals), max(vals), variant_name(variant), len(vals))
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
        for heading, _, dec, ranking in ABLATION_COLUMNS:
            if not ranking:
                continue
            name, unit = ranking
            ranked = sorted(v[heading] for v in by_variant.values() if heading in v)
            lines += [_versus(a, b, name, unit, dec) for a, b in zip(ranked, ranked[1:])]
        pairs = [(a, b) for a, b in PAPER_QUESTIONS if a in by_variant and b in by_variant]
        if pairs:
            lines += ["", "The paper's questions (the same pairs whatever their rank):", ""]
        for a, b in pairs:
            for heading, _, dec, ranking in ABLATION_COLUMNS:
                if ranking and heading in by_variant[a] and heading in by_variant[b]:
                    lines.append(_versus(*sorted([by_variant[a][heading], by_variant[b][heading]]),
                                         *ranking, dec))
        lines.append("")
    return lines


def plot_curves(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    systems = _main(res)
    fig, axes = plt.subplots(1, len(systems), figsize=(4.2 * len(systems), 3.2), squeeze=False)
    for ax, (s, e) in zip(axes[0], systems):
        pts = [(c["cpu_seconds"] / 3600, c["valid_loss"]) for c in e["curve"]
               if c["valid_loss"] is not None]
        if pts:
            ax.plot(*zip(*pts), marker=".", lw=1)
        for p in res["points"]:
            ax.axvline(res["budget_cpu_seconds"] * p / 3600, color="0.7", ls="--", lw=0.8)
        ax.set_title(e["name"])
        ax.set_xlabel("training CPU hours")
        ax.set_ylabel(f"validation {e['valid_loss_key']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def mel_features(res: dict) -> dict:
    """The log-mel settings of the pictures: MVC's own features (its training config's
    ``feats_extract_conf``), so that its panel shows what it models."""
    import yaml

    for s, e in res["systems"].items():
        if e.get("model") == "mvc":
            with open(Path(e["exp"]) / "config.yaml", encoding="utf-8") as f:
                conf = yaml.safe_load(f)
            if conf.get("feats_extract") != "fbank":
                raise SystemExit(f"error: {e['exp']}: feats_extract {conf.get('feats_extract')!r}, "
                                 "not fbank: no log-mel settings for the pictures")
            return dict(conf["feats_extract_conf"])
    raise SystemExit("error: the mel pictures need an MVC system (its config gives the features)")


def plot_mels(res: dict, dumpdir: Path, path: Path) -> None:
    """Log-mels of the first held-out test utterance: recording, then each main system."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    from espnet2.fileio.read_text import read_2columns_text

    from espnet_mvc.espnet.features import log_mel_fbank
    from espnet_mvc.metrics.audio import load_wav

    wavs = read_2columns_text(dumpdir / "raw" / "test" / "wav.scp")
    utt = min(wavs)
    panels = [("recording", wavs[utt])]
    for s, e in _main(res):
        wav = Path(e["exp"]) / decode_tag(res["budget_cpu_seconds"], max(res["points"])) \
            / "test" / "wav" / f"{utt}.wav"
        if wav.exists():
            panels.append((e["name"], str(wav)))
    fbank = log_mel_fbank(**mel_features(res))
    fig, axes = plt.subplots(len(panels), 1, figsize=(8, 1.9 * len(panels)), squeeze=False)
    for ax, (name, wav_path) in zip(axes[:, 0], panels):
        x, fs = load_wav(wav_path)
        if fs != fbank.fs:
            raise SystemExit(f"error: {wav_path} is {fs} Hz, not {fbank.fs}")
        mel, _ = fbank(torch.from_numpy(x).float()[None])
        ax.imshow(mel[0].T.numpy(), origin="lower", aspect="auto", vmin=-5, cmap="magma")
        ax.set_ylabel(name)
        ax.set_xticks([])
    axes[0, 0].set_title(f"log-mel of held-out {utt}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def report(args) -> dict:
    """Write ``<results-dir>/head_to_head.json`` and the figures, and ``--results-md``.

    RESULTS.md sits at the recipe root, as in ESPnet's recipes; it links the figures in
    ``<results-dir>/``.
    """
    res = collect(args)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    (args.results_dir / "head_to_head.json").write_text(
        json.dumps(res, indent=1) + "\n", encoding="utf-8")
    curves = args.results_dir / "training_curves.png"
    mels = args.results_dir / "mel_spectrograms.png"
    plot_curves(res, curves)
    plot_mels(res, args.dumpdir, mels)
    md = Path(args.results_md)
    figures = [Path(os.path.relpath(f, md.parent)).as_posix() for f in (curves, mels)]
    md.write_text(results_markdown(res, figures), encoding="utf-8")
    return res


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    q = sub.add_parser("next-max-epoch")
    q.add_argument("exp", type=Path)
    q.add_argument("budget", type=float)
    q = sub.add_parser("epoch-at")
    q.add_argument("exp", type=Path)
    q.add_argument("budget", type=float)
    q.add_argument("--fraction", type=float, default=1.0)
    q.add_argument("--describe", action="store_true")
    q.add_argument("--with-tag", action="store_true",
                   help="print the epoch and the point's decode dir name (decode_tag)")
    q = sub.add_parser("plan", help="a system's training CPU seconds, its role (main or "
                       "ablation), then its points")
    q.add_argument("system")
    q.add_argument("budget", type=float)
    q.add_argument("--points", type=float, nargs="+", required=True)
    q.add_argument("--ablation-points", type=float, nargs="+", default=None)
    q = sub.add_parser("report")
    q.add_argument("--h2h-dir", type=Path, required=True)
    q.add_argument("--systems", nargs="+", required=True)
    q.add_argument("--budget", type=float, required=True)
    q.add_argument("--points", type=float, nargs="+", default=[0.5, 1.0])
    q.add_argument("--ablation-points", type=float, nargs="+", default=None,
                   help="budget fractions of the MVC ablations (default: --points)")
    q.add_argument("--dumpdir", type=Path, required=True)
    q.add_argument("--results-dir", type=Path, default=Path("results"),
                   help="where head_to_head.json and the figures go")
    q.add_argument("--results-md", type=Path, default=Path("RESULTS.md"),
                   help="the tables (the recipe's RESULTS.md)")
    q.add_argument("--vocoder-file", type=Path, default=Path("exp_x/vocoder/vocoder.pth"))
    q = sub.add_parser("real-ref")
    q.add_argument("exp", type=Path)
    q.add_argument("epoch", type=int)
    q.add_argument("vocoder", type=Path)
    q.add_argument("out_json", type=Path)
    q.add_argument("--dumpdir", type=Path, required=True)
    args = p.parse_args(argv)

    if args.cmd == "next-max-epoch":
        print(next_max_epoch(args.exp, args.budget))
    elif args.cmd == "epoch-at":
        seconds = args.budget * args.fraction
        epoch = epoch_at(args.exp, seconds)
        if epoch is None:
            raise SystemExit(f"error: {args.exp}: no epoch ends within {seconds:.0f} CPU s "
                             "(train first: local/head_to_head.sh --stage 2)")
        cpu = epoch_cpu_seconds(args.exp)[epoch]
        if args.describe:
            print(f"epoch {epoch}, {cpu:.0f} CPU s")
        else:
            print(f"{epoch} {decode_tag(args.budget, args.fraction)}" if args.with_tag else epoch)
    elif args.cmd == "plan":
        ablation_points = args.ablation_points or args.points
        print(f"{system_budget(args.system, args.budget, ablation_points):g}",
              "main" if args.system in MAIN_SYSTEMS else "ablation",
              *(f"{p:g}" for p in system_points(args.system, args.points, ablation_points)))
    elif args.cmd == "real-ref":
        print(json.dumps(real_ref(args.exp, args.epoch, args.vocoder, args.dumpdir,
                                 args.out_json)))
    else:
        report(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
