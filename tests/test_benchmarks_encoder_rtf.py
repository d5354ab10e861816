"""The encoder-scaling and RTF benchmarks run end to end in their tiny mode.

Checks the output format (the exact last lines), the result files and the plot -- not the
timings, which depend on the machine.
"""

import json
import re

import pytest

pytest.importorskip("espnet2")

NUM = r"(?:\d+\.\d+|nan)"


def _last_lines(out: str, n: int):
    return [ln for ln in out.strip().splitlines() if ln.strip()][-n:]


def test_encoder_benchmark_tiny(tmp_path, capsys):
    from espnet_mvc.benchmarks import encoder

    out_dir = tmp_path / "enc"
    rc = encoder.main(["--tiny", "--threads", "1", "--out-dir", str(out_dir)])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert any(ln.startswith("# cpu_capability: ") for ln in out.splitlines()[:4]), out
    last = _last_lines(out, 3)
    assert re.fullmatch(rf"encoder_speedup_vs_styletts2_T512: {NUM}", last[0]), last
    assert re.fullmatch(rf"encoder_peakmem_ratio_vs_styletts2_T512: {NUM}", last[1]), last
    assert re.fullmatch(rf"encoder_time_ratio_T8192_T1024: {NUM}", last[2]), last
    # every (model, T) point measured, in its own child process
    data = json.loads((out_dir / "encoder_results.json").read_text())
    pts = {(r["model"], r["T"]) for r in data["results"] if r.get("ok")}
    assert pts == {(m, t) for m in encoder.DEFAULT_MODELS for t in encoder.TINY_LENGTHS}, data
    for r in data["results"]:
        assert r["wall_s"] > 0 and r["peak_mib"] >= 0 and r["n_timed"] >= 1
        assert r["frames"] == r["T"] * 5
    assert (out_dir / "encoder_results.csv").read_text().startswith("model,T,frames")
    png = out_dir / "encoder_scaling.png"
    assert png.exists() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # tiny mode has no T=512: the substitution is stated, not hidden
    assert "T=512 not measured" in out
    want = "fused" if _kernel_ok() else "unfused"
    assert {r["mamba_path"] for r in data["results"] if r["model"] == "mvc"} == {want}


def _kernel_ok():
    from espnet_mvc.nets.ssm import cpu_kernel

    return cpu_kernel.load() is not None


def test_encoder_benchmark_unfused_variant(tmp_path, capsys):
    """--models mvc_unfused measures the same MVC on the batched (unfused) Mamba path."""
    from espnet_mvc.benchmarks import encoder

    if not _kernel_ok():
        pytest.skip("no compiled CPU kernel: there is no fused path")
    out_dir = tmp_path / "enc"
    rc = encoder.main(["--tiny", "--threads", "1", "--lengths", "16", "--models", "mvc",
                       "mvc_unfused", "--out-dir", str(out_dir)])
    assert rc == 0, capsys.readouterr().out
    data = json.loads((out_dir / "encoder_results.json").read_text())
    paths = {r["model"]: r["mamba_path"] for r in data["results"]}
    assert paths == {"mvc": "fused", "mvc_unfused": "unfused"}, data


