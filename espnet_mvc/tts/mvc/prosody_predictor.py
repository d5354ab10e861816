"""Expressive Mamba: frame-level F0 and energy prediction, embedded back into the condition.

    p = BiMambaStack(h_frames, style)                    (B, T_feats, D)
    f0_hat, energy_hat = heads(p)                        (B, T_feats, 1) each
    c = p + Embed_f0(f0) + Embed_energy(energy)          f0/energy: targets in training,
                                                         predictions at inference
Targets are ESPnet's ``dio`` / ``energy`` features at frame level
(``use_token_averaged_f0: false``), normalised by ``global_mvn``.
"""

from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn

from espnet_mvc.nets.masks import valid_mask
from espnet_mvc.nets.ssm import BiMambaStackConfig
from espnet_mvc.tts.mvc.streaming_cache import WHOLE_SEQUENCE, StreamingConvCache, WholeSequence


class ExpressiveMambaProsodyPredictor(nn.Module):
    """Frame-level prosody stack.

    Args:
        adim (int): Width D.
        stack (BiMambaStackConfig): The gated Bi-Mamba blocks (depth, AdaLN style size,
            fusion, Mamba sizes, dropout).
        embed_kernel_size (int): Kernel of the conv that embeds F0/energy back.
    """

    def __init__(
        self,
        adim: int,
        stack: BiMambaStackConfig = BiMambaStackConfig(),
        embed_kernel_size: int = 9,
    ):
        super().__init__()
        self.blocks = stack.build(adim)
        self.f0_head = nn.Linear(adim, 1)
        self.energy_head = nn.Linear(adim, 1)
        pad = (embed_kernel_size - 1) // 2
        self.f0_embed = nn.Conv1d(1, adim, embed_kernel_size, padding=pad)
        self.energy_embed = nn.Conv1d(1, adim, embed_kernel_size, padding=pad)

    def forward(
        self,
        h: torch.Tensor,
        feats_lengths: torch.Tensor,
        style: Optional[torch.Tensor] = None,
        f0: Optional[torch.Tensor] = None,
        energy: Optional[torch.Tensor] = None,
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Predict prosody and build the fused condition.

        Args:
            h (Tensor): Frame-level encoding (B, T_feats, D).
            feats_lengths (LongTensor): (B,).
            style (Optional[Tensor]): (B, S).
            f0 (Optional[Tensor]): Target F0 (B, T_feats, 1) (teacher forcing).
            energy (Optional[Tensor]): Target energy (B, T_feats, 1) (teacher forcing).

        Returns:
            Tensor: Condition c (B, T_feats, D), zero on padding.
            Tensor: Predicted F0 (B, T_feats, 1).
            Tensor: Predicted energy (B, T_feats, 1).
        """
        mask = valid_mask(feats_lengths, h.shape[1]).unsqueeze(-1).to(h.dtype)  # (B, T_feats, 1)
        return self._predict(h, mask, style, f0, energy, WHOLE_SEQUENCE, feats_lengths, None)

    # ------------------------------------------------------------------ streaming
    def forward_chunk(
        self,
        h: torch.Tensor,
        commit: int,
        style: Optional[torch.Tensor] = None,
        cache: Optional[Dict[str, object]] = None,
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, Dict[str, object]]:
        """Streaming :meth:`forward` over a window ``[s, s + W)`` of one stream (inference).

        The stack runs :meth:`BiMambaStack.forward_chunk` (forward states carried in the
        cache, backward scans recomputed over the window from its end); the F0/energy
        embedding convs take their left context from the cached last committed F0/energy
        frames and zero-pad the window's right end (= the offline sequence end). A window
        that reaches the end of the utterance gives the offline result.

        Args:
            h (Tensor): Frame-level encoding over the window (B, W, D).
            commit (int): Frames made final by this call; the next window starts at
                ``s + commit``.
            style (Optional[Tensor]): (B, S).
            cache (Optional[dict]): From the previous call of this stream, or None.

        Returns:
            Tensor: Condition c (B, W, D). Tensor: F0 (B, W, 1). Tensor: energy (B, W, 1).
            dict: Cache for the next window.
        """
        runner = StreamingConvCache(cache)
        mask = h.new_ones(h.shape[0], h.shape[1], 1)  # one unpadded stream per batch item
        c, f0_hat, energy_hat = self._predict(h, mask, style, None, None, runner, None, commit)
        return c, f0_hat, energy_hat, runner.next

    def _predict(
        self,
        h: torch.Tensor,
        mask: torch.Tensor,
        style: Optional[torch.Tensor],
        f0: Optional[torch.Tensor],
        energy: Optional[torch.Tensor],
        runner: WholeSequence,
        lengths: Optional[torch.Tensor],
        commit: Optional[int],
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The stack and the F0/energy embedding, offline (``lengths``) or over a streamed
        window (``commit``); mask (B, T, 1)."""
        p = runner.bimamba(self.blocks, h, "states", commit, lengths, style)
        f0_hat = self.f0_head(p) * mask
        energy_hat = self.energy_head(p) * mask
        f0_in = f0_hat if f0 is None else f0
        energy_in = energy_hat if energy is None else energy

        def embed(conv, y, key):  # (B, T, 1) -> (B, D, T)
            return runner.conv1d(conv, (y * mask).transpose(1, 2), key, commit)

        embedded = embed(self.f0_embed, f0_in, "f0") + embed(self.energy_embed, energy_in, "energy")
        c = (p + embedded.transpose(1, 2)) * mask
        return c, f0_hat, energy_hat
