"""Data: the built-in 2-D distributions (SPEC section 4) and users' CSV / .npy tables.

Pure functions: they take bytes or paths and return arrays; they never print.
"""

from __future__ import annotations

import csv
import io
import math
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from alternators_cli.errors import BadInput

MAX_COLUMNS = 100_000


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
                   "Lorenz-63 seen through 20 noisy projections (rows = time)", lorenz),
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


@dataclass
class Table:
    """A numeric table read from a user's file: rows are points, columns are dimensions."""

    values: np.ndarray  # (N, D) float64; NaN where a cell is missing
    columns: list[str]
    source: str


def default_columns(d: int) -> list[str]:
    return [f"x{i}" for i in range(d)]


def looks_like_file(spec: str) -> bool:
    return spec == "-" or spec.lower().endswith((".csv", ".npy", ".txt", ".tsv")) or "/" in spec


def read_table(spec: str, stdin: io.BufferedIOBase | None = None) -> Table:
    """Read a `.csv`/`.npy` path, or CSV from standard input for `-`."""
    if spec == "-":
        if stdin is None:
            raise BadInput("no standard input to read CSV from")
        text = stdin.read()
        if isinstance(text, bytes):
            text = _decode(text, "standard input")
        return parse_csv(text, "standard input")
    path = Path(spec)
    raw = read_data_file(spec)
    if path.suffix.lower() == ".npy":
        return parse_npy(raw, spec)
    return parse_csv(_decode(raw, spec), spec)


def read_data_file(spec: str) -> bytes:
    """The bytes of a user's data file; a missing, unreadable or endless one (a directory,
    /dev/zero, a terminal) is a one-line BadInput."""
    path = Path(spec)
    if not path.exists():
        raise BadInput(f"file not found: {spec}")
    if path.is_dir():
        raise BadInput(f"{spec} is a directory, not a data file")
    if stat.S_ISCHR(path.stat().st_mode):  # /dev/zero, a terminal: no end to read to
        raise BadInput(f"{spec} is a device, not a data file")
    try:
        return path.read_bytes()
    except PermissionError:
        raise BadInput(f"file is not readable: {spec}") from None
    except OSError as exc:
        raise BadInput(f"cannot read {spec}: {exc.strerror}") from None


def _decode(raw: bytes, source: str) -> str:
    if b"\x00" in raw[:4096] and not raw.startswith(b"\x93NUMPY"):
        raise BadInput(f"{source} is a binary file, not CSV text")
    if raw.startswith(b"\x93NUMPY"):
        raise BadInput(f"{source} looks like a .npy array: give it a .npy file name")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadInput(f"{source} is not UTF-8 text") from None


def _np_load(target, source: str, mmap: bool = False) -> np.ndarray:
    """np.load that never unpickles objects; a bad file is a one-line BadInput."""
    try:
        return np.load(target, mmap_mode="r" if mmap else None, allow_pickle=False)
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise BadInput(f"{source} holds Python objects; only numeric arrays load") from None
        raise BadInput(f"{source} is not a valid .npy array: {exc}") from None
    except (OSError, EOFError) as exc:
        raise BadInput(f"{source} is not a valid .npy array: {exc}") from None


def _load_npy(target, source: str, mmap: bool = False) -> np.ndarray:
    """np.load of a numeric 2-D array (1-D is one column), never unpickling objects."""
    arr = _np_load(target, source, mmap)
    numeric = np.issubdtype(arr.dtype, np.number) and not np.iscomplexobj(arr)
    if not (numeric or arr.dtype == np.bool_):
        raise BadInput(f"{source} has dtype {arr.dtype}; a numeric array is needed")
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2:
        raise BadInput(f"{source} has shape {list(arr.shape)}; expected [N, D]")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise BadInput(f"{source} is empty (shape {list(arr.shape)})")
    if arr.shape[1] > MAX_COLUMNS:
        raise BadInput(f"{source} has {arr.shape[1]} columns; at most {MAX_COLUMNS} are supported")
    return arr


def parse_npy(raw: bytes, source: str) -> Table:
    values = _load_npy(io.BytesIO(raw), source).astype(np.float64)
    return Table(values, default_columns(values.shape[1]), source)


