"""One backend's synthesis time, in a process of its own (``benchmark onnx``'s timing).

    python -m espnet_mvc.benchmarks.synthesis_timing_worker {torch,onnx} JOB.json

``JOB.json`` holds ``model`` (a shipped model's name for ``torch``, an export directory for
``onnx``), ``threads``, ``rounds`` and ``items`` (``ids``: token ids, ``ref``: the reference
clip). After one untimed pass over the items (loading, allocation), every round synthesizes
all of them; the summed ``elapsed`` and audio ``seconds`` are printed as one JSON line.

A process per backend measures each as it is deployed: the ONNX runtime without torch in
the process, PyTorch with whatever ``OMP_WAIT_POLICY`` the caller's environment sets (the
``espnet-mvc`` command line sets ``PASSIVE``). In one process, PyTorch's OpenMP threads
spin after each call and take the cores from onnxruntime's threads.
"""

import json
import sys
from pathlib import Path


def main(argv=None) -> int:
    backend, job_file = (sys.argv[1:] if argv is None else argv)
    job = json.loads(Path(job_file).read_text())
    if backend == "onnx":
        import numpy as np

        from espnet_mvc.onnx_runtime import OnnxSynthesizer

        tts = OnnxSynthesizer(job["model"], threads=job["threads"])
        ids = [np.asarray(item["ids"], dtype=np.int64) for item in job["items"]]
    elif backend == "torch":
        import torch

        from espnet_mvc.inference.synthesizer import MVCSynthesizer

        torch.set_num_threads(job["threads"])
        tts = MVCSynthesizer.from_pretrained(job["model"])
        ids = [torch.tensor(item["ids"], dtype=torch.long) for item in job["items"]]
    else:
        raise SystemExit(f"backend must be torch or onnx, got {backend!r}")
    refs = [item["ref"] for item in job["items"]]
    elapsed = seconds = 0.0
    for round_ in range(1 + job["rounds"]):  # round 0: untimed
        for text_ids, ref in zip(ids, refs):
            res = tts.synthesize(text_ids, ref=ref)
            if round_:
                elapsed += res.elapsed
                seconds += res.seconds
    print(json.dumps(dict(elapsed=elapsed, seconds=seconds)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
