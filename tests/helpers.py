"""Shared helpers for the test-suite (plain functions, imported by the test modules)."""

from __future__ import annotations

import hashlib
import signal
import traceback
import warnings
from pathlib import Path

import numpy as np

from alternators_cli.cli import app

# The tiny model every CLI test shares (see conftest.tiny_run): T = 4 steps, 2-D data.
TINY_STEPS = 4
TINY_TRAIN_FLAGS = [
    "--epochs", "2", "--epoch-size", "500", "--batch-size", "250", "--hidden", "16",
    "--steps", str(TINY_STEPS), "--latent-dim", "4", "--seed", "0", "--device", "cpu",
]


# Warning categories Python hides by default; anything else would print on a user's stderr.
_HIDDEN = (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning)


def invoke(runner, args, input=None):
    """Run the CLI in-process; an exception escaping the app is a test failure by itself
    (CliRunner would otherwise swallow the traceback that a user would see).

    Warnings are recorded as `result.warnings_shown`: in a real process Python prints
    them on stderr, so they count as stderr lines (pytest would otherwise swallow them).
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = runner.invoke(app, [str(a) for a in args], input=input)
    result.warnings_shown = [
        f"{w.category.__name__}: {w.message}" for w in caught
        if not issubclass(w.category, _HIDDEN)
    ]
    exc = result.exception
    if exc is not None and not isinstance(exc, SystemExit):
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        raise AssertionError(
            f"alternators {' '.join(map(str, args))} raised instead of exiting cleanly:\n{tb}"
        )
    return result


def stderr_lines(result) -> list[str]:
    """What a user would see on stderr: the lines written plus any warnings shown."""
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    return [*getattr(result, "warnings_shown", []), *lines]


def assert_ok(result) -> None:
    assert result.exit_code == 0, (
        f"exit {result.exit_code}\nstderr:\n{result.stderr}\nstdout:\n{result.output[:2000]}"
    )


def assert_one_line_error(result, code: int | tuple[int, ...] = 2) -> str:
    """The error contract: exit `code` (or one of several), exactly one non-empty line on
    stderr, no traceback, nothing on stdout. Returns the line."""
    lines = stderr_lines(result)
    codes = code if isinstance(code, tuple) else (code,)
    assert result.exit_code in codes, (
        f"expected exit {code}, got {result.exit_code}; stderr:\n{result.stderr}"
    )
    assert "Traceback" not in result.stderr, result.stderr
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n" + "\n".join(lines)
    assert result.stdout == "", f"unexpected stdout on error: {result.stdout[:500]!r}"
    return lines[0]


def snapshot(directory: Path) -> dict[str, str]:
    """Every file below `directory` (hidden ones too) with a hash of its bytes."""
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(Path(directory).rglob("*")) if p.is_file()
    }


def write_csv(path: Path, points: np.ndarray, header: list[str] | None = None) -> Path:
    lines = [",".join(header)] if header else []
    lines += [",".join(f"{v:.9g}" for v in row) for row in points]
    path.write_text("\n".join(lines) + "\n")
    return path


def read_csv_body(text: str) -> tuple[list[str], np.ndarray]:
    rows = text.strip().splitlines()
    header = rows[0].split(",")
    values = np.array([[float(c) for c in r.split(",")] for r in rows[1:]])
    return header, values


def default_signals() -> None:
    """A child's `preexec_fn`: SIGINT and SIGHUP at their default actions, as in a terminal,
    whether or not the suite itself runs under nohup or in the background (which ignore
    them, and the CLI then leaves them ignored)."""
    for sig in (signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
