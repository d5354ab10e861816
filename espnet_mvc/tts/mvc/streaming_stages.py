"""MVC's frame-level stages over one window of a stream (see
:class:`espnet_mvc.inference.streaming.MVCStreamer`).

:meth:`MVC.decoder_condition` and :meth:`MVC.sample_mel` run over a whole utterance; these
run them over a window ``[s, s + W)`` with caches carried from the stream's previous
window, so that a stream whose windows reach the utterance's end equals offline synthesis.
"""

from typing import Dict, List, Optional, Tuple

import torch

from espnet_mvc.tts.mvc.decode_options import DecodeOptions


class ChunkedStages:
    """The streaming stages of :class:`~espnet_mvc.tts.mvc.mvc.MVC` (a base class of it: they
    use its ``prosody_predictor``, ``mu_proj`` and ``decoder``)."""

    def decoder_condition_chunk(
        self,
        frames: torch.Tensor,
        commit: int,
        style: Optional[torch.Tensor] = None,
        cache: Optional[Dict[str, object]] = None,
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, Dict[str, object]]:
        """:meth:`decoder_condition` over a window ``[s, s + W)`` of one stream.

        Args:
            frames (Tensor): Frame states of the window (1, W, adim).
            commit (int): Frames of the window made final; the next window starts at
                ``s + commit``.
            style (Optional[Tensor]): (1, S).
            cache (Optional[dict]): From the stream's previous window, or None.

        Returns:
            Tensor: mu (1, W, odim). Tensor: F0 (1, W, 1). Tensor: energy (1, W, 1).
            dict: Cache for the next window. Frames past ``commit`` are provisional.
        """
        c, f0_hat, e_hat, cache = self.prosody_predictor.forward_chunk(
            self.add_frame_style(frames, style), commit, self.adaln_style(style), cache
        )
        return self.mu_proj(c), f0_hat, e_hat, cache

    def sample_mel_chunk(
        self,
        mu: torch.Tensor,
        noise: torch.Tensor,
        commit: int,
        style: Optional[torch.Tensor] = None,
        caches: Optional[List[Optional[dict]]] = None,
        options: Optional[DecodeOptions] = None,
    ) -> Tuple[torch.Tensor, List[dict]]:
        """:meth:`sample_mel` over a window ``[s, s + W)`` of one stream.

        Args:
            mu (Tensor): Condition of the window (1, W, odim).
            noise (Tensor): The window's frames of the utterance's starting noise
                (1, W, odim) (:meth:`starting_noise`).
            commit (int): Frames of the window made final (even, except the last window).
            style (Optional[Tensor]): (1, S).
            caches (Optional[list]): From the stream's previous window, or None.
            options (Optional[DecodeOptions]): n_timesteps, temperature and solver.

        Returns:
            Tensor: Mel (1, W, odim); frames past ``commit`` provisional.
            list: One cache per solver evaluation, for the next window.
        """
        mask = mu.new_ones(mu.shape[0], 1, mu.shape[1])
        mel, caches = self.decoder.sample_chunk(
            noise.transpose(1, 2), mu.transpose(1, 2), mask, style, commit, caches, options,
        )
        return mel.transpose(1, 2), caches
