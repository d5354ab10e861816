#!/usr/bin/env python3
"""Summarize local/run_experiments.sh: one Markdown row per (system, test set) with the
stage-9 (score) means, parameter count, training iterations/epochs reached in the budget and the
CPU seconds the training job used. Reads <ws>/exp/tts_bench_<system>/..."""
import argparse, glob, json, os, re

p = argparse.ArgumentParser()
p.add_argument("--ws", default=".")
p.add_argument("--systems", required=True)
a = p.parse_args()


def decode_rtf(dec_dir, fs=22050, hop=256):
    """Mean per-utterance RTF from ESPnet's tts_inference logs ('inference speed = X frames /
    sec.' times the whole Text2Speech call, vocoder/Griffin-Lim included; e2e models log
    points / sec). The first utterance (model warm-up) is dropped."""
    r = []
    for lg in sorted(glob.glob(os.path.join(dec_dir, "logs", "tts_inference.*.log"))):
        vals = []
        for m in re.finditer(r"inference speed = ([\d.]+) (frames|points) / sec", open(lg, errors="replace").read()):
            v = float(m.group(1))
            if v > 0:
                vals.append(fs / (hop * v) if m.group(2) == "frames" else fs / v)
        r += vals[1:] if len(vals) > 1 else vals
    return sum(r) / len(r) if r else None


def fmt(v, nd):
    return "n/a" if v is None else f"{v:.{nd}f}"


print("| system | set | params (total; w/o discriminator) | epochs | train iters | train CPU s | MCD | logF0 RMSE | WER % (en) | CER % (en) | PESQ | STOI | DNSMOS | spk sim | RTF | n scored/total |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for s in a.systems.split():
    d = os.path.join(a.ws, "exp", f"tts_bench_{s}")
    log = os.path.join(d, "train.log")
    txt = open(log, errors="replace").read() if os.path.exists(log) else ""
    m = re.search(r"Total Number of model parameters: ([\d.]+ ?[MKk]?)", txt) or \
        re.search(r"Number of (?:trainable )?parameters[^\d]*([\d,.]+ ?[MKk]?)", txt)
    params = m.group(1).strip() if m else "?"
    gen = None
    try:  # generator-only count (what synthesizes; GAN discriminators excluded)
        import torch
        sd = torch.load(os.path.join(d, "latest.pth"), map_location="cpu")
        gen = sum(v.numel() for k, v in sd.items() if "discriminator" not in k) / 1e6
    except Exception:
        pass
    params = f"{params} ({gen:.2f} M w/o disc.)" if gen is not None else params
    ep = re.findall(r"(\d+)epoch results: \[train\].*?total_count=(\d+)", txt)
    epochs, iters = (ep[-1][0], ep[-1][1]) if ep else ("0", "0")
    b = os.path.join(a.ws, "bench_logs", f"budget_{s}.txt")
    cpu = re.search(r"cpu_s=(\d+)", open(b).read()).group(1) if os.path.exists(b) else "?"
    for sj in sorted(glob.glob(os.path.join(d, "decode*", "*", "scores", "summary.json"))):
        dset = sj.split(os.sep)[-3]
        j = json.load(open(sj))
        mm = j["metrics"]
        g = lambda k: mm.get(k, {}).get("mean")
        print(f"| {s} | {dset} | {params} | {epochs} | {iters} | {cpu} | {fmt(g('mcd'),2)} | {fmt(g('f0rmse'),3)} | "
              f"{fmt(g('wer'),1)} | {fmt(g('cer'),1)} | {fmt(g('pesq'),2)} | {fmt(g('stoi'),3)} | {fmt(g('dnsmos'),2)} | {fmt(g('spksim'),3)} | {fmt(g('rtf') if g('rtf') is not None else decode_rtf(os.path.dirname(os.path.dirname(sj))),3)} | "
              f"{j['n_scored']}/{j['n_total']} |")
