"""`python -m espnet_mvc.bin.benchmark {scan,encoder,rtf,streaming,quality,serve,startup,train,vocoder,onnx} [--quick] [...]`.

Dispatches to ``main(argv)`` of the benchmark's module in :mod:`espnet_mvc.benchmarks`
(table :data:`BENCHMARKS`) with the remaining arguments
(``python -m espnet_mvc.bin.benchmark scan --help`` shows a benchmark's own options).
"""

import importlib
import os
import sys

# OpenMP's default busy-waiting makes small multi-threaded matmuls crawl when the cores are
# shared; it must be set before torch is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
from typing import List, Optional

PACKAGE = "espnet_mvc.benchmarks"
#: subcommand -> module of :data:`PACKAGE`; the subcommands are the documented names, the
#: modules are named by what they measure
BENCHMARKS = {
    "scan": "scan",
    "encoder": "encoder",
    "rtf": "synthesis_rtf",
    "streaming": "streaming_latency",
    "quality": "quality",
    "serve": "serve",
    "startup": "startup",
    "train": "training_throughput",
    "vocoder": "vocoder",
    "onnx": "onnx_vs_torch",
}
KNOWN = tuple(BENCHMARKS)

USAGE = (
    "usage: python -m espnet_mvc.bin.benchmark {" + ",".join(KNOWN) + "} [--quick] [...]\n"
    "       python -m espnet_mvc.bin.benchmark <name> --help   (options of one benchmark)"
)


def _availability() -> str:
    return "available: " + ", ".join(BENCHMARKS)


def main(argv: Optional[List[str]] = None) -> int:
    """Run one benchmark.

    Args:
        argv: ``[<name>, *options]``; default ``sys.argv[1:]``.

    Returns:
        The benchmark's exit code; 2 for a missing or unknown name.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        out = sys.stdout if argv else sys.stderr
        print(USAGE, file=out)
        print(_availability(), file=out)
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in BENCHMARKS:
        print(f"error: {name!r} is not a benchmark name.\n{USAGE}\n{_availability()}",
              file=sys.stderr)
        return 2
    module = importlib.import_module(f"{PACKAGE}.{BENCHMARKS[name]}")
    rc = module.main(rest)
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