def parse_csv(text: str, source: str) -> Table:
    """Numeric CSV with an optional header row; empty cells and NaN become NaN."""
    lines = [ln for ln in _records(text) if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise BadInput(f"{source} is empty: no rows of data")
    first = lines[0]
    delimiter = "\t" if "\t" in first and "," not in first else ","
    if first.count(delimiter) + 1 > MAX_COLUMNS:
        raise BadInput(f"{source} has more than {MAX_COLUMNS} columns")
    try:
        rows = list(csv.reader(lines, delimiter=delimiter))
    except csv.Error as exc:
        raise BadInput(f"{source} is not valid CSV: {exc}") from None
    header: list[str] | None = None
    if any(not _is_number(cell) for cell in rows[0]):
        header = [c.strip() for c in rows[0]]
        rows = rows[1:]
        if not rows:
            raise BadInput(f"{source} has a header but no rows of data")
    width = len(header) if header else len(rows[0])
    values = np.empty((len(rows), width), dtype=np.float64)
    for i, row in enumerate(rows):
        lineno = i + (2 if header else 1)
        if len(row) != width:
            raise BadInput(
                f"{source}, data row {lineno}: {len(row)} columns, expected {width} (ragged rows)"
            )
        for j, cell in enumerate(row):
            cell = cell.strip()
            if cell == "" or cell.lower() in ("nan", "na"):
                values[i, j] = np.nan
                continue
            try:
                values[i, j] = float(cell)
            except ValueError:
                raise BadInput(_not_a_number(source, rows, j, lineno, header)) from None
    columns = header if header else default_columns(width)
    return Table(values, columns, source)


def _records(text: str) -> list[str]:
    """The text's lines, with a quoted cell that holds a line break (a header written by
    the csv module, e.g. "a\nb") kept in one record."""
    records, pending = [], None
    for line in text.splitlines():
        pending = line if pending is None else pending + "\n" + line
        if pending.count('"') % 2 == 0:
            records.append(pending)
            pending = None
    if pending is not None:
        records.append(pending)
    return records


def column_label(j: int, columns: list[str] | None) -> str:
    """How a message names column j: `column 3 ('mass')`, or `column 3` without a name."""
    name = columns[j] if columns and j < len(columns) else ""
    return f"column {j + 1} ({name!r})" if name else f"column {j + 1}"


def _not_a_number(source: str, rows: list[list[str]], j: int, lineno: int,
                  header: list[str] | None) -> str:
    """A column of text categories is named as such; a stray word in numbers by its row."""
    cells = [r[j].strip() for r in rows if j < len(r) and r[j].strip()]
    text = [c for c in cells if not _is_number(c)]
    name = column_label(j, header)
    if len(text) > len(cells) / 2:
        examples = ", ".join(repr(c[:20]) for c in dict.fromkeys(text))
        examples = examples if len(examples) < 60 else examples[:57] + "..."
        return (f"{source}: {name} holds text ({examples}); only numeric columns can "
                "be modelled: encode it as numbers (e.g. one-hot columns) or drop it")
    cell = rows[lineno - (2 if header else 1)][j].strip()
    return f"{source}, data row {lineno}, {name}: {cell[:40]!r} is not a number"


def _is_number(cell: str) -> bool:
    cell = cell.strip()
    if cell == "" or cell.lower() in ("nan", "na"):
        return True
    try:
        float(cell)
    except ValueError:
        return False
    return True


def open_npy_rows(path: Path, chunk_rows: int = 1 << 20) -> np.ndarray:
    """A 2-D numeric .npy file as a read-only memory map, checked for non-finite values
    a chunk at a time, so files larger than memory can be trained on."""
    arr = _load_npy(path, str(path), mmap=True)
    if arr.shape[0] < 2:
        raise BadInput(f"{path} has shape {list(arr.shape)}; at least 2 rows are needed")
    for start in range(0, arr.shape[0], chunk_rows):
        with np.errstate(over="ignore"):
            block = np.asarray(arr[start : start + chunk_rows]).astype(np.float32)
        bad = ~np.isfinite(block)
        if bad.any():
            i, j = map(int, np.argwhere(bad)[0])
            raise BadInput(
                f"{path} has NaN, infinite or out-of-range values (first at row "
                f"{start + i + 1}, column {j + 1}); distributions need every cell finite"
            )
    return arr


def read_sequences(
    spec: str, stdin: io.BufferedIOBase | None = None
) -> tuple[np.ndarray, list[str]]:
    """A user's time series as (N, T, D) float32 with NaN = missing, and channel names.

    CSV: one long series (rows = time, columns = channels, empty cell or NaN = missing).
    .npy: [N, T, D] (several series), or [T, D] / [T] (one series).
    """
    if spec != "-" and Path(spec).suffix.lower() == ".npy" and Path(spec).is_file():
        arr = _np_load(spec, spec)
        if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
            raise BadInput(f"{spec} has dtype {arr.dtype}; a real numeric array is needed")
        if arr.ndim == 1:
            arr = arr[None, :, None]
        elif arr.ndim == 2:
            arr = arr[None]
        if arr.ndim != 3 or 0 in arr.shape:
            raise BadInput(f"{spec} has shape {list(arr.shape)}; expected [N, T, D] or [T, D]")
        values, columns = arr.astype(np.float64), default_columns(arr.shape[2])
    else:
        table = read_table(spec, stdin)
        values, columns = table.values[None], table.columns
    return checked_series(values, columns, spec), columns


def checked_series(values: np.ndarray, columns: list[str], source: str) -> np.ndarray:
    """Series (N, T, D) as float32 once they are finite (NaN = missing), inside float32's
    range, and every channel observed somewhere."""
    if np.isinf(values).any():
        raise BadInput(f"{source} has infinite values; use an empty cell or NaN for missing")
    with np.errstate(over="ignore"):
        single = values.astype(np.float32)
    if np.isinf(single).any():
        raise BadInput(f"{source} has values out of range (|x| must stay below 3.4e38)")
    empty = np.isnan(single).all(axis=(0, 1))
    if empty.any():
        raise BadInput(f"{source}: channel {columns[int(np.argmax(empty))]!r} has no observed "
                       "value")
    return single


class RowSubset:
    """Rows `index` of a (possibly memory-mapped) array, gathered only when indexed."""

    def __init__(self, base: np.ndarray, index: np.ndarray):
        self.base, self.index = base, index

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, rows) -> np.ndarray:
        return np.asarray(self.base[np.sort(self.index[rows])], dtype=np.float32)


