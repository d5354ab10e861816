"""MVC trains under distributed data parallel (issue 25, item 5).

Two processes on the CPU with the gloo backend run ESPnet's distributed training step
(``tests/mvc_ddp_worker.py``: the model wrapped in ``DistributedDataParallel`` as ESPnet's
trainer wraps it, the loss weighted by ``weight / all_reduce(weight) * world_size`` as it
weights it), each on half of a batch of 4, and the gradients are compared with one process
on the joined batch: with teacher durations and with the training-only aligner.

Equal, not just close in spirit: MVC's losses are means over a batch's valid tokens and
frames, DDP averages the ranks' gradients and ESPnet weights each rank by its utterance
count, so the two are the same function when the ranks hold equal utterance, token and frame
counts; the batch is made so (lengths 9/12 tokens and 40/52 frames on each rank, each rank
padded to its own longest). The random draws are fixed per utterance (see the worker).

With teacher durations the aligner gets no gradient: DDP then needs
``find_unused_parameters`` (ESPnet's ``--unused_parameters true``), without it the second
step is refused; with the aligner every parameter gets a gradient and plain DDP runs.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

import mvc_ddp_worker as W
from espnet_mvc.server.launch import free_port

pytestmark = pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(),
                                reason="torch.distributed with gloo is not available")


@pytest.fixture(scope="module")
def ddp(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp") / "rank0.pt"
    env = dict(os.environ, MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()),
               WORLD_SIZE="2", OMP_NUM_THREADS="1", GLOO_SOCKET_IFNAME="lo")
    procs = [subprocess.Popen([sys.executable, W.__file__, str(out)],
                              env=dict(env, RANK=str(r)), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for r in range(2)]
    logs = []
    for p in procs:
        try:
            logs.append(p.communicate(timeout=240)[0])
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise
    assert all(p.returncode == 0 for p in procs), "\n".join(x[-3000:] for x in logs)
    return torch.load(out, weights_only=False)


def _single(durations):
    model = W.build()
    return W.gradients(model, W.collate(W.items(), durations))


def _compare(ddp_grads, single_grads):
    assert ddp_grads.keys() == single_grads.keys()
    worst = 0.0
    for name, g in single_grads.items():
        d = ddp_grads[name]
        scale = float(g.abs().max()) + 1e-8
        err = float((d - g).abs().max()) / scale
        worst = max(worst, err)
        assert err < 2e-4, (name, err, scale)
    return worst


@pytest.mark.parametrize("mode", ["durations", "aligner"])
def test_ddp_gradients_equal_the_joined_batch(ddp, mode):
    res = ddp[mode]
    single, loss = _single(durations=mode == "durations")
    worst = _compare(res["grads"], single)
    zero = sorted(n for n, g in single.items() if not g.abs().sum() > 0)
    # every parameter but the idle aligner's learns from this step (none is compared at 0)
    assert all(n.startswith("aligner.") for n in zero) if mode == "durations" else not zero, zero
    assert res["second_step"] == "ok"
    print(f"{mode}: {len(single)} parameter tensors, largest relative difference {worst:.1e}")


def test_unused_parameters_with_teacher_durations(ddp):
    batch = W.collate(W.items(), True)
    unused = W.unused(W.build(), batch)
    assert unused and all(n.startswith("aligner.") for n in unused), unused
    assert W.unused(W.build(), W.collate(W.items(), False)) == []
    # without find_unused_parameters (ESPnet's --unused_parameters) DDP refuses step 2
    assert ddp["durations_no_unused"] != "ok"
    assert "unused" in ddp["durations_no_unused"] or "reduction" in ddp["durations_no_unused"]
