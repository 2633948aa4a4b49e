"""Where training and evaluation data come from: a built-in set's name, a user's file, or
standard input (`-`), read and split for a run; and the reference a sample is scored
against. Never prints: notes for the user travel in `TrainingData.notes`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

from alternators_cli.errors import BadInput

SHORT_SERIES = 4  # a series shorter than this many default windows gets a shorter window
SHORT_EPOCH = 1024  # ... and epochs of this many windows: it trains in well under a minute
MIN_WINDOW = 8


def data_name(spec: str) -> str:
    """What a run on `spec` is called (and its default run directory): a built-in's own
    name, a file's stem, or stdin. A name that is neither a built-in nor a file is refused."""
    from alternators_cli.data import looks_like_file
    from alternators_cli.datasets import BUILTINS, unknown_dataset_message

    if spec in BUILTINS:
        return spec
    if not looks_like_file(spec) and not Path(spec).exists():
        raise BadInput(unknown_dataset_message(spec))
    return "stdin" if spec == "-" else Path(spec).stem


def table_data(spec: str, settings) -> tuple[Any, Any]:
    """Distributions: (TrainingData of rows, held-out rows or None) for a built-in name, a
    file, or `-` (DistributionKind.resolve_data)."""
    from alternators_cli.data import (
        RowSubset,
        check_distribution_table,
        check_training_columns,
        default_columns,
        open_npy_rows,
        read_table,
    )
    from alternators_cli.datasets import BUILTINS
    from alternators_cli.training_data import (
        TrainingData,
        data_fingerprint,
        split_indices,
        split_table,
    )

    if spec in BUILTINS:
        info = BUILTINS[spec]
        return TrainingData(spec, info.dim, [f"x{i}" for i in range(info.dim)], True), None
    name = data_name(spec)
    path = Path(spec)
    if spec != "-" and path.suffix.lower() == ".npy" and path.is_file():
        # Memory-mapped: only the held-out rows are read into memory up front.
        values = open_npy_rows(path)
        check_training_columns(values, default_columns(values.shape[1]), spec)
        train_rows, heldout_rows = split_indices(len(values), settings.heldout, settings.seed)
        heldout = np.asarray(values[np.sort(heldout_rows)], dtype=np.float32)
        data = TrainingData(name, values.shape[1], default_columns(values.shape[1]), False,
                            RowSubset(values, train_rows), heldout,
                            fingerprint=data_fingerprint(values))
        return data, heldout if len(heldout) else None
    table = read_table(spec, sys.stdin.buffer if spec == "-" else None)
    values = check_distribution_table(table, min_rows=2)
    check_training_columns(values, table.columns, table.source)
    train_part, heldout = split_table(values, settings.heldout, settings.seed)
    return (
        TrainingData(name, values.shape[1], table.columns, False, train_part, heldout,
                     notes=table.notes, fingerprint=data_fingerprint(values)),
        heldout if len(heldout) else None,
    )


def series_data(spec: str, settings) -> tuple[Any, Any]:
    """Sequences: (TrainingData of (N, T, D) series, held-out tails or None)
    (SequenceKind.resolve_data). A built-in is drawn once per run; its evaluation draws
    fresh trajectories instead of a tail."""
    from alternators_cli.data import default_columns
    from alternators_cli.datasets import BUILTINS
    from alternators_cli.training_data import (
        LORENZ_TRAIN_LENGTH,
        TrainingData,
        builtin_sequences,
        data_fingerprint,
        split_series,
    )

    if spec in BUILTINS:
        builtin_defaults(spec, settings)
        if settings.window > LORENZ_TRAIN_LENGTH:
            raise BadInput(f"--window {settings.window} is longer than the built-in "
                           f"series ({LORENZ_TRAIN_LENGTH} steps)")
        series = builtin_sequences(spec, settings.seed)
        dim = series.shape[2]
        notes = resolve_season(settings, series)
        return TrainingData(spec, dim, default_columns(dim), True, series, notes=notes), None
    name = data_name(spec)
    values, columns, notes = training_series(spec, settings)  # may shorten --window
    train_part, heldout = split_series(values, settings.heldout, settings.window)
    data = TrainingData(name, values.shape[2], columns, False, train_part, heldout,
                        notes=notes,
                        fingerprint=data_fingerprint(values))
    return data, heldout if heldout.shape[1] else None


def choose_kind(data_spec: str, flags: dict) -> None:
    """A built-in knows its kind: fill in --kind, or refuse a contradicting one."""
    from alternators_cli.datasets import BUILTINS

    if data_spec not in BUILTINS:
        return
    own = BUILTINS[data_spec].kind
    if flags.get("kind") not in (None, own):
        raise BadInput(f"--kind {flags['kind']}: {data_spec} is a {own} data set")
    flags["kind"] = own


