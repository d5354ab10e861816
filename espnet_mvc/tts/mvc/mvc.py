"""MambaVoiceCloning (MVC): SSM-only conditioning + few-step flow-matching mel decoder.

    text ─► Bi-Mamba text encoder ─► Temporal Bi-Mamba durations ─► length regulator
                   ▲ AdaLN(style)                                        │
    reference mel ─► style encoder ─► style ──AdaLN──► Expressive Mamba (F0, energy)
    sids / spembs / lids ─┘                                              │ condition c
                                                     mu = Linear(c) ─► CFM decoder ─► mel
    training only: JETS aligner + Viterbi ─► target durations

Every module that runs at inference is convolutional or a (gated, bidirectional) Mamba:
no attention and no RNN. The aligner runs only in :meth:`MVC.forward`.

Each component is chosen by name in the config (:mod:`~espnet_mvc.tts.mvc.components`) with
its keywords in ``<component>_conf``; shared Mamba settings (``d_state``, ``d_conv``,
``expand``, ``fusion``, ``dropout``) are given once at the top level and passed to every
stack (one :class:`~espnet_mvc.nets.ssm.BiMambaStackConfig`) unless its ``_conf`` overrides
them. Training's losses are in :mod:`~espnet_mvc.tts.mvc.training`, the streaming stages in
:mod:`~espnet_mvc.tts.mvc.streaming_stages`.
"""

from typing import Any, Dict, NamedTuple, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from espnet2.tts.abs_tts import AbsTTS

from espnet_mvc.nets.masks import valid_mask
from espnet_mvc.tts.mvc.components import (
    ALIGNERS,
    DECODERS,
    DURATION_PREDICTORS,
    PROSODY_PREDICTORS,
    STYLE_ENCODERS,
    TEXT_ENCODERS,
    build_stack_component,
    pick,
)
from espnet_mvc.tts.mvc.decode_options import DecodeOptions
from espnet_mvc.tts.mvc.length_regulator import TokenToFrame
from espnet_mvc.tts.mvc.streaming_stages import ChunkedStages
from espnet_mvc.tts.mvc.training import TrainingLosses, fit_frames


class TextSide(NamedTuple):
    """What one utterance computes once, before any frame is decoded
    (:meth:`MVC.text_side`)."""

    durations: torch.Tensor  # (T_text,) frames per token
    frames: torch.Tensor  # (1, T_feats, adim) frame states, the prosody stack's input
    noise: torch.Tensor  # (1, T_feats, odim) the decoder's starting noise


