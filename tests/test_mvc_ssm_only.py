"""SSM-only inference, proven by execution and by construction.

A full inference (ESPnet's ``ESPnetTTSModel.inference`` with fbank + global_mvn on a
reference waveform for the tiny config; ``MVC.inference`` for the paper-size base config)
runs with a forward pre-hook on EVERY module and under the torch profiler. Asserted:

* no module whose type is (or whose class name looks like) attention or an RNN executes;
* no softmax / scaled-dot-product-attention / RNN op appears in the profiler's op list;
* the aligner (``model.aligner`` and its submodules) is never called at inference;
* the SSM path did run (Mamba modules of every stack were called).

Positive controls show that the same tracer does see these things when they happen: a
training forward calls the aligner and the profiler records its log-softmax; a toy with
``nn.MultiheadAttention`` + ``nn.LSTM`` is flagged by module and by op.
"""

import torch
import torch.nn as nn
from conftest import FS, TOKENS

from espnet_mvc.nets.ssm import GatedBiMambaBlock, Mamba
from espnet_mvc.tts.mvc import MVC

FORBIDDEN_TYPES = (nn.MultiheadAttention, nn.RNNBase, nn.RNNCellBase, nn.Transformer,
                   nn.TransformerEncoderLayer, nn.TransformerDecoderLayer)
FORBIDDEN_NAME_PARTS = ("attention", "attn", "lstm", "gru", "rnn", "transformer",
                        "conformer", "softmax")
FORBIDDEN_OP_PARTS = ("softmax", "attention", "lstm", "gru", "rnn_tanh", "rnn_relu")
INFERENCE_PARTS = ("text_encoder", "duration_predictor", "prosody_predictor",
                   "style_encoder", "decoder")


def _forbidden_module(module: nn.Module) -> bool:
    name = type(module).__name__.lower()
    return isinstance(module, FORBIDDEN_TYPES) or any(p in name for p in FORBIDDEN_NAME_PARTS)


def _trace(model: nn.Module, fn):
    """Run ``fn()`` with a pre-hook on every module of ``model`` and the profiler.

    Returns:
        list of (qualified name, module) called, in call order; set of profiler op names.
    """
    called = []
    handles = [
        m.register_forward_pre_hook(lambda mod, args, _n=name: called.append((_n, mod)))
        for name, m in model.named_modules()
    ]
    try:
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            fn()
    finally:
        for h in handles:
            h.remove()
    ops = {evt.name for evt in prof.events()}
    return called, ops


def _bad_ops(ops):
    return sorted(op for op in ops if any(p in op.lower() for p in FORBIDDEN_OP_PARTS))


def _assert_ssm_only(called, ops, mvc: MVC, prefix: str):
    assert called, "the hooks saw nothing: tracer broken"
    bad_modules = sorted({f"{n} ({type(m).__name__})" for n, m in called if _forbidden_module(m)})
    assert not bad_modules, f"attention/RNN modules executed at inference: {bad_modules}"
    assert not _bad_ops(ops), f"attention/softmax/RNN ops executed: {_bad_ops(ops)}"
    aligner_ids = {id(m) for m in mvc.aligner.modules()}
    aligner_calls = sorted({n for n, m in called if id(m) in aligner_ids})
    assert not aligner_calls, f"the aligner ran at inference: {aligner_calls}"
    # the SSM stacks did run: every inference component called its Mamba layers
    for part in INFERENCE_PARTS:
        if getattr(mvc, part) is None:
            continue
        mambas = [n for n, m in called if n.startswith(f"{prefix}{part}.") and isinstance(m, Mamba)]
        assert mambas, f"no Mamba of {part} ran"


def _assert_inference_path_has_no_attention(mvc: MVC):
    """By construction: no attention / RNN module anywhere outside the aligner."""
    for part in INFERENCE_PARTS:
        module = getattr(mvc, part)
        if module is None:
            continue
        bad = [f"{part}.{n} ({type(m).__name__})" for n, m in module.named_modules()
               if _forbidden_module(m)]
        assert not bad, bad
        assert any(isinstance(m, GatedBiMambaBlock) for m in module.modules()), part
    aligner_ids = {id(m) for m in mvc.aligner.modules()}
    rest = [f"{n} ({type(m).__name__})" for n, m in mvc.named_modules()
            if id(m) not in aligner_ids and _forbidden_module(m)]
    assert not rest, rest


