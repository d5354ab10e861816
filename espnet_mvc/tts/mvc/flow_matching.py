"""Few-step mel decoder: conditional flow matching (Lipman et al.; Matcha-TTS's
``flow_matching.py``).

Training regresses the straight-line (optimal-transport) flow from noise x_0 to the data
x_1::

    x_t = (1 - (1 - sigma_min) t) x_0 + t x_1,    u_t = x_1 - (1 - sigma_min) x_0

Sampling integrates dx/dt = v(x_t, t | mu, s) from x_0 with a few Euler or midpoint steps.
Straight flows are why 2-10 steps suffice.

Where the flow starts (``prior``):

* ``"mu"`` (default): x_0 ~ N(mu, temperature^2 I), the data-dependent prior of Grad-TTS /
  PriorGrad. The decoder only has to move the prior mean mu (which the conditioning stack
  regresses onto the mel) to the data, and since the estimator's output layer starts at
  zero, an untrained decoder returns mu itself. Training therefore never makes the
  synthesized mel worse than the prior.
* ``"zero"``: x_0 ~ N(0, temperature^2 I), as in Matcha-TTS. The decoder must carry pure
  noise all the way to speech; early in training (the first thousands of steps) that gives
  noise even where mu is already intelligible, which is why MVC's first CPU-trained models
  did not speak. Kept for reproducing Matcha-style decoders.
"""

from typing import Callable, List, Optional, Tuple

import torch
import torch.nn as nn

from espnet_mvc.tts.mvc.decode_options import DecodeOptions, check_solver
from espnet_mvc.tts.mvc.denoiser import BiMambaUNet1d

PRIORS = ("mu", "zero")


