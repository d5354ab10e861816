"""Benchmarks run by ``python -m espnet_mvc.bin.benchmark <name> [--quick] [...]``.

Each benchmark is a module of this package with a ``main(argv) -> int`` that prints its
table (baselines measured in the same run) and ends with one machine-readable
``<key>: <value>`` line. :data:`espnet_mvc.bin.benchmark.BENCHMARKS` maps the subcommands
to the modules, which are named by what they measure:

* ``scan``: the project's selective scan vs a plain sequential loop (``scan.py``);
* ``encoder`` (``encoder.py``), ``rtf`` (``synthesis_rtf.py``), ``streaming``
  (``streaming_latency.py``), ``train`` (``training_throughput.py``), ``onnx``
  (``onnx_vs_torch.py``), ``quality``, ``vocoder``, ``serve``, ``startup``.

Helper modules without ``main`` are not benchmarks: ``baselines`` (the MVC, FastSpeech2,
VITS, JETS and HiFi-GAN builders and the measuring helpers), ``styletts2_baseline`` (the
StyleTTS2 re-implementation), ``fresh_process`` (one measurement per fresh child process)
and ``machine`` (CPU and load notes).
"""
