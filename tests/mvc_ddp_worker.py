"""MVC's gradients under torch DDP (gloo, CPU) and in one process: the harness of
``tests/test_mvc_ddp.py``.

Run by path as one rank of a 2-process group (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``,
``MASTER_PORT`` in the environment), it writes rank 0's gradients of every scenario to
``argv[1]``; imported, :func:`gradients` gives the single-process gradients of the joined
batch.

The step is ESPnet's (``espnet2/train/trainer.py``): ``loss, stats, weight = model(**batch)``
then, distributed, ``loss * weight / all_reduce(weight) * world_size`` before
``backward()``, with the model wrapped in ``DistributedDataParallel`` as ESPnet wraps it
(``find_unused_parameters`` is ESPnet's ``--unused_parameters``).

The batch: 4 utterances of mixed lengths, each rank's 2 padded to the rank's own longest
(as ESPnet's collate pads a minibatch), language ids (the CSS10 tiny config), pitch and
energy, and teacher durations (``durations=True``) or none (the training-only aligner).

Determinism. MVC draws three random things in training: the reference crop of each target
(``training.random_reference``), the flow-matching time and noise
(``CFMDecoder.compute_loss``) and dropout. Dropout is 0 in the tiny config, and the crop is
the whole utterance when ``ref_segment_frames`` (64) is at least the longest target (52
frames). The decoder's draws
are made a function of each utterance's place in the joined batch (``seed + index``, noise
drawn frame-major at a fixed length and cut to the batch's), so that rank 1's utterances 2-3
see the noise they see in the joined batch; nothing else of the decoder is changed.
"""

import sys
from pathlib import Path
from unittest import mock

import torch
import yaml
from mvc_testing import randomize_zero_inits

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "egs2/css10/tts1/conf/tuning/train_mvc_tiny.yaml"
IDIM, ODIM = 40, 80
TEXT_LENS = [9, 12, 12, 9]  # rank 0: items 0-1, rank 1: items 2-3 (equal token and
FEAT_LENS = [40, 52, 52, 40]  # frame counts per rank: see test_mvc_ddp.py)
LIDS = [1, 2, 3, 1]
T_CAP = 64


def build(seed: int = 0):
    from espnet_mvc.tts.mvc import MVC

    conf = yaml.safe_load(CONFIG.read_text())["tts_conf"]
    conf["ref_segment_frames"] = 64
    torch.manual_seed(seed)
    model = MVC(idim=IDIM, odim=ODIM, **conf).train()
    # zero-initialised layers would leave most gradients at zero: randomise them
    return randomize_zero_inits(model)


def items():
    """The joined batch's utterances (deterministic)."""
    g = torch.Generator().manual_seed(7)
    out = []
    for n_tok, n_frm, lid in zip(TEXT_LENS, FEAT_LENS, LIDS):
        text = torch.randint(2, IDIM - 1, (n_tok,), generator=g)
        dur = torch.ones(n_tok, dtype=torch.long)  # at least one frame per token
        extra = torch.multinomial(torch.ones(n_tok), n_frm - n_tok, replacement=True,
                                  generator=g)
        dur += torch.bincount(extra, minlength=n_tok)
        out.append(dict(text=text, feats=torch.randn(n_frm, ODIM, generator=g),
                        pitch=torch.randn(n_frm, 1, generator=g),
                        energy=torch.randn(n_frm, 1, generator=g), durations=dur,
                        lids=torch.tensor([lid])))
    return out


def collate(utts, durations: bool):
    """ESPnet's common collate: padded to the longest of these utterances, with lengths."""
    def pad(key):
        xs = [u[key] for u in utts]
        out = torch.zeros(len(xs), max(len(x) for x in xs), *xs[0].shape[1:], dtype=xs[0].dtype)
        for i, x in enumerate(xs):
            out[i, : len(x)] = x
        return out, torch.tensor([len(x) for x in xs])

    batch = {}
    for key in ("text", "feats", "pitch", "energy") + (("durations",) if durations else ()):
        batch[key], batch[f"{key}_lengths"] = pad(key)
    batch["lids"] = torch.stack([u["lids"] for u in utts])
    return batch


def seeded_decoder_draws(model, offset: int):
    """Patch ``model.decoder.compute_loss`` so that utterance i of the batch draws its flow
    time and noise from ``seed(offset + i)``: the same draws wherever it sits."""
    dec = model.decoder
    orig = dec.__dict__.setdefault("_unseeded_compute_loss", dec.compute_loss)

    def compute_loss(x1, mask, mu, style=None):
        bsz, chans, frames = x1.shape
        t = torch.stack([torch.rand(1, generator=torch.Generator().manual_seed(1000 + offset + i))[0]
                         for i in range(bsz)]).to(x1)
        z = torch.stack([torch.randn(T_CAP, chans, generator=torch.Generator()
                                     .manual_seed(2000 + offset + i))[:frames].T
                         for i in range(bsz)]).to(x1)
        with mock.patch.object(torch, "rand", lambda *a, **k: t), \
                mock.patch.object(torch, "randn_like", lambda *a, **k: z):
            return orig(x1, mask, mu, style)

    dec.compute_loss = compute_loss


def gradients(model, batch, offset=0, step=None):
    """One training step's gradients {name: tensor} (zeros where a parameter has none)."""
    seeded_decoder_draws(getattr(model, "module", model), offset)
    model.zero_grad(set_to_none=True)
    loss, stats, weight = model(**batch)
    if step is not None:
        loss = step(loss, weight)
    loss.backward()
    inner = getattr(model, "module", model)
    return {n: (p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p))
            for n, p in inner.named_parameters()}, float(loss)


def unused(model, batch):
    """Names of the parameters a single-process step leaves without a gradient."""
    seeded_decoder_draws(model, 0)
    model.zero_grad(set_to_none=True)
    model(**batch)[0].backward()
    return sorted(n for n, p in model.named_parameters() if p.grad is None)


def main(out: str) -> int:
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP

    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    per = len(TEXT_LENS) // world
    mine = items()[rank * per:(rank + 1) * per]

    def espnet_step(loss, weight):  # espnet2/train/trainer.py, distributed
        loss = (loss * weight.type(loss.dtype)).sum()
        weight = weight.clone().float()
        dist.all_reduce(weight)
        return loss / weight * world

    results = {}
    for name, durations, find_unused in (("durations", True, True), ("aligner", False, False)):
        model = DDP(build(), find_unused_parameters=find_unused)
        grads, loss = gradients(model, collate(mine, durations), rank * per, espnet_step)
        results[name] = dict(grads=grads, loss=loss)
        # a second step: DDP refuses it if the first left parameters unreduced
        try:
            gradients(model, collate(mine, durations), rank * per, espnet_step)
            results[name]["second_step"] = "ok"
        except RuntimeError as e:
            results[name]["second_step"] = str(e)[:300]
    # teacher durations without --unused_parameters: DDP refuses the second step
    model = DDP(build(), find_unused_parameters=False)
    gradients(model, collate(mine, True), rank * per, espnet_step)
    try:
        gradients(model, collate(mine, True), rank * per, espnet_step)
        results["durations_no_unused"] = "ok"
    except RuntimeError as e:
        results["durations_no_unused"] = str(e)[:400]
    if rank == 0:
        torch.save(results, out)
    dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main(sys.argv[1]))
