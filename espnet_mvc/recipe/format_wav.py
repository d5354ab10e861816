"""Stage 2 worker: read one shard of a Kaldi wav.scp, check and resample each recording
to ``--fs`` and write 16-bit flac/wav files plus the new scp and utt2num_samples.

Run by ``tts.sh`` as ``python -m espnet_mvc.recipe.format_wav``. A bad recording stops the
job with a message naming the scp file, the line, the utterance and what is wrong:
missing file, unreadable audio, empty audio, or a sample rate below ``--fs`` (unless
``--allow-upsample true``). ``cmd |`` pipe entries are supported as in Kaldi.
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from espnet_mvc.inference.reference_audio import resample
from espnet_mvc.recipe.datadir import DataDirError, read_kv


class FormatError(Exception):
    pass


def read_audio(value: str, where: str):
    if value.endswith("|"):
        cmd = value[:-1].strip()
        try:
            out = subprocess.run(
                cmd, shell=True, check=True, capture_output=True, timeout=600
            ).stdout
        except subprocess.CalledProcessError as e:
            raise FormatError(
                f"{where}: command failed ({e.returncode}): {cmd}: "
                f"{e.stderr.decode(errors='replace')[-300:]}"
            ) from e
        except subprocess.TimeoutExpired as e:
            raise FormatError(f"{where}: command timed out: {cmd}") from e
        src = io.BytesIO(out)
    else:
        if not Path(value).is_file():
            raise FormatError(f"{where}: audio file not found: {value}")
        if Path(value).stat().st_size == 0:
            raise FormatError(f"{where}: empty audio file (0 bytes): {value}")
        src = value
    try:
        wav, sr = sf.read(src, dtype="float32", always_2d=True)
    except Exception as e:  # soundfile raises several types
        raise FormatError(f"{where}: unreadable audio {value}: {e}") from e
    if wav.shape[0] == 0:
        raise FormatError(f"{where}: audio has no samples: {value}")
    if wav.shape[1] > 1:
        wav = wav[:, :1]  # first channel, as Kaldi recipes do for mono TTS
    return wav[:, 0], int(sr)


def shard(lines, job: int, nj: int):
    lo = (job - 1) * len(lines) // nj
    hi = job * len(lines) // nj
    return lo, lines[lo:hi]


def safe_name(key: str) -> str:
    return key.replace("/", "_")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scp", required=True)
    ap.add_argument("--fs", type=int, required=True)
    ap.add_argument("--audio-format", choices=["flac", "wav"], default="flac")
    ap.add_argument("--allow-upsample", choices=["true", "false"], default="false")
    ap.add_argument("--out-dir", required=True, help="where the files are written now")
    ap.add_argument("--final-dir", required=True, help="where they will live (scp paths)")
    ap.add_argument("--out-scp", required=True)
    ap.add_argument("--out-num-samples", required=True)
    ap.add_argument("--job", type=int, default=1)
    ap.add_argument("--nj", type=int, default=1)
    a = ap.parse_args(argv)

    try:
        keys, scp = read_kv(Path(a.scp))
    except OSError as e:
        print(f"ERROR: cannot read {a.scp}: {e}", file=sys.stderr)
        return 1
    except DataDirError as e:  # names the file and line
        print(f"ERROR: {e}", file=sys.stderr)
        return 1
    lo, mine = shard(keys, a.job, a.nj)
    out_dir = Path(a.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    scp_lines, num_lines = [], []
    n_silent = 0
    try:
        for i, key in enumerate(mine, lo + 1):  # read_kv refused empty lines: line i is key i
            value = scp[key]
            where = f"{a.scp}: line {i}: utterance '{key}'"
            wav, sr = read_audio(value, where)
            if sr < a.fs and a.allow_upsample != "true":
                raise FormatError(
                    f"{where}: sample rate {sr} Hz is below --fs {a.fs} Hz ({value}); "
                    "use a corpus at >= fs, a lower --fs, or --allow_upsample true"
                )
            if not np.all(np.isfinite(wav)):
                raise FormatError(f"{where}: audio contains NaN/inf samples: {value}")
            wav = resample(wav, sr, a.fs)
            if np.max(np.abs(wav)) < 1e-4:
                n_silent += 1
                print(f"WARNING: {where}: audio is silent: {value}", file=sys.stderr)
            wav = np.clip(wav, -1.0, 32767 / 32768)
            name = f"{safe_name(key)}.{a.audio_format}"
            sf.write(str(out_dir / name), wav, a.fs, subtype="PCM_16")
            scp_lines.append(f"{key} {Path(a.final_dir) / name}\n")
            num_lines.append(f"{key} {len(wav)}\n")
    except FormatError as e:
        print(f"ERROR: {e}", file=sys.stderr)
        return 1
    Path(a.out_scp).write_text("".join(scp_lines), encoding="utf-8")
    Path(a.out_num_samples).write_text("".join(num_lines), encoding="utf-8")
    print(
        f"job {a.job}/{a.nj}: {len(mine)} recordings -> {out_dir} at {a.fs} Hz"
        + (f" ({n_silent} silent)" if n_silent else ""),
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
