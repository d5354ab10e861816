"""StyleTTS2's inference conditioning path, re-implemented for the encoder benchmark.

:class:`StyleTTS2Conditioning` follows yl4579/StyleTTS2 (``models.py`` / ``Utils/PLBERT``)
with the same module structure and sizes: ``TextEncoder`` (embedding, 3 weight-normed
conv(k=5)+LayerNorm+LeakyReLU layers, 1 BiLSTM), PL-BERT (ALBERT: factorised 128-d
embeddings, 12 layers sharing one set of weights, hidden 768, 12 heads, FFN 2048, post-LN,
GELU) + ``bert_encoder`` Linear, ``ProsodyPredictor`` (``DurationEncoder``: 3 x [BiLSTM +
AdaLayerNorm] with the style concatenated, duration BiLSTM + projection to ``max_dur``
bins, dense alignment matrix, shared BiLSTM + F0 / N branches of 3 ``AdainResBlk1d`` each,
one of which upsamples x2), and the frame-level text features ``t_en @ alignment``.
Weights are random; timing and memory do not depend on them. Its ``forward(text,
durations, style)`` has the interface of the other stacks of
:mod:`espnet_mvc.benchmarks.baselines` (durations forced, so that every model processes
the same number of frames). Built by :func:`build_styletts2_conditioning`.
"""

from __future__ import annotations

import math
from typing import Dict, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

try:  # torch >= 2.1
    from torch.nn.utils.parametrizations import weight_norm as _weight_norm
except ImportError:  # pragma: no cover
    from torch.nn.utils import weight_norm as _weight_norm


class ChannelLayerNorm(nn.Module):
    """StyleTTS2 ``LayerNorm``: LayerNorm over channels of a (B, C, T) tensor."""

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.channels, self.eps = channels, eps
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x):
        x = x.transpose(1, -1)
        x = F.layer_norm(x, (self.channels,), self.gamma, self.beta, self.eps)
        return x.transpose(1, -1)