def test_rtf_benchmark_tiny(tmp_path, capsys):
    from espnet_mvc.benchmarks import synthesis_rtf as rtf

    out_dir = tmp_path / "rtf"
    rc = rtf.main(["--tiny", "--threads", "1", "--out-dir", str(out_dir)])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert any(ln.startswith("# cpu_capability: ") for ln in out.splitlines()[:4]), out
    last = _last_lines(out, 3)
    assert re.fullmatch(rf"rtf_ratio_mvc4_vocos_vs_vits: {NUM}", last[0]), out
    assert re.fullmatch(rf"rtf_ratio_mvc4_vocos_vs_fastspeech2_vocos: {NUM}", last[1]), out
    assert re.fullmatch(rf"rtf_ratio_mvc4_vs_vits: {NUM}", last[2]), out
    data = json.loads((out_dir / "rtf_results.json").read_text())
    systems = {r["system"] for r in data["results"]}
    assert {"mvc2", "mvc4", "mvc10", "vits", "jets", "hifigan", "mvc4_vocos",
            "fastspeech2_vocos", "vocos"} <= systems
    # the printed ratios are those of the aggregate RTFs in the JSON
    agg = data["summary"]["aggregate_rtf"]
    ratio = float(last[0].split(": ")[1])
    assert ratio == pytest.approx(agg["mvc4_vocos"] / agg["vits"], rel=2e-3, abs=1e-3)
    # the same output length was forced on every system
    assert len({r["samples"] for r in data["results"]}) == 1
    assert all(r["rtf"] > 0 for r in data["results"])
    assert (out_dir / "rtf_results.csv").read_text().startswith("system,T,frames")


def test_peak_rss_sees_torch_allocations():
    """The memory method sees torch CPU allocations (which tracemalloc does not)."""
    import torch

    from espnet_mvc.benchmarks.baselines import PeakRSS

    with PeakRSS() as p:
        x = torch.ones(64 * 2**20 // 4)  # 64 MiB, touched
        del x
    assert p.delta_mib > 48, p.delta_mib


def test_styletts2_regulators_agree():
    """StyleTTS2's dense-alignment upsampling and the repeat_interleave variant agree."""
    import torch

    from espnet_mvc.benchmarks.baselines import forced_durations
    from espnet_mvc.benchmarks.styletts2_baseline import build_styletts2_conditioning

    torch.manual_seed(0)
    a = build_styletts2_conditioning(tiny=True)
    b = build_styletts2_conditioning(tiny=True, regulator="gather")
    b.load_state_dict(a.state_dict())
    text = torch.randint(2, 100, (1, 7))
    dur = forced_durations(7, 3)
    dur[0, 2] = 1
    style = torch.randn(1, a.style_dim)
    with torch.inference_mode():
        for x, y in zip(a(text, dur, style), b(text, dur, style)):
            assert torch.allclose(x, y, atol=1e-5)


def test_plbert_sdpa_layer_matches_transformer_encoder_layer():
    """PL-BERT's SDPA layer computes what nn.TransformerEncoderLayer (post-LN) computes."""
    import torch

    from espnet_mvc.benchmarks.styletts2_baseline import PLBERT

    torch.manual_seed(0)
    kw = dict(vocab=50, embedding_size=16, hidden=32, heads=4, ffn=64, layers=3,
              max_positions=64)
    a = PLBERT(attention="sdpa", **kw).eval()
    b = PLBERT(attention="torch_layer", **kw).eval()
    b.load_state_dict({k: v for k, v in a.state_dict().items() if not k.startswith("layer.")},
                      strict=False)
    la, lb = a.layer, b.layer
    with torch.no_grad():
        lb.self_attn.in_proj_weight.copy_(
            torch.cat([la.query.weight, la.key.weight, la.value.weight]))
        lb.self_attn.in_proj_bias.copy_(torch.cat([la.query.bias, la.key.bias, la.value.bias]))
        lb.self_attn.out_proj.weight.copy_(la.dense.weight)
        lb.self_attn.out_proj.bias.copy_(la.dense.bias)
        for dst, src in ((lb.linear1, la.ffn), (lb.linear2, la.ffn_output),
                         (lb.norm1, la.attn_norm), (lb.norm2, la.full_layer_norm)):
            dst.weight.copy_(src.weight)
            dst.bias.copy_(src.bias)
    tokens = torch.randint(0, 50, (1, 20))
    with torch.inference_mode():
        ya, yb = a(tokens, torch.ones(1, 20, dtype=torch.int)), b(tokens)
    # gelu_new (tanh) vs exact gelu is the only difference
    assert torch.allclose(ya, yb, atol=5e-3), (ya - yb).abs().max()
