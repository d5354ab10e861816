"""``python -m espnet_mvc.espnet.tts_inference``: ESPnet's ``espnet2.bin.tts_inference`` with MVC.

Same arguments and behaviour as ESPnet's module, with the plugin registered, plus MVC's own
decoding options (ESPnet's parser does not know them; in a decode YAML they may be given
under the same names):

    --n_timesteps N      flow-matching solver steps (default: the model's config)
    --solver NAME        euler | midpoint
    --temperature X      sampler noise scale (default: the model's config)

``--speed_control_alpha`` is MVC's speaking rate (``alpha``) and ``--noise_scale``, when it is
not ESPnet's default, its temperature (see :class:`espnet_mvc.tts.mvc.DecodeOptions`). MVC's
own options are checked before the model loads and given to every synthesis call of an MVC
model as ESPnet's ``decode_conf`` keywords, which ``MVC.inference`` turns into one
``DecodeOptions`` (ESPnet's form at ESPnet's edge); nothing is kept in a process global.

It also times the synthesis (any model: MVC, VITS, JETS, ...) and writes
``<output_dir>/rtf``, which stage 9 (:mod:`espnet_mvc.bin.score`) reads::

    # <utt> rtf=<elapsed_s / audio_s> elapsed_s=<wall s> cpu_s=<process CPU s> audio_s=<s>
    utt1 rtf=0.2104 elapsed_s=0.5013 cpu_s=0.9871 audio_s=2.3823
    peak_mem_mib 1234.5 kind=max_rss

``elapsed_s`` is the wall time of the ``Text2Speech`` call (text to waveform, vocoder or
Griffin-Lim included; CUDA synchronized), not data loading or writing the wav; ``audio_s``
is the length of the generated waveform. ``peak_mem_mib`` is the process's peak resident
memory (``kind=max_rss``, model and libraries included) when decoding on the CPU, or the
peak CUDA memory allocated by torch (``kind=cuda_max_allocated``) on a GPU.

The model file is loaded with ``torch.load(weights_only=True)``; a file holding anything but
weights is refused (see :mod:`espnet_mvc.espnet.checkpoints`).
"""

import contextlib
import logging
import resource
import sys
import time
from pathlib import Path
from typing import Dict, Optional

# first: the package defers g2p_en (nltk downloads at import) before ESPnet imports it
from espnet_mvc.espnet import registry  # isort: skip
from espnet2.bin import tts_inference as espnet_tts_inference  # noqa: E402
from espnet.utils.cli_utils import get_commandline_args  # noqa: E402

from espnet_mvc.espnet.checkpoints import safe_checkpoint_loading  # noqa: E402
from espnet_mvc.tts.mvc.decode_options import DecodeOptions  # noqa: E402

registry.register_now()

MVC_DECODE_OPTIONS = ("n_timesteps", "solver", "temperature")
TIMING_FILE = "rtf"


@contextlib.contextmanager
def _replaced(owner, name, value):
    """Set ``owner.name = value`` for the block; put back exactly what was there."""
    own = name in vars(owner)
    saved = vars(owner).get(name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        if own:
            setattr(owner, name, saved)
        else:
            delattr(owner, name)


@contextlib.contextmanager
def record_timing(path, mvc_decode_conf: Optional[Dict[str, object]] = None):
    """Time every ``Text2Speech.__call__`` made inside the block; write ``path`` at its end.

    ESPnet's ``inference`` loop takes one utterance at a time from
    ``TTSTask.build_streaming_iterator`` and makes one ``Text2Speech`` call for it. Both are
    wrapped for the block (and restored afterwards), so whatever model the loop decodes is
    timed with the very calls it makes, and each time is paired with the key just yielded.
    Nothing is written when the block raises. ``mvc_decode_conf`` (MVC's own options from the
    command line) is added to the ``decode_conf`` of every call that decodes an MVC model.
    """
    import torch

    t2s_cls, task = espnet_tts_inference.Text2Speech, espnet_tts_inference.TTSTask
    original_call, original_iter = t2s_cls.__call__, task.build_streaming_iterator
    keys, rows = [], []
    on_cuda = []

    def timed_call(self, *args, **kwargs):
        if mvc_decode_conf and registry.is_mvc(self.tts):
            kwargs["decode_conf"] = dict(mvc_decode_conf, **(kwargs.get("decode_conf") or {}))
        cuda = str(getattr(self, "device", "cpu")).startswith("cuda")
        if cuda:
            if not on_cuda:
                torch.cuda.reset_peak_memory_stats()
                on_cuda.append(True)
            torch.cuda.synchronize()
        t0, c0 = time.perf_counter(), time.process_time()
        out = original_call(self, *args, **kwargs)
        if cuda:
            torch.cuda.synchronize()
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
        wav = out.get("wav") if isinstance(out, dict) else None
        fs = self.fs
        audio = wav.numel() / fs if wav is not None and fs else None
        # the key yielded for this call (none when a call comes without a new key)
        key = keys[len(rows)] if len(keys) > len(rows) else None
        rows.append((key, elapsed, cpu, audio))
        return out

    def keyed_iterator(*args, **kwargs):
        for item in original_iter(*args, **kwargs):
            keys.append(item[0][0])
            yield item

    # why: ESPnet's loop neither times its calls nor hands the key to them (scoped, restored)
    with _replaced(t2s_cls, "__call__", timed_call), \
            _replaced(task, "build_streaming_iterator", staticmethod(keyed_iterator)):
        yield
    write_timing(path, rows, torch.cuda.max_memory_allocated() if on_cuda else None)


def write_timing(path, rows, cuda_peak=None):
    """Write the ``rtf`` file (format: module docstring) from ``(key, elapsed_s, cpu_s,
    audio_s)`` rows; a row without a key or without audio is left out, with a warning."""
    lines = ["# <utt> rtf=<elapsed_s / audio_s> elapsed_s=<wall s> cpu_s=<process CPU s> audio_s=<s>"]
    for key, elapsed, cpu, audio in rows:
        if key is None or not audio:
            logging.warning(f"timing: no {'key' if key is None else 'audio'} for a synthesis "
                            f"call ({key}); left out of {path}")
            continue
        lines.append(f"{key} rtf={elapsed / audio:.6g} elapsed_s={elapsed:.6g} "
                     f"cpu_s={cpu:.6g} audio_s={audio:.6g}")
    if cuda_peak is not None:
        lines.append(f"peak_mem_mib {cuda_peak / 2**20:.1f} kind=cuda_max_allocated")
    else:  # ru_maxrss is in KiB on Linux
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        lines.append(f"peak_mem_mib {rss:.1f} kind=max_rss")
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")


def get_parser():
    parser = espnet_tts_inference.get_parser()
    group = parser.add_argument_group("MVC decoding")
    DecodeOptions.add_arguments(group, MVC_DECODE_OPTIONS, helps=dict(
        temperature="sampler noise scale (default: --noise_scale if given, else the model's)"))
    return parser


def main(cmd=None):
    print(get_commandline_args(), file=sys.stderr)
    args = get_parser().parse_args(cmd)
    kwargs = vars(args)
    kwargs.pop("config", None)
    overrides = {k: kwargs.pop(k) for k in MVC_DECODE_OPTIONS}
    overrides = {k: v for k, v in overrides.items() if v is not None}
    DecodeOptions(**overrides)  # out-of-range values fail here, before the model loads
    with safe_checkpoint_loading(), \
            record_timing(Path(args.output_dir) / TIMING_FILE, mvc_decode_conf=overrides):
        espnet_tts_inference.inference(**kwargs)


if __name__ == "__main__":
    main()
