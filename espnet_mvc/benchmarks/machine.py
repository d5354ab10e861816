"""What a benchmark ran on: the CPU, the vector ISA each kernel family uses, and the load.

Every benchmark prints ``cpu_capability`` in its header, because a speed figure without its
CPU does not transfer: the compiled scan, MKL's GEMMs and PyTorch's vectorised ops each pick
their own ISA (AVX-512 where the CPU has it, AVX2 on most laptops). An AVX2 machine can be
emulated on a wider one with ``ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2
ESPNET_MVC_KERNEL_ISA=avx2``; the line then says so.
"""

import os
import platform


def cpu_model() -> str:
    """The CPU's model name with its family and model numbers (``/proc/cpuinfo``), else the
    platform's processor string. Cloud CPUs often report only a brand ("AMD EPYC"), so the
    numbers are what tells a Zen 3 from a Zen 4."""
    fields = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if not line.strip():
                    break  # the first processor is enough
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
    except OSError:
        pass
    name = fields.get("model name") or platform.processor() or platform.machine()
    if "cpu family" in fields and "model" in fields:
        name += f" (family {fields['cpu family']}, model {fields['model']})"
    return name


def cpu_flags() -> str:
    """The vector extensions this CPU has (from ``/proc/cpuinfo``), e.g. ``avx2 fma``."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = set(next((ln for ln in f if ln.startswith(("flags", "Features"))),
                             ":").split(":", 1)[1].split())
    except OSError:
        return "unknown"
    names = ["avx512f", "avx512bw", "avx512_vnni", "avx2", "fma", "avx", "sse4_2", "asimd"]
    return " ".join(n for n in names if n in flags) or "baseline"


def cpu_capability() -> str:
    """One line: CPU model and ISA; PyTorch's, MKL's and the compiled scan's target ISA."""
    import torch

    from espnet_mvc.nets.ssm import cpu_kernel

    try:
        torch_cap = torch.backends.cpu.get_cpu_capability()
    except AttributeError:  # pragma: no cover - old torch
        torch_cap = "unknown"
    mkl = os.environ.get("MKL_ENABLE_INSTRUCTIONS", "auto")
    return (f"{cpu_model()} [{cpu_flags()}]; torch {torch_cap}; "
            f"MKL_ENABLE_INSTRUCTIONS={mkl}; scan kernel {cpu_kernel.isa_summary()}")


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def machine_note() -> str:
    """Cores, torch version and threads, OpenMP wait policy and load average."""
    import torch

    omp = os.environ.get("OMP_WAIT_POLICY", "(unset)")
    return (f"cpus={os.cpu_count()} torch={torch.__version__} threads={torch.get_num_threads()} "
            f"OMP_WAIT_POLICY={omp} loadavg={load_average()}")