class MVC(ChunkedStages, TrainingLosses, AbsTTS):
    """MambaVoiceCloning text-to-mel model.

    Args:
        idim (int): Vocabulary size.
        odim (int): Mel bins.
        adim (int): Hidden width of the three conditioning stacks.
        style_dim (int): Style vector size (used when a style source exists).
        fusion (str): "gated" (paper) or "concat" (ablation) inside every Bi-Mamba block
            of the text / duration / prosody stacks (the style encoder and the decoder's
            U-Net always use the gated fusion).
        adaln (bool): Condition the stacks on style through AdaLN (paper). False: add a
            projected style to the stack inputs instead (ablation).
        d_state, d_conv, expand (int): Mamba sizes shared by all stacks.
        dropout (float): Dropout in the stacks.
        text_encoder, duration_predictor, prosody_predictor, style_encoder, decoder,
        aligner (str): Component names; ``style_encoder: none`` disables the reference;
            ``aligner: none`` builds no aligner: training then needs external durations,
            and inference, which never calls it, does not import ESPnet's JETS modules
            (:class:`espnet_mvc.espnet.text2speech.MVCText2Speech` builds models so).
        *_conf (Optional[dict]): Keywords of each component.
        length_regulator (str): "repeat" or "gaussian"; length_regulator_conf its keywords.
        spks (Optional[int]): Number of speakers (sid embedding).
        langs (Optional[int]): Number of languages (lid embedding).
        spk_embed_dim (Optional[int]): Size of external speaker embeddings (spembs).
        ref_segment_frames (int): Length of the random reference crop in training.
        ref_augment (float): Training only: the share of reference crops given a random
            channel (a smooth random tilt and ripple over the mel bins and a gain, within
            about +-4 dB), so that the voice, not the recording chain, makes the style.
        decoder_segment_frames (Optional[int]): Train the flow-matching decoder on random
            windows of this many frames (None: whole utterances).
        duration_scale (float): The speaking rate inference uses when a call leaves
            ``alpha`` unset (> 1 slower). Inference only, like ``decoder_conf.temperature``:
            a model may be shipped to speak a little slower than its data where that is
            clearer (chosen on dev data, see the model card).
        lambda_prior, lambda_diff, lambda_dur, lambda_pitch, lambda_energy, lambda_align,
        lambda_bin (float): Loss weights.
        unk_id (int): Token id of ``<unk>`` (ESPnet token lists put it at 1).
    """

    def __init__(
        self,
        idim: int,
        odim: int,
        adim: int = 256,
        style_dim: int = 128,
        fusion: str = "gated",
        adaln: bool = True,
        d_state: int = 16,
        d_conv: int = 4,
        expand: int = 2,
        dropout: float = 0.1,
        text_encoder: str = "bimamba",
        text_encoder_conf: Optional[Dict[str, Any]] = None,
        duration_predictor: str = "temporal_bimamba",
        duration_predictor_conf: Optional[Dict[str, Any]] = None,
        prosody_predictor: str = "expressive_mamba",
        prosody_predictor_conf: Optional[Dict[str, Any]] = None,
        length_regulator: str = "repeat",
        length_regulator_conf: Optional[Dict[str, Any]] = None,
        style_encoder: Optional[str] = "mamba_reference",
        style_encoder_conf: Optional[Dict[str, Any]] = None,
        decoder: str = "cfm",
        decoder_conf: Optional[Dict[str, Any]] = None,
        aligner: Optional[str] = "jets",
        aligner_conf: Optional[Dict[str, Any]] = None,
        spks: Optional[int] = None,
        langs: Optional[int] = None,
        spk_embed_dim: Optional[int] = None,
        ref_segment_frames: int = 128,
        ref_augment: float = 0.0,
        decoder_segment_frames: Optional[int] = None,
        duration_scale: float = 1.0,
        lambda_prior: float = 1.0,
        lambda_diff: float = 1.0,
        lambda_dur: float = 1.0,
        lambda_pitch: float = 1.0,
        lambda_energy: float = 1.0,
        lambda_align: float = 1.0,
        lambda_bin: float = 1.0,
        unk_id: int = 1,
    ):
        super().__init__()
        self.idim, self.odim, self.adim = idim, odim, adim
        self.unk_id = unk_id
        self.spks = spks if spks and spks > 1 else None
        self.langs = langs if langs and langs > 1 else None
        self.spk_embed_dim = spk_embed_dim
        self.ref_segment_frames = ref_segment_frames
        if not 0.0 <= ref_augment <= 1.0:
            raise ValueError(f"ref_augment is a share in [0, 1], got {ref_augment}")
        self.ref_augment = float(ref_augment)
        self.decoder_segment_frames = decoder_segment_frames
        if not duration_scale > 0:
            raise ValueError(f"duration_scale must be > 0, got {duration_scale}")
        self.duration_scale = float(duration_scale)
        self.lambdas = dict(
            prior=lambda_prior, diff=lambda_diff, dur=lambda_dur, pitch=lambda_pitch,
            energy=lambda_energy, align=lambda_align, bin=lambda_bin,
        )
        if style_encoder in (None, "none", "None"):
            style_encoder = None

        # ---- style sources (any combination; their sum is the style vector)
        has_style = any(
            x is not None for x in (style_encoder, self.spks, self.langs, spk_embed_dim)
        )
        self.style_dim = style_dim if has_style else None
        self.style_encoder = None
        mamba_sizes = dict(d_state=d_state, d_conv=d_conv, expand=expand)
        if style_encoder is not None:
            self.style_encoder = build_stack_component(
                STYLE_ENCODERS, style_encoder, "style_encoder", (odim, style_dim), mamba_sizes,
                style_encoder_conf)
        if self.spks is not None:
            self.sid_emb = nn.Embedding(self.spks, style_dim)
        if self.langs is not None:
            self.lid_emb = nn.Embedding(self.langs, style_dim)
        if spk_embed_dim is not None:
            self.spemb_proj = nn.Linear(spk_embed_dim, style_dim)

        # AdaLN on style (paper) or, for the ablation, style added to the stack inputs.
        self.adaln = adaln
        block_style_dim = self.style_dim if adaln else None
        if self.style_dim is not None and not adaln:
            self.style_to_text = nn.Linear(self.style_dim, adim)
            self.style_to_frames = nn.Linear(self.style_dim, adim)

        # the settings every conditioning stack shares unless its _conf overrides them
        shared = dict(style_dim=block_style_dim, fusion=fusion, dropout=dropout, **mamba_sizes)
        self.text_encoder = build_stack_component(
            TEXT_ENCODERS, text_encoder, "text_encoder", (idim, adim), shared, text_encoder_conf)
        self.duration_predictor = build_stack_component(
            DURATION_PREDICTORS, duration_predictor, "duration_predictor", (adim,), shared,
            duration_predictor_conf)
        self.length_regulator = TokenToFrame(length_regulator, **(length_regulator_conf or {}))
        self.prosody_predictor = build_stack_component(
            PROSODY_PREDICTORS, prosody_predictor, "prosody_predictor", (adim,), shared,
            prosody_predictor_conf)
        self.mu_proj = nn.Sequential(nn.LayerNorm(adim), nn.Linear(adim, odim))
        decoder_kw = dict(decoder_conf or {})
        denoiser_conf = dict(mamba_sizes)
        denoiser_conf.update(decoder_kw.pop("denoiser_conf", None) or {})
        self.decoder = pick(DECODERS, decoder, "decoder")(
            odim, style_dim=self.style_dim, denoiser_conf=denoiser_conf, **decoder_kw
        )
        # Training only: never called by inference().
        self.aligner = None
        if aligner not in (None, "none", "None"):
            cls = pick(ALIGNERS, aligner, "aligner")
            self.aligner = cls(adim, odim, **(aligner_conf or {}))

    # ------------------------------------------------------------------ properties
    @property
    def use_gst(self) -> bool:
        """ESPnet passes a reference ``feats`` to inference() when this is True."""
        return self.style_encoder is not None

    def conditioning_encoder(self) -> nn.ModuleDict:
        """The paper's "conditioning encoder": text + duration + prosody stacks."""
        return nn.ModuleDict(dict(text_encoder=self.text_encoder,
                                  duration_predictor=self.duration_predictor,
                                  prosody_predictor=self.prosody_predictor))

    # ------------------------------------------------------------------ stages
    # Inference is these stages in order (see :meth:`inference`); the streamer
    # (:mod:`espnet_mvc.inference.streaming`) runs the same ones, the frame-level ones
    # window by window.
    def encode_style(
        self,
        ref: Optional[torch.Tensor] = None,
        ref_lengths: Optional[torch.Tensor] = None,
        sids: Optional[torch.Tensor] = None,
        spembs: Optional[torch.Tensor] = None,
        lids: Optional[torch.Tensor] = None,
        validate: bool = True,
    ) -> Optional[torch.Tensor]:
        """The style vector of a voice: the sum of every style source the model has.

        Args:
            ref (Optional[Tensor]): Reference mel, normalised like the targets,
                (B, T_ref, odim) or one reference (T_ref, odim).
            ref_lengths (Optional[LongTensor]): (B,); None: every reference is whole.
            sids (Optional[LongTensor]): Speaker ids (B, 1) or (B,).
            spembs (Optional[Tensor]): Speaker embeddings (B, spk_embed_dim).
            lids (Optional[LongTensor]): Language ids (B, 1) or (B,).
            validate (bool): Reject too-short and silent references (inference); training
                crops skip the checks.

        Returns:
            Optional[Tensor]: Style (B, S); None for a model without style sources.

        Raises:
            ValueError: a style source the model needs is missing, or the reference is
                unusable.
        """
        parts = []
        if self.style_encoder is not None:
            if ref is None:
                raise ValueError(
                    "this MVC model clones a voice from a reference: pass reference "
                    "speech (Text2Speech(..., speech=wav)) or feats"
                )
            ref = ref.unsqueeze(0) if ref.dim() == 2 else ref
            if ref_lengths is None:
                ref_lengths = torch.full((ref.shape[0],), ref.shape[1], device=ref.device)
            parts.append(self.style_encoder(ref, ref_lengths, validate=validate))
        if self.spks is not None:
            if sids is None:
                raise ValueError("this MVC model is multi-speaker: pass sids")
            parts.append(self.sid_emb(sids.view(-1)))
        if self.spk_embed_dim is not None:
            if spembs is None:
                raise ValueError("this MVC model needs speaker embeddings: pass spembs")
            parts.append(self.spemb_proj(F.normalize(spembs.view(-1, self.spk_embed_dim))))
        if self.langs is not None:
            if lids is None:
                raise ValueError("this MVC model is multilingual: pass lids")
            parts.append(self.lid_emb(lids.view(-1)))
        return torch.stack(parts).sum(0) if parts else None

    def check_text(self, text: torch.Tensor) -> None:
        """Raise ValueError for token ids that cannot be synthesized (any shape)."""
        if text.numel() == 0:
            raise ValueError("empty text: nothing to synthesize")
        if bool((text == self.unk_id).all()):
            raise ValueError(
                "the text contains only unknown symbols (<unk>) or is empty (ESPnet's "
                "tokenizer turns '' into <unk>): check the text, language, g2p and token "
                "list"
            )
        if int(text.max()) >= self.idim or int(text.min()) < 0:
            raise ValueError(
                f"token ids must be in [0, {self.idim}), got [{int(text.min())}, "
                f"{int(text.max())}]"
            )

    def encode_text(
        self, text: torch.Tensor, text_lengths: torch.Tensor, style: Optional[torch.Tensor] = None
    ) -> torch.Tensor:
        """Token states: the Bi-Mamba text encoder, conditioned on the style.

        Args:
            text (LongTensor): Token ids (B, T_text).
            text_lengths (LongTensor): (B,).
            style (Optional[Tensor]): (B, S) from :meth:`encode_style`.

        Returns:
            Tensor: Token states (B, T_text, adim), zero on padding.
        """
        bias = None
        if style is not None and not self.adaln:
            bias = self.style_to_text(style)
        return self.text_encoder(text, text_lengths, self.adaln_style(style), bias)

    def predict_durations(
        self,
        token_states: torch.Tensor,
        text_lengths: torch.Tensor,
        style: Optional[torch.Tensor] = None,
        alpha: Optional[float] = None,
    ) -> torch.Tensor:
        """Frames per token from the Temporal Bi-Mamba duration predictor.

        Args:
            token_states (Tensor): (B, T_text, adim) from :meth:`encode_text`.
            text_lengths (LongTensor): (B,).
            style (Optional[Tensor]): (B, S).
            alpha (Optional[float]): Duration scale: > 1 slower, < 1 faster. None: the
                model's ``duration_scale``.

        Returns:
            LongTensor: Durations (B, T_text): >= 1 per token, 0 on padding.
        """
        if alpha is None:
            alpha = self.duration_scale
        log_d = self.duration_predictor(token_states, text_lengths, self.adaln_style(style))
        durations = self.duration_predictor.to_durations(log_d, alpha)
        # padding predicts log 0, which to_durations would turn into one frame
        return durations * valid_mask(text_lengths, durations.shape[1])

    def expand_to_frames(
        self, token_states: torch.Tensor, durations: torch.Tensor, text_lengths: torch.Tensor
    ) -> torch.Tensor:
        """Token states repeated (or Gaussian-upsampled) to frames by the length regulator.

        Args:
            token_states (Tensor): (B, T_text, adim).
            durations (LongTensor): (B, T_text).
            text_lengths (LongTensor): (B,).

        Returns:
            Tensor: Frame states (B, T_feats, adim), T_feats = max of ``durations.sum(1)``.
        """
        return self.length_regulator(token_states, durations, text_lengths)

    def starting_noise(
        self, n_frames: int, seed: Optional[int] = None, like: Optional[torch.Tensor] = None
    ) -> torch.Tensor:
        """The decoder's starting noise for one utterance of ``n_frames`` frames.

        Drawn once for the whole utterance, so that a stream (which slices it window by
        window) uses the very noise offline sampling uses.

        Args:
            n_frames (int): T_feats.
            seed (Optional[int]): A CPU generator's seed (the same numbers on any device);
                None: torch's global generator.
            like (Optional[Tensor]): A tensor with the device and dtype wanted.

        Returns:
            Tensor: Noise (1, T_feats, odim), before the temperature.
        """
        device = None if like is None else like.device
        dtype = None if like is None else like.dtype
        if seed is None:
            noise = torch.randn(1, self.odim, n_frames, device=device, dtype=dtype)
        else:
            gen = torch.Generator(device="cpu").manual_seed(int(seed))
            noise = torch.randn(1, self.odim, n_frames, generator=gen).to(device, dtype)
        # drawn in the decoder's (B, odim, T) layout, whose order the seed's numbers follow
        return noise.transpose(1, 2)

    def text_side(
        self,
        text: torch.Tensor,
        style: Optional[torch.Tensor] = None,
        options: Optional[DecodeOptions] = None,
        durations: Optional[torch.Tensor] = None,
        noise: Optional[torch.Tensor] = None,
    ) -> TextSide:
        """Everything one utterance computes once, before any frame is decoded.

        Token states, durations (predicted with ``options.alpha``, or given), the frame
        states they imply and the starting noise (from ``options.seed``, or given).

        Args:
            text (LongTensor): Token ids of one utterance (T_text,) or (1, T_text).
            style (Optional[Tensor]): (1, S) from :meth:`encode_style`.
            options (Optional[DecodeOptions]): alpha and seed.
            durations (Optional[LongTensor]): Frames per token (T_text,), replacing the
                predicted ones (teacher forcing).
            noise (Optional[Tensor]): Starting noise (odim, T_feats), replacing the drawn one.

        Returns:
            TextSide: ``durations`` (T_text,), ``frames`` (1, T_feats, adim), ``noise``
                (1, T_feats, odim).
        """
        options = DecodeOptions() if options is None else options
        text = text.view(-1)
        self.check_text(text)
        text = text.unsqueeze(0)
        text_lengths = torch.tensor([text.shape[1]], device=text.device)
        token_states = self.encode_text(text, text_lengths, style)
        if durations is None:
            durations = self.predict_durations(token_states, text_lengths, style, options.alpha)
        else:
            durations = durations.view(1, -1).long()
        frames = self.expand_to_frames(token_states, durations, text_lengths)
        if noise is None:
            noise = self.starting_noise(frames.shape[1], options.seed, like=frames)
        else:
            noise = noise.view(1, self.odim, -1).to(frames).transpose(1, 2)
        return TextSide(durations=durations[0], frames=frames, noise=noise)

    def decoder_condition(
        self,
        frames: torch.Tensor,
        feats_lengths: torch.Tensor,
        style: Optional[torch.Tensor] = None,
        pitch: Optional[torch.Tensor] = None,
        energy: Optional[torch.Tensor] = None,
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Frames to the decoder's condition mu: the Expressive Mamba prosody stack.

        Args:
            frames (Tensor): Frame states (B, T_feats, adim) from :meth:`expand_to_frames`.
            feats_lengths (LongTensor): (B,).
            style (Optional[Tensor]): (B, S).
            pitch, energy (Optional[Tensor]): Targets (B, T_feats, 1) replacing the
                predicted F0 / energy in the condition (training, teacher forcing).

        Returns:
            Tensor: mu (B, T_feats, odim), the prior mean of the mel.
            Tensor: Predicted F0 (B, T_feats, 1).
            Tensor: Predicted energy (B, T_feats, 1).
        """
        c, f0_hat, e_hat = self.prosody_predictor(
            self.add_frame_style(frames, style), feats_lengths, self.adaln_style(style),
            pitch, energy,
        )
        return self.mu_proj(c), f0_hat, e_hat

    def sample_mel(
        self,
        mu: torch.Tensor,
        feats_lengths: Optional[torch.Tensor] = None,
        style: Optional[torch.Tensor] = None,
        noise: Optional[torch.Tensor] = None,
        options: Optional[DecodeOptions] = None,
    ) -> torch.Tensor:
        """The flow-matching decoder: a mel from its condition.

        Args:
            mu (Tensor): Condition (B, T_feats, odim) from :meth:`decoder_condition`.
            feats_lengths (Optional[LongTensor]): (B,); None: no padding.
            style (Optional[Tensor]): (B, S).
            noise (Optional[Tensor]): Starting noise (B, T_feats, odim); None: drawn from
                torch's global generator.
            options (Optional[DecodeOptions]): n_timesteps, temperature and solver (None:
                the model's own).

        Returns:
            Tensor: Mel (B, T_feats, odim), normalised; zero on padding.
        """
        if feats_lengths is None:
            mask = mu.new_ones(mu.shape[0], 1, mu.shape[1])
        else:
            mask = valid_mask(feats_lengths, mu.shape[1]).unsqueeze(1).to(mu.dtype)
        mel = self.decoder.sample(
            mu.transpose(1, 2), mask, style, options,
            None if noise is None else noise.transpose(1, 2),
        )
        return mel.transpose(1, 2)

    def adaln_style(self, style: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
        """The style the stacks' AdaLN sees (none in the no-AdaLN ablation)."""
        return style if self.adaln else None

    def add_frame_style(
        self, frames: torch.Tensor, style: Optional[torch.Tensor]
    ) -> torch.Tensor:
        """No-AdaLN ablation: the projected style added to every frame state."""
        if style is not None and not self.adaln:
            return frames + self.style_to_frames(style).unsqueeze(1)
        return frames

    # ------------------------------------------------------------------ inference
    @torch.no_grad()
    def inference(
        self,
        text: torch.Tensor,
        feats: Optional[torch.Tensor] = None,
        sids: Optional[torch.Tensor] = None,
        spembs: Optional[torch.Tensor] = None,
        lids: Optional[torch.Tensor] = None,
        durations: Optional[torch.Tensor] = None,
        pitch: Optional[torch.Tensor] = None,
        energy: Optional[torch.Tensor] = None,
        use_teacher_forcing: bool = False,
        noise: Optional[torch.Tensor] = None,
        options: Optional[DecodeOptions] = None,
        **kwargs,
    ) -> Dict[str, torch.Tensor]:
        """Synthesize a mel for one utterance.

        The public stages in order: :meth:`encode_style`, :meth:`text_side` (token states,
        durations, frames, noise), :meth:`decoder_condition` and :meth:`sample_mel`.

        Args:
            text (LongTensor): Text index tensor (T_text,).
            feats (Optional[Tensor]): Reference mel for the voice (T_ref, odim), normalised
                (ESPnet passes it for ``use_gst`` models).
            sids (Optional[LongTensor]): (1,). spembs (Optional[Tensor]): (spk_embed_dim,).
            lids (Optional[LongTensor]): (1,).
            durations (Optional[LongTensor]): (T_text,) with ``use_teacher_forcing``.
            pitch, energy (Optional[Tensor]): (T_feats, 1) with ``use_teacher_forcing``.
            use_teacher_forcing (bool): Use the given durations / pitch / energy.
            noise (Optional[Tensor]): Explicit starting noise (odim, T_feats).
            options (Optional[DecodeOptions]): How to decode, used as it is (the plugin's
                synthesizer passes it as ``decode_conf=dict(options=...)``).
            **kwargs: Without ``options``: ESPnet's ``decode_conf`` keywords, turned into the
                options here (:meth:`DecodeOptions.from_decode_conf`: ``n_timesteps``,
                ``temperature``, ``alpha``, ``solver``, ``seed``; without a ``seed`` the
                noise is unseeded, a fresh draw every call, as ESPnet's ``Text2Speech``
                expects of a sampler). Other keywords are ignored (ESPnet passes its own).

        Raises:
            TypeError: both ``options`` and decode keywords.

        Returns:
            Dict[str, Tensor]: ``feat_gen`` (T_feats, odim), ``duration`` (T_text,),
                ``pitch`` (T_feats, 1), ``energy`` (T_feats, 1), ``prior`` (T_feats, odim).
        """
        if options is None:  # ESPnet's edge: its decode_conf keywords, converted once
            options = DecodeOptions.from_decode_conf(kwargs)
        elif DecodeOptions.pick(kwargs):
            raise TypeError(f"MVC.inference: give options or the decode keywords "
                            f"{sorted(DecodeOptions.pick(kwargs))}, not both")
        style = self.encode_style(feats, sids=sids, spembs=spembs, lids=lids)
        side = self.text_side(
            text, style, options, durations if use_teacher_forcing else None, noise
        )
        n_frames = side.frames.shape[1]
        feats_lengths = side.durations.sum().view(1)
        tf_pitch = tf_energy = None
        if use_teacher_forcing:
            tf_pitch = None if pitch is None else fit_frames(pitch.view(1, -1, 1), n_frames)
            tf_energy = None if energy is None else fit_frames(energy.view(1, -1, 1), n_frames)
        mu, f0_hat, e_hat = self.decoder_condition(
            side.frames, feats_lengths, style, tf_pitch, tf_energy
        )
        mel = self.sample_mel(mu, None, style, side.noise, options)
        return dict(
            feat_gen=mel[0],
            duration=side.durations,
            pitch=f0_hat[0] if tf_pitch is None else tf_pitch[0],
            energy=e_hat[0] if tf_energy is None else tf_energy[0],
            prior=mu[0],
        )
