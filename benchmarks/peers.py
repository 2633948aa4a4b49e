"""The peers a user would try instead of an alternator, at the same number of sampling
steps: a DDPM (epsilon prediction, the `diffusers` scheduler) and conditional flow matching
(the `torchcfm` matcher, Euler sampler). Optional: `pip install -e '.[bench]'`.

Both use one MLP of about the alternator's size, the same normalisation, batch size,
optimiser and number of optimiser steps.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class TimeMLP(nn.Module):
    """v(x, t): an MLP on [x, Fourier features of t in [0, 1]]."""

    def __init__(self, dim: int, hidden: int, layers: int, frequencies: int = 8):
        super().__init__()
        self.register_buffer("k", torch.arange(1, frequencies + 1, dtype=torch.float32))
        blocks: list[nn.Module] = [nn.Linear(dim + 2 * frequencies, hidden)]
        for _ in range(layers - 1):
            blocks += [nn.SiLU(), nn.Linear(hidden, hidden)]
        blocks += [nn.SiLU(), nn.Linear(hidden, dim)]
        self.net = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        angles = math.pi * t.reshape(-1, 1) * self.k  # (B, F)
        return self.net(torch.cat([x, torch.sin(angles), torch.cos(angles)], dim=1))


def hidden_for_params(dim: int, target: int, layers: int) -> int:
    """The hidden width whose TimeMLP has about `target` parameters."""
    best = 8
    for h in range(8, 1025, 4):
        params = (dim + 16) * h + h + (layers - 1) * (h * h + h) + h * dim + dim
        if params <= target:
            best = h
    return best


def train_peer(kind: str, batches, dim: int, hidden: int, layers: int, lr: float,
               total_steps: int, seed: int):
    """Train a DDPM ("ddpm") or flow-matching ("cfm") MLP on normalised batches."""
    torch.manual_seed(seed)
    net = TimeMLP(dim, hidden, layers)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, total_steps, eta_min=lr * 0.05)
    if kind == "ddpm":
        from diffusers import DDPMScheduler

        scheduler = DDPMScheduler(
            num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", clip_sample=False
        )
    else:
        from torchcfm.conditional_flow_matching import ConditionalFlowMatcher

        matcher = ConditionalFlowMatcher(sigma=0.0)
    steps = 0
    while steps < total_steps:
        for x1 in batches():
            if kind == "ddpm":
                noise = torch.randn_like(x1)
                t = torch.randint(0, 1000, (len(x1),))
                xt = scheduler.add_noise(x1, noise, t)
                loss = ((net(xt, t.float() / 1000) - noise) ** 2).mean()
            else:
                x0 = torch.randn_like(x1)
                t, xt, ut = matcher.sample_location_and_conditional_flow(x0, x1)
                loss = ((net(xt, t) - ut) ** 2).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            steps += 1
            if steps >= total_steps:
                break
    net.eval()
    return net


@torch.inference_mode()
def sample_peer(kind: str, net: TimeMLP, n: int, dim: int, steps: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, dim, generator=g)
    if kind == "ddpm":
        from diffusers import DDPMScheduler

        scheduler = DDPMScheduler(
            num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", clip_sample=False
        )
        scheduler.set_timesteps(steps)
        for t in scheduler.timesteps:
            eps = net(x, torch.full((n,), float(t) / 1000))
            x = scheduler.step(eps, t, x, generator=g).prev_sample
        return x
    dt = 1.0 / steps
    for i in range(steps):  # Euler from t = 0 (noise) to t = 1 (data)
        x = x + dt * net(x, torch.full((n,), i * dt))
    return x
