"""Recorded inference outputs: what the package says, before and after a change of its code.

Every case runs one public inference path and returns named float arrays:

* the shipped ``kokoro_en_mvc`` through :class:`MVCSynthesizer` (``synthesize`` with the
  default voice, a built-in voice, a reference clip, each decode option; ``synthesize_long``;
  ``stream`` at a finite and an unlimited look-ahead; ``stream_long``);
* the same model through ESPnet's ``Text2Speech`` (``decode_conf``), as ``tts_inference``
  runs it;
* the command line (``espnet-mvc synth``), in a subprocess;
* a seeded ``mvc_tiny`` model: ``MVC.inference`` and the training losses of ``MVC.forward``.

``python tests/inference_record.py [OUT]`` writes ``tests/data/inference_record.json``: per
array its SHA-256 (of the float32 bytes), shape and every 97th value. The test
(``tests/test_inference_record.py``) recomputes the cases and demands equal hashes on the CPU
the record was made on (bit-identical outputs) and, elsewhere, the sampled values within
1e-4 (other SIMD paths round differently).
"""

import hashlib
import json
import platform
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable, Dict, List, Tuple

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RECORD = REPO / "tests" / "data" / "inference_record.json"
SHIPPED = REPO / "espnet_mvc" / "pretrained" / "kokoro_en_mvc"
STEP = 97
TEXT = "The quiet harbour woke slowly, and the boats drifted out."
LONG = ("Rain fell all night on the old town. By morning the streets shone, "
        "and the baker opened early; the smell of bread drifted down the hill.")


def cpu_model() -> str:
    """The CPU's name, family, model and widest vector unit (the record is bit-exact on this
    kind of CPU only: a VM may name every EPYC just "AMD EPYC")."""
    info = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            info.setdefault(key.strip(), value.strip())
    except OSError:
        return platform.processor() or "unknown"
    flags = info.get("flags", "").split()
    simd = "avx512f" if "avx512f" in flags else "avx2" if "avx2" in flags else "other"
    return (f"{info.get('model name', 'unknown')} family {info.get('cpu family', '?')} "
            f"model {info.get('model', '?')} {simd}")


