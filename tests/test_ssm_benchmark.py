"""Benchmark dispatcher and the scan benchmark's output format (not its timings)."""

import re

import pytest

from espnet_mvc.benchmarks import scan as scan_bench
from espnet_mvc.bin import benchmark

NUM = r"[0-9]+(?:\.[0-9]+)?"


def test_length_grids():
    assert scan_bench.FULL_LENGTHS == [128 * 2**i for i in range(7)]  # 128 .. 8192
    assert scan_bench.QUICK_LENGTHS == [128 * 2**i for i in range(5)]  # 128 .. 2048
    assert scan_bench.FINAL_KEY == "scan_speedup_vs_loop_L2048"


def test_scan_benchmark_quick_tiny_output_format(capsys):
    rc = benchmark.main(["scan", "--quick", "--lengths", "16", "48", "--d-inner", "4",
                         "--d-state", "2", "--repeats", "1", "--threads", "1",
                         "--clock", "cpu"])
    assert rc == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.strip()]
    # machine on top
    assert lines[0].startswith("# machine: cpu count ")
    assert "torch " in lines[0] and "threads 1" in lines[0]
    # the ISA of each kernel family, so that a figure says which CPU it holds on
    assert lines[1].startswith("# cpu_capability: ") and "scan kernel " in lines[1]
    assert "torch " in lines[1] and "ESPNET_MVC_KERNEL_ISA=native" in lines[1]
    assert any(ln.startswith("# default backend: ") and "cpu clock" in ln for ln in lines[:5])
    header = next(ln for ln in lines if ln.lstrip().startswith("L |"))
    for col in ("fwd ms: default", "chunked", "loop", "loop/def", "fwd+bwd ms: default",
                "us/step fwd", "max rel diff"):
        assert col in header, col
    # one row per length, L=2048 always added; numbers in every column
    row_re = re.compile(
        rf"^\s*(\d+) \|\s+{NUM}\s+{NUM}\s+{NUM}\s+{NUM}x\s+{NUM}x \|\s+{NUM}\s+{NUM}\s+{NUM}"
        rf"\s+{NUM}x\s+{NUM}x \|\s+{NUM}\s+{NUM} \|\s+[0-9.]+e[-+][0-9]+$"
    )
    rows = [row_re.match(ln) for ln in lines]
    assert [int(m.group(1)) for m in rows if m] == [16, 48, 2048]
    # the scan computes what the loop computes
    diffs = [float(ln.rsplit("|", 1)[1]) for ln in lines if row_re.match(ln)]
    assert max(diffs) < 1e-5
    assert any(ln.startswith("# per-step time at L=2048 / at L=16") for ln in lines)
    # last line exactly "scan_speedup_vs_loop_L2048: <ratio>"
    assert re.fullmatch(rf"scan_speedup_vs_loop_L2048: {NUM}", lines[-1]), lines[-1]
    assert float(lines[-1].split(": ")[1]) > 0


def test_dispatcher_missing_benchmark(capsys):
    rc = benchmark.main(["no_such_bench_xyz", "--quick"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "'no_such_bench_xyz' is not a benchmark name" in err
    assert "available: " in err and "scan" in err


def test_dispatcher_usage_and_bad_names(capsys):
    assert benchmark.main([]) == 2
    assert "usage: python -m espnet_mvc.bin.benchmark" in capsys.readouterr().err
    assert benchmark.main(["--help"]) == 0
    assert "{scan,encoder,rtf,streaming,quality,serve,startup,train,vocoder,onnx}" in capsys.readouterr().out
    assert benchmark.main(["../scan"]) == 2
    assert "not a benchmark name" in capsys.readouterr().err
    # a helper module of the package is not a benchmark
    assert benchmark.main(["__init__"]) == 2


def test_dispatcher_surfaces_missing_dependency(monkeypatch):
    """A benchmark whose own import fails must show that error, not 'not available'."""
    real = benchmark.importlib.import_module

    def fake(name, *a, **k):
        if name == "espnet_mvc.benchmarks.fake_bench":
            raise ModuleNotFoundError("No module named 'some_dep'", name="some_dep")
        return real(name, *a, **k)

    monkeypatch.setattr(benchmark.importlib, "import_module", fake)
    monkeypatch.setitem(benchmark.BENCHMARKS, "fake_bench", "fake_bench")
    with pytest.raises(ModuleNotFoundError, match="some_dep"):
        benchmark.main(["fake_bench"])


def test_dispatcher_passes_args_and_return_code(monkeypatch):
    seen = {}

    class Fake:
        @staticmethod
        def main(argv):
            seen["argv"] = argv
            return 3

    real = benchmark.importlib.import_module
    monkeypatch.setattr(benchmark.importlib, "import_module",
                        lambda n, *a, **k: Fake if n.endswith(".fake_bench") else real(n))
    monkeypatch.setitem(benchmark.BENCHMARKS, "fake_bench", "fake_bench")
    assert benchmark.main(["fake_bench", "--quick", "--x", "1"]) == 3
    assert seen["argv"] == ["--quick", "--x", "1"]


def test_kernel_isa_target_is_reported_and_validated(monkeypatch):
    """ESPNET_MVC_KERNEL_ISA=avx2 builds what an AVX2 + FMA CPU runs, whatever this CPU has;
    a mistyped target is an error, never a silent fallback to the slow scan."""
    import shutil

    from espnet_mvc.nets.ssm import cpu_kernel

    monkeypatch.setattr(cpu_kernel, "_isa_summary", None)
    monkeypatch.setenv("ESPNET_MVC_KERNEL_ISA", "avx2")
    if shutil.which("cc") or shutil.which("gcc"):
        summary = cpu_kernel.isa_summary()
        assert summary.split(" (")[0].split()[:2] == ["avx2", "fma"], summary
        assert "avx512f" not in summary and "(ESPNET_MVC_KERNEL_ISA=avx2); runs its " in summary
    monkeypatch.setattr(cpu_kernel, "_isa_summary", None)
    monkeypatch.setenv("ESPNET_MVC_KERNEL_ISA", "avx3")
    with pytest.raises(ValueError, match=r"ESPNET_MVC_KERNEL_ISA='avx3': choose one of"):
        cpu_kernel.target_isa()
    monkeypatch.setattr(cpu_kernel, "_lib", None)
    monkeypatch.setattr(cpu_kernel, "_load_failed", None)
    with pytest.raises(ValueError, match="ESPNET_MVC_KERNEL_ISA"):
        cpu_kernel.load()
