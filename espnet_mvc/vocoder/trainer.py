"""The vocoder's training run: state, the step, checkpoints, validation and the loop.

:class:`VocoderTrainer` is built from the options of :mod:`espnet_mvc.vocoder.options`
(whose docstring describes the features, data, losses, outputs and stopping) and
:meth:`~VocoderTrainer.run` trains; :func:`train` does both. The pieces it puts together:
data :mod:`~espnet_mvc.vocoder.data`, losses :mod:`~espnet_mvc.vocoder.losses`,
discriminators :mod:`~espnet_mvc.vocoder.discriminators` and validation
:mod:`~espnet_mvc.vocoder.validation`.

Resuming is exact: ``checkpoint.pth`` holds the generator, discriminator, both optimizers,
the step, the CPU seconds and the RNG states of torch and of each corpus' sampler, and the
learning rates are computed from the step, so a resumed run goes on as an uninterrupted one
would. Every file is read with ``torch.load(weights_only=True)``.
"""

import argparse
import signal
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import yaml

from espnet_mvc.vocoder import build_generator
from espnet_mvc.vocoder.bookkeeping import (
    StopOnSignal,
    TrainLog,
    atomic_save,
    atomic_write_text,
)
from espnet_mvc.vocoder.data import (
    SegmentSampler,
    build_feats_extract,
    compute_mel,
    load_input_mels,
    read_wav_scp,
)
from espnet_mvc.vocoder.discriminators import build_discriminator
from espnet_mvc.vocoder.losses import (
    STFT_RESOLUTIONS,
    MultiResolutionSTFTLoss,
    PhaseLoss,
    discriminator_loss,
    feature_matching_loss,
    generator_adv_loss,
)
from espnet_mvc.vocoder.options import (
    changed_training_options,
    training_options,
    vocoder_config,
)
from espnet_mvc.vocoder.validation import DnsmosValidation, curve_text, read_curve, valid_mel_l1
from espnet_mvc.vocoder.vocos import num_parameters

CHECKPOINT = "checkpoint.pth"
DNSMOS_CURVE = "dnsmos_curve.tsv"
BEST_DIR = "best"
VOCODER_FILE = "vocoder.pth"
VOCODER_CONFIG = "vocoder.yaml"
LOG_FILE = "train.log"
MAX_VALID_UTTS = 8


def _init_generator(generator: nn.Module, conf: dict, path: str) -> None:
    """Load ``path`` (a ``vocoder.pth`` or a trainer ``checkpoint.pth``) into ``generator``,
    after checking that its ``vocoder.yaml`` describes the same generator and features.

    Args:
        generator (nn.Module): The new run's generator.
        conf (dict): The new run's ``vocoder.yaml`` content.
        path (str): ``--init-from``, read with ``weights_only``.

    Raises:
        ValueError: its config differs in generator or features, or is missing.
    """
    from espnet_mvc.espnet.checkpoints import safe_load
    from espnet_mvc.vocoder import read_config

    theirs = read_config(path)
    for key in ("vocoder_type", "vocoder_params", "fs", "feats_extract_conf"):
        if theirs.get(key) != conf.get(key):
            raise ValueError(f"--init-from {path}: its {key} {theirs.get(key)!r} differs from "
                             f"this run's {conf.get(key)!r}")
    state = safe_load(str(path), map_location="cpu")
    if isinstance(state, dict) and isinstance(state.get("generator"), dict):
        state = state["generator"]
    generator.load_state_dict(state)


# ---------------------------------------------------------------------------------------
# training


