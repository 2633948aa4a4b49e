"""The built-in 2-D sets against the formulas that define them, not against our own earlier
output: SPEC section 4 for pinwheel, 8gaussians, 2spirals and checkerboard; for moons,
circles, swissroll and rings the definitions of FFJORD's lib/toy_data.py, which the
authors' code takes its sets from (scikit-learn's make_moons, make_circles and
make_swiss_roll at FFJORD's parameters, and FFJORD's own rings). Each reference is written
here from the formula and drawn from its own generator (scikit-learn is not imported: it
is only a benchmark extra)."""

from __future__ import annotations

import numpy as np
import pytest

from alternators_cli.datasets import draw_builtin

N_OURS = 40_000
N_REF = 200_000
GRID = 24  # bins per axis of the histograms compared


def rows_times(rows: np.ndarray, matrices: np.ndarray) -> np.ndarray:
    """Each row vector (n, 2) times its 2x2 matrix (n, 2, 2): the (n, 2) products."""
    return np.einsum("ni,nij->nj", rows, matrices)


def ref_pinwheel(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray,
                                                                np.ndarray]:
    """SPEC 4: the row vector (r, u) times [[cos a, -sin a], [sin a, cos a]], scaled by 2.
    Returns the points and each point's arm and radial r."""
    r = rng.normal(1.0, 0.3, n)
    u = rng.normal(0.0, 0.1, n)
    arm = rng.integers(0, 5, n)
    a = arm * 2 * np.pi / 5 + 0.25 * np.exp(r)
    matrices = np.empty((n, 2, 2))
    matrices[:, 0, 0], matrices[:, 0, 1] = np.cos(a), -np.sin(a)
    matrices[:, 1, 0], matrices[:, 1, 1] = np.sin(a), np.cos(a)
    return 2 * rows_times(np.stack([r, u], axis=1), matrices), arm, r


def ref_8gaussians(n: int, rng: np.random.Generator) -> np.ndarray:
    k = rng.integers(0, 8, n)
    centres = 4 * np.stack([np.cos(k * np.pi / 4), np.sin(k * np.pi / 4)], axis=1)
    return (centres + rng.normal(0, 0.5, (n, 2))) / 1.414


def ref_2spirals(n: int, rng: np.random.Generator) -> np.ndarray:
    u = rng.uniform(size=n)
    t = np.sqrt(u) * 540 * 2 * np.pi / 360
    arm = np.stack([-np.cos(t) * t + 0.5 * rng.uniform(size=n),
                    np.sin(t) * t + 0.5 * rng.uniform(size=n)], axis=1)
    sign = np.where(rng.uniform(size=n) < 0.5, 1.0, -1.0)[:, None]  # the arm or its negation
    return sign * arm / 3 + rng.normal(0, 0.1, (n, 2))


def ref_checkerboard(n: int, rng: np.random.Generator) -> np.ndarray:
    x1 = rng.uniform(-2, 2, n)
    x2 = rng.uniform(0, 1, n) - 2 * rng.integers(0, 2, n) + np.floor(x1) % 2
    return 2 * np.stack([x1, x2], axis=1)


def ref_moons(n: int, rng: np.random.Generator) -> np.ndarray:
    """make_moons(noise=0.1) (outer (cos t, sin t), inner (1 - cos t, 1 - sin t - 0.5),
    t in [0, pi], half of the points each), then FFJORD's `* 2 + [-1, -0.2]`."""
    t = rng.uniform(0, np.pi, n)
    outer = rng.uniform(size=n) < 0.5
    x = np.where(outer, np.cos(t), 1 - np.cos(t))
    y = np.where(outer, np.sin(t), 1 - np.sin(t) - 0.5)
    pts = np.stack([x, y], axis=1) + rng.normal(0, 0.1, (n, 2))
    return pts * 2 + np.array([-1, -0.2])


def ref_circles(n: int, rng: np.random.Generator) -> np.ndarray:
    """make_circles(factor=0.5, noise=0.08) (radius 1 and 0.5, half each), times 3."""
    t = rng.uniform(0, 2 * np.pi, n)
    radius = np.where(rng.uniform(size=n) < 0.5, 1.0, 0.5)[:, None]
    pts = radius * np.stack([np.cos(t), np.sin(t)], axis=1) + rng.normal(0, 0.08, (n, 2))
    return 3 * pts


def ref_swissroll(n: int, rng: np.random.Generator) -> np.ndarray:
    """make_swiss_roll(noise=1.0)[0][:, [0, 2]] / 5: t = 1.5 pi (1 + 2U), the columns
    t cos t and t sin t, each plus N(0, 1), divided by 5."""
    t = 1.5 * np.pi * (1 + 2 * rng.uniform(size=n))
    pts = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) + rng.normal(0, 1.0, (n, 2))
    return pts / 5


