"""CLI cold start: ``espnet-mvc synth`` for one short sentence in a fresh process, model load
included, against ESPnet's own ``Text2Speech`` for the same shipped model and the bare
``import torch`` floor, all measured in the same run, alternating.

Every run is a new Python process, as a user's shell starts one. The page cache is warm after
the first (unmeasured) round; ``--drop-caches`` empties it before every run instead (root
only, Linux), which adds the disk reads of the ~3 GB of shared libraries a CUDA build of torch
maps. Prints the median wall time of each, then ``cli_cold_start_s: <median>`` (target 3 s)
and the baseline ``espnet_text2speech_cold_start_s``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from espnet_mvc.benchmarks.machine import cpu_capability, load_average

TEXT = "Hello there."
TARGET_S = 3.0


def commands(model: str, ref: str, out_dir: Path) -> Dict[str, List[str]]:
    """The three commands, each one fresh process synthesizing ``TEXT`` (or importing torch)."""
    py = sys.executable
    espnet_script = (
        "import sys, soundfile as sf, espnet_mvc.pretrained as p\n"
        "from espnet_mvc.espnet.registry import register_now\n"
        "register_now()\n"
        "from espnet2.bin.tts_inference import Text2Speech\n"
        "t2s = Text2Speech(**p.text2speech_kwargs(sys.argv[1]))\n"
        "ref, fs = sf.read(sys.argv[2], dtype='float32')\n"
        "wav = t2s(sys.argv[3], speech=ref)['wav']\n"
        "sf.write(sys.argv[4], wav.numpy(), t2s.fs)\n"
    )
    return {
        "cli": [py, "-m", "espnet_mvc.bin.cli", "synth", "--model", model, "--text", TEXT,
                "--ref", ref, "--out", str(out_dir / "cli.wav"), "--quiet"],
        "espnet_text2speech": [py, "-c", espnet_script, model, ref, TEXT,
                               str(out_dir / "espnet.wav")],
        "import_torch": [py, "-c", "import torch"],
    }


def pretrained_dir(name: str) -> Path:
    from espnet_mvc import pretrained

    return pretrained.path(name)


def drop_page_cache() -> None:
    """Write back dirty pages and drop the page cache (needs root)."""
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def run_once(cmd: List[str], drop: bool) -> float:
    if drop:
        drop_page_cache()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} ... failed ({proc.returncode}):\n"
                           f"{proc.stderr[-3000:]}")
    return wall


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m espnet_mvc.bin.benchmark startup",
                                 description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="3 rounds instead of 5")
    ap.add_argument("--rounds", type=int, default=None, help="measured rounds (default 5)")
    ap.add_argument("--model", default="kokoro_en_mvc", help="shipped model name")
    ap.add_argument("--ref", default=None,
                    help="reference clip (default: the shipped model's first held-out one)")
    ap.add_argument("--drop-caches", action="store_true",
                    help="empty the page cache before every run (root only)")
    return ap.parse_args(list(argv))


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    model_dir = pretrained_dir(args.model)
    ref = args.ref or str(sorted((model_dir / "heldout" / "ref").iterdir())[0])
    if args.drop_caches:
        try:
            drop_page_cache()
        except OSError as e:
            print(f"error: --drop-caches needs root ({e})", file=sys.stderr)
            return 2
    rounds = args.rounds or (3 if args.quick else 5)
    print(f"# startup benchmark: '{TEXT}' in a fresh process per run, model {args.model}, "
          f"reference {Path(ref).name}; {rounds} rounds after one warm-up round; page cache "
          f"{'dropped before every run' if args.drop_caches else 'warm'}")
    print(f"# cpu_capability: {cpu_capability()}")
    print(f"# cpus={os.cpu_count()} loadavg(start)={load_average()}", flush=True)
    times: Dict[str, List[float]] = {}
    with tempfile.TemporaryDirectory(prefix="espnet_mvc_startup_") as tmp:
        cmds = commands(args.model, ref, Path(tmp))
        for name, cmd in cmds.items():  # warm-up: compiles caches, unpacks the archive
            run_once(cmd, False)
        for r in range(rounds):
            for name, cmd in cmds.items():
                times.setdefault(name, []).append(run_once(cmd, args.drop_caches))
    print(f"{'command':<22}{'median s':>10}{'min s':>10}{'max s':>10}")
    for name, ts in times.items():
        print(f"{name:<22}{statistics.median(ts):>10.2f}{min(ts):>10.2f}{max(ts):>10.2f}")
    print(f"# loadavg(end)={load_average()}; target: cli <= {TARGET_S:g} s")
    print(f"cli_cold_start_s: {statistics.median(times['cli']):.2f}")
    print(f"espnet_text2speech_cold_start_s: "
          f"{statistics.median(times['espnet_text2speech']):.2f}")
    print(f"import_torch_s: {statistics.median(times['import_torch']):.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
