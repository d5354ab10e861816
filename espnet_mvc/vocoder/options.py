"""Train a Vocos-style vocoder on Kaldi-style data dirs, on CPU, within a CPU-time budget.

This module holds its command line (:func:`get_parser`), the ``vocoder.yaml`` config the
options make (:func:`vocoder_config`) and the options a checkpoint records; the run itself
is :mod:`espnet_mvc.vocoder.trainer`'s.

    python -m espnet_mvc.bin.train_vocoder --train-dir data/tr_no_dev --valid-dir data/dev \\
        --outdir exp/vocoder --fs 24000 --n-fft 1024 --hop-length 300 --win-length 1024 \\
        --n-mels 80 --fmin 0 --fmax 12000 --max-cpu-seconds 36000

Features: the generator is fed exactly what a TTS model trained with ESPnet's ``fbank``
front-end produces: features are computed by ``espnet2.tts.feats_extract.log_mel_fbank.
LogMelFbank(fs, n_fft, win_length, hop_length, n_mels, fmin, fmax)`` itself (the feature
options must be the TTS config's ``feats_extract_conf``), so at synthesis time
``Text2Speech`` can hand the vocoder its denormalized log-mel (``feat_gen_denorm``).

Data: ``wav.scp`` (``utt_id path`` lines) of each dir; all audio is read into memory once
and its features computed once per utterance. With ``--input-mels-dir`` the generator's
training inputs are read from ``<dir>/<utt>.npy`` instead: frame-aligned mels of an
acoustic model, which it then learns to turn into the recordings. A training example is
``--segment-frames`` consecutive frames ``[a, a + F)`` of an utterance with the samples
``[a * hop, (a + F) * hop)``: ``LogMelFbank`` frames are centred (``center=True``: frame
``k`` on sample ``k * hop``), and so are the generator's iSTFT frames, so the generator's
``F * hop`` output samples line up with exactly these samples. Segment start positions are
drawn uniformly over the corpus.

Losses (weights are options; defaults):

* mel: L1 between the ``LogMelFbank`` features (log10 mel amplitude) of the real and the
  generated segment, floored at ``--mel-floor`` (-5: amplitude 1e-5, HiFi-GAN's floor);
  weight ``--lambda-mel`` 45, as ESPnet's HiFi-GAN recipes weight their log10 mel L1.
* multi-resolution STFT: spectral convergence + L1 of log magnitudes, averaged over the
  resolutions (n_fft, hop, win) (512, 128, 512), (1024, 256, 1024), (2048, 512, 2048);
  weight ``--lambda-stft`` 1 (mel 45 : STFT 1, as in HiFi-GAN's 45 : adversarial ~1).
* phase (``--lambda-phase``, default 0: off): APNet's instantaneous-phase, group-delay and
  instantaneous-frequency losses on the generator's own STFT grid, magnitude-weighted
  (:class:`~espnet_mvc.vocoder.losses.PhaseLoss`); a generator trained on magnitudes
  alone leaves its phase free.
* from ``--gan-start-step`` (default: never): adversarial losses against ``--disc``
  (:mod:`espnet_mvc.vocoder.discriminators`: ``msstft``, EnCodec's multi-scale complex-STFT
  discriminator from ESPnet; ``mrd``, UnivNet's multi-resolution one over magnitude or, with
  ``--disc-spectrum complex``, complex spectrograms; ``mpd``, HiFi-GAN's multi-period one;
  comma-separated to combine), ``--disc-channels`` wide, hinge or LSGAN (``--gan-loss``)
  weighted ``--lambda-adv`` 1, plus relative feature matching (``--lambda-fm`` 2). The
  discriminator has its own learning rate (``--lr-d``), and its first
  ``--disc-warmup-steps`` steps train it alone against the frozen generator.

Fine-tuning: ``--init-from vocoder.pth`` starts a new run from a trained generator (same
generator and features); ``--warmup-steps`` ramps the generator's lr up from its first
update. ``--extra-train-dir`` adds a second corpus (e.g. real human speech) that makes up
``--extra-share`` of every batch; ``--resample`` lets either corpus be at another rate.

DNSMOS curve: with ``--dnsmos-dir`` (repeatable; any rate), every ``--dnsmos-every`` steps
(and at the start) the copy synthesis of the first ``--dnsmos-max-utts`` clips of each set
is scored with DNSMOS (:mod:`espnet_mvc.metrics.dnsmos`) and a row ``step, train_cpu_s,
dnsmos, dnsmos_<set>...`` appended to ``dnsmos_curve.tsv``; the generator with the best mean
is kept in ``best/`` (``vocoder.pth`` + ``vocoder.yaml``). ``train_cpu_s`` counts the
training steps' CPU time alone (not loading, saving or scoring); the log gives steps per
CPU second of them.

Optimisation: AdamW (betas 0.8, 0.99), learning rate ``lr * lr_decay ** step`` (times the
optional warm-up; computed from the step, so resuming continues the same schedule),
gradient norm clipping.

Outputs in ``--outdir``, written atomically every ``--save-every-steps`` and at the end:
``checkpoint.pth`` (generator, discriminator, both optimizers, step, CPU seconds used,
RNG states of torch and of each corpus' sampler; training resumes from it automatically and
goes on as an uninterrupted run would), ``vocoder.pth`` (generator state_dict) and ``vocoder.yaml``
(see :mod:`espnet_mvc.vocoder`); ``train.log`` gets the log lines (also on stdout), with
the validation mel-L1 of up to 8 whole ``--valid-dir`` utterances at every save.

Stopping: at ``--max-steps``, after ``--max-cpu-seconds`` of process CPU time (summed over
resumed runs), or on SIGTERM / Ctrl-C (the step in progress is finished and a checkpoint
saved; a second signal stops at once). All loading uses ``torch.load(weights_only=True)``.
"""

