"""Alternator++ (Rezaei & Dieng 2025, "Alternators With Noise Models"): learned noise
models in both updates and a noise-matching term in the loss (docs/model.md, "Alternator++").

For t = 1..T, with z_0 ~ N(0, I), beta_t = 1 - sigma_x[t]^2 and the base noise sigma_b =
noise_min (the paper's sigma_x):

    x_t = sqrt(beta_t) f(z_{t-1}, t) + sqrt(1 - beta_t - sigma_b^2) eps_psi(z_{t-1}, t)
          + sigma_b eps_x                                                              (1++)
    z_t = sqrt(alpha) g(x_t, t) + sqrt(1 - alpha - sigma_z[t]^2) eps_nu(z_{t-1}, x_t, t)
          + sigma_z[t] eps_z                                                           (2++)

With eps_psi = fresh Gaussian noise and eps_nu = z_{t-1} these are (1) and (2).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from alternators_cli.model import (
    STEP_FREQUENCIES,
    Alternator,
    StepMLP,
    _norm,
    energy_score,
    energy_terms,
    step_mlp_flops,
)
from alternators_cli.settings import DistributionSettings


class AlternatorPP(Alternator):
    """f and g as the alternator's; two more networks of the same size: the noise models
    eps_psi (reads what the OPN reads) and eps_nu (reads [x_t features; z_{t-1}]), the
    latter plus a learned linear path N z_{t-1} that starts at the identity, so that an
    untrained eps_nu passes z_{t-1} on as (2) does."""

    def __init__(self, data_dim: int, config: DistributionSettings):
        super().__init__(data_dim, config)
        dz, d_step, act = config.latent_dim, 2 * STEP_FREQUENCIES, config.activation
        self.psi = StepMLP(dz + 2 * config.opn_fourier_features, data_dim, config.hidden,
                           config.layers, d_step, act)
        self.nu = StepMLP(data_dim + 2 * config.fourier_features + dz, dz, config.hidden,
                          config.layers, d_step, act)
        self.nu_skip = nn.Parameter(torch.eye(dz))  # N: (Dz, Dz)
        self.sigma_b = config.noise_min  # the base noise of (1++)
        # sqrt(1 - beta_t - sigma_b^2) = sqrt(sigma_x[t]^2 - sigma_b^2): 0 at the last step.
        psi_scale = (self.sigma_x**2 - self.sigma_b**2).clamp_min(0).sqrt()
        self.register_buffer("psi_scale", psi_scale)  # (T,)

    def extra_observe_flops(self) -> int:
        return step_mlp_flops(self.psi)

    def extra_transition_flops(self) -> int:
        return step_mlp_flops(self.nu) + 2 * self.nu_skip.numel()

    def eps_psi(self, z_in: Tensor, t: int) -> Tensor:
        """eps_psi(z_{t-1}, t) from the OPN's input features of z_{t-1}."""
        return self.psi(z_in, self.psi.step(self.step_features[t]))

    def eps_nu(self, x_in: Tensor, z: Tensor, t: int) -> Tensor:
        """eps_nu(z_{t-1}, x_t, t) from the STN's input features of x_t and z_{t-1}."""
        nu = self.nu(torch.cat([x_in, z], dim=-1), self.nu.step(self.step_features[t]))
        return nu + z @ self.nu_skip.T

    def observe(self, z: Tensor, t: int, opn_bias: Tensor, eps_x: Tensor) -> Tensor:
        """(1++): x_t from z_{t-1}."""
        z_in = self.opn_input(z)
        f = self.opn(z_in, opn_bias)  # (n, Dx)
        psi = self.eps_psi(z_in, t)  # (n, Dx)
        return self.x_keep[t] * f + self.psi_scale[t] * psi + self.sigma_b * eps_x

    def transition(self, x: Tensor, z: Tensor, t: int, stn_bias: Tensor, eps_z: Tensor) -> Tensor:
        """(2++): z_t from x_t and z_{t-1}."""
        x_in = self.stn_input(x)
        g = self.stn(x_in, stn_bias)  # (n, Dz)
        nu = self.eps_nu(x_in, z, t)  # (n, Dz)
        return self.z_in[t] * g + self.z_keep[t] * nu + self.sigma_z[t] * eps_z

    def loss(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Teacher-forced loss for a batch x: (B, Dx): the alternator's energy score of f,
        plus noise matching.

        The STN and eps_nu read the data noised as (1++) noises f,
        x~_t = sqrt(beta_t) x + sqrt(1 - beta_t - sigma_b^2) eps_t + sigma_b eps'_t, so eps_t is
        the noise that produced the observed trajectory, and z_{t-1} is the noise of the latent
        one (what (2) adds where (2++) adds eps_nu). Noise matching, in the energy score's
        units: the m draws of (f, eps_psi)(z_{t-1}) (one per draw of the latent's fresh noise)
        are scored jointly against (x, eps_t), with f held fixed, so that eps_psi is
        distributed as that noise *and independent of f*, as a fresh draw is (a squared error
        would shrink it to its mean, 0; a score of eps_psi alone left it correlated with f);
        and eps_nu by its distance to z_{t-1}. docs/model.md "Alternator++" gives the choices
        and what they measured.
        """
        cfg = self.config
        T, B, dz, dx = self.steps, x.shape[0], cfg.latent_dim, self.data_dim
        device = x.device
        opn_bias, stn_bias = self.step_biases()  # (T, H)
        eps = torch.randn(T, B, dx, generator=generator, device=device)  # eps_t: (T, B, Dx)
        eps_base = torch.randn(T, B, dx, generator=generator, device=device)  # (T, B, Dx)
        x_noised = (self.x_keep[:, None, None] * x + self.psi_scale[:, None, None] * eps
                    + self.sigma_b * eps_base)  # x~_t: (T, B, Dx)
        x_in = self.stn_input(x_noised[:-1])  # (T-1, B, Dx + 2k)
        g = self.stn(x_in, stn_bias[:-1, None, :])  # (T-1, B, Dz)
        x_in = x_in.unbind(0)
        noise = torch.randn(T, cfg.draws, B, dz, generator=generator, device=device)
        nu_errors = []

        def residual(t: int, z_prev: Tensor) -> Tensor:  # eps_nu in place of z_{t-1}
            nu = self.eps_nu(x_in[t], z_prev, t)  # (B, Dz)
            nu_errors.append(_norm(nu - z_prev.detach()))  # (B,)
            return nu

        zbar_prev, scales = self.latent_path(g, noise, residual)  # (T, B, Dz), (T,)
        z_prev = zbar_prev[:, None] + scales[:, None, None, None] * noise  # (T, m, B, Dz)
        z_in = self.opn_input(z_prev)
        f = self.opn(z_in, opn_bias[:, None, None])  # (T, m, B, Dx)
        psi = self.psi(z_in, self.psi.step(self.step_features)[:, None, None])  # (T, m, B, Dx)
        loss = energy_score(f, x)
        target = torch.cat([x.expand(T, B, dx), eps], dim=-1)[:, None]  # (T, 1, B, 2 Dx)
        fit, spread = energy_terms(torch.cat([f.detach(), psi], dim=-1), target, axis=1)
        loss = loss + (fit - spread).mean()
        if nu_errors:
            loss = loss + torch.stack(nu_errors).mean()
        return loss
