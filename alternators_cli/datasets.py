"""The built-in data sets: the 2-D distributions (SPEC section 4) and Lorenz-63 seen
through noisy projections (SPEC section 2). Pure functions of a seed; they never print."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from alternators_cli.errors import BadInput


def _rng(seed: int | None) -> np.random.Generator:
    return np.random.default_rng(seed)


def eight_gaussians(n: int, rng: np.random.Generator) -> np.ndarray:
    """8 centres at radius 4 on angles k*pi/4, each + N(0, 0.5^2 I), all divided by 1.414."""
    angles = rng.integers(0, 8, size=n) * (np.pi / 4)
    centres = 4.0 * np.stack([np.cos(angles), np.sin(angles)], axis=1)  # (n, 2)
    return (centres + 0.5 * rng.standard_normal((n, 2))) / 1.414


def pinwheel(n: int, rng: np.random.Generator) -> np.ndarray:
    """5 arms; radial r ~ N(1, 0.3^2), tangential u ~ N(0, 0.1^2), angle
    a = arm*2pi/5 + 0.25*exp(r); the point is the row vector (r, u) times
    [[cos a, -sin a], [sin a, cos a]] (the authors' / FFJORD's generator: its arms curl the
    opposite way to a counter-clockwise rotation of (r, u)); scaled by 2."""
    arms = 5
    radial = 1.0 + 0.3 * rng.standard_normal(n)
    tangential = 0.1 * rng.standard_normal(n)
    arm = rng.integers(0, arms, size=n)
    angle = arm * (2 * np.pi / arms) + 0.25 * np.exp(radial)
    cos, sin = np.cos(angle), np.sin(angle)
    x = radial * cos + tangential * sin
    y = -radial * sin + tangential * cos
    return 2.0 * np.stack([x, y], axis=1)


def two_spirals(n: int, rng: np.random.Generator) -> np.ndarray:
    """n = sqrt(U) 540 2pi/360; arm (-cos(n) n + U/2, sin(n) n + U/2) and its negation;
    divided by 3; plus N(0, 0.1^2)."""
    half = n // 2
    t = np.sqrt(rng.uniform(size=(half, 1))) * 540 * (2 * np.pi) / 360
    d1x = -np.cos(t) * t + rng.uniform(size=(half, 1)) * 0.5
    d1y = np.sin(t) * t + rng.uniform(size=(half, 1)) * 0.5
    arm = np.hstack([d1x, d1y])
    x = np.vstack([arm, -arm]) / 3
    x = x + 0.1 * rng.standard_normal(x.shape)
    if len(x) < n:  # odd n: one more point from the first arm
        x = np.vstack([x, two_spirals(2, rng)[:1]])
    return x[rng.permutation(n)]


def checkerboard(n: int, rng: np.random.Generator) -> np.ndarray:
    """x1 ~ U(-2, 2); x2 = U(0,1) - 2B + (floor(x1) mod 2), B ~ Bernoulli(.5); both scaled by 2."""
    x1 = rng.uniform(size=n) * 4 - 2
    x2 = rng.uniform(size=n) - rng.integers(0, 2, size=n) * 2.0
    x2 = x2 + np.floor(x1) % 2
    return np.stack([x1, x2], axis=1) * 2


def moons(n: int, rng: np.random.Generator) -> np.ndarray:
    """Two interleaving half circles as in FFJORD's toy data: scikit-learn's
    make_moons(noise=0.1) (outer (cos t, sin t), inner (1 - cos t, 0.5 - sin t), t in
    [0, pi], each point on either with probability 1/2), then `* 2 + (-1, -0.2)`."""
    upper = rng.integers(0, 2, size=n).astype(bool)
    theta = rng.uniform(0, np.pi, size=n)
    x = np.where(upper, np.cos(theta), 1 - np.cos(theta))
    y = np.where(upper, np.sin(theta), 0.5 - np.sin(theta))
    pts = np.stack([x, y], axis=1) + 0.1 * rng.standard_normal((n, 2))
    return 2.0 * pts + np.array([-1.0, -0.2])


def circles(n: int, rng: np.random.Generator) -> np.ndarray:
    """Two concentric circles as in FFJORD's toy data: scikit-learn's
    make_circles(factor=0.5, noise=0.08) (radii 1 and 0.5), scaled by 3."""
    outer = rng.integers(0, 2, size=n).astype(bool)
    radius = np.where(outer, 1.0, 0.5)
    theta = rng.uniform(0, 2 * np.pi, size=n)
    pts = radius[:, None] * np.stack([np.cos(theta), np.sin(theta)], axis=1)
    return 3.0 * (pts + 0.08 * rng.standard_normal((n, 2)))


def rings(n: int, rng: np.random.Generator) -> np.ndarray:
    """FFJORD's rings: four concentric rings of radii 0.25, 0.5, 0.75 and 1 scaled by 3
    (0.75 to 3), a quarter of the points on each, plus N(0, 0.08^2)."""
    radius = rng.integers(1, 5, size=n) * 0.75
    theta = rng.uniform(0, 2 * np.pi, size=n)
    pts = radius[:, None] * np.stack([np.cos(theta), np.sin(theta)], axis=1)
    return pts + 0.08 * rng.standard_normal((n, 2))


def swissroll(n: int, rng: np.random.Generator) -> np.ndarray:
    """The 2-D Swiss roll of FFJORD's toy data, make_swiss_roll(noise=1.0)[0][:, [0, 2]] / 5:
    t ~ 1.5 pi (1 + 2U), ((t cos t, t sin t) + N(0, I)) / 5."""
    t = 1.5 * np.pi * (1 + 2 * rng.uniform(size=n))
    pts = np.stack([t * np.cos(t), t * np.sin(t)], axis=1)
    pts = pts + rng.standard_normal((n, 2))
    return pts / 5.0


# ---- Lorenz-63 (SPEC section 2, "Sequences") ------------------------------------------

LORENZ_CHANNELS = 20
LORENZ_DT = 0.02  # time between observations
LORENZ_SUBSTEPS = 10  # RK4 steps per observation interval
LORENZ_OBS_NOISE = 0.1  # observation noise, in units of the standardised state
LORENZ_BURN_IN = 500  # observation intervals discarded to reach the attractor
# Fixed standardisation and projection: every draw shares them, so a model trained on one
# draw applies to another, and the truth latent is comparable across draws.
LORENZ_CENTER = np.array([0.0, 0.0, 23.5])
LORENZ_SCALE = np.array([7.9, 9.0, 8.5])
LORENZ_PROJECTION_SEED = 20261125


def lorenz_projection(channels: int = LORENZ_CHANNELS) -> np.ndarray:
    """The fixed random projection (channels, 3) from the standardised state."""
    rng = np.random.default_rng(LORENZ_PROJECTION_SEED)
    return rng.standard_normal((channels, 3)) / math.sqrt(3)


def lorenz_series(
    n_series: int,
    length: int,
    rng: np.random.Generator,
    channels: int = LORENZ_CHANNELS,
    process_noise: float = 0.0,
    obs_noise: float = LORENZ_OBS_NOISE,
) -> tuple[np.ndarray, np.ndarray]:
    """Independent Lorenz-63 trajectories (sigma=10, rho=28, beta=8/3), integrated with RK4
    at LORENZ_DT / LORENZ_SUBSTEPS, observed every LORENZ_DT as
    `x_t = P (s_t - center) / scale + obs_noise * eps`.

    Returns observations (n_series, length, channels) float32 and states (n_series,
    length, 3) float64, the ground-truth latent. `process_noise` adds
    `process_noise * sqrt(h) * eps` to the state at every integration step.
    """
    h = LORENZ_DT / LORENZ_SUBSTEPS

    def velocity(s: np.ndarray) -> np.ndarray:  # (N, 3) -> (N, 3)
        x, y, z = s[:, 0], s[:, 1], s[:, 2]
        return np.stack([10.0 * (y - x), x * (28.0 - z) - y, x * y - (8.0 / 3.0) * z], axis=1)

    state = np.array([1.0, 1.0, 20.0]) + 5.0 * rng.standard_normal((n_series, 3))  # (N, 3)
    states = np.empty((n_series, length, 3))
    for i in range(-LORENZ_BURN_IN, length):
        for _ in range(LORENZ_SUBSTEPS):
            k1 = velocity(state)
            k2 = velocity(state + h / 2 * k1)
            k3 = velocity(state + h / 2 * k2)
            k4 = velocity(state + h * k3)
            state = state + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
            if process_noise:
                state = state + process_noise * math.sqrt(h) * rng.standard_normal(state.shape)
        if i >= 0:
            states[:, i] = state
    clean = ((states - LORENZ_CENTER) / LORENZ_SCALE) @ lorenz_projection(channels).T
    obs = clean + obs_noise * rng.standard_normal(clean.shape)  # (N, T, channels)
    return obs.astype(np.float32), states


def lorenz(n: int, rng: np.random.Generator) -> np.ndarray:
    """One trajectory of `n` time steps: (n, LORENZ_CHANNELS)."""
    return lorenz_series(1, n, rng)[0][0]


@dataclass(frozen=True)
class BuiltinSet:
    name: str
    kind: str
    dim: int
    description: str
    draw: Callable[[int, np.random.Generator], np.ndarray] = field(repr=False)
    # Defaults of its own, for the settings flags, environment and --config leave unset.
    settings: dict[str, Any] = field(default_factory=dict)


BUILTINS: dict[str, BuiltinSet] = {
    s.name: s
    for s in [
        BuiltinSet("pinwheel", "distribution", 2, "5-arm pinwheel", pinwheel),
        BuiltinSet("checkerboard", "distribution", 2, "8-square checkerboard", checkerboard),
        BuiltinSet("2spirals", "distribution", 2, "two interleaved spirals", two_spirals),
        BuiltinSet("8gaussians", "distribution", 2, "8 Gaussians on a circle", eight_gaussians),
        BuiltinSet("moons", "distribution", 2, "two interleaving half circles", moons),
        BuiltinSet("circles", "distribution", 2, "two concentric circles", circles),
        BuiltinSet("rings", "distribution", 2, "four concentric rings", rings),
        BuiltinSet("swissroll", "distribution", 2, "2-D Swiss roll", swissroll),
        BuiltinSet("lorenz", "sequence", LORENZ_CHANNELS,
                   "Lorenz-63 seen through 20 noisy projections (rows = time)", lorenz,
                   # A stationary attractor: levels recover its state and fill its gaps
                   # better than changes (docs/ablations.md, "Increments").
                   {"increments": False}),
    ]
}
REQUIRED = ("pinwheel", "checkerboard", "2spirals", "8gaussians")


def builtin_names() -> list[str]:
    return list(BUILTINS)


def draw_builtin(name: str, n: int, seed: int | None) -> np.ndarray:
    """`n` points of a built-in set as float32 `(n, D)`; same seed, same points."""
    if name not in BUILTINS:
        raise BadInput(unknown_dataset_message(name))
    if n < 1:
        raise BadInput(f"number of points must be at least 1 (got {n})")
    return BUILTINS[name].draw(n, _rng(seed)).astype(np.float32)


def unknown_dataset_message(name: str) -> str:
    return (
        f"unknown dataset {name!r}: use one of {', '.join(BUILTINS)}, "
        "a .csv or .npy file, or - for CSV on standard input"
    )
