"""Length-aware helpers for bidirectional scans over padded batches.

A backward scan over a padded batch must start at each sequence's own last frame, not at
the padding: ``reverse_within_length`` reverses frames ``0 .. len-1`` of every sequence and
leaves the padding where it is, so a causal scan over the reversed batch never sees padding
before a valid frame.
"""

from typing import Optional

import torch


def check_lengths(x: torch.Tensor, lengths: Optional[torch.Tensor]) -> torch.Tensor:
    """Validate ``lengths`` for ``x`` (B, T, ...) and return them as a long tensor.

    Raises:
        ValueError: wrong shape, a length < 1 or a length longer than T.
    """
    bsz, max_len = x.shape[0], x.shape[1]
    if lengths is None:
        return torch.full((bsz,), max_len, dtype=torch.long, device=x.device)
    if lengths.dim() != 1 or lengths.shape[0] != bsz:
        raise ValueError(f"lengths must be ({bsz},), got shape {tuple(lengths.shape)}")
    if lengths.is_floating_point():
        raise ValueError(f"lengths must be an integer tensor, got {lengths.dtype}")
    lengths = lengths.to(device=x.device, dtype=torch.long)
    if bool((lengths < 1).any()):
        raise ValueError(f"every sequence needs at least one frame, got lengths {lengths.tolist()}")
    if bool((lengths > max_len).any()):
        raise ValueError(
            f"lengths {lengths.tolist()} exceed the padded length {max_len} of the input"
        )
    return lengths


def reverse_within_length(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each sequence within its own length; padding stays at the end.

    Args:
        x (Tensor): Padded batch (B, T, D).
        lengths (Tensor): Valid lengths (B,).

    Returns:
        Tensor: (B, T, D) with ``out[b, t] = x[b, len_b - 1 - t]`` for ``t < len_b``.
    """
    max_len = x.shape[1]
    t = torch.arange(max_len, device=x.device).unsqueeze(0)  # (1, T)
    rev = lengths.unsqueeze(1) - 1 - t
    index = torch.where(rev >= 0, rev, t)  # (B, T); padding maps onto itself
    return torch.gather(x, 1, index.unsqueeze(-1).expand_as(x))
