"""Pictures: animation frames of the generative cycle, sample-vs-reference plots, loss
curves. Functions return encoded bytes; writing files is the caller's job."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # no screen needed; must precede pyplot
import imageio.v3 as iio  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

POINT_STYLE = {"s": 2, "alpha": 0.5, "linewidths": 0}
# Axes whose spans differ by more than this are in different units (a table's columns): each
# fills its panel instead of sharing one scale, which would flatten the picture to a line.
EQUAL_ASPECT_SPANS = 4.0


def axis_limits(*point_sets: np.ndarray, pad: float = 0.1) -> tuple[tuple, tuple]:
    """Fixed square-ish limits covering the bulk (0.5%..99.5%) of the given 2-D points."""
    pts = np.concatenate([p[:, :2] for p in point_sets], axis=0)
    pts = pts[np.isfinite(pts).all(axis=1)]
    if len(pts) == 0:
        return (-1, 1), (-1, 1)
    lo = np.quantile(pts, 0.005, axis=0)
    hi = np.quantile(pts, 0.995, axis=0)
    span = np.maximum(hi - lo, 1e-6)
    lo, hi = lo - pad * span, hi + pad * span
    return (float(lo[0]), float(hi[0])), (float(lo[1]), float(hi[1]))


def _style(ax, xlim, ylim, columns: list[str]) -> None:
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    spans = sorted((xlim[1] - xlim[0], ylim[1] - ylim[0]))
    if spans[1] <= EQUAL_ASPECT_SPANS * spans[0]:  # one unit: keep the geometry
        ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel(columns[0])
    if len(columns) > 1:
        ax.set_ylabel(columns[1])


def _two_columns(points: np.ndarray) -> np.ndarray:
    """2-D view of points: their first two columns (a 1-D set gets a zero second axis)."""
    if points.shape[-1] >= 2:
        return points[..., :2]
    return np.concatenate([points, np.zeros_like(points)], axis=-1)


def cycle_frames(
    frames: np.ndarray,
    data: np.ndarray,
    sigma_x: list[float],
    title: str,
    columns: list[str],
) -> list[np.ndarray]:
    """One RGB image per step: the data on the left, x_t of step t on the right.

    frames: (T, n, D) from one run of the sampler; data: (m, D) reference points.
    """
    frames, data = _two_columns(frames), _two_columns(data)
    xlim, ylim = axis_limits(data, frames[-1])
    fig, (ax_data, ax_gen) = plt.subplots(1, 2, figsize=(8, 4.2), dpi=80)
    ax_data.scatter(data[:, 0], data[:, 1], color="tab:gray", **POINT_STYLE)
    ax_data.set_title(f"data: {title}")
    _style(ax_data, xlim, ylim, columns)
    scatter = ax_gen.scatter(frames[0][:, 0], frames[0][:, 1], color="tab:blue", **POINT_STYLE)
    _style(ax_gen, xlim, ylim, columns)
    fig.tight_layout()
    images = []
    T = len(frames)
    for t in range(T):
        scatter.set_offsets(frames[t])
        ax_gen.set_title(f"alternator step {t + 1}/{T}  (sigma_x = {sigma_x[t]:.3f})")
        fig.canvas.draw()
        images.append(np.asarray(fig.canvas.buffer_rgba())[..., :3].copy())
    plt.close(fig)
    return images


def encode_gif(images: list[np.ndarray], fps: float, hold_last: int = 0) -> bytes:
    """GIF bytes that loop forever; the last frame is repeated `hold_last` times."""
    seq = images + [images[-1]] * hold_last
    return iio.imwrite("<bytes>", np.stack(seq), extension=".gif", duration=1000 / fps, loop=0)


PAIRS_SHOWN = 4  # a pairs plot shows at most this many axes


def pairs_view(samples: np.ndarray, reference: np.ndarray, columns: list[str]):
    """(samples, reference, axis names) for a pairs plot of D > 2 columns: the columns
    themselves, standardised by the reference, when D <= PAIRS_SHOWN; else the reference's
    first PAIRS_SHOWN principal components of the standardised columns."""
    mean = reference.mean(axis=0)
    scale = reference.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    s, r = (samples - mean) / scale, (reference - mean) / scale
    if s.shape[1] <= PAIRS_SHOWN:
        return s, r, [f"{c} (std.)" for c in columns]
    _, sv, vt = np.linalg.svd(r, full_matrices=False)
    share = sv**2 / (sv**2).sum()
    basis = vt[:PAIRS_SHOWN].T  # (D, k)
    names = [f"PC{i + 1} ({100 * share[i]:.0f}%)" for i in range(PAIRS_SHOWN)]
    return s @ basis, r @ basis, names


def pairs_png(samples: np.ndarray, reference: np.ndarray, columns: list[str],
              title: str = "") -> bytes:
    """Samples (blue) over reference rows (grey), every pair of the shown axes, and each
    axis's histograms on the diagonal: the picture for tables of more than 2 columns."""
    s, r, names = pairs_view(np.asarray(samples, np.float64),
                             np.asarray(reference, np.float64), columns)
    k = len(names)
    fig, axes = plt.subplots(k, k, figsize=(2.3 * k + 0.5, 2.3 * k), dpi=90, squeeze=False)
    lo = np.quantile(np.concatenate([r, s]), 0.005, axis=0)
    hi = np.quantile(np.concatenate([r, s]), 0.995, axis=0)
    for i in range(k):
        for j in range(k):
            ax = axes[i, j]
            if i == j:
                bins = np.linspace(lo[i], hi[i], 30)
                ax.hist(r[:, i], bins=bins, density=True, color="tab:gray", alpha=0.6,
                        label=f"reference (n={len(r)})")
                ax.hist(s[:, i], bins=bins, density=True, histtype="step", color="tab:blue",
                        lw=1.5, label=f"samples (n={len(s)})")
            else:
                ax.scatter(s[:, j], s[:, i], color="tab:blue", s=2, alpha=0.3, linewidths=0)
                ax.scatter(r[:, j], r[:, i], color="black", s=5, alpha=0.7, linewidths=0)
                ax.set_xlim(lo[j], hi[j])
                ax.set_ylim(lo[i], hi[i])
            if i == k - 1:
                ax.set_xlabel(names[j], fontsize=8)
            if j == 0:
                ax.set_ylabel(names[i], fontsize=8)
            ax.tick_params(labelsize=6)
    axes[0, 0].legend(fontsize=6, loc="upper right")
    fig.suptitle((title + "\n" if title else "")
                 + "samples (blue) over reference rows (black), standardised units", fontsize=9)
    fig.tight_layout()
    return _png(fig)


