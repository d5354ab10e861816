# As run in session 12 (issue 23), with that machine's scratch paths; see README.md.
"""Anchor (HiFi-GAN V1 universal) copy synthesis of the teacher corpus' training clips:
the distillation targets. Resumable (skips files already written)."""
import sys, time
from pathlib import Path
import numpy as np, soundfile as sf, torch
from espnet_mvc.benchmarks.vocoder import HifiganAnchor
from espnet_mvc.inference.reference_audio import resample
from espnet_mvc.vocoder.gan_data import teacher_train_files
torch.set_num_threads(int(sys.argv[3]) if len(sys.argv) > 3 else 2)
corpus, out = Path(sys.argv[1]), Path(sys.argv[2])
(out / "wav").mkdir(parents=True, exist_ok=True)
anchor = HifiganAnchor()
files = teacher_train_files(corpus)
t0 = time.time(); lines = []
for i, f in enumerate(files):
    dst = out / "wav" / (f.stem + ".flac")
    if not dst.exists():
        wav, sr = sf.read(f, dtype="float32")
        y, _ = anchor.copy(resample(wav, sr, anchor.fs))
        y = resample(y, anchor.fs, 24000)
        tmp = dst.with_suffix(".tmp.flac"); sf.write(tmp, y, 24000); tmp.replace(dst)
    lines.append(f"{f.stem} {dst.resolve()}\n")
    if i % 20 == 0: print(i, len(files), f"{time.time()-t0:.0f}s", flush=True)
(out / "wav.scp").write_text("".join(lines))
print("done", len(lines))
