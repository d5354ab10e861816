"""Plot the copy-synthesis DNSMOS curves of this folder against training CPU seconds.

    python plot_curves.py dnsmos_curves.png
"""
import csv
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = Path(__file__).parent
RUNS = {
    "kd1: anchor wave -> its own mel (2 threads)": "dnsmos_curve_kd1.tsv",
    "kd2: recording mel -> anchor wave (2 threads)": "dnsmos_curve_kd2.tsv",
    "control: recording mel -> recording (1 thread)": "dnsmos_curve_control.tsv",
}
fig, ax = plt.subplots(figsize=(7, 4))
for label, name in RUNS.items():
    rows = list(csv.DictReader(open(HERE / name), delimiter="\t"))
    ax.plot([int(r["step"]) for r in rows], [float(r["dnsmos"]) for r in rows], label=label,
            lw=1)
ax.axhline(2.915, color="k", ls=":", lw=1, label="step 0: the shipped vocoder")
ax.set_xlabel("training step (batch 8 x 48 frames)")
ax.set_ylabel("copy-synthesis DNSMOS, 8 held-out reference clips")
ax.legend(fontsize=7)
fig.tight_layout()
fig.savefig(sys.argv[1] if len(sys.argv) > 1 else HERE / "dnsmos_curves.png", dpi=110)