def samples_vs_reference_png(
    samples: np.ndarray, reference: np.ndarray, columns: list[str], title: str = ""
) -> bytes:
    if samples.shape[-1] > 2:
        return pairs_png(samples, reference, columns, title)
    samples, reference = _two_columns(samples), _two_columns(reference)
    xlim, ylim = axis_limits(reference, samples)
    fig, axes = plt.subplots(1, 2, figsize=(8, 4.2), dpi=100)
    for ax, pts, name, color in (
        (axes[0], reference, "reference", "tab:gray"),
        (axes[1], samples, "samples", "tab:blue"),
    ):
        ax.scatter(pts[:, 0], pts[:, 1], color=color, **POINT_STYLE)
        ax.set_title(f"{name} (n={len(pts)})")
        _style(ax, xlim, ylim, columns)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _png(fig)


def loss_png(history: list[float]) -> bytes:
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ax.plot(np.arange(1, len(history) + 1), history)
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _png(fig)


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


MAX_SEQUENCE_FRAMES = 48
SHOWN_CHANNELS = 5


def principal_path(z: np.ndarray, k: int = 3) -> np.ndarray:
    """z (T, Dz) itself when Dz <= k, else its first k principal components (T, k)."""
    if z.shape[1] <= k:
        return z
    centred = z - z.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:k].T


def sequence_frames(x: np.ndarray, z: np.ndarray, columns: list[str], title: str) -> list:
    """Frames of one generated trajectory growing step by step: the first channels of
    x (T, D) over time, and the latent path z (T, Dz) in 3-D (principal components when
    Dz > 3)."""
    T = x.shape[0]
    path = principal_path(z)
    shown = x[:, :SHOWN_CHANNELS]
    ends = np.unique(np.linspace(1, T, min(T, MAX_SEQUENCE_FRAMES)).round().astype(int))
    pad = lambda lo, hi: (lo - 0.05 * (hi - lo + 1e-9), hi + 0.05 * (hi - lo + 1e-9))  # noqa: E731
    ylim = pad(np.nanmin(shown), np.nanmax(shown))
    limits = [pad(path[:, k].min(), path[:, k].max()) for k in range(path.shape[1])]
    images = []
    for end in ends:
        fig = plt.figure(figsize=(9, 3.8), dpi=80)
        ax = fig.add_subplot(1, 2, 1)
        for j in range(shown.shape[1]):
            ax.plot(np.arange(end), shown[:end, j], lw=1, label=columns[j])
        ax.set_xlim(0, T - 1)
        ax.set_ylim(*ylim)
        ax.set_xlabel("t")
        ax.set_title(f"{title}: generated x_t, t = {end}/{T}")
        ax.legend(loc="upper right", fontsize=7)
        if path.shape[1] == 3:
            ax3 = fig.add_subplot(1, 2, 2, projection="3d")
            ax3.plot(path[:end, 0], path[:end, 1], path[:end, 2], lw=0.8)
            ax3.set_xlim(*limits[0])
            ax3.set_ylim(*limits[1])
            ax3.set_zlim(*limits[2])
        else:
            ax3 = fig.add_subplot(1, 2, 2)
            ax3.plot(np.arange(end), path[:end], lw=0.8)
            ax3.set_xlim(0, T - 1)
        ax3.set_title("latent z_t" + (" (top 3 principal components)" if z.shape[1] > 3 else ""))
        fig.tight_layout()
        fig.canvas.draw()
        images.append(np.asarray(fig.canvas.buffer_rgba())[..., :3].copy())
        plt.close(fig)
    return images


