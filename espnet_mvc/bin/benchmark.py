"""`python -m espnet_mvc.bin.benchmark {scan,encoder,rtf,streaming,quality,serve,startup,train,vocoder,onnx} [--quick] [...]`.

Dispatches to ``espnet_mvc.benchmarks.<name>.main(argv)`` with the remaining arguments
(``python -m espnet_mvc.bin.benchmark scan --help`` shows a benchmark's own options).
"""

import importlib
import importlib.util
import os
import sys

# OpenMP's default busy-waiting makes small multi-threaded matmuls crawl when the cores are
# shared; it must be set before torch is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
from typing import List, Optional

PACKAGE = "espnet_mvc.benchmarks"
KNOWN = ("scan", "encoder", "rtf", "streaming", "quality", "serve", "startup", "train", "vocoder",
         "onnx")

USAGE = (
    "usage: python -m espnet_mvc.bin.benchmark {" + ",".join(KNOWN) + "} [--quick] [...]\n"
    "       python -m espnet_mvc.bin.benchmark <name> --help   (options of one benchmark)"
)


def _module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(f"{PACKAGE}.{name}") is not None
    except ModuleNotFoundError:
        return False


def _availability() -> str:
    present = [n for n in KNOWN if _module_exists(n)]
    missing = [n for n in KNOWN if n not in present]
    text = "available: " + (", ".join(present) or "none")
    if missing:
        text += "; not written yet: " + ", ".join(missing)
    return text


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        out = sys.stdout if argv else sys.stderr
        print(USAGE, file=out)
        print(_availability(), file=out)
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if not name.isidentifier() or name.startswith("_"):
        print(f"error: {name!r} is not a benchmark name.\n{USAGE}\n{_availability()}",
              file=sys.stderr)
        return 2
    module_name = f"{PACKAGE}.{name}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name not in (module_name, PACKAGE):
            raise  # a dependency inside the benchmark is missing: show the real error
        print(
            f"error: benchmark {name!r} is not available: module {module_name} does not "
            f"exist in this checkout.\n{_availability()}",
            file=sys.stderr,
        )
        return 2
    entry = getattr(module, "main", None)
    if not callable(entry):
        print(f"error: {module_name} has no main(argv): it is a helper module, not a "
              f"benchmark.\n{_availability()}", file=sys.stderr)
        return 2
    rc = entry(rest)
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
