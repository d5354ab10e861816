#!/usr/bin/env python3
"""Sequential CPU RTF of the local/run_experiments.sh models (RESULTS.md, "Sequential RTF").

One process, one thread, one model at a time: ESPnet's ``Text2Speech`` on the utterances of
``dump/raw/<set>`` of the experiment workspace, MVC with its ``ref.scp`` reference, VITS and
JETS with their speaker and language ids; the first utterance is dropped as warm-up. Wall
RTF = wall time / seconds of output audio; CPU RTF = process CPU time / audio seconds (less
sensitive to other load). MVC's numbers include Griffin-Lim (the experiments train no
vocoder).

    cd exp/bench_ws && . ./path.sh && OMP_NUM_THREADS=1 python ../../local/rtf_sequential.py mvc_d2 jets
"""

import argparse
import time
from pathlib import Path

import soundfile as sf
import torch
from espnet2.bin.tts_inference import Text2Speech
from espnet2.fileio.read_text import read_2columns_text

import espnet_mvc  # noqa: F401  (registers tts: mvc into ESPnet)


def measure(ws: Path, system: str, dset: str) -> str:
    """Decode every utterance of ``dset`` with ``exp/tts_bench_<system>/latest.pth``.

    Returns:
        One line: the system's wall and CPU RTF and the audio seconds they cover.
    """
    data = ws / "dump" / "raw" / dset
    text = read_2columns_text(data / "text_phn")
    ref = read_2columns_text(data / "ref.scp")
    sid = read_2columns_text(data / "utt2sid")
    lid = read_2columns_text(data / "utt2lid")
    exp = ws / "exp" / f"tts_bench_{system}"
    t2s = Text2Speech(train_config=exp / "config.yaml", model_file=exp / "latest.pth",
                      device="cpu", seed=0, always_fix_seed=True)
    wall = cpu = audio = 0.0
    keys = sorted(text)
    for i, k in enumerate(keys):
        inputs = dict(lids=torch.tensor([int(lid[k])]))
        if system.startswith("mvc"):
            wav, _ = sf.read(ws / ref[k].split()[0])  # a relative path is below ws
            inputs["speech"] = torch.tensor(wav, dtype=torch.float32)
        else:
            inputs["sids"] = torch.tensor([int(sid[k])])
        t0, c0 = time.perf_counter(), time.process_time()
        with torch.no_grad():
            out = t2s(text[k], **inputs)
        if i == 0:
            continue  # warm-up
        wall += time.perf_counter() - t0
        cpu += time.process_time() - c0
        audio += out["wav"].numel() / t2s.fs
    return (f"{system}: wall RTF {wall / audio:.3f}  CPU RTF {cpu / audio:.3f}  "
            f"audio {audio:.1f}s over {len(keys) - 1} utts")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("systems", nargs="+", help="e.g. mvc_d2 jets (exp/tts_bench_<system>)")
    ap.add_argument("--ws", type=Path, default=Path("."),
                    help="the experiment workspace (default: here, exp/bench_ws)")
    ap.add_argument("--set", default="test", help="the data set in dump/raw/")
    a = ap.parse_args()
    torch.set_num_threads(1)
    for system in a.systems:
        print(measure(a.ws, system, a.set), flush=True)


if __name__ == "__main__":
    main()