class CFMDecoder(nn.Module):
    """Conditional flow-matching mel decoder with a conv + Bi-Mamba U-Net.

    Args:
        odim (int): Mel bins.
        style_dim (Optional[int]): Style size S.
        sigma_min (float): Width of the data end of the probability path.
        n_timesteps (int): Default number of solver steps.
        solver (str): "euler" or "midpoint" (2 network calls per step).
        prior (str): Mean of the starting noise: "mu" (the condition) or "zero".
        temperature (float): Default noise scale of the sampler (a decode option; the
            model's own default, chosen for it, used when a call gives none).
        denoiser_conf (Optional[dict]): Keywords for :class:`BiMambaUNet1d`.
    """

    def __init__(
        self,
        odim: int,
        style_dim: Optional[int] = None,
        sigma_min: float = 1e-4,
        n_timesteps: int = 4,
        solver: str = "euler",
        prior: str = "mu",
        temperature: float = 0.667,
        denoiser_conf: Optional[dict] = None,
    ):
        super().__init__()
        check_solver(solver)
        if prior not in PRIORS:
            raise ValueError(f"prior must be one of {PRIORS}, got {prior!r}")
        self.prior = prior
        self.temperature = float(temperature)
        self.odim = odim
        self.sigma_min = sigma_min
        self.n_timesteps = n_timesteps
        self.solver = solver
        self.estimator = BiMambaUNet1d(odim, style_dim=style_dim, **(denoiser_conf or {}))

    def compute_loss(
        self,
        x1: torch.Tensor,
        mask: torch.Tensor,
        mu: torch.Tensor,
        style: Optional[torch.Tensor] = None,
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Flow-matching loss.

        Args:
            x1 (Tensor): Target mel (B, odim, T).
            mask (Tensor): (B, 1, T).
            mu (Tensor): Condition (B, odim, T).
            style (Optional[Tensor]): (B, S).

        Returns:
            Tensor: Loss (scalar).
            Tensor: One-step estimate of x1 from x_t (B, odim, T), differentiable (it
                feeds the vocoder in joint training).
        """
        bsz = x1.shape[0]
        t = torch.rand(bsz, device=x1.device, dtype=x1.dtype)
        tt = t[:, None, None]
        x0 = self._start(torch.randn_like(x1), mu, 1.0)
        xt = (1 - (1 - self.sigma_min) * tt) * x0 + tt * x1
        target = x1 - (1 - self.sigma_min) * x0
        v = self.estimator(xt, mask, mu, t, style)
        loss = (((v - target) ** 2) * mask).sum() / (mask.sum() * self.odim)
        # x1 = x_t + (1 - t) * v along the straight path (sigma_min ~ 0)
        x1_hat = (xt + (1 - tt) * v) * mask
        return loss, x1_hat

    def resolve(self, options: Optional[DecodeOptions]) -> Tuple[int, float, str]:
        """The call's solver settings, the model's own where ``options`` leaves them None:
        (solver steps, temperature, solver). ``options`` was checked when it was built; this
        only fills in (None: all the model's own)."""
        if options is None:
            return int(self.n_timesteps), self.temperature, self.solver
        steps = self.n_timesteps if options.n_timesteps is None else options.n_timesteps
        temperature = self.temperature if options.temperature is None else options.temperature
        return int(steps), temperature, options.solver or self.solver

    def _start(self, noise: torch.Tensor, mu: torch.Tensor, temperature: float) -> torch.Tensor:
        """x_0 of the flow: scaled noise, centred on mu for the data-dependent prior."""
        x = noise * temperature
        return x + mu if self.prior == "mu" else x

    def _integrate(
        self,
        x: torch.Tensor,
        estimate: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        steps: int,
        solver: str,
    ) -> torch.Tensor:
        """Integrate dx/dt = estimate(x, t) from t = 0 to 1 in ``steps`` solver steps."""
        ts = torch.linspace(0, 1, steps + 1, device=x.device, dtype=x.dtype)
        bsz = x.shape[0]
        for i in range(steps):
            t, dt = ts[i], ts[i + 1] - ts[i]
            v = estimate(x, t.expand(bsz))
            if solver == "midpoint":
                x_mid = x + 0.5 * dt * v
                v = estimate(x_mid, (t + 0.5 * dt).expand(bsz))
            x = x + dt * v
        return x

    @torch.no_grad()
    def sample(
        self,
        mu: torch.Tensor,
        mask: torch.Tensor,
        style: Optional[torch.Tensor] = None,
        options: Optional[DecodeOptions] = None,
        noise: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """Generate a mel.

        Args:
            mu (Tensor): Condition (B, odim, T).
            mask (Tensor): (B, 1, T).
            style (Optional[Tensor]): (B, S).
            options (Optional[DecodeOptions]): ``n_timesteps`` (solver steps; 0 returns the
                prior mean mu without running the decoder, a diagnostic), ``temperature``
                (std of the starting noise) and ``solver`` ("euler" or "midpoint"); each
                left None, and all when ``options`` is None, is the model's own.
            noise (Optional[Tensor]): Starting noise (B, odim, T) before the temperature
                (for reproducible or streamed sampling).

        Returns:
            Tensor: Mel (B, odim, T).
        """
        steps, temperature, solver = self.resolve(options)
        if steps == 0:  # prior-only decode: the condition's mean mu (a diagnostic)
            return mu * mask
        x = self._start(torch.randn_like(mu) if noise is None else noise, mu, temperature)

        def estimate(x, t):
            return self.estimator(x, mask, mu, t, style)

        return self._integrate(x, estimate, steps, solver) * mask

    @torch.no_grad()
    def sample_chunk(
        self,
        noise: torch.Tensor,
        mu: torch.Tensor,
        mask: torch.Tensor,
        style: Optional[torch.Tensor] = None,
        commit: Optional[int] = None,
        caches: Optional[List[Optional[dict]]] = None,
        options: Optional[DecodeOptions] = None,
    ) -> Tuple[torch.Tensor, List[dict]]:
        """Streaming :meth:`sample` over a window ``[s, s + W)`` of one stream.

        Every solver evaluation runs :meth:`BiMambaUNet1d.forward_chunk` over the window
        with its own cache (one per evaluation: ``n_timesteps`` for Euler, twice that for
        midpoint), so each evaluation continues its own forward scans and conv contexts
        across chunks. ``noise`` is the window's slice of the utterance's starting noise:
        drawn once for the whole utterance, it makes a stream whose windows reach the end of
        the utterance equal :meth:`sample` with the same noise.

        Args:
            noise (Tensor): Starting noise over the window (B, odim, W), before temperature.
            mu (Tensor): Condition over the window (B, odim, W).
            mask (Tensor): (B, 1, W), all ones.
            style (Optional[Tensor]): (B, S).
            commit (Optional[int]): Frames made final (default W); even except at the end.
            caches (Optional[list]): From the previous call of this stream, or None.
            options (Optional[DecodeOptions]): As in :meth:`sample`.

        Returns:
            Tensor: Mel over the window (B, odim, W); frames past ``commit`` provisional.
            list: Caches for the next window.
        """
        steps, temperature, solver = self.resolve(options)
        if steps == 0:
            return mu * mask, []
        evals = steps * (2 if solver == "midpoint" else 1)
        caches = list(caches) if caches is not None else [None] * evals
        if len(caches) != evals:
            raise ValueError(f"expected {evals} caches (one per evaluation), got {len(caches)}")
        new_caches: List[dict] = []

        def estimate(x, t):  # the k-th evaluation of the stream continues the k-th cache
            v, cache = self.estimator.forward_chunk(
                x, mask, mu, t, style, commit, caches[len(new_caches)]
            )
            new_caches.append(cache)
            return v

        x = self._integrate(self._start(noise, mu, temperature), estimate, steps, solver)
        return x * mask, new_caches