class VocoderTrainer:
    """One training run: models, data, the step, checkpoints and validation.

    Built from the options, it has read the data and either resumed from
    ``<outdir>/checkpoint.pth`` or started afresh (``--init-from``); :meth:`run` then trains
    until a stopping condition or a signal.

    Args:
        args (argparse.Namespace): Options of :func:`espnet_mvc.vocoder.options.get_parser`.

    Raises:
        ValueError: options that cannot train (a segment too short for the STFT loss, an
            ``--extra-share`` that leaves no item to a corpus), unreadable data, a checkpoint
            of another generator or features, or an ``--init-from`` that does not fit.
    """

    def __init__(self, args: argparse.Namespace):
        # CPU time is counted from here: loading belongs to the run's budget
        self.cpu0 = time.process_time()
        torch.set_num_threads(args.threads)
        self.args = args
        self.outdir = Path(args.outdir)
        self.outdir.mkdir(parents=True, exist_ok=True)
        self.log = TrainLog(self.outdir / LOG_FILE)
        self.conf = vocoder_config(args)
        self.ckpt_path = self.outdir / CHECKPOINT
        self.curve_path = self.outdir / DNSMOS_CURVE
        self.n_extra = self._check_options()
        self._build_models()
        self._load_data()
        self.stft_loss = MultiResolutionSTFTLoss()
        self.phase_loss = (PhaseLoss(self.conf["vocoder_params"]["n_fft"], args.hop_length)
                           if args.lambda_phase else None)
        self.step, self.cpu_before, self.train_cpu = 0, 0.0, 0.0
        if self.ckpt_path.exists():
            self._resume()
        else:
            self._start()
        self.start_step = self.step
        # the generator's first update (the lr warm-up counts from it): after the
        # discriminator-only steps when the GAN is on from step 0
        self.g_start = (args.disc_warmup_steps
                        if self.use_gan and args.gan_start_step == 0 else 0)
        self.losses: List[float] = []  # total generator loss of each step of this run
        self.sums: Dict[str, float] = {}  # loss parts summed since the last log line
        self.t_log, self.step_log, self.cpu_log = time.time(), self.step, self.train_cpu
        self.saved_step: Optional[int] = None

    def _check_options(self) -> int:
        """Refuse options that cannot train; returns the items per batch of the extra corpus."""
        args = self.args
        hop = args.hop_length
        segment = args.segment_frames * hop
        if segment <= max(n for n, _, _ in STFT_RESOLUTIONS) // 2:
            raise ValueError(
                f"--segment-frames {args.segment_frames} x --hop-length {hop} = {segment} "
                f"samples is too short for the {max(n for n, _, _ in STFT_RESOLUTIONS)}-point "
                f"STFT loss"
            )
        n_extra = round(args.batch_size * args.extra_share) if args.extra_train_dir else 0
        if args.extra_train_dir and not 0 < n_extra < args.batch_size:
            raise ValueError(f"--extra-share {args.extra_share} of --batch-size "
                             f"{args.batch_size} must give between 1 and batch-1 items")
        return n_extra

    def _build_models(self) -> None:
        """The generator, the discriminator (if the GAN is on) and their optimizers."""
        args = self.args
        # the seeded global RNG initialises the generator, then the discriminator: this
        # order gives a seed its numbers
        torch.manual_seed(args.seed)
        self.generator = build_generator(self.conf)
        self.opt_g = torch.optim.AdamW(
            self.generator.parameters(), args.lr, betas=(0.8, 0.99),
            weight_decay=args.weight_decay,
        )
        self.use_gan = args.gan_start_step is not None
        self.lr_d = args.lr if args.lr_d is None else args.lr_d
        self.discriminator = self.opt_d = None
        if self.use_gan:
            self.discriminator = build_discriminator(
                args.disc, args.disc_channels, args.disc_spectrum, args.disc_compress
            )
            self.opt_d = torch.optim.AdamW(
                self.discriminator.parameters(), self.lr_d, betas=(0.8, 0.99),
                weight_decay=args.weight_decay,
            )

    def _load_data(self) -> None:
        """Features, the training corpora, the validation and DNSMOS sets, input mels."""
        args, hop = self.args, self.args.hop_length
        self.feats_extract = build_feats_extract(self.conf["feats_extract_conf"])
        train_wavs = read_wav_scp(args.train_dir, args.fs, args.max_train_utts, args.resample)
        self.train_set = SegmentSampler(
            train_wavs, self.feats_extract, hop, args.segment_frames, args.seed
        )
        self.extra_set = None
        if self.n_extra:
            self.extra_set = SegmentSampler(
                read_wav_scp(args.extra_train_dir, args.fs, args.max_train_utts, args.resample),
                self.feats_extract, hop, args.segment_frames, args.seed + 1,
            )
        self.valid = None
        if args.valid_dir:
            # one-frame "segments": the whole utterances, unpadded
            self.valid = SegmentSampler(
                read_wav_scp(args.valid_dir, args.fs, MAX_VALID_UTTS, args.resample),
                self.feats_extract, hop, 1,
            )
        self.dnsmos_valid = None
        if args.dnsmos_dir:
            self.dnsmos_valid = DnsmosValidation(
                args.dnsmos_dir, args.fs, self.feats_extract, args.dnsmos_max_utts
            )
        if args.input_mels_dir is not None:
            self.train_set.mels = load_input_mels(
                Path(args.input_mels_dir), self.train_set,
                [1 + len(train_wavs[u]) // hop for u in self.train_set.utts],
            )

    # -----------------------------------------------------------------------------------
    # checkpoints

    def _resume(self) -> None:
        """Restore models, optimizers, RNG states and counters from ``checkpoint.pth``."""
        from espnet_mvc.espnet.checkpoints import safe_load

        ckpt = safe_load(str(self.ckpt_path), map_location="cpu")
        if ckpt["vocoder_config"] != self.conf:
            raise ValueError(
                f"{self.ckpt_path}: written for another vocoder/feature setup "
                f"({ckpt['vocoder_config']}); these options give {self.conf}. Use another "
                f"--outdir."
            )
        self.generator.load_state_dict(ckpt["generator"])
        self.opt_g.load_state_dict(ckpt["optimizer"])
        if self.use_gan and ckpt.get("discriminator") is not None:
            self.discriminator.load_state_dict(ckpt["discriminator"])
            self.opt_d.load_state_dict(ckpt["optimizer_d"])
        torch.set_rng_state(ckpt["rng"]["torch"])
        self.train_set.generator.set_state(ckpt["rng"]["sampler"])
        if self.extra_set is not None and ckpt["rng"].get("extra_sampler") is not None:
            self.extra_set.generator.set_state(ckpt["rng"]["extra_sampler"])
        self.step, self.cpu_before = int(ckpt["step"]), float(ckpt["cpu_seconds"])
        self.train_cpu = float(ckpt.get("train_cpu_seconds", self.cpu_before))
        self.log(f"resumed from step {self.step} ({self.cpu_before:.1f} CPU s used, "
                 f"{self.train_cpu:.1f} in training steps) from {self.ckpt_path}")
        # Changing them on a resume is allowed (fine-tuning continues a copied run with other
        # data, lr or losses) but never silent: the lr, for one, jumps to the new --lr's
        # schedule at this step (lr * lr_decay ** step).
        changed = changed_training_options(ckpt.get("training_options"), self.args)
        if changed:
            self.log("resumed with changed training options: " + ", ".join(changed))

    def _start(self) -> None:
        """A new run: load ``--init-from`` if given, and log what is trained on."""
        args = self.args
        if args.init_from:
            _init_generator(self.generator, self.conf, args.init_from)
            self.log(f"generator initialised from {args.init_from}")
        seconds = sum(w.numel() for w in self.train_set.wavs) / args.fs
        extra = ""
        if self.extra_set is not None:
            extra = (f" + {len(self.extra_set.utts)} utterances, "
                     f"{sum(w.numel() for w in self.extra_set.wavs) / args.fs:.1f} s of "
                     f"{args.extra_train_dir} ({self.n_extra} of {args.batch_size} per batch)")
        self.log(
            f"training {args.vocoder_type} ({num_parameters(self.generator)} parameters) on "
            f"{len(self.train_set.utts)} utterances, {seconds:.1f} s{extra}"
            + (f"; discriminator {args.disc} ({num_parameters(self.discriminator)} parameters)"
               if self.use_gan else "")
        )

    def cpu_used(self) -> float:
        """Process CPU seconds of the whole run, summed over resumed runs."""
        return self.cpu_before + time.process_time() - self.cpu0

    def write_vocoder(self, where: Path, **train_info) -> None:
        """``vocoder.pth`` (the generator's state_dict) and ``vocoder.yaml`` (its config and
        the training progress, with ``train_info``) in ``where``."""
        where.mkdir(parents=True, exist_ok=True)
        atomic_save(self.generator.state_dict(), where / VOCODER_FILE)
        info = dict(self.conf, train=dict(step=self.step, cpu_seconds=round(self.cpu_used(), 1),
                                          train_cpu_seconds=round(self.train_cpu, 1),
                                          **train_info))
        atomic_write_text(yaml.safe_dump(info, sort_keys=False), where / VOCODER_CONFIG)

    def checkpoint(self) -> dict:
        """The state a resume needs (the keys of ``checkpoint.pth``; plain values and tensors
        only, for a ``weights_only`` load)."""
        rng = dict(torch=torch.get_rng_state(), sampler=self.train_set.generator.get_state())
        if self.extra_set is not None:
            rng["extra_sampler"] = self.extra_set.generator.get_state()
        return dict(
            generator=self.generator.state_dict(),
            optimizer=self.opt_g.state_dict(),
            discriminator=self.discriminator.state_dict() if self.use_gan else None,
            optimizer_d=self.opt_d.state_dict() if self.use_gan else None,
            step=self.step,
            cpu_seconds=self.cpu_used(),
            train_cpu_seconds=self.train_cpu,
            rng=rng,
            vocoder_config=self.conf,
            training_options=training_options(self.args),
        )

    def save(self) -> None:
        """Write ``checkpoint.pth``, ``vocoder.pth`` and ``vocoder.yaml``; log the validation."""
        atomic_save(self.checkpoint(), self.ckpt_path)
        self.write_vocoder(self.outdir)
        v = self.validate()
        self.log(
            f"step {self.step}: saved {self.ckpt_path}"
            + (f"; valid mel-L1 {v:.4f} ({len(self.valid.utts)} utts)" if v is not None else "")
        )
        self.saved_step = self.step

    # -----------------------------------------------------------------------------------
    # validation

    def validate(self) -> Optional[float]:
        """Mel L1 of the copy synthesis of ``--valid-dir`` (None without one)."""
        if self.valid is None:
            return None
        return valid_mel_l1(self.generator, self.valid, self.feats_extract, self.args.mel_floor)

    def score_dnsmos(self) -> None:
        """Append this step's DNSMOS row to the curve; keep the best generator."""
        c0 = time.process_time()
        scores = self.dnsmos_valid(self.generator)
        # rows of later steps are of a run this one resumed before: they are replaced
        rows = [r for r in read_curve(self.curve_path) if int(r["step"]) < self.step]
        best = max(rows, key=lambda r: r["dnsmos"]) if rows else None
        header = ["step", "train_cpu_s"] + list(scores)
        row = dict(step=self.step, train_cpu_s=round(self.train_cpu, 1), **scores)
        atomic_write_text(curve_text(rows + [row], header), self.curve_path)
        # the curve keeps 6 digits: a score equal to the best one up to them is no gain
        if best is None or scores["dnsmos"] > best["dnsmos"] + 1e-4:
            self.write_vocoder(self.outdir / BEST_DIR, dnsmos=round(scores["dnsmos"], 4))
            note = "new best"
        else:
            note = f"best {best['dnsmos']:.3f} at step {int(best['step'])}"
        self.log(f"step {self.step}: DNSMOS copy "
                 + " ".join(f"{k} {v:.3f}" for k, v in scores.items())
                 + f" ({time.process_time() - c0:.1f} CPU s); {note}")

    # -----------------------------------------------------------------------------------
    # the step

    def _draw_batch(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """Log-mel (B, n_mels, F) and waveform (B, F * hop); the extra corpus' items last."""
        mel, wav = self.train_set.sample(self.args.batch_size - self.n_extra)
        if self.n_extra:
            mel_x, wav_x = self.extra_set.sample(self.n_extra)
            mel, wav = torch.cat([mel, mel_x]), torch.cat([wav, wav_x])
        return mel, wav

    def _set_learning_rates(self) -> float:
        """Set this step's learning rates (from the step alone, so a resume continues the
        schedule); returns the generator's."""
        args, step = self.args, self.step
        lr = args.lr * args.lr_decay**step * min(
            1.0, max(1, step - self.g_start + 1) / max(1, args.warmup_steps))
        for group in self.opt_g.param_groups:
            group["lr"] = lr
        for group in self.opt_d.param_groups if self.opt_d is not None else ():
            group["lr"] = self.lr_d * args.lr_decay**step
        return lr

    def _discriminator_step(self, wav: torch.Tensor, fake: torch.Tensor) -> Dict[str, float]:
        """Update the discriminator on real ``wav`` and detached ``fake`` (both (B, L)).

        Returns:
            dict: ``d_real`` / ``d_fake`` (mean logits: how far apart the discriminator
            holds real and generated) and ``disc`` (its loss).
        """
        d_real, d_fake = self.discriminator(wav), self.discriminator(fake.detach())
        loss_d = discriminator_loss(d_real, d_fake, self.args.gan_loss)
        parts = dict(d_real=float(np.mean([r.mean().item() for r, _ in d_real])),
                     d_fake=float(np.mean([f.mean().item() for f, _ in d_fake])))
        self.opt_d.zero_grad()
        loss_d.backward()
        nn.utils.clip_grad_norm_(self.discriminator.parameters(), self.args.grad_clip)
        self.opt_d.step()
        parts["disc"] = loss_d.item()
        return parts

    def _generator_step(self, wav: torch.Tensor, fake: torch.Tensor, gan_on: bool,
                        parts: Dict[str, float]) -> torch.Tensor:
        """Update the generator on its output ``fake`` for the target ``wav`` (both (B, L)).

        Args:
            wav (Tensor): Target waveform (B, L).
            fake (Tensor): Generated waveform (B, L), with its graph.
            gan_on (bool): Add the adversarial and feature-matching losses.
            parts (dict): Gets each loss part (and ``grad_norm``) for the log.

        Returns:
            Tensor: The total loss (scalar).
        """
        args = self.args
        real_mel = compute_mel(self.feats_extract, wav).clamp(min=args.mel_floor)
        fake_mel = compute_mel(self.feats_extract, fake).clamp(min=args.mel_floor)
        loss_mel = F.l1_loss(fake_mel, real_mel)
        sc, mag = self.stft_loss(fake, wav)
        loss = args.lambda_mel * loss_mel + args.lambda_stft * (sc + mag)
        parts.update(mel=loss_mel.item(), sc=sc.item(), mag=mag.item())
        if self.phase_loss is not None:
            phases = self.phase_loss(fake, wav)
            loss = loss + args.lambda_phase * sum(phases.values())
            parts.update({k: v.item() for k, v in phases.items()})
        if gan_on:
            self.discriminator.requires_grad_(False)  # gradients for the generator only
            fake_out = self.discriminator(fake)
            with torch.no_grad():
                real_out = self.discriminator(wav)
            self.discriminator.requires_grad_(True)
            adv = generator_adv_loss(fake_out, args.gan_loss)
            fm = feature_matching_loss(real_out, fake_out)
            loss = loss + args.lambda_adv * adv + args.lambda_fm * fm
            parts.update(adv=adv.item(), fm=fm.item())
        self.opt_g.zero_grad()
        loss.backward()
        grad_norm = nn.utils.clip_grad_norm_(self.generator.parameters(), args.grad_clip)
        self.opt_g.step()
        parts["grad_norm"] = float(grad_norm)
        return loss

    def train_step(self) -> float:
        """One step: a batch, the discriminator's update (GAN on), the generator's (unless
        in the discriminator's warm-up). Returns the generator's learning rate."""
        args = self.args
        c_step = time.process_time()
        mel, wav = self._draw_batch()
        lr = self._set_learning_rates()
        gan_on = self.use_gan and self.step >= args.gan_start_step
        d_only = gan_on and self.step < args.gan_start_step + args.disc_warmup_steps
        parts: Dict[str, float] = {}
        if d_only:
            with torch.no_grad():
                fake = self.generator(mel)
        else:
            fake = self.generator(mel)
        if gan_on:
            parts.update(self._discriminator_step(wav, fake))
        if d_only:
            loss = torch.zeros(())
        else:
            loss = self._generator_step(wav, fake, gan_on, parts)
        self.step += 1
        self.losses.append(loss.item())
        parts["loss"] = loss.item()
        for k, v in parts.items():
            self.sums[k] = self.sums.get(k, 0.0) + v
        self.train_cpu += time.process_time() - c_step
        return lr

    # -----------------------------------------------------------------------------------
    # the loop

    def should_stop(self) -> bool:
        """At ``--max-steps``, or after ``--max-cpu-seconds`` of CPU time."""
        args = self.args
        return (args.max_steps is not None and self.step >= args.max_steps) or (
            args.max_cpu_seconds is not None and self.cpu_used() >= args.max_cpu_seconds
        )

    def _log_progress(self, lr: float) -> None:
        """The mean loss parts since the last such line, the lr and the speed."""
        n, now = self.step - self.step_log, time.time()
        self.log(
            f"step {self.step}: "
            + " ".join(f"{k} {v / n:.4f}" for k, v in self.sums.items())
            + f" lr {lr:.3g} {n / (now - self.t_log):.2f} steps/s"
            + f" {n / max(self.train_cpu - self.cpu_log, 1e-9):.3f} steps/CPU-s"
            + f" cpu {self.cpu_used():.1f} s (train {self.train_cpu:.1f} s)"
        )
        self.sums, self.t_log, self.step_log, self.cpu_log = {}, now, self.step, self.train_cpu

    def _after_step(self, lr: float) -> None:
        """Log, save and score on their schedules (a DNSMOS row comes with a checkpoint)."""
        args = self.args
        if self.step % args.log_every_steps == 0:
            self._log_progress(lr)
        if self.step % args.save_every_steps == 0:
            self.save()
        if self.dnsmos_valid is not None and self.step % args.dnsmos_every == 0:
            if self.saved_step != self.step:
                self.save()
            self.score_dnsmos()

    def run(self) -> dict:
        """Train until ``--max-steps``, ``--max-cpu-seconds`` or a signal; save at the end.

        Returns:
            dict: ``status`` ("done", or "interrupted" after a signal), ``signum`` (or None),
            ``start_step`` (0, or the step resumed from), ``step``, ``cpu_seconds``,
            ``train_cpu_seconds`` (of the training steps alone) and ``losses`` (the total
            generator loss of every step of this run; 0 for discriminator-only steps).
        """
        if self.dnsmos_valid is not None and not any(int(r["step"]) == self.step
                                                     for r in read_curve(self.curve_path)):
            self.score_dnsmos()  # where the curve starts (the initial or resumed generator)
        self.generator.train()
        with StopOnSignal() as stop:
            try:
                while not self.should_stop() and stop.signum is None:
                    self._after_step(self.train_step())
            except KeyboardInterrupt:
                # only when no handler could be installed: the step may be incomplete,
                # but its parameters are still a valid model to save
                stop.signum = signal.SIGINT
            if self.saved_step != self.step and (
                self.step > self.start_step or not (self.outdir / VOCODER_FILE).exists()
            ):
                self.save()
        status = "interrupted" if stop.signum is not None else "done"
        self.log(
            f"{status} at step {self.step}"
            + (f" (signal {stop.signum})" if stop.signum is not None else "")
            + f"; {self.cpu_used():.1f} CPU s used ({self.train_cpu:.1f} in training steps)"
        )
        return dict(
            status=status,
            signum=stop.signum,
            start_step=self.start_step,
            step=self.step,
            cpu_seconds=self.cpu_used(),
            train_cpu_seconds=self.train_cpu,
            losses=self.losses,
        )


def train(args: argparse.Namespace) -> dict:
    """Train (or resume training) as the module docstring describes.

    Args:
        args (argparse.Namespace): Options of :func:`espnet_mvc.vocoder.options.get_parser`.

    Returns:
        dict: See :meth:`VocoderTrainer.run`.
    """
    return VocoderTrainer(args).run()