def ref_rings(n: int, rng: np.random.Generator) -> np.ndarray:
    """FFJORD's rings: radii 0.25, 0.5, 0.75, 1 (a quarter of the points each, angles
    spread evenly round each ring), times 3, plus N(0, 0.08^2)."""
    radius = 3 * 0.25 * rng.integers(1, 5, n)[:, None]
    t = rng.uniform(0, 2 * np.pi, n)
    return radius * np.stack([np.cos(t), np.sin(t)], axis=1) + rng.normal(0, 0.08, (n, 2))


REFERENCES = {
    "pinwheel": lambda n, rng: ref_pinwheel(n, rng)[0],
    "8gaussians": ref_8gaussians,
    "2spirals": ref_2spirals,
    "checkerboard": ref_checkerboard,
    "moons": ref_moons,
    "circles": ref_circles,
    "swissroll": ref_swissroll,
    "rings": ref_rings,
}


def histogram_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Total variation distance between the two sets' 2-D histograms on a common grid."""
    lo = np.minimum(a.min(axis=0), b.min(axis=0))
    hi = np.maximum(a.max(axis=0), b.max(axis=0))
    edges = [np.linspace(lo[i], hi[i], GRID + 1) for i in range(2)]
    ha = np.histogram2d(a[:, 0], a[:, 1], bins=edges)[0] / len(a)
    hb = np.histogram2d(b[:, 0], b[:, 1], bins=edges)[0] / len(b)
    return 0.5 * float(np.abs(ha - hb).sum())


@pytest.mark.parametrize("name", list(REFERENCES))
def test_builtin_set_follows_its_formula(name):
    ours = draw_builtin(name, N_OURS, seed=3).astype(np.float64)
    ref = REFERENCES[name](N_REF, np.random.default_rng(20261202))
    # First and second moments, within a few standard errors of the two draws.
    scale = ref.std(axis=0)
    se = scale * np.sqrt(1 / N_OURS + 1 / N_REF)
    np.testing.assert_allclose(ours.mean(axis=0), ref.mean(axis=0), atol=5 * float(se.max()))
    np.testing.assert_allclose(np.cov(ours.T), np.cov(ref.T), rtol=0.04,
                               atol=0.02 * float(scale.max() ** 2))
    # The whole shape: the noise of two draws this size is about 0.03.
    assert histogram_distance(ours, ref) < 0.06, name


def test_pinwheel_moments_are_the_formulas():
    """Mean 0; E[x^2] = E[y^2] = 4 (E[r^2] + E[u^2]) / 2 = 2 (1 + 0.09 + 0.01) = 2.2;
    E[xy] = 0 (the five arms average the cross terms away)."""
    x = draw_builtin("pinwheel", 200_000, seed=1).astype(np.float64)
    np.testing.assert_allclose(x.mean(axis=0), 0, atol=0.015)
    np.testing.assert_allclose(np.cov(x.T), [[2.2, 0], [0, 2.2]], atol=0.03)


def test_pinwheel_handedness():
    """The arms curl the way SPEC 4's formula turns them, not the mirror image.

    Arm 0 at radial r (u = 0) is (r cos a, -r sin a) with a = 0.25 exp(r): at a large
    radius, r in [1.25, 1.4] (a ~ 0.9 rad), it lies at polar angle -a, below the x axis.
    The mirror image (a counter-clockwise rotation of (r, u)) puts it at +a, above."""
    # The reference formula itself, arm by arm: arm 0 at large radius has y < 0.
    ref, arm, r = ref_pinwheel(20_000, np.random.default_rng(7))
    assert (ref[(arm == 0) & (r > 1.25), 1] < 0).all()

    x = draw_builtin("pinwheel", 20_000, seed=0).astype(np.float64) / 2
    rho = np.linalg.norm(x, axis=1)
    theta = np.arctan2(x[:, 1], x[:, 0])
    band = (rho > 1.25) & (rho < 1.4)
    assert band.sum() > 1000
    a = 0.25 * np.exp(rho[band])

    def near(angle: np.ndarray) -> np.ndarray:  # within 0.25 rad of the given polar angle
        return np.abs(np.angle(np.exp(1j * (theta[band] - angle)))) < 0.25

    arm0, mirror_arm0 = near(-a), near(+a)
    assert arm0.mean() > 0.15  # about a fifth of the band: one arm of five
    assert (x[band][arm0, 1] < 0).all()  # below the x axis, as the formula says
    assert mirror_arm0.mean() < 0.01  # nothing where the mirror image's arm 0 would be
    # Every arm k sits at polar angle -(a + 2 pi k / 5): all the band's points are near one.
    on_arms = np.zeros(band.sum(), dtype=bool)
    mirrored = np.zeros(band.sum(), dtype=bool)
    for k in range(5):
        on_arms |= near(-(a + 2 * np.pi * k / 5))
        mirrored |= near(+(a + 2 * np.pi * k / 5))
    assert on_arms.mean() > 0.95
    assert mirrored.mean() < 0.05
