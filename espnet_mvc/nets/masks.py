"""The padding mask of every module in the project.

ESPnet's ``make_pad_mask`` / ``make_non_pad_mask`` are not used: for tensor lengths they
build a (T + 1, T + 1) matrix and index it, memory quadratic in T that long inputs (and
every chunk of a stream) would pay at each layer; without an explicit T they read it from
``lengths.max()``, a device sync; and ``make_non_pad_mask`` takes no T at all.
"""

import torch


def valid_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """True on the valid frames of a padded batch, False on its padding.

    Args:
        lengths (LongTensor): Valid lengths (B,).
        max_len (int): Padded length T.

    Returns:
        BoolTensor: (B, T) on the device of ``lengths``, ``[b, t] = t < lengths[b]``
        (ESPnet's ``make_non_pad_mask``; its ``make_pad_mask`` is the negation).
    """
    return torch.arange(max_len, device=lengths.device)[None] < lengths[:, None]
