"""The sequence alternator (SPEC section 2, docs/model.md "Sequences"): one cycle step per
time step, observed values written in where the data has them, and the masked energy
score it is trained with."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from alternators_cli.model import energy_terms, hidden_blocks
from alternators_cli.settings import Activation, SequenceSettings

# A path's latent is held within +-Z_LIMIT. z_0 ~ N(0, I) and the latents of trained models
# stay within about +-5 on every path measured; a rare draw whose latent runs away (its STN
# amplifying z over hundreds of steps) would otherwise reach 1e7 and decode to values far
# outside the data. Inside the limit the clamp changes nothing, bit for bit.
Z_LIMIT = 8.0


def mlp(d_in: int, d_out: int, hidden: int, layers: int, activation: Activation) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, hidden), *hidden_blocks(hidden, d_out, layers, activation))


class SequenceAlternator(nn.Module):
    """The alternator over real time: one cycle step per time step, for t = 1..T,

        x_t = sqrt(1 - sigma_x^2) * f(z_{t-1}) + sigma_x * eps_x                         (S1)
        x~_t = x_t (observed) where the data has it, else the OPN's own x_t             (S2)
        z_t = sqrt(alpha) * g(x~_t, z_{t-1}) + sqrt(1 - alpha - sigma_z^2) * z_{t-1}
              + sigma_z * eps_z                                                           (S3)

    with z_0 ~ N(0, I) and constant schedules (the dynamics do not depend on t, so a model
    trained on windows runs for any length); z_t is held within +-Z_LIMIT. The STN also
    reads z_{t-1}: the latent then carries what one observation cannot (velocities,
    unobserved channels). Missing cells are NaN in every input, and S2 is applied per cell.
    """

    def __init__(self, data_dim: int, config: SequenceSettings):
        super().__init__()
        self.config = config
        self.data_dim = data_dim
        dz = config.latent_dim
        act = Activation.silu  # sequences offer no other
        # With a season s, both networks also read the value one season back, x~_{t-s}
        # (with K = season_lags, the mean of x~_{t-s}, ..., x~_{t-Ks} that the path has),
        # and a flag: the share of those K it has; the OPN predicts the change from it.
        self.season = config.season
        self.season_lags = getattr(config, "season_lags", 1)
        lag = data_dim + 1 if self.season else 0
        # With increments, both networks read changes d_t = x~_t - x~_{t-1} (and the change a
        # season back) and a flag saying whether x~_{t-1} exists; the OPN predicts the
        # change: no level enters either network.
        self.increments = config.increments
        flag = 1 if self.increments else 0
        self.opn = mlp(dz + lag + flag, data_dim, config.hidden, config.layers, act)  # f_theta
        self.stn = mlp(data_dim + dz + lag + flag, dz, config.hidden, config.layers,
                       act)  # g_phi
        sigma_x = config.noise_min
        sigma_z = config.sigma_z_scale * sigma_x
        self.sigma_x, self.sigma_z = sigma_x, sigma_z
        self.x_keep = math.sqrt(1 - sigma_x**2)
        self.z_in = math.sqrt(config.alpha)
        # clamp: at the allowed boundary alpha + sigma_z^2 = 1 rounding may dip below 0.
        self.z_keep = math.sqrt(max(0.0, 1 - config.alpha - sigma_z**2))

    def run(self, x: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """One pass of S1-S3 over x: (B, T, D), normalised, NaN where missing.

        Returns the OPN's draws x_t (B, T, D) (x_t is predicted from z_{t-1}, so at an
        observed cell it is a one-step-ahead prediction) and the latent path z_t (B, T, Dz)
        (z_t has read x~_t).
        """
        B, T, D = x.shape
        dz = self.config.latent_dim
        device = x.device
        missing = torch.isnan(x)  # (B, T, D)
        observed = torch.nan_to_num(x)
        z = torch.randn(B, dz, generator=generator, device=device)  # z_0: (B, Dz)
        xs, zs, reads, changes = [], [], [], []
        s = self.season
        if s:
            none = torch.zeros(B, D + 1, device=device)
            one = torch.ones(B, 1, device=device)
        if self.increments:
            zero_d = torch.zeros(B, D, device=device)
            flags = (torch.zeros(B, 1, device=device), torch.ones(B, 1, device=device))
        for t in range(T):
            eps_x = torch.randn(B, D, generator=generator, device=device)
            extra = []
            if s:  # the value (with increments: the change) one season back, and its flag
                lag = self.seasonal_lag(changes if self.increments else reads, t, none, one)
                extra.append(lag)
            if self.increments:
                extra.append(flags[t > 0])
            mean = self.opn(torch.cat([z, *extra], dim=-1)) if extra else self.opn(z)
            if s:  # (S1) with a season: x_t = lag + f(z_{t-1}, lag, 1) once the lag exists
                mean = mean + lag[:, :D]
            if self.increments and t > 0:  # the OPN's output is the change from x~_{t-1}
                mean = mean + reads[t - 1]
            x_t = self.x_keep * mean + self.sigma_x * eps_x  # (S1): (B, D)
            x_read = torch.where(missing[:, t], x_t, observed[:, t])  # (S2): (B, D)
            d_t = x_read  # what the STN reads; with increments the change, 0 at the first step
            if self.increments:
                d_t = x_read - reads[t - 1] if t > 0 else zero_d
            eps_z = torch.randn(B, dz, generator=generator, device=device)
            g = self.stn(torch.cat([d_t, z, *extra], dim=-1))  # (B, Dz)
            z = self.z_in * g + self.z_keep * z + self.sigma_z * eps_z  # (S3): (B, Dz)
            z = z.clamp(-Z_LIMIT, Z_LIMIT)  # a guard, inert on every ordinary path
            xs.append(x_t)
            zs.append(z)
            reads.append(x_read)
            if self.increments:
                changes.append(d_t)
        return torch.stack(xs, dim=1), torch.stack(zs, dim=1)

    def seasonal_lag(self, seen: list[Tensor], t: int, none: Tensor, one: Tensor) -> Tensor:
        """(B, D + 1): the mean of the path's values at t - s, ..., t - Ks (those with
        t - ks >= 0) and the share of the K it has; zeros before the first season."""
        s, K = self.season, self.season_lags
        back = [seen[t - k * s] for k in range(1, K + 1) if t - k * s >= 0]
        if not back:
            return none
        return torch.cat([torch.stack(back).mean(dim=0), one * (len(back) / K)], dim=-1)

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """The training loss (so that DistributedDataParallel sees a forward call)."""
        return self.loss(x, generator)

    def loss(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Energy score of `draws` passes over windows x: (B, W, D) with random parts hidden.

        Each window is, with equal chance, fully observed (teacher forcing), observed up to
        a random point (forecasting), or hidden in random blocks or at random steps
        (imputation). Hidden steps read the OPN's own draws (S2), so the model is trained
        on the same path it runs at inference. Every observed cell of the data is scored,
        hidden or not.
        """
        B, W, _ = x.shape
        m = self.config.draws
        hidden = training_mask(B, W, generator, x.device)  # (B, W)
        x_in = x.masked_fill(hidden[:, :, None], float("nan"))  # (B, W, D)
        draws, _ = self.run(x_in.repeat(m, 1, 1), generator)  # (m*B, W, D)
        draws = draws.view(m, B, W, -1)
        scored = ~torch.isnan(x)  # (B, W, D): cells the data has
        return masked_energy_score(draws, torch.nan_to_num(x), scored)