def _np(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.ascontiguousarray(np.asarray(x, dtype=np.float32))


def _synth_cases(tts) -> Dict[str, Callable[[], Dict[str, np.ndarray]]]:
    from espnet_mvc.api import DecodeOptions

    ref = SHIPPED / "heldout" / "ref" / "u_kumo_nezumi.flac"
    voice = sorted(tts.voices)[1]

    def result(res):
        out = dict(wav=res.wav)
        if res.mel is not None:
            out["mel"] = res.mel
        if res.durations is not None:
            out["durations"] = res.durations
        return out

    return {
        "synthesize_default": lambda: result(tts.synthesize(TEXT)),
        "synthesize_voice_options": lambda: result(tts.synthesize(
            TEXT, voice=voice, n_timesteps=3, temperature=0.667, seed=3, solver="midpoint")),
        "synthesize_reference_alpha": lambda: result(tts.synthesize(
            TEXT, ref=str(ref), alpha=1.2, temperature=0.3, seed=1,
            options=DecodeOptions(n_timesteps=2))),
        "synthesize_long": lambda: result(tts.synthesize_long(LONG, progress=False, max_chars=60,
                                                              seed=2, temperature=0.5)),
        "stream_lookahead": lambda: dict(wav=np.concatenate(list(tts.stream(
            TEXT, voice=voice, chunk_seconds=0.3, first_chunk_seconds=0.1, lookahead=0.4,
            seed=5, temperature=0.4)))),
        "stream_offline": lambda: dict(wav=np.concatenate(list(tts.stream(
            TEXT, lookahead=float("inf"), seed=0)))),
        "stream_long": lambda: dict(wav=np.concatenate(list(tts.stream_long(
            LONG, max_chars=60, chunk_seconds=0.4, seed=4)))),
        "stream_long_unchunked": lambda: dict(wav=np.concatenate(list(tts.stream_long(
            LONG, max_chars=60, chunked=False, seed=4)))),
    }


def _text2speech_cases() -> Dict[str, Callable[[], Dict[str, np.ndarray]]]:
    """ESPnet's own Text2Speech on the shipped model, as the README shows it: with a
    ``decode_conf``, and with ESPnet's generic options (speed_control_alpha, noise_scale)."""
    import torch
    from espnet2.bin.tts_inference import Text2Speech

    import espnet_mvc.pretrained as zoo

    kwargs = zoo.text2speech_kwargs("kokoro_en_mvc")

    def run(decode_conf=None, **t2s_kw):
        t2s = Text2Speech(**kwargs, **t2s_kw)
        wave, _ = zoo.voice_reference("kokoro_en_mvc", voice="kumo", fs=t2s.fs)
        with torch.no_grad():
            out = t2s(TEXT, speech=torch.from_numpy(wave), decode_conf=decode_conf or {})
        return dict(wav=_np(out["wav"]).reshape(-1), mel=_np(out["feat_gen"]),
                    durations=_np(out["duration"]))

    return {
        "text2speech_decode_conf": lambda: run(dict(seed=7, temperature=0.5, n_timesteps=4)),
        "text2speech_generic_options": lambda: run(dict(seed=8), speed_control_alpha=1.1,
                                                   noise_scale=0.4),
    }


def _cli_case() -> Dict[str, np.ndarray]:
    import soundfile as sf

    import tomllib

    # the console script's own target, wherever the package keeps its CLI
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    target = scripts["espnet-mvc"]
    module, func = target.split(":")
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "out.wav"
        subprocess.run(
            [sys.executable, "-c", f"import sys, {module} as m; sys.exit(m.{func}(sys.argv[1:]))",
             "synth", "--text", TEXT, "--out", str(wav), "--model", "kokoro_en_mvc",
             "--seed", "11", "--temperature", "0.6", "--steps", "3", "--rate", "0.9", "--quiet"],
            check=True, capture_output=True, cwd=REPO)
        data, _ = sf.read(str(wav), dtype="float32")
    return dict(wav=data)


def _tiny_cases() -> Dict[str, Callable[[], Dict[str, np.ndarray]]]:
    import torch
    import yaml

    from mvc_testing import randomize_zero_inits

    from espnet_mvc.tts.mvc import MVC, DecodeOptions

    conf = yaml.safe_load((REPO / "espnet_mvc" / "conf" / "mvc_tiny.yaml").read_text())["tts_conf"]
    torch.manual_seed(0)
    # zero-initialised projections would hide most of the network
    model = randomize_zero_inits(MVC(idim=12, odim=80, **conf))
    g = torch.Generator().manual_seed(3)
    text = torch.randint(2, 11, (2, 9), generator=g)
    feats = torch.randn(2, 48, 80, generator=g)

    def inference():
        model.eval()
        with torch.no_grad():
            out = model.inference(text[0], feats=feats[0, :40],
                                  options=DecodeOptions(seed=1, temperature=0.7, n_timesteps=3,
                                                        alpha=1.1, solver="midpoint"))
        return {k: _np(v) for k, v in out.items()}

    def losses():
        model.train()
        torch.manual_seed(9)
        loss, stats, weight = model(
            text=text, text_lengths=torch.tensor([9, 7]), feats=feats,
            feats_lengths=torch.tensor([48, 40]), pitch=torch.randn(2, 48, 1, generator=g),
            pitch_lengths=torch.tensor([48, 40]), energy=torch.randn(2, 48, 1, generator=g),
            energy_lengths=torch.tensor([48, 40]))
        model.eval()
        out = {k: _np(v).reshape(1) for k, v in sorted(stats.items())
               if v is not None and hasattr(v, "detach")}
        out["total_loss"] = _np(loss).reshape(1)
        return out

    return {"tiny_inference": inference, "tiny_losses": losses}


def compute() -> Dict[str, Dict[str, np.ndarray]]:
    """Every case's arrays, in a fixed order, with one torch thread."""
    import torch

    torch.set_num_threads(1)
    from espnet_mvc.api import MVCSynthesizer

    tts = MVCSynthesizer.from_pretrained("kokoro_en_mvc")
    cases: List[Tuple[str, Callable]] = list(_synth_cases(tts).items())
    cases += list(_text2speech_cases().items()) + [("cli_synth", _cli_case)]
    cases += list(_tiny_cases().items())
    return {name: {k: _np(v) for k, v in fn().items()} for name, fn in cases}


def summarize(arrays: Dict[str, Dict[str, np.ndarray]]) -> Dict:
    return {
        name: {k: dict(sha256=hashlib.sha256(v.tobytes()).hexdigest(), shape=list(v.shape),
                       sample=[float(f"{x:.8g}") for x in v.reshape(-1)[::STEP]])
               for k, v in outs.items()}
        for name, outs in arrays.items()
    }


def _dumps(record: Dict) -> str:
    """JSON with one line per array (a diff shows which array changed)."""
    lines = ["{", f' "cpu": {json.dumps(record["cpu"])},', ' "cases": {']
    cases = list(record["cases"].items())
    for i, (name, arrays) in enumerate(cases):
        lines.append(f"  {json.dumps(name)}: {{")
        items = list(arrays.items())
        for j, (key, value) in enumerate(items):
            sep = "," if j < len(items) - 1 else ""
            lines.append(f"   {json.dumps(key)}: {json.dumps(value)}{sep}")
        lines.append("  }" + ("," if i < len(cases) - 1 else ""))
    lines += [" }", "}"]
    return "\n".join(lines) + "\n"


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else RECORD
    record = dict(cpu=cpu_model(), cases=summarize(compute()))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(_dumps(record))
    n = sum(len(v) for v in record["cases"].values())
    print(f"recorded {len(record['cases'])} cases, {n} arrays on {record['cpu']} -> {out}")


if __name__ == "__main__":
    main()
