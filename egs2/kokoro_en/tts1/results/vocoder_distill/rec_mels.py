# As run in session 12 (issue 23), with that machine's scratch paths; see README.md.
import sys
from pathlib import Path
import numpy as np, soundfile as sf, torch, yaml
from espnet_mvc.vocoder.data import build_feats_extract, compute_mel
from espnet_mvc.inference.reference_audio import resample
conf = yaml.safe_load(open("espnet_mvc/pretrained/kokoro_en_mvc/vocoder.yaml"))["feats_extract_conf"]
feats = build_feats_extract(conf)
out = Path("/tmp/s12/distill/rec_mels"); out.mkdir(exist_ok=True)
rec = dict(l.split(None, 1) for l in open("/tmp/s12/distill/data_voc/train_teacher/wav.scp").read().splitlines())
anc = dict(l.split(None, 1) for l in open("/tmp/s12/distill/anchor/wav.scp").read().splitlines())
for utt, p in anc.items():
    y, sr = sf.read(p, dtype="float32"); x, sr2 = sf.read(rec[utt], dtype="float32")
    if sr2 != 24000: x = resample(x, sr2, 24000)
    with torch.no_grad(): m = compute_mel(feats, torch.from_numpy(x)).numpy()
    frames = 1 + len(y) // 300
    m = m[:frames] if len(m) >= frames else np.concatenate([m, np.repeat(m[-1:], frames - len(m), 0)])
    np.save(out / f"{utt}.npy", m.astype(np.float32))
print("ok", len(anc))
