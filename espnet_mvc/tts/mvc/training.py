"""What only MVC's training computes: reference crops, decoder windows, target durations and
the losses of :meth:`espnet_mvc.tts.mvc.mvc.MVC.forward`.

    style  = encode_style(random crop of each target)         (B, S)
    hs     = encode_text(text, style)                          (B, T_text, adim)
    ds     = external durations, or the aligner's (+ align / bin losses)
    losses = dur (log domain), prior (mu vs target), diff (flow matching), pitch, energy

Inference (:meth:`MVC.inference`) uses only :func:`fit_frames`, for teacher-forced F0 and
energy.
"""

import logging
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from espnet2.torch_utils.device_funcs import force_gatherable

from espnet_mvc.nets.masks import valid_mask

# ``model`` below is the :class:`~espnet_mvc.tts.mvc.mvc.MVC` being trained (typed as a
# module: the model's module imports this one)


def fit_frames(x: Optional[torch.Tensor], length: int) -> Optional[torch.Tensor]:
    """Pad/crop frame-level targets (B, T', 1) (or (B, T')) to ``length`` frames."""
    if x is None:
        return None
    if x.dim() == 2:
        x = x.unsqueeze(-1)
    if x.shape[1] >= length:
        return x[:, :length]
    return F.pad(x, (0, 0, 0, length - x.shape[1]))