def builtin_defaults(data_spec: str, settings) -> None:
    """A built-in's own defaults (BuiltinSet.settings), where flags, environment and
    --config left the setting unset."""
    from alternators_cli.datasets import BUILTINS

    own = BUILTINS[data_spec].settings if data_spec in BUILTINS else {}
    for key, value in own.items():
        if key in type(settings).model_fields:
            settings.default_for_data(key, value)


def training_series(spec: str, settings) -> tuple[np.ndarray, list[str], list[str]]:
    """A user's series for `train` (the time column, if any, is not a channel), and notes
    to say once training starts. Without --window, a series too short for the default
    window gets a shorter one."""
    from alternators_cli.data import check_unique_names
    from alternators_cli.series_files import read_series
    from alternators_cli.timeindex import describe

    series = read_series(spec, sys.stdin.buffer if spec == "-" else None, settings.time_column,
                         settings.id_column)
    check_unique_names(series.columns, spec)
    notes = list(series.notes)
    if series.time is not None:
        notes.insert(0, f"time column {series.time.name!r}: {describe(series.time)}")
    T = series.values.shape[1]
    train_steps = T - (int(round(T * settings.heldout)) if settings.heldout > 0 else 0)
    notes += resolve_season(settings, series.values[:, :train_steps])
    default = settings.window
    shortest = max(MIN_WINDOW, 3 * (settings.season or 0))  # a few seasons
    fitted = max(2, min(train_steps, max(shortest, train_steps // SHORT_SERIES)))
    if train_steps < SHORT_SERIES * default and settings.default_for_data("window", fitted):
        notes.append(f"--window {settings.window} for {train_steps} training steps (the "
                     f"default {default} wants {SHORT_SERIES * default} or more; give "
                     "--window to choose)")
    short = train_steps < SHORT_SERIES * type(settings).model_fields["window"].default
    if short and settings.default_for_data("epoch_size", SHORT_EPOCH):
        notes.append(f"--epoch-size {SHORT_EPOCH} for a short series (give --epoch-size to "
                     "choose)")
    season = settings.season
    if season is not None and season >= settings.window:
        raise BadInput(f"--season {season} needs a --window longer than the season (it is "
                       f"{settings.window}): give a larger --window or a shorter series season")
    lags = settings.season_lags
    if lags > 1 and season is None:
        raise BadInput(f"--season-lags {lags} reads values whole seasons back: give --season "
                       "too")
    if lags > 1 and lags * season >= settings.window:
        # A training window must hold all K seasons back, or the model never learns them.
        raise BadInput(f"--season-lags {lags} x --season {season} needs a --window longer "
                       f"than {lags * season} steps (it is {settings.window})")
    return series.values, series.columns, notes


def resolve_season(settings, train: np.ndarray) -> list[str]:
    """`--season auto`: the season of the training part's changes (N, T, D) by their
    autocorrelation (`detect_season`; at most a third of the steps, and shorter than the
    window), or none; a note saying which. Nothing to do otherwise."""
    if settings.season != "auto":
        return []
    from alternators_cli.sequence_metrics import detect_season

    changes = np.diff(train, axis=1)  # (N, T - 1, D)
    longest = min(changes.shape[1] // 3, settings.window - 1)
    season = detect_season(changes, max_lag=longest) if longest >= 2 else None
    settings.found_season(season)
    found = f"{season} steps" if season else "none (no lag where it peaks above 0.5)"
    return [f"--season auto: {found}; give --season N to choose"]


def reference_from_spec(spec: str, columns: list[str] | None = None):
    """The reference of `evaluate --reference`: a built-in, or a file's rows, their columns
    matched to `columns` (a model's) by name where both are named."""
    from alternators_cli.data import (
        check_distribution_table,
        looks_like_file,
        match_columns,
        read_table,
    )
    from alternators_cli.datasets import BUILTINS, unknown_dataset_message
    from alternators_cli.evaluation import Reference

    if spec in BUILTINS:
        return Reference(spec, True)
    if not looks_like_file(spec) and not Path(spec).exists():
        raise BadInput(unknown_dataset_message(spec))
    if spec == "-":
        raise BadInput("--reference - is not supported: standard input is for --samples")
    table = read_table(spec)
    if columns is not None:
        table = match_columns(table, columns, f"--reference {spec}")
    return Reference(Path(spec).name, False, check_distribution_table(table, min_rows=4),
                     table.columns)


