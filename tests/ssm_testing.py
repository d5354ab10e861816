"""Helpers shared by the SSM tests (``tests/test_ssm_*.py``)."""

import torch


def rel_err(x: torch.Tensor, ref: torch.Tensor) -> float:
    """max|x - ref| / max|ref| in float64 (an all-zero ref demands an all-zero x)."""
    assert x.shape == ref.shape, (x.shape, ref.shape)
    x, ref = x.detach().double(), ref.detach().double()
    scale = max(ref.abs().max().item(), 1e-30)
    return (x - ref).abs().max().item() / scale


def trained_like(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Move every parameter off its init (nonzero biases, varied A and D) and eval()."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.2 * torch.randn(p.shape, generator=g))
    return module.eval()
