"""The alternator: OPN f_theta(z, t), STN g_phi(x, t), schedules, loss and sampler.

Equations (docs/model.md, SPEC section 1). For t = 1..T:

    x_t = sqrt(1 - sigma_x[t]^2) * f(z_{t-1}, t) + sigma_x[t] * eps_x                  (1)
    z_t = sqrt(alpha[t]) * g(x_t, t) + sqrt(1 - alpha[t] - sigma_z[t]^2) * z_{t-1}
          + sigma_z[t] * eps_z                                                          (2)

with z_0 ~ N(0, I). The module keeps no call state: every method is a pure function of
its inputs, the parameters and the schedule buffers.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from alternators_cli.settings import Activation, DistributionSettings, Objective

STEP_FREQUENCIES = 8  # Fourier features of the step position: 2 * 8 numbers per step
CPU = torch.device("cpu")  # where the fixed buffers are made (see Alternator.__init__)
ACTIVATIONS: dict[Activation, type[nn.Module]] = {
    Activation.silu: nn.SiLU, Activation.relu: nn.ReLU,
}


def hidden_blocks(hidden: int, d_out: int, layers: int, activation: Activation) -> list[nn.Module]:
    """What follows an MLP's first linear layer: [act, Linear] x layers, the last to d_out."""
    act = ACTIVATIONS[activation]
    blocks: list[nn.Module] = []
    for _ in range(layers - 1):
        blocks += [act(), nn.Linear(hidden, hidden)]
    return [*blocks, act(), nn.Linear(hidden, d_out)]


class StepMLP(nn.Module):
    """An MLP whose first layer also reads the step features, plus an optional linear skip.

    `W [v; e_t] + b = W_v v + (W_e e_t + b)`: the step part is a per-step bias, computed
    once per call for all T steps instead of concatenating features to every row.
    With `d_skip` > 0 the output adds `S v[:d_skip]`: a linear map of the raw input (the
    columns before any Fourier features), so that a near-identity passage (the low-noise
    steps) need not be learned through the ReLUs.
    """

    def __init__(
        self, d_in: int, d_out: int, hidden: int, layers: int, d_step: int,
        activation: Activation = Activation.relu, d_skip: int = 0,
    ):
        super().__init__()
        self.inp = nn.Linear(d_in, hidden, bias=False)
        self.step = nn.Linear(d_step, hidden)
        self.body = nn.Sequential(*hidden_blocks(hidden, d_out, layers, activation))
        self.d_skip = d_skip
        if d_skip:
            # Zero at the start, and no random draw: the other layers' initial weights are
            # those of a network without the skip.
            self.skip = nn.Parameter(torch.zeros(d_out, d_skip))  # S: (d_out, d_skip)

    def forward(self, v: Tensor, step_bias: Tensor) -> Tensor:
        """v: (..., d_in); step_bias: (hidden,) for one step, or broadcastable to (..., hidden)."""
        if step_bias.dim() == 1:  # one step: the bias add fuses into the matmul (addmm)
            out = self.body(F.linear(v, self.inp.weight, step_bias))
        else:
            out = self.body(self.inp(v) + step_bias)
        if self.d_skip:
            out = out + F.linear(v[..., : self.d_skip], self.skip)  # + S v_raw: (..., d_out)
        return out


