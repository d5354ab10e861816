"""One body per module for offline and streamed inference.

A module that streams (the decoder's U-Net, the prosody stack) writes its computation once
and runs each conv and Bi-Mamba layer through a *runner*:

* :class:`WholeSequence` runs every layer as itself over the whole padded batch (the
  offline ``forward``; training and :meth:`MVC.inference`);
* :class:`StreamingConvCache` runs it over a window ``[s, s + W)`` of one stream, of which
  the first ``commit`` frames become final: each conv takes its left context from the
  frames the previous windows committed and pads the window's right end with zeros, as the
  offline conv pads the end of the sequence; each Bi-Mamba layer continues its forward scan
  from the state after the committed frames. What the window leaves for the next one is
  collected in :attr:`StreamingConvCache.next`.

So a window that reaches the end of the utterance gives the offline result for all its
frames (up to float rounding), and ``forward`` and ``forward_chunk`` cannot drift apart.
"""

import math
from typing import Dict, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F


class WholeSequence:
    """Runs each layer over the whole (padded) sequence: the offline path."""

    def conv1d(self, layer: nn.Conv1d, x: torch.Tensor, key: str, commit: Optional[int]):
        """``layer(x)``; x (B, C, T)."""
        return layer(x)

    def conv_transpose1d(
        self, layer: nn.ConvTranspose1d, x: torch.Tensor, key: str, commit: Optional[int],
        width: int,
    ) -> torch.Tensor:
        """``layer(x)`` cropped to ``width`` output frames."""
        return layer(x)[:, :, :width]

    def bimamba(
        self, block: nn.Module, x: torch.Tensor, key: str, commit: Optional[int],
        lengths: Optional[torch.Tensor], style: Optional[torch.Tensor],
    ) -> torch.Tensor:
        """``block(x, lengths, style)`` for a Bi-Mamba block or stack; x (B, T, D)."""
        return block(x, lengths, style)


# the runner is stateless: one serves every offline call
WHOLE_SEQUENCE = WholeSequence()


class StreamingConvCache(WholeSequence):
    """Runs each layer over a window of one stream, with what earlier windows left.

    Args:
        previous (Optional[dict]): :attr:`next` of the stream's previous window, or None at
            the start of the stream (then the left context is zeros, as the offline
            padding).

    Attributes:
        next (dict): Filled while the window runs: per layer key, the last committed input
            frames of a conv, or the forward state of a Bi-Mamba layer after the committed
            frames. Pass it as ``previous`` of the next window.
    """

    def __init__(self, previous: Optional[Dict[str, object]] = None):
        self.previous: Dict[str, object] = {} if previous is None else previous
        self.next: Dict[str, object] = {}

    def _with_context(
        self, x: torch.Tensor, key: str, left: int, commit: int, right: int = 0
    ) -> torch.Tensor:
        """[cached ``left`` frames | x | ``right`` zeros]; remembers the ``left`` input
        frames before ``commit`` for the next window."""
        prev = self.previous.get(key)
        if prev is None:
            prev = x.new_zeros(x.shape[0], x.shape[1], left)
        # zeros on the right: the offline padding at the end of the sequence
        xin = torch.cat([prev, x, x.new_zeros(x.shape[0], x.shape[1], right)], dim=2)
        self.next[key] = xin[:, :, commit : commit + left]
        return xin

    def conv1d(self, layer: nn.Conv1d, x: torch.Tensor, key: str, commit: int):
        """The window's frames of ``layer`` over the stream; x (B, C, W), ``commit`` in
        the input's rate (a strided conv's window must start on its stride)."""
        left = layer.padding[0]
        right = layer.dilation[0] * (layer.kernel_size[0] - 1) - left
        xin = self._with_context(x, key, left, commit, right)
        return F.conv1d(
            xin, layer.weight, layer.bias, stride=layer.stride, dilation=layer.dilation,
            groups=layer.groups,
        )

    def conv_transpose1d(
        self, layer: nn.ConvTranspose1d, x: torch.Tensor, key: str, commit: int, width: int
    ) -> torch.Tensor:
        """The ``width`` output frames of an upsampling ``layer`` over the window.

        Output frame ``m`` (offline, with ``padding`` p) gathers inputs ``a`` with
        ``stride * a + k - p = m``, k < kernel; the window's first output frame needs
        ``ceil((kernel - 1 - p) / stride)`` input frames before the window, and sits at
        ``stride * left + p`` in the unpadded output of ``[left frames | x]``.
        """
        kernel, stride, pad = layer.kernel_size[0], layer.stride[0], layer.padding[0]
        left = math.ceil((kernel - 1 - pad) / stride)
        xin = self._with_context(x, key, left, commit)
        start = stride * left + pad
        return F.conv_transpose1d(
            xin, layer.weight, layer.bias, stride=layer.stride, dilation=layer.dilation,
            groups=layer.groups,
        )[:, :, start : start + width]

    def bimamba(
        self, block: nn.Module, x: torch.Tensor, key: str, commit: int,
        lengths: Optional[torch.Tensor], style: Optional[torch.Tensor],
    ) -> torch.Tensor:
        """``block.forward_chunk`` continuing the block's (or stack's) forward state."""
        out, state = block.forward_chunk(x, commit, self.previous.get(key), style)
        self.next[key] = state
        return out