class StyleTTS2TextEncoder(nn.Module):
    """StyleTTS2 ``TextEncoder``: embedding, ``depth`` x [wn-Conv1d, LayerNorm, LeakyReLU,
    Dropout], one BiLSTM (channels // 2 per direction). Output (B, C, T)."""

    def __init__(self, channels: int, kernel_size: int, depth: int, n_symbols: int):
        super().__init__()
        self.embedding = nn.Embedding(n_symbols, channels)
        padding = (kernel_size - 1) // 2
        self.cnn = nn.ModuleList(
            nn.Sequential(
                _weight_norm(nn.Conv1d(channels, channels, kernel_size, padding=padding)),
                ChannelLayerNorm(channels),
                nn.LeakyReLU(0.2),
                nn.Dropout(0.2),
            )
            for _ in range(depth)
        )
        self.lstm = nn.LSTM(channels, channels // 2, 1, batch_first=True, bidirectional=True)

    def forward(self, x, input_lengths, m):
        x = self.embedding(x).transpose(1, 2)  # (B, C, T)
        m = m.unsqueeze(1)
        x = x.masked_fill(m, 0.0)
        for c in self.cnn:
            x = c(x).masked_fill(m, 0.0)
        x = x.transpose(1, 2)
        x = nn.utils.rnn.pack_padded_sequence(
            x, input_lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        x, _ = self.lstm(x)
        x, _ = nn.utils.rnn.pad_packed_sequence(x, batch_first=True)
        x = x.transpose(-1, -2)
        x_pad = torch.zeros([x.shape[0], x.shape[1], m.shape[-1]])
        x_pad[:, :, : x.shape[-1]] = x
        return x_pad.masked_fill(m, 0.0)


class AdaLayerNorm(nn.Module):
    """StyleTTS2 ``AdaLayerNorm``: (1 + gamma(s)) * LN(x) + beta(s) over (B, T, C)."""

    def __init__(self, style_dim: int, channels: int, eps: float = 1e-5):
        super().__init__()
        self.channels, self.eps = channels, eps
        self.fc = nn.Linear(style_dim, channels * 2)

    def forward(self, x, s):
        x = x.transpose(-1, -2).transpose(1, -1)
        h = self.fc(s).view(s.size(0), -1, 1)
        gamma, beta = torch.chunk(h, chunks=2, dim=1)
        gamma, beta = gamma.transpose(1, -1), beta.transpose(1, -1)
        x = F.layer_norm(x, (self.channels,), eps=self.eps)
        x = (1 + gamma) * x + beta
        return x.transpose(1, -1).transpose(-1, -2)


class DurationEncoder(nn.Module):
    """StyleTTS2 ``DurationEncoder``: ``nlayers`` x [BiLSTM, AdaLayerNorm], style concatenated
    to every layer's input. Output (B, T, d_model + sty_dim)."""

    def __init__(self, sty_dim: int, d_model: int, nlayers: int, dropout: float = 0.1):
        super().__init__()
        self.lstms = nn.ModuleList()
        for _ in range(nlayers):
            self.lstms.append(
                nn.LSTM(d_model + sty_dim, d_model // 2, num_layers=1, batch_first=True,
                        bidirectional=True)
            )
            self.lstms.append(AdaLayerNorm(sty_dim, d_model))
        self.dropout, self.d_model, self.sty_dim = dropout, d_model, sty_dim

    def forward(self, x, style, text_lengths, m):
        masks = m
        x = x.permute(2, 0, 1)  # (T, B, C)
        s = style.expand(x.shape[0], x.shape[1], -1)
        x = torch.cat([x, s], axis=-1)
        x = x.masked_fill(masks.unsqueeze(-1).transpose(0, 1), 0.0)
        x = x.transpose(0, 1).transpose(-1, -2)  # (B, C, T)
        for block in self.lstms:
            if isinstance(block, AdaLayerNorm):
                x = block(x.transpose(-1, -2), style).transpose(-1, -2)
                x = torch.cat([x, s.permute(1, -1, 0)], axis=1)
                x = x.masked_fill(masks.unsqueeze(-1).transpose(-1, -2), 0.0)
            else:
                x = x.transpose(-1, -2)
                x = nn.utils.rnn.pack_padded_sequence(
                    x, text_lengths.cpu(), batch_first=True, enforce_sorted=False
                )
                x, _ = block(x)
                x, _ = nn.utils.rnn.pad_packed_sequence(x, batch_first=True)
                x = F.dropout(x, p=self.dropout, training=self.training)
                x = x.transpose(-1, -2)
                x_pad = torch.zeros([x.shape[0], x.shape[1], m.shape[-1]])
                x_pad[:, :, : x.shape[-1]] = x
                x = x_pad
        return x.transpose(-1, -2)


class AdaIN1d(nn.Module):
    def __init__(self, style_dim: int, num_features: int):
        super().__init__()
        self.norm = nn.InstanceNorm1d(num_features, affine=False)
        self.fc = nn.Linear(style_dim, num_features * 2)

    def forward(self, x, s):
        h = self.fc(s).view(s.size(0), -1, 1)
        gamma, beta = torch.chunk(h, chunks=2, dim=1)
        return (1 + gamma) * self.norm(x) + beta


class AdainResBlk1d(nn.Module):
    """StyleTTS2 ``AdainResBlk1d`` (optionally upsampling x2 with a depthwise wn-ConvT)."""

    def __init__(self, dim_in: int, dim_out: int, style_dim: int, upsample: bool = False,
                 dropout_p: float = 0.0):
        super().__init__()
        self.actv = nn.LeakyReLU(0.2)
        self.upsample = upsample
        self.learned_sc = dim_in != dim_out
        self.conv1 = _weight_norm(nn.Conv1d(dim_in, dim_out, 3, 1, 1))
        self.conv2 = _weight_norm(nn.Conv1d(dim_out, dim_out, 3, 1, 1))
        self.norm1 = AdaIN1d(style_dim, dim_in)
        self.norm2 = AdaIN1d(style_dim, dim_out)
        if self.learned_sc:
            self.conv1x1 = _weight_norm(nn.Conv1d(dim_in, dim_out, 1, 1, 0, bias=False))
        self.dropout = nn.Dropout(dropout_p)
        if upsample:
            self.pool = _weight_norm(
                nn.ConvTranspose1d(dim_in, dim_in, kernel_size=3, stride=2, groups=dim_in,
                                   padding=1, output_padding=1)
            )
        else:
            self.pool = nn.Identity()

    def _shortcut(self, x):
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        if self.learned_sc:
            x = self.conv1x1(x)
        return x

    def _residual(self, x, s):
        x = self.actv(self.norm1(x, s))
        x = self.pool(x)
        x = self.conv1(self.dropout(x))
        x = self.actv(self.norm2(x, s))
        return self.conv2(self.dropout(x))

    def forward(self, x, s):
        return (self._residual(x, s) + self._shortcut(x)) / math.sqrt(2)


class StyleTTS2ProsodyPredictor(nn.Module):
    """StyleTTS2 ``ProsodyPredictor`` (duration + F0 / N)."""

    def __init__(self, style_dim: int, d_hid: int, nlayers: int, max_dur: int = 50,
                 dropout: float = 0.1):
        super().__init__()
        self.text_encoder = DurationEncoder(style_dim, d_hid, nlayers, dropout)
        self.lstm = nn.LSTM(d_hid + style_dim, d_hid // 2, 1, batch_first=True,
                            bidirectional=True)
        self.duration_proj = nn.Linear(d_hid, max_dur)
        self.shared = nn.LSTM(d_hid + style_dim, d_hid // 2, 1, batch_first=True,
                              bidirectional=True)
        self.F0 = nn.ModuleList([
            AdainResBlk1d(d_hid, d_hid, style_dim, dropout_p=dropout),
            AdainResBlk1d(d_hid, d_hid // 2, style_dim, upsample=True, dropout_p=dropout),
            AdainResBlk1d(d_hid // 2, d_hid // 2, style_dim, dropout_p=dropout),
        ])
        self.N = nn.ModuleList([
            AdainResBlk1d(d_hid, d_hid, style_dim, dropout_p=dropout),
            AdainResBlk1d(d_hid, d_hid // 2, style_dim, upsample=True, dropout_p=dropout),
            AdainResBlk1d(d_hid // 2, d_hid // 2, style_dim, dropout_p=dropout),
        ])
        self.F0_proj = nn.Conv1d(d_hid // 2, 1, 1, 1, 0)
        self.N_proj = nn.Conv1d(d_hid // 2, 1, 1, 1, 0)

    def F0Ntrain(self, x, s):
        x, _ = self.shared(x.transpose(-1, -2))
        f0 = x.transpose(-1, -2)
        for block in self.F0:
            f0 = block(f0, s)
        f0 = self.F0_proj(f0)
        n = x.transpose(-1, -2)
        for block in self.N:
            n = block(n, s)
        n = self.N_proj(n)
        return f0.squeeze(1), n.squeeze(1)


class AlbertLayerSDPA(nn.Module):
    """One ALBERT layer as ``transformers`` runs it with SDPA attention: q / k / v / dense
    projections, ``F.scaled_dot_product_attention``, post-LN, FFN with gelu_new, post-LN."""

    def __init__(self, hidden: int, heads: int, ffn: int, dropout: float = 0.1):
        super().__init__()
        self.hidden, self.heads, self.p = hidden, heads, dropout
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)
        self.dense = nn.Linear(hidden, hidden)
        self.attn_norm = nn.LayerNorm(hidden, eps=1e-12)
        self.ffn = nn.Linear(hidden, ffn)
        self.ffn_output = nn.Linear(ffn, hidden)
        self.full_layer_norm = nn.LayerNorm(hidden, eps=1e-12)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, src_key_padding_mask=None):
        b, t, _ = x.shape
        q, k, v = (lin(x).view(b, t, self.heads, -1).transpose(1, 2)
                   for lin in (self.query, self.key, self.value))
        mask = None
        if src_key_padding_mask is not None:  # True on padding -> boolean "attend" mask
            mask = (~src_key_padding_mask)[:, None, None, :]
        a = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=self.p if self.training else 0.0
        )
        a = a.transpose(1, 2).reshape(b, t, self.hidden)
        x = self.attn_norm(x + self.dropout(self.dense(a)))
        h = self.ffn_output(F.gelu(self.ffn(x), approximate="tanh"))
        return self.full_layer_norm(x + self.dropout(h))


class PLBERT(nn.Module):
    """PL-BERT as StyleTTS2 loads it: ``transformers.AlbertModel`` with vocab 178,
    embedding 128, hidden 768, 12 heads, intermediate 2048, 12 layers sharing one layer's
    weights (ALBERT), post-LN, GELU.

    ``attention="sdpa"`` (default): the layer as ``transformers`` runs ALBERT with its SDPA
    attention (``F.scaled_dot_product_attention``; on CPU without a mask this is the
    flash kernel: O(T) memory). ``attention="torch_layer"``: one
    ``nn.TransformerEncoderLayer`` (PyTorch's fused inference path; it materialises the
    T x T attention). An all-ones attention mask is dropped in both (transformers' SDPA
    path does the same), so the fastest kernel runs.

    Real PL-BERT has 512 position embeddings (StyleTTS2 cannot take longer input in one
    pass); the table here is sized to ``max_positions`` so the cost of attention at long T
    can be measured.
    """

    def __init__(self, vocab: int = 178, embedding_size: int = 128, hidden: int = 768,
                 heads: int = 12, ffn: int = 2048, layers: int = 12,
                 max_positions: int = 512, dropout: float = 0.1, attention: str = "sdpa"):
        super().__init__()
        if attention not in ("sdpa", "torch_layer"):
            raise ValueError(f"attention must be 'sdpa' or 'torch_layer', got {attention!r}")
        self.word_embeddings = nn.Embedding(vocab, embedding_size)
        self.position_embeddings = nn.Embedding(max_positions, embedding_size)
        self.token_type_embeddings = nn.Embedding(2, embedding_size)
        self.emb_norm = nn.LayerNorm(embedding_size, eps=1e-12)
        self.emb_dropout = nn.Dropout(dropout)
        self.embedding_hidden_mapping_in = nn.Linear(embedding_size, hidden)
        if attention == "sdpa":
            self.layer = AlbertLayerSDPA(hidden, heads, ffn, dropout)
        else:
            self.layer = nn.TransformerEncoderLayer(
                hidden, heads, ffn, dropout=dropout, activation="gelu", batch_first=True,
                norm_first=False, layer_norm_eps=1e-12,
            )
        self.num_layers = layers

    def forward(self, tokens, attention_mask=None):
        t = tokens.shape[1]
        if t > self.position_embeddings.num_embeddings:
            raise ValueError(f"PL-BERT built for {self.position_embeddings.num_embeddings} "
                             f"positions, got {t}")
        pos = torch.arange(t).unsqueeze(0)
        x = (self.word_embeddings(tokens) + self.position_embeddings(pos)
             + self.token_type_embeddings(torch.zeros_like(tokens)))
        x = self.embedding_hidden_mapping_in(self.emb_dropout(self.emb_norm(x)))
        pad = None if attention_mask is None else attention_mask == 0
        if pad is not None and not bool(pad.any()):
            pad = None  # no padding (batch 1): no mask, as transformers' SDPA path does
        for _ in range(self.num_layers):  # ALBERT: one set of weights, applied 12 times
            x = self.layer(x, src_key_padding_mask=pad)
        return x


class StyleTTS2Conditioning(nn.Module):
    """StyleTTS2's inference conditioning path (``inference()`` in its demo notebooks,
    up to the decoder input), for one utterance:

    ``t_en = text_encoder(tokens)``; ``d_en = bert_encoder(PL-BERT(tokens))``;
    ``d = predictor.text_encoder(d_en, s)``; ``predictor.lstm`` + ``duration_proj`` ->
    durations (computed, then replaced by the forced durations); dense alignment matrix
    ``(T_text, T_frames)``; ``en = d^T @ aln``; ``F0, N = predictor.F0Ntrain(en, s)``;
    ``asr = t_en @ aln`` (frame-level text features for the decoder).

    ``regulator="matmul"`` (StyleTTS2's own) builds the dense alignment matrix and
    multiplies by it -- O(T_text * T_frames) time and memory; ``"gather"`` upsamples by
    ``repeat_interleave`` instead (same result, O(T_frames)), to separate the cost of that
    choice from the cost of the networks.
    """

    def __init__(self, n_symbols: int = 178, hidden_dim: int = 256, style_dim: int = 128,
                 n_layer: int = 3, max_dur: int = 50, dropout: float = 0.2,
                 text_kernel: int = 5, bert: Optional[Dict[str, int]] = None,
                 max_positions: int = 512, regulator: str = "matmul",
                 attention: str = "sdpa"):
        super().__init__()
        if regulator not in ("matmul", "gather"):
            raise ValueError(f"regulator must be 'matmul' or 'gather', got {regulator!r}")
        self.vocab, self.style_dim, self.regulator = n_symbols, 2 * style_dim, regulator
        self.text_encoder = StyleTTS2TextEncoder(hidden_dim, text_kernel, n_layer, n_symbols)
        bert = dict(bert or {})
        self.bert = PLBERT(vocab=n_symbols, max_positions=max_positions, attention=attention,
                           **bert)
        bert_hidden = self.bert.embedding_hidden_mapping_in.out_features
        self.bert_encoder = nn.Linear(bert_hidden, hidden_dim)
        self.predictor = StyleTTS2ProsodyPredictor(style_dim, hidden_dim, n_layer, max_dur,
                                                   dropout)

    def _upsample(self, x, aln, durations):
        """(B, C, T_text) -> (B, C, T_frames)."""
        if self.regulator == "matmul":
            return x @ aln.unsqueeze(0)
        return torch.repeat_interleave(x, durations[0], dim=2)

    def forward(self, tokens, durations, style):
        t = tokens.shape[1]
        input_lengths = torch.tensor([t])
        text_mask = torch.zeros(1, t, dtype=torch.bool)  # True on padding (none, B = 1)
        t_en = self.text_encoder(tokens, input_lengths, text_mask)
        bert_dur = self.bert(tokens, attention_mask=(~text_mask).int())
        d_en = self.bert_encoder(bert_dur).transpose(-1, -2)
        s = style[:, self.style_dim // 2:]  # prosodic half of StyleTTS2's 256-d style
        d = self.predictor.text_encoder(d_en, s, input_lengths, text_mask)
        x, _ = self.predictor.lstm(d)
        duration = self.predictor.duration_proj(x)
        duration = torch.sigmoid(duration).sum(axis=-1)
        _ = torch.round(duration.squeeze()).clamp(min=1)  # predicted, then forced
        pred_dur = durations[0]
        aln = None
        if self.regulator == "matmul":  # StyleTTS2's dense alignment (vectorised loop)
            end = torch.cumsum(pred_dur, 0)
            start = end - pred_dur
            frames = torch.arange(int(end[-1]))
            aln = ((frames[None] >= start[:, None]) & (frames[None] < end[:, None])).float()
        en = self._upsample(d.transpose(-1, -2), aln, durations)
        f0, n = self.predictor.F0Ntrain(en, s)
        asr = self._upsample(t_en, aln, durations)
        return asr, f0, n


def build_styletts2_conditioning(hidden_dim: int = 256, tiny: bool = False,
                                 max_positions: int = 512, regulator: str = "matmul",
                                 attention: str = "sdpa") -> StyleTTS2Conditioning:
    """StyleTTS2's conditioning stack at ``hidden_dim`` (StyleTTS2's LJSpeech config uses
    512; the benchmark builds it at MVC's width 256), style 2 x 128, 3 layers, max_dur 50,
    PL-BERT at its real size."""
    if tiny:
        return StyleTTS2Conditioning(
            n_symbols=100, hidden_dim=32, style_dim=16, n_layer=1, max_dur=8,
            bert=dict(embedding_size=16, hidden=32, heads=2, ffn=64, layers=2),
            max_positions=max_positions, regulator=regulator, attention=attention,
        ).eval()
    return StyleTTS2Conditioning(hidden_dim=hidden_dim, max_positions=max_positions,
                                 regulator=regulator, attention=attention).eval()