import argparse
from pathlib import Path
from typing import Any, Dict, List, Optional

from espnet_mvc.vocoder import VOCODER_CLASSES
from espnet_mvc.vocoder.discriminators import DISCRIMINATOR_SPECTRA
from espnet_mvc.vocoder.losses import GAN_LOSSES


def _optional_int(value: str) -> Optional[int]:
    # ESPnet configs write win_length / fmax as null to mean n_fft / fs/2
    return None if value.lower() in ("none", "null") else int(value)


# the options that shape the optimisation, saved in the checkpoint so that a resume with
# other values is reported (the stopping options, --max-steps and the like, are not)
TRAINING_OPTIONS = (
    "train_dir", "input_mels_dir", "batch_size", "segment_frames", "lr", "lr_decay",
    "weight_decay", "grad_clip", "lambda_mel", "lambda_stft", "lambda_phase", "lambda_adv",
    "lambda_fm", "mel_floor", "gan_start_step", "disc_channels", "disc_spectrum", "seed",
    "disc", "lr_d", "gan_loss", "disc_warmup_steps", "extra_train_dir", "extra_share",
    "init_from", "warmup_steps", "disc_compress",
)


def training_options(args: argparse.Namespace) -> Dict[str, Any]:
    """The :data:`TRAINING_OPTIONS` of a run (plain values, for a ``weights_only`` load)."""
    return {k: (str(v) if isinstance(v, Path) else v) for k in TRAINING_OPTIONS
            for v in [getattr(args, k, None)]}


def changed_training_options(saved: Optional[Dict[str, Any]], args: argparse.Namespace
                             ) -> List[str]:
    """``"<option> <saved> -> <now>"`` for each training option that differs from the
    checkpoint's (none for a checkpoint written before they were saved)."""
    if not saved:
        return []
    now = training_options(args)
    return [f"{k} {saved.get(k)!r} -> {now[k]!r}" for k in TRAINING_OPTIONS
            if k in saved and saved[k] != now[k]]