def check_distribution_table(table: Table, min_rows: int = 2) -> np.ndarray:
    """A table usable as a distribution: no missing or infinite values, enough rows."""
    v = table.values
    if v.shape[0] < min_rows:
        raise BadInput(f"{table.source} has {v.shape[0]} row(s); at least {min_rows} are needed")
    empty = np.isnan(v).all(axis=0)
    if empty.any():
        j = int(np.argmax(empty))
        raise BadInput(f"{table.source}: {column_label(j, table.columns)} has no value "
                       "(every cell empty or NaN): drop it")
    bad = ~np.isfinite(v)
    if bad.any():
        i, j = map(int, np.argwhere(bad)[0])
        kind = "NaN/missing" if math.isnan(v[i, j]) else "infinite"
        raise BadInput(
            f"{table.source} has {int(bad.sum())} {kind} value(s) (first at row {i + 1}, "
            f"column {table.columns[j]!r}); distributions need every cell filled"
        )
    with np.errstate(over="ignore"):
        single = v.astype(np.float32)
    big = ~np.isfinite(single)
    if big.any():
        i, j = map(int, np.argwhere(big)[0])
        raise BadInput(
            f"{table.source}: value {v[i, j]:g} at row {i + 1}, column {table.columns[j]!r} "
            "is out of range (|x| must stay below 3.4e38)"
        )
    return single


def check_training_columns(values: np.ndarray, columns: list[str], source: str) -> None:
    """Columns a model can learn: a constant column has nothing to learn (and no scale)."""
    constant = (values.max(axis=0) == values.min(axis=0)) if len(values) else []
    if np.any(constant):
        j = int(np.argmax(constant))
        raise BadInput(
            f"{source}: {column_label(j, columns)} is constant (every row "
            f"{float(values[0, j]):g}); there is nothing to learn in it: drop it"
        )