def test_tracer_sees_attention_and_rnns():
    """Positive control: the tracer flags MultiheadAttention / LSTM, by module and by op."""

    class Toy(nn.Module):
        def __init__(self):
            super().__init__()
            self.att = nn.MultiheadAttention(16, 2, batch_first=True)
            self.rnn = nn.LSTM(16, 16, batch_first=True)

        def forward(self, x):
            return self.rnn(self.att(x, x, x)[0])[0]

    toy = Toy().eval()
    with torch.no_grad():
        called, ops = _trace(toy, lambda: toy(torch.randn(1, 5, 16)))
    assert any(isinstance(m, nn.MultiheadAttention) for _, m in called)
    assert any(isinstance(m, nn.LSTM) for _, m in called)
    bad = _bad_ops(ops)
    assert any("softmax" in op or "attention" in op for op in bad), sorted(ops)
    assert any("lstm" in op for op in bad), sorted(ops)


def _tiny_batch(make_speech):
    lengths = [int(0.5 * FS), int(0.4 * FS)]
    speech = torch.zeros(2, max(lengths))
    for i, n in enumerate(lengths):
        speech[i, :n] = make_speech(n, f0=120.0 + 50 * i, seed=i)
    return dict(
        text=torch.tensor([[2, 3, 4, 5, 6], [5, 4, 3, 0, 0]]),
        text_lengths=torch.tensor([5, 3]),
        speech=speech,
        speech_lengths=torch.tensor(lengths),
    )


def test_tiny_espnet_inference_is_ssm_only(tmp_path, mvc_conf, make_speech, build_espnet):
    from espnet2.tasks.tts import TTSTask

    torch.manual_seed(0)
    batch = _tiny_batch(make_speech)
    model, _ = build_espnet(TTSTask, mvc_conf("mvc_tiny"), tmp_path, batch)
    mvc = model.tts
    _assert_inference_path_has_no_attention(mvc)

    # training: the aligner runs (and the profiler sees its log-softmax)
    model.train()
    called, ops = _trace(model, lambda: model(**batch)[0].backward())
    aligner_ids = {id(m) for m in mvc.aligner.modules()}
    assert {n for n, m in called if id(m) in aligner_ids} >= {"tts.aligner",
                                                              "tts.aligner.alignment_module"}
    assert any("log_softmax" in op for op in ops), "positive control: aligner's log-softmax"

    # inference through ESPnet: fbank + global_mvn of the reference, then MVC.inference
    model.eval()
    ref = make_speech(int(0.7 * FS), f0=170.0, seed=5)
    out = {}

    def run():
        with torch.no_grad():
            out.update(model.inference(torch.tensor([2, 3, 4, 5, 6, 7]), speech=ref,
                                       use_teacher_forcing=False, n_timesteps=3))

    called, ops = _trace(model, run)
    assert out["feat_gen"].shape == (int(out["duration"].sum()), 80)
    _assert_ssm_only(called, ops, mvc, "tts.")
    names = {n for n, _ in called}
    assert "feats_extract" in names and "tts.style_encoder" in names  # reference path ran
    assert sum(n == "tts.decoder.estimator" for n, _ in called) == 3


def test_base_inference_is_ssm_only(mvc_conf):
    """The paper-size config, bare MVC, a short input (with a reference mel)."""
    torch.manual_seed(0)
    mvc = MVC(idim=80, odim=80, **mvc_conf("mvc_base")["tts_conf"]).eval()
    _assert_inference_path_has_no_attention(mvc)
    ref = torch.randn(40, 80, generator=torch.Generator().manual_seed(1))
    text = torch.arange(2, 14)
    out = {}

    def run():
        with torch.no_grad():
            out.update(mvc.inference(text, feats=ref, n_timesteps=2, seed=0))

    called, ops = _trace(mvc, run)
    assert out["feat_gen"].shape == (int(out["duration"].sum()), 80)
    _assert_ssm_only(called, ops, mvc, "")
    n_blocks = sum(isinstance(m, GatedBiMambaBlock) for _, m in called)
    # text 6 + duration 6 + prosody 6 + style 2 + 2 x U-Net (down 1, mid 2, up 1) = 28
    assert n_blocks == 28, n_blocks