def _add_data_options(p: argparse.ArgumentParser) -> None:
    """Where the audio comes from and where the run writes (``data`` group)."""
    g = p.add_argument_group("data")
    g.add_argument("--train-dir", required=True, help="Kaldi-style data dir with wav.scp")
    g.add_argument("--valid-dir", default=None, help="data dir for validation (optional)")
    g.add_argument("--outdir", required=True)
    g.add_argument(
        "--input-mels-dir", default=None,
        help="train the generator on <dir>/<utt>.npy mels (e.g. an acoustic model's "
             "ground-truth-aligned ones) instead of the recordings' own; the losses still "
             "compare with the recordings",
    )
    g.add_argument(
        "--extra-train-dir", default=None,
        help="a second corpus (e.g. real human speech): --extra-share of every batch is "
             "drawn from it",
    )
    g.add_argument("--extra-share", type=float, default=0.25,
                   help="share of each batch drawn from --extra-train-dir")
    g.add_argument("--max-train-utts", type=int, default=None,
                   help="read only the first N utterances of each training dir")
    g.add_argument(
        "--resample", action="store_true",
        help="resample audio at another rate to --fs (espnet_mvc.inference.reference_audio."
             "resample) instead of refusing it",
    )
    g.add_argument(
        "--dnsmos-dir", action="append", default=[],
        help="data dir (wav.scp, any rate) of a DNSMOS validation set; repeatable. Every "
             "--dnsmos-every steps the copy synthesis of its first --dnsmos-max-utts clips "
             "is scored and a row appended to <outdir>/dnsmos_curve.tsv; the best generator "
             "by the mean over all sets is kept in <outdir>/best/",
    )
    g.add_argument("--dnsmos-every", type=int, default=250)
    g.add_argument("--dnsmos-max-utts", type=int, default=8)
    g.add_argument(
        "--init-from", default=None,
        help="start a new run from this vocoder.pth (or checkpoint.pth): fine-tuning; its "
             "vocoder.yaml must describe the same generator and features",
    )


def _add_features_options(p: argparse.ArgumentParser) -> None:
    """The ``LogMelFbank`` options; they must equal the TTS config's ``feats_extract_conf``."""
    g = p.add_argument_group("features (must equal the TTS config's feats_extract_conf)")
    g.add_argument("--fs", type=int, default=24000)
    g.add_argument("--n-fft", type=int, default=1024)
    g.add_argument("--hop-length", type=int, default=300)
    g.add_argument("--win-length", type=_optional_int, default=1024, help="none: n-fft")
    g.add_argument("--n-mels", type=int, default=80)
    g.add_argument("--fmin", type=_optional_int, default=0)
    g.add_argument("--fmax", type=_optional_int, default=12000, help="none: fs/2")


def _add_generator_options(p: argparse.ArgumentParser) -> None:
    """The generator's type and size (``vocoder_params`` of ``vocoder.yaml``)."""
    g = p.add_argument_group("generator")
    g.add_argument("--vocoder-type", default="vocos", choices=sorted(VOCODER_CLASSES))
    g.add_argument(
        "--istft-n-fft", type=int, default=None, help="iSTFT size (default 4 * hop-length)"
    )
    g.add_argument("--dim", type=int, default=256)
    g.add_argument("--intermediate-dim", type=int, default=768)
    g.add_argument("--num-layers", type=int, default=6)
    g.add_argument("--kernel-size", type=int, default=7)


