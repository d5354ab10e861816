"""Benchmarks run by ``python -m espnet_mvc.bin.benchmark <name> [--quick] [...]``.

Each benchmark is a module of this package with a ``main(argv) -> int`` that prints its
table (baselines measured in the same run) and ends with one machine-readable
``<key>: <value>`` line:

* ``scan``: the project's selective scan vs a plain sequential loop (``scan.py``);
* ``encoder``, ``rtf``, ``streaming``: model-level benchmarks (see their modules).

Helper modules without ``main`` (e.g. ``baselines``) are not benchmarks.
"""