class Alternator(nn.Module):
    """SPEC section 1: equations (1) and (2) above, trained as docs/model.md says."""

    def __init__(self, data_dim: int, config: DistributionSettings):
        super().__init__()
        self.config = config
        self.data_dim = data_dim
        T, dz = config.steps, config.latent_dim
        d_step = 2 * STEP_FREQUENCIES
        k_z = config.opn_fourier_features
        act = config.activation
        skip = config.linear_skip
        self.opn = StepMLP(dz + 2 * k_z, data_dim, config.hidden, config.layers, d_step, act,
                           d_skip=dz if skip else 0)  # f: the skip reads z
        k = config.fourier_features
        self.stn = StepMLP(data_dim + 2 * k, dz, config.hidden, config.layers, d_step, act,
                           d_skip=data_dim if skip else 0)  # g: the skip reads x
        # Fixed random frequencies (buffers, saved with the weights): sharp structure in x
        # (thin spiral arms, square edges) is easier for the STN as sin/cos of x B, and
        # folding a Gaussian latent onto it is easier for the OPN as sin/cos of z C.
        # Buffers are made on the CPU whatever the default device: the checkpoint's shape
        # check builds the model under `torch.device("meta")`, where these ops would run
        # through torch's reference implementations, whose first use imports torch._dynamo
        # (a second or more at every start of `sample`).
        freq = torch.randn(data_dim, k, generator=torch.Generator().manual_seed(0), device=CPU)
        self.register_buffer("fourier", freq * config.fourier_scale)  # B: (Dx, k)
        freq_z = torch.randn(dz, k_z, generator=torch.Generator().manual_seed(1), device=CPU)
        self.register_buffer("opn_fourier", freq_z * config.opn_fourier_scale)  # C: (Dz, k_z)

        sigma_x = noise_schedule(config.noise_max, config.noise_min, T, config.schedule_rho)
        sigma_z = config.sigma_z_scale * sigma_x
        alpha = torch.full((T,), config.alpha, dtype=torch.float64, device=CPU)
        position = torch.arange(T, dtype=torch.float64, device=CPU) / max(T - 1, 1)  # (T,)
        k = torch.arange(1, STEP_FREQUENCIES + 1, dtype=torch.float64, device=CPU)
        angles = math.pi * position[:, None] * k[None, :]  # (T, F/2)
        features = torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)  # (T, F)
        self.register_buffer("sigma_x", sigma_x.float())  # (T,)
        self.register_buffer("sigma_z", sigma_z.float())  # (T,)
        self.register_buffer("alpha", alpha.float())  # (T,)
        self.register_buffer("step_features", features.float())  # (T, F)
        # Coefficients of (1) and (2), precomputed once.
        self.register_buffer("x_keep", torch.sqrt(1 - sigma_x**2).float())  # (T,)
        self.register_buffer("z_in", torch.sqrt(alpha).float())  # (T,)
        # clamp: at the allowed boundary alpha + sigma_z^2 = 1 rounding may dip below 0.
        keep = (1 - alpha - sigma_z**2).clamp_min(0)
        self.register_buffer("z_keep", torch.sqrt(keep).float())  # (T,)

    def extra_observe_flops(self) -> int:
        """FLOPs per point of an x-update beyond the OPN's layers and projection."""
        return 0

    def extra_transition_flops(self) -> int:
        """FLOPs per point of a z-update beyond the STN's layers and projection."""
        return 0

    @property
    def steps(self) -> int:
        return self.config.steps

    def stn_input(self, x: Tensor) -> Tensor:
        """x (..., Dx), or [x, sin(x B), cos(x B)] (..., Dx + 2k) with Fourier features."""
        return _with_fourier(x, self.fourier)

    def opn_input(self, z: Tensor) -> Tensor:
        """z (..., Dz), or [z, sin(z C), cos(z C)] (..., Dz + 2k_z) with Fourier features."""
        return _with_fourier(z, self.opn_fourier)

    def step_biases(self) -> tuple[Tensor, Tensor]:
        """Per-step first-layer biases of OPN and STN: (T, H) each."""
        return self.opn.step(self.step_features), self.stn.step(self.step_features)

    # ---- sampling (SPEC section 1) ----------------------------------------------------

    def sample(
        self,
        n: int,
        generator: torch.Generator | None = None,
        all_steps: bool = False,
    ) -> Tensor:
        """Run the generative cycle for `n` points in normalised units.

        Returns x_T as (n, Dx), or every x_t as (T, n, Dx) with `all_steps`.
        """
        device = self.sigma_x.device
        T, dz, dx = self.steps, self.config.latent_dim, self.data_dim
        opn_bias, stn_bias = self.step_biases()  # (T, H)
        z = torch.randn(n, dz, generator=generator, device=device)  # z_0: (n, Dz)
        frames = torch.empty(T, n, dx, device=device) if all_steps else None
        x = z.new_empty(0)
        for t in range(T):
            eps_x = torch.randn(n, dx, generator=generator, device=device)  # (n, Dx)
            x = self.observe(z, t, opn_bias[t], eps_x)  # x_t: (n, Dx)
            if frames is not None:
                frames[t] = x
            if t == T - 1:
                break  # z_T is not needed for the output
            eps_z = torch.randn(n, dz, generator=generator, device=device)  # (n, Dz)
            z = self.transition(x, z, t, stn_bias[t], eps_z)  # z_t: (n, Dz)
        return frames if frames is not None else x

    def observe(self, z: Tensor, t: int, opn_bias: Tensor, eps_x: Tensor) -> Tensor:
        """x_t from z_{t-1}: (1), x_t = sqrt(1 - sigma_x^2) f(z_{t-1}, t) + sigma_x eps_x."""
        f = self.opn(self.opn_input(z), opn_bias)  # f(z_{t-1}, t): (n, Dx)
        return self.x_keep[t] * f + self.sigma_x[t] * eps_x

    def transition(self, x: Tensor, z: Tensor, t: int, stn_bias: Tensor, eps_z: Tensor) -> Tensor:
        """z_t from x_t and z_{t-1}: (2)."""
        g = self.stn(self.stn_input(x), stn_bias)  # g(x_t, t): (n, Dz)
        return self.z_in[t] * g + self.z_keep[t] * z + self.sigma_z[t] * eps_z

    # ---- training (teacher forcing, docs/model.md) -------------------------------------

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """The training loss (so that DistributedDataParallel sees a forward call)."""
        return self.loss(x, generator)

    def latent_path(self, z_hat: Tensor, noise: Tensor, residual=None) -> tuple[Tensor, Tensor]:
        """The teacher-forced latent path (2) without its fresh noise, from z_hat: (T-1, B, Dz)
        the STN's outputs at steps 1..T-1 and noise: (T, m, B, Dz) the latent draws:

            zbar_0 = 0, s_0 = 1;  z_{t-1} = zbar_{t-1} + s_{t-1} noise[t, 0] (the first draw)
            zbar_t = sqrt(alpha) z_hat_t + sqrt(1 - alpha - sigma_z^2) r_t,  s_t = sigma_z[t]

        with r_t = z_{t-1}, or residual(t, z_{t-1}) where the residual path is a network
        (Alternator++'s eps_nu). Returns zbar_{t-1} for t = 1..T, (T, B, Dz), and s_{t-1}, (T,).
        """
        B, dz, device = noise.shape[2], noise.shape[3], noise.device
        zbar = torch.zeros(B, dz, device=device)  # zbar_0 = 0 and s_0 = 1: z_0 ~ N(0, I)
        z_bars = [zbar]
        scale = torch.ones((), device=device)
        # unbind, not z_hat[t]: the backward of T selects writes T zero-filled (T, B, Dz)
        # gradients and adds them up; unbind's backward is one stack.
        steps = zip(z_hat.unbind(0), noise[:-1, 0].unbind(0), strict=True)  # z_t, t = 1..T-1
        for t, (z_hat_t, noise_t) in enumerate(steps):
            z_prev = zbar + scale * noise_t  # the path follows the first draw, (B, Dz)
            r = z_prev if residual is None else residual(t, z_prev)  # (B, Dz)
            zbar = self.z_in[t] * z_hat_t + self.z_keep[t] * r
            scale = self.sigma_z[t]
            z_bars.append(zbar)
        scales = torch.cat([torch.ones(1, device=device), self.sigma_z[:-1]])  # (T,)
        return torch.stack(z_bars), scales

    def loss(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Teacher-forced training loss for a batch of data x: (B, Dx), normalised units.

        The STN reads the noised data x~_t = sqrt(1 - sigma_x^2) x + sigma_x eps at every
        step, which gives the latent path z_{0:T}; the OPN is scored on how well f(z_{t-1}, t)
        matches x. With the energy objective the OPN is scored as a sampler of p(x | zbar):
        `draws` latents z_{t-1} = zbar_{t-1} + s_{t-1} eps_j that differ only in their fresh
        noise are decoded, and the energy score

            ES = mean_j |f_j - x| - 1/(2 m (m-1)) sum_{j != k} |f_j - f_k|

        (a proper scoring rule) is averaged over steps and batch.
        """
        cfg = self.config
        T, B, dz = self.steps, x.shape[0], cfg.latent_dim
        device = x.device
        opn_bias, stn_bias = self.step_biases()  # (T, H)

        # STN on noised data at steps 1..T-1, in one call: the OPN reads z_{t-1} up to
        # t = T, so z_T is never used (eps keeps step T's draw: same random stream).
        eps = torch.randn(T, B, self.data_dim, generator=generator, device=device)
        x_noised = self.x_keep[:, None, None] * x + self.sigma_x[:, None, None] * eps  # (T, B, Dx)
        z_hat = self.stn(self.stn_input(x_noised[:-1]), stn_bias[:-1, None, :])  # (T-1, B, Dz)

        # Latent path (2): zbar_t is z_t without its fresh noise; s_t the noise scale.
        m = cfg.draws if cfg.objective is Objective.energy else 1
        noise = torch.randn(T, m, B, dz, generator=generator, device=device)  # (T, m, B, Dz)
        zbar_prev, scales = self.latent_path(z_hat, noise)  # (T, B, Dz), (T,)
        k = cfg.scored_steps
        if 0 < k < T:
            # Score each point's OPN at k random steps only: an unbiased estimate of the
            # mean over steps at a fraction of the cost (the STN path still runs all T).
            t_idx = torch.randint(0, T, (k, B), generator=generator, device=device)  # (k, B)
            b_idx = torch.arange(B, device=device).expand(k, B)  # (k, B)
            picked = noise[t_idx, :, b_idx].permute(0, 2, 1, 3)  # (k, m, B, Dz)
            z_prev = zbar_prev[t_idx, b_idx][:, None] + scales[t_idx][:, None, :, None] * picked
            x_pred = self.opn(self.opn_input(z_prev), opn_bias[t_idx][:, None])  # (k,m,B,Dx)
        else:
            z_prev = zbar_prev[:, None] + scales[:, None, None, None] * noise  # (T, m, B, Dz)
            x_pred = self.opn(self.opn_input(z_prev), opn_bias[:, None, None])  # (T,m,B,Dx)

        if cfg.objective is Objective.mse:
            return ((x_pred[:, 0] - x) ** 2).sum(-1).mean()
        return energy_score(x_pred, x)


def noise_schedule(sigma_max: float, sigma_min: float, T: int, rho: float) -> Tensor:
    """sigma_x[t] = (sigma_max^(1/rho) + (t-1)/(T-1) (sigma_min^(1/rho) - sigma_max^(1/rho)))^rho

    for t = 1..T (Karras et al. 2022, eq. 5): rho = 1 is linear; a larger rho puts more
    steps at low noise. One step is sigma_min alone. Float64, (T,).
    """
    if T == 1:
        return torch.tensor([sigma_min], dtype=torch.float64, device=CPU)
    ramp = torch.linspace(0, 1, T, dtype=torch.float64, device=CPU)  # (T,)
    high, low = sigma_max ** (1 / rho), sigma_min ** (1 / rho)
    return (high + ramp * (low - high)) ** rho  # (T,)


def energy_terms(draws: Tensor, target: Tensor, axis: int) -> tuple[Tensor, Tensor]:
    """The two terms of the energy score ES = mean_j |x_j - x| - 1/(2 m (m-1)) sum_{j != k}
    |x_j - x_k| of m draws along `axis` of `draws` against `target` (broadcast over the
    draws): (fit, spread), each with the draws' axis reduced."""
    m = draws.shape[axis]
    fit = _norm(draws - target).mean(dim=axis)
    # Each unordered pair once: |x_j - x_k| = |x_k - x_j| and the diagonal is 0, so the
    # sum over j != k is twice the sum over j < k (a quarter of the work at m = 2).
    # unbind, not index_select: its backward is one stack, where an index's is a scatter
    # into a zero-filled copy of every draw.
    each = draws.unbind(axis)
    pairs = torch.stack([each[j] - each[k] for j in range(m) for k in range(j + 1, m)], axis)
    spread = _norm(pairs).sum(dim=axis) / (m * (m - 1))  # pairs' axis reduced
    return fit, spread


def energy_score(pred: Tensor, target: Tensor) -> Tensor:
    """Mean energy score of m draws pred: (T, m, B, D) against target: (B, D)."""
    fit, spread = energy_terms(pred, target, axis=1)  # (T, B) each
    return (fit - spread).mean()


def _with_fourier(v: Tensor, freq: Tensor) -> Tensor:
    """[v, sin(v F), cos(v F)] for frequencies F: (D, k); v itself when k = 0."""
    if freq.shape[1] == 0:
        return v
    proj = v @ freq  # (..., k)
    return torch.cat([v, torch.sin(proj), torch.cos(proj)], dim=-1)


def _norm(v: Tensor) -> Tensor:
    # Smooth at 0 so the gradient of |f_j - f_j| on the diagonal stays finite.
    return torch.sqrt((v * v).sum(-1) + 1e-8)


def parameter_counts(model: Alternator) -> dict[str, int]:
    opn = sum(p.numel() for p in model.opn.parameters())
    stn = sum(p.numel() for p in model.stn.parameters())
    total = sum(p.numel() for p in model.parameters())
    return {"opn": opn, "stn": stn, "noise_models": total - opn - stn, "total": total}


def step_mlp_flops(net: StepMLP) -> int:
    """Multiply-adds x 2 of one call of `net` on one row (its matmuls and skip)."""
    layers = [net.inp, *[m for m in net.body if isinstance(m, nn.Linear)]]
    skip = net.skip.numel() if net.d_skip else 0
    return 2 * (sum(layer.in_features * layer.out_features for layer in layers) + skip)


def flops_per_point(model: Alternator) -> int:
    """Multiply-adds x 2 of one sampled point over the T steps (matmuls only)."""
    stn_step = (step_mlp_flops(model.stn) + 2 * model.fourier.numel()  # with x B
                + model.extra_transition_flops())
    opn_step = (step_mlp_flops(model.opn) + 2 * model.opn_fourier.numel()  # and z C
                + model.extra_observe_flops())
    # The last step skips the STN.
    return opn_step * model.steps + stn_step * (model.steps - 1)
