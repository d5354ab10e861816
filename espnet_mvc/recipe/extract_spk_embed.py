"""Stage 3 worker for ``--use_spk_embed true``: one speaker embedding per utterance of one
shard of a Kaldi scp (stage 2's audio), written as a Kaldi ark + scp that ESPnet's TTS
tasks read as ``<scp>,spembs,kaldi_ark`` (ESPnet's own stage 3 writes x-vectors the same way).

The encoder is the scorer's (:mod:`espnet_mvc.metrics.speaker`): Resemblyzer's 256-d GE2E
d-vector, whose weights ship in its wheel, so nothing is downloaded. The scorer's last
fallback, MFCC statistics, is no speaker encoder and is refused here.

Run by ``tts.sh`` as ``python -m espnet_mvc.recipe.extract_spk_embed``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from espnet_mvc.recipe.datadir import DataDirError, read_kv


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scp", required=True, help="<utt> <audio file> lines (one job's shard)")
    ap.add_argument("--out-ark", required=True, help="ark file to write")
    ap.add_argument("--final-ark", help="path of the ark once its directory is moved into place "
                    "(written into the scp; default: --out-ark)")
    ap.add_argument("--out-scp", required=True, help="<utt> <ark>:<offset> lines")
    ap.add_argument("--out-info", required=True, help="gets '<dim> <encoder>'")
    a = ap.parse_args(argv)

    import kaldiio

    from espnet_mvc.metrics.speaker import embed, get_encoder

    try:
        keys, scp = read_kv(Path(a.scp))
    except DataDirError as e:
        print(f"ERROR: {e}", file=sys.stderr)
        return 1
    encoder, _ = get_encoder("auto")
    if encoder == "mfcc-stats":
        print("ERROR: --use_spk_embed needs Resemblyzer's speaker encoder: pip install resemblyzer "
              "(or the [score] extra: pip install -e '.[score]')", file=sys.stderr)
        return 1
    vectors = {}
    for i, k in enumerate(keys, 1):
        where = f"{a.scp} line {i} ({k})"
        try:
            wav, fs = sf.read(scp[k], dtype="float32", always_2d=True)
            e, _ = embed(wav.mean(axis=1), fs, encoder)
        except Exception as ex:  # soundfile and the encoder raise several types
            print(f"ERROR: {where}: {scp[k]}: {ex}", file=sys.stderr)
            return 1
        vectors[k] = e.astype(np.float32)
    ark, final = Path(a.out_ark), a.final_ark or a.out_ark
    ark.parent.mkdir(parents=True, exist_ok=True)
    tmp_scp = Path(a.out_scp + ".tmp")
    kaldiio.save_ark(str(ark), vectors, scp=str(tmp_scp))
    # the scp names the ark where it will be once the stage commits its directory
    lines = tmp_scp.read_text(encoding="utf-8").splitlines()
    prefix = f"{ark}:"
    Path(a.out_scp).write_text(
        "".join(f"{k} {final}:{v[len(prefix):]}\n" for k, v in (ln.split(" ", 1) for ln in lines)),
        encoding="utf-8",
    )
    tmp_scp.unlink()
    dims = {v.shape[0] for v in vectors.values()}
    Path(a.out_info).write_text(f"{dims.pop()} {encoder}\n", encoding="utf-8")
    print(f"{len(vectors)} embeddings ({encoder}) -> {a.out_scp}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
