#!/usr/bin/env python3
"""Sequential CPU RTF of the local/run_experiments.sh models (one process, 1 thread, one model
at a time, nothing else of ours running): Text2Speech on the 20 `test` utterances (MVC with
its ref.scp reference, VITS/JETS with sid+lid), first utterance dropped as warm-up.
Wall RTF = wall time / seconds of output audio; CPU RTF = process CPU time / audio seconds
(less sensitive to other load). Griffin-Lim included for MVC (no vocoder file).
    cd exp/bench_ws && . ./path.sh && OMP_NUM_THREADS=1 python ../../local/rtf_sequential.py mvc_d2 jets
"""
import sys, time, torch, soundfile as sf, numpy as np
import espnet_mvc  # registers MVC
from espnet2.bin.tts_inference import Text2Speech
from espnet2.fileio.read_text import read_2columns_text
torch.set_num_threads(1)
ws = "/work/main/egs2/mini_espeak/tts1/exp/bench_ws/"
def read(p): return read_2columns_text(ws + p)
text = read("dump/raw/test/text_phn"); ref = read("dump/raw/test/ref.scp")
sid = read("dump/raw/test/utt2sid"); lid = read("dump/raw/test/utt2lid")
keys = sorted(text)
for s in sys.argv[1:]:
    d = ws + f"exp/tts_bench_{s}/"
    kw = dict(decode_conf=None) if False else {}
    t2s = Text2Speech(train_config=d + "config.yaml", model_file=d + "latest.pth", device="cpu", seed=0, always_fix_seed=True)
    tot_t = tot_a = 0.0; cpu_t = 0.0
    for i, k in enumerate(keys):
        a = dict(lids=torch.tensor([int(lid[k])]))
        if s.startswith("mvc"):
            w, fs = sf.read(ws + ref[k].split()[0] if not ref[k].startswith("/") else ref[k]); a["speech"] = torch.tensor(w, dtype=torch.float32)
        else:
            a["sids"] = torch.tensor([int(sid[k])])
        t0 = time.perf_counter(); c0 = time.process_time()
        with torch.no_grad(): out = t2s(text[k], **a)
        dt = time.perf_counter() - t0; dc = time.process_time() - c0
        if i == 0: continue  # warm-up
        dur = out["wav"].numel() / 22050
        tot_t += dt; tot_a += dur; cpu_t += dc
    print(f"{s}: wall RTF {tot_t/tot_a:.3f}  CPU RTF {cpu_t/tot_a:.3f}  audio {tot_a:.1f}s over {len(keys)-1} utts", flush=True)