def random_reference(
    model: nn.Module, feats: torch.Tensor, feats_lengths: torch.Tensor
) -> Tuple[torch.Tensor, torch.Tensor]:
    """A random crop of each target as its style reference.

    Args:
        model (MVC): Its style encoder's ``min_frames``, ``ref_segment_frames`` and
            ``ref_augment`` are used.
        feats (Tensor): Targets (B, T_feats, odim). feats_lengths (LongTensor): (B,).

    Returns:
        Tensor: References (B, T_ref, odim). LongTensor: Their lengths (B,).
    """
    min_frames = model.style_encoder.min_frames
    seg = max(model.ref_segment_frames, min_frames)
    crops, lengths = [], []
    for b in range(feats.shape[0]):
        x = feats[b, : feats_lengths[b]]
        if x.shape[0] < min_frames:  # tile very short utterances up to the minimum
            x = x.repeat((min_frames + x.shape[0] - 1) // x.shape[0], 1)
        n = min(seg, x.shape[0])
        start = int(torch.randint(0, x.shape[0] - n + 1, (1,)))
        crops.append(x[start : start + n])
        lengths.append(n)
    ref = nn.utils.rnn.pad_sequence(crops, batch_first=True)
    if model.ref_augment > 0:
        ref = ref + random_channel(ref.shape[0], ref.shape[2], ref.device, ref.dtype,
                                   model.ref_augment)
    return ref, torch.tensor(lengths, device=feats.device)


def random_channel(batch: int, bins: int, device, dtype, share: float) -> torch.Tensor:
    """(B, 1, odim) offsets of the normalised log-mel: a tilt, a slow ripple and a gain
    (each up to ~0.3 of a bin's spread, about 4 dB) for a ``share`` of the batch."""
    k = torch.linspace(-0.5, 0.5, bins, device=device, dtype=dtype)[None]  # (1, odim)
    u = lambda: (torch.rand(batch, 1, device=device, dtype=dtype) * 2 - 1)  # noqa: E731
    cycles, phase = 1 + 2 * torch.rand(batch, 1, device=device, dtype=dtype), 6.2832 * u()
    curve = 0.6 * u() * k + 0.15 * u() * torch.cos(6.2832 * cycles * k + phase) + 0.3 * u()
    on = (torch.rand(batch, 1, device=device) < share).to(dtype)
    return (curve * on).unsqueeze(1)


def decoder_segments(
    feats: torch.Tensor, mu: torch.Tensor, feats_lengths: torch.Tensor, segment_frames: int
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random windows of ``segment_frames`` frames for the decoder loss.

    As Grad-TTS / Matcha-TTS's ``out_size``: the decoder is convolutional and
    bidirectional-SSM, so it learns from windows as well as from whole utterances, at a
    fraction of the cost. Returns feats (B, S, odim), mu (B, S, odim), mask (B, S).
    """
    seg = min(segment_frames, feats.shape[1])
    room = (feats_lengths - seg).clamp(min=0)
    starts = (torch.rand(room.shape, device=feats.device) * (room + 1).float()).long()
    idx = starts[:, None] + torch.arange(seg, device=feats.device)[None]  # (B, S)
    mask = idx < feats_lengths[:, None]
    idx = idx.clamp(max=feats.shape[1] - 1)
    gather = idx.unsqueeze(-1).expand(-1, -1, feats.shape[2])
    return feats.gather(1, gather), mu.gather(1, gather), mask


def target_durations(
    model: nn.Module,
    token_states: torch.Tensor,
    text_lengths: torch.Tensor,
    feats: torch.Tensor,
    feats_lengths: torch.Tensor,
    durations: Optional[torch.Tensor] = None,
    durations_lengths: Optional[torch.Tensor] = None,
) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
    """The durations training regresses on: external ones, or the aligner's.

    Args:
        model (MVC): Its aligner (when no durations are given).
        token_states (Tensor): (B, T_text, adim). text_lengths (LongTensor): (B,).
        feats (Tensor): Targets (B, T_feats, odim). feats_lengths (LongTensor): (B,).
        durations (Optional[LongTensor]): External (e.g. teacher) durations (B, T_text'),
            which leave the aligner idle. durations_lengths: (B,) or (B, 1).

    Returns:
        LongTensor: Durations (B, T_text). Dict: the aligner's losses (``align``, ``bin``),
        empty with external durations.

    Raises:
        ValueError: durations that do not match the tokens or the frames, or no aligner.
    """
    if durations is None:
        if model.aligner is None:
            raise ValueError("this model has no aligner (aligner: none): training needs "
                             "external durations (a 'durations' data entry)")
        ds, fs_loss, bin_loss = model.aligner(token_states, feats, text_lengths, feats_lengths)
        return ds, dict(align=fs_loss, bin=bin_loss)
    if durations_lengths is not None and not torch.equal(
        durations_lengths.view(-1).to(text_lengths), text_lengths
    ):
        raise ValueError(
            "external durations do not match the tokens: "
            f"{durations_lengths.view(-1).tolist()} durations vs "
            f"{text_lengths.tolist()} tokens (g2p or token list differ from the corpus's?)"
        )
    ds = durations[:, : token_states.shape[1]].long()
    if not torch.equal(ds.sum(1), feats_lengths):
        bad = (ds.sum(1) != feats_lengths).nonzero().view(-1).tolist()
        raise ValueError(
            "external durations do not sum to feats_lengths: items "
            f"{bad}: {ds.sum(1)[bad].tolist()} vs {feats_lengths[bad].tolist()}"
        )
    return ds, {}


def warn_short_utterances(text_lengths: torch.Tensor, feats_lengths: torch.Tensor) -> None:
    """Monotonic alignment needs at least one frame per token; such utterances train
    garbage durations (filter them in data preparation)."""
    too_short = int((feats_lengths < text_lengths).sum())
    if too_short:
        logging.warning(
            "%d utterance(s) in this batch have fewer frames than tokens "
            "(feats %s vs text %s): their alignment is meaningless",
            too_short, feats_lengths.tolist(), text_lengths.tolist(),
        )


def frame_losses(
    model: nn.Module,
    token_states: torch.Tensor,
    ds: torch.Tensor,
    text_lengths: torch.Tensor,
    feats: torch.Tensor,
    feats_lengths: torch.Tensor,
    style: Optional[torch.Tensor],
    pitch: Optional[torch.Tensor],
    energy: Optional[torch.Tensor],
    joint_training: bool,
) -> Tuple[Dict[str, torch.Tensor], torch.Tensor]:
    """The frame-level losses: prior (mu vs target), diff (flow matching), pitch, energy.

    Args:
        model (MVC): The model.
        token_states (Tensor): (B, T_text, adim). ds (LongTensor): Durations (B, T_text).
        text_lengths (LongTensor): (B,).
        feats (Tensor): Targets (B, T_feats, odim). feats_lengths (LongTensor): (B,).
        style (Optional[Tensor]): (B, S).
        pitch, energy (Optional[Tensor]): Frame-level targets (B, T_feats', 1).
        joint_training (bool): Decoder loss on whole utterances (its output feeds the vocoder).

    Returns:
        Dict[str, Tensor]: The losses. Tensor: The decoder's one-step mel (B, odim, T).
    """
    t_feats = feats.shape[1]
    h = model.expand_to_frames(token_states, ds, text_lengths)[:, :t_feats]
    if h.shape[1] < t_feats:
        h = F.pad(h, (0, 0, 0, t_feats - h.shape[1]))
    pitch, energy = fit_frames(pitch, t_feats), fit_frames(energy, t_feats)
    mu, f0_hat, e_hat = model.decoder_condition(h, feats_lengths, style, pitch, energy)

    frame_mask = valid_mask(feats_lengths, t_feats)
    losses = dict(prior=F.mse_loss(mu[frame_mask], feats[frame_mask]))
    dec_feats, dec_mu, dec_mask = feats, mu, frame_mask
    if model.decoder_segment_frames and not joint_training:
        dec_feats, dec_mu, dec_mask = decoder_segments(feats, mu, feats_lengths,
                                                       model.decoder_segment_frames)
    mask3 = dec_mask.unsqueeze(1).to(feats.dtype)  # (B, 1, T)
    losses["diff"], x1_hat = model.decoder.compute_loss(
        dec_feats.transpose(1, 2), mask3, dec_mu.transpose(1, 2), style
    )
    if pitch is not None:
        losses["pitch"] = F.mse_loss(f0_hat[frame_mask], pitch[frame_mask])
    if energy is not None:
        losses["energy"] = F.mse_loss(e_hat[frame_mask], energy[frame_mask])
    return losses, x1_hat


class TrainingLosses:
    """The training half of :class:`~espnet_mvc.tts.mvc.mvc.MVC` (a base class of it, as
    :class:`~espnet_mvc.tts.mvc.streaming_stages.ChunkedStages` is its streaming half):
    ESPnet's ``forward``, the weighted sum of the losses."""

    def forward(
        self,
        text: torch.Tensor,
        text_lengths: torch.Tensor,
        feats: torch.Tensor,
        feats_lengths: torch.Tensor,
        spembs: Optional[torch.Tensor] = None,
        sids: Optional[torch.Tensor] = None,
        lids: Optional[torch.Tensor] = None,
        durations: Optional[torch.Tensor] = None,
        durations_lengths: Optional[torch.Tensor] = None,
        pitch: Optional[torch.Tensor] = None,
        pitch_lengths: Optional[torch.Tensor] = None,
        energy: Optional[torch.Tensor] = None,
        energy_lengths: Optional[torch.Tensor] = None,
        joint_training: bool = False,
        **kwargs,
    ):
        """Compute the training losses.

        Args:
            text (LongTensor): Text index tensor (B, T_text).
            text_lengths (LongTensor): (B,).
            feats (Tensor): Target mel, normalised (B, T_feats, odim).
            feats_lengths (LongTensor): (B,).
            spembs (Optional[Tensor]): Speaker embeddings (B, spk_embed_dim).
            sids (Optional[LongTensor]): Speaker ids (B, 1).
            lids (Optional[LongTensor]): Language ids (B, 1).
            durations (Optional[LongTensor]): External durations (B, T_text); when given
                they replace the aligner's.
            pitch (Optional[Tensor]): Frame-level F0, normalised (B, T_feats, 1).
            energy (Optional[Tensor]): Frame-level energy, normalised (B, T_feats, 1).
            joint_training (bool): Return the generated mel for a jointly trained vocoder.

        Returns:
            Tensor: Loss scalar.
            Dict[str, float]: Statistics.
            Tensor: Batch-size weight, or the generated mel (B, T_feats, odim) in joint
                training (ESPnet's text2mel convention).
        """
        if feats.shape[-1] != self.odim:
            raise ValueError(
                f"feats have {feats.shape[-1]} bins but the model was built for "
                f"odim={self.odim}: check n_mels / feats_extract_conf"
            )
        text = text[:, : int(text_lengths.max())]
        feats = feats[:, : int(feats_lengths.max())]
        ref, ref_lengths = (None, None)
        if self.style_encoder is not None:
            ref, ref_lengths = random_reference(self, feats, feats_lengths)
        style = self.encode_style(ref, ref_lengths, sids, spembs, lids, validate=False)
        warn_short_utterances(text_lengths, feats_lengths)
        hs = self.encode_text(text, text_lengths, style)
        ds, align_losses = target_durations(
            self, hs, text_lengths, feats, feats_lengths, durations, durations_lengths)
        log_d_hat = self.duration_predictor(hs, text_lengths, self.adaln_style(style))
        text_mask = valid_mask(text_lengths, text.shape[1])
        log_d = torch.log(ds.float() + self.duration_predictor.offset)
        dur_loss = F.mse_loss(log_d_hat[text_mask], log_d[text_mask])
        frame, x1_hat = frame_losses(self, hs, ds, text_lengths, feats, feats_lengths,
                                     style, pitch, energy, joint_training)
        # (the order of the sum, as it always was)
        losses = dict(prior=frame.pop("prior"), diff=frame.pop("diff"), dur=dur_loss,
                      **align_losses, **frame)
        loss = sum(self.lambdas[k] * v for k, v in losses.items())
        stats = {f"{k}_loss": float(v.detach()) for k, v in losses.items()}
        stats["loss"] = float(loss.detach())
        if joint_training:
            return loss, stats, x1_hat.transpose(1, 2)
        loss, stats, weight = force_gatherable((loss, stats, feats.shape[0]), loss.device)
        return loss, stats, weight