# ---- time series: forecasts, imputations, backtests ------------------------------------

MAX_SERIES_CHANNELS = 4  # channels drawn, one panel each
HISTORY_COLOR, MODEL_COLOR, TRUTH_COLOR = "black", "tab:blue", "tab:gray"


def _series_figure(columns: list[str], title: str, width: float = 9.0):
    shown = min(len(columns), MAX_SERIES_CHANNELS)
    fig, axes = plt.subplots(shown, 1, figsize=(width, 1.2 + 2.3 * shown), dpi=100,
                             sharex=True, squeeze=False)
    axes = axes[:, 0]
    more = f" (first {shown} of {len(columns)} channels)" if len(columns) > shown else ""
    fig.suptitle(title + more, fontsize=11)
    for ax, name in zip(axes, columns, strict=False):
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    return fig, axes


def _finish(fig, axes, x) -> bytes:
    axes[-1].set_xlabel("time" if np.issubdtype(np.asarray(x).dtype, np.datetime64) else "step")
    if np.issubdtype(np.asarray(x).dtype, np.datetime64):
        fig.autofmt_xdate()
    axes[0].legend(loc="upper left", fontsize=8, framealpha=0.8)
    fig.tight_layout()
    return _png(fig)


def forecast_png(
    history: np.ndarray, history_x: np.ndarray, future_x: np.ndarray, median: np.ndarray,
    bands: list[tuple[np.ndarray, np.ndarray, str]], columns: list[str], title: str,
) -> bytes:
    """History (T, D) in black, then the forecast's median (H, D) and its central bands
    (lower, upper, label), widest first, as a fan."""
    fig, axes = _series_figure(columns, title)
    shades = np.linspace(0.18, 0.4, max(1, len(bands)))
    for j, ax in enumerate(axes):
        ax.plot(history_x, history[:, j], color=HISTORY_COLOR, lw=1.2, label="history")
        # the fan starts at the last observed value, joined to the history
        seen = np.flatnonzero(~np.isnan(history[:, j]))
        anchor = seen[-1:] if len(seen) else np.empty(0, dtype=np.int64)
        join_x = np.concatenate([history_x[anchor], future_x])
        start = history[anchor, j]
        for (lo, hi, label), alpha in zip(bands, shades, strict=True):
            ax.fill_between(join_x, np.concatenate([start, lo[:, j]]),
                            np.concatenate([start, hi[:, j]]), color=MODEL_COLOR,
                            alpha=alpha, lw=0, label=label)
        ax.plot(join_x, np.concatenate([start, median[:, j]]), color=MODEL_COLOR, lw=1.6,
                label="forecast median")
    return _finish(fig, axes, future_x)


def impute_png(
    values: np.ndarray, filled: np.ndarray, lower: np.ndarray, upper: np.ndarray,
    x: np.ndarray, columns: list[str], title: str, band_label: str,
) -> bytes:
    """Observed values (T, D) as a line with dots, the filled cells as orange dots on the
    completed series, and the band of the completions where cells were missing."""
    fig, axes = _series_figure(columns, title)
    for j, ax in enumerate(axes):
        missing = np.isnan(values[:, j])
        ax.fill_between(x, lower[:, j], upper[:, j], color=MODEL_COLOR, alpha=0.25,
                        lw=0, label=band_label)
        ax.plot(x, filled[:, j], color=MODEL_COLOR, lw=0.8, alpha=0.7)
        ax.plot(x, values[:, j], color=HISTORY_COLOR, lw=1.0, marker=".", ms=3,
                label="observed")
        ax.plot(x[missing], filled[missing, j], "o", color="tab:orange", ms=3.5,
                label=f"filled ({int(missing.sum())})")
    return _finish(fig, axes, x)


def backtest_png(
    series: np.ndarray, x: np.ndarray, origins: np.ndarray, median: np.ndarray,
    lower: np.ndarray, upper: np.ndarray, columns: list[str], title: str, band_label: str,
    first_shown: int = 0,
) -> bytes:
    """The truth (T, D) from step `first_shown` on, and the backtest's forecasts from each
    origin (K,): medians (K, H, D) and bands, alternating colours."""
    fig, axes = _series_figure(columns, title)
    H = median.shape[1]
    colors = ("tab:blue", "tab:orange")
    for j, ax in enumerate(axes):
        ax.plot(x[first_shown:], series[first_shown:, j], color=HISTORY_COLOR, lw=1.0,
                label="truth")
        for k, origin in enumerate(origins):
            steps = origin + np.arange(H)
            color = colors[k % 2]
            ax.fill_between(x[steps], lower[k, :, j], upper[k, :, j], color=color,
                            alpha=0.15, lw=0, label=band_label if k == 0 else None)
            ax.plot(x[steps], median[k, :, j], color=color, lw=1.3,
                    label="forecast medians" if k == 0 else None)
        ax.axvline(x[origins[0]], color=TRUTH_COLOR, ls="--", lw=0.8, label="first origin")
    return _finish(fig, axes, x)