def _add_training_options(p: argparse.ArgumentParser) -> None:
    """Optimisation, losses, the GAN, stopping, saving and logging."""
    g = p.add_argument_group("training")
    g.add_argument("--batch-size", type=int, default=16)
    g.add_argument("--segment-frames", type=int, default=48)
    g.add_argument("--lr", type=float, default=5e-4)
    g.add_argument("--lr-decay", type=float, default=0.99998, help="lr factor per step")
    g.add_argument("--warmup-steps", type=int, default=0,
                   help="the generator's lr rises linearly over the first N steps (a "
                        "fine-tune's fresh Adam state makes its first steps large)")
    g.add_argument("--weight-decay", type=float, default=0.01)
    g.add_argument("--grad-clip", type=float, default=100.0, help="max gradient norm")
    g.add_argument("--lambda-mel", type=float, default=45.0)
    g.add_argument("--lambda-stft", type=float, default=1.0)
    g.add_argument(
        "--lambda-phase", type=float, default=0.0,
        help="weight of each of the three phase losses (PhaseLoss; 0: off)",
    )
    g.add_argument("--lambda-adv", type=float, default=1.0)
    g.add_argument("--lambda-fm", type=float, default=2.0)
    g.add_argument("--mel-floor", type=float, default=-5.0, help="log-mel floor in the loss")
    g.add_argument(
        "--gan-start-step", type=int, default=None, help="add the GAN losses from this step"
    )
    g.add_argument(
        "--disc-channels", type=int, default=32, help="conv channels of the discriminator"
    )
    g.add_argument(
        "--disc-spectrum", default="magnitude", choices=DISCRIMINATOR_SPECTRA,
        help="the mrd discriminator sees magnitude spectrograms, or complex ones (phase too)",
    )
    g.add_argument(
        "--disc", default="mrd",
        help="discriminators, comma-separated: msstft (EnCodec's multi-scale STFT), mrd "
             "(UnivNet's multi-resolution), mpd (HiFi-GAN's multi-period); see "
             "espnet_mvc.vocoder.discriminators",
    )
    g.add_argument(
        "--disc-compress", type=float, default=1.0,
        help="msstft sees |z| ** this (phases kept): 0.1 lets it learn several times faster "
             "against a pretrained generator than EnCodec's plain complex STFT (1.0)",
    )
    g.add_argument("--lr-d", type=float, default=None,
                   help="discriminator learning rate (default: --lr), same decay")
    g.add_argument("--gan-loss", default="hinge", choices=GAN_LOSSES)
    g.add_argument(
        "--disc-warmup-steps", type=int, default=0,
        help="the first N steps from --gan-start-step train the discriminator only (the "
             "generator is frozen), so that a fine-tuned generator meets a trained adversary",
    )
    g.add_argument("--max-steps", type=int, default=None)
    g.add_argument("--max-cpu-seconds", type=float, default=None)
    g.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    g.add_argument("--save-every-steps", type=int, default=500)
    g.add_argument("--log-every-steps", type=int, default=50)
    g.add_argument("--seed", type=int, default=0)


def get_parser() -> argparse.ArgumentParser:
    """Command-line options of the vocoder trainer.

    Returns:
        argparse.ArgumentParser: Its ``parse_args`` gives the ``args`` of
        :func:`espnet_mvc.vocoder.trainer.train`.
    """
    p = argparse.ArgumentParser(
        description="Train a Vocos-style vocoder on ESPnet LogMelFbank features.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    _add_data_options(p)
    _add_features_options(p)
    _add_generator_options(p)
    _add_training_options(p)
    return p


def feats_extract_conf(args: argparse.Namespace) -> dict:
    """``LogMelFbank`` keywords (``feats_extract_conf`` of an ESPnet TTS config)."""
    return dict(
        fs=int(args.fs),
        n_fft=int(args.n_fft),
        win_length=args.win_length,
        hop_length=int(args.hop_length),
        n_mels=int(args.n_mels),
        fmin=args.fmin,
        fmax=args.fmax,
    )


def vocoder_config(args: argparse.Namespace) -> dict:
    """The ``vocoder.yaml`` content for these options (without training progress)."""
    params = dict(
        n_mels=int(args.n_mels),
        hop_length=int(args.hop_length),
        n_fft=int(args.istft_n_fft or 4 * args.hop_length),
        dim=int(args.dim),
        intermediate_dim=int(args.intermediate_dim),
        num_layers=int(args.num_layers),
        kernel_size=int(args.kernel_size),
    )
    return dict(
        vocoder_type=args.vocoder_type,
        vocoder_params=params,
        fs=int(args.fs),
        feats_extract="fbank",
        feats_extract_conf=feats_extract_conf(args),
    )