def training_mask(B: int, W: int, generator: torch.Generator | None, device) -> Tensor:
    """Which steps of each window the model must fill in: (B, W) bool."""
    rand = lambda *shape: torch.rand(*shape, generator=generator, device=device)  # noqa: E731
    mode = (rand(B) * 4).long()  # 0 observed, 1 tail, 2 blocks, 3 scattered
    rate = 0.9 * rand(B, 1)  # (B, 1): share of steps hidden
    steps = torch.arange(W, device=device)
    tail_start = W - 1 - (rand(B, 1) * (W // 2)).long()  # (B, 1): hide at least one step
    tail = steps[None] >= tail_start
    scattered = rand(B, W) < rate
    # Blocks: starts at rate / length, each start hides the next `length` steps.
    length = 1 + (rand(B, 1) * 16).long()  # (B, 1) in 1..16
    starts = (rand(B, W) < rate / length).long()
    count = torch.cumsum(starts, dim=1)  # (B, W)
    before = torch.gather(
        torch.nn.functional.pad(count, (1, 0)), 1, (steps[None] + 1 - length).clamp_min(0)
    )
    blocks = (count - before) > 0
    hidden = torch.zeros(B, W, dtype=torch.bool, device=device)
    for k, mask in ((1, tail), (2, blocks), (3, scattered)):
        hidden |= (mode[:, None] == k) & mask
    return hidden


def masked_energy_score(draws: Tensor, target: Tensor, scored: Tensor) -> Tensor:
    """Energy score over the scored cells: draws (m, B, T, D), target and scored (B, T, D).

    Per step, ES = mean_j |x_j - x| - 1/(2 m (m-1)) sum_{j != k} |x_j - x_k| on the scored
    channels only (a proper score for what was observed), averaged over scored steps.
    """
    w = scored.to(draws.dtype)  # 0 or 1: (a - b) w = a w - b w exactly
    fit, spread = energy_terms(draws * w, target * w, axis=0)  # (B, T) each
    any_scored = scored.any(dim=-1).to(draws.dtype)  # (B, T)
    return ((fit - spread) * any_scored).sum() / any_scored.sum().clamp_min(1)
