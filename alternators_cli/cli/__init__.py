"""The `alternators` command line: parse options, call the library, print. Data goes to
stdout, logs and progress to stderr. Exit status: 0 success, 2 bad usage or bad input, 1
other failure, 130/143 interrupted (after saving).

One module per command group: inspect (datasets, data, info), train, sample, evaluate,
animate, series (impute, forecast); common holds what they share, options the training
options derived from the settings, report the tables. The Typer `app` is built in root
on first use, so that `alternators --version` answers without importing it.
"""

from __future__ import annotations

import os
import sys

from alternators_cli.cli.startup import collect_after_torch
from alternators_cli.cli.streams import StdoutClosed, guard_standard_streams, version_line

__all__ = ["app", "main"]


def __getattr__(name: str):
    if name == "app":
        from alternators_cli.cli.root import app

        return app
    raise AttributeError(f"module 'alternators_cli.cli' has no attribute {name!r}")


SPIN_COUNT = "300"  # GOMP_SPINCOUNT: a barrier's spins before its thread sleeps


def limit_openmp_spinning() -> None:
    """GOMP_SPINCOUNT=300 unless the caller set it or OMP_WAIT_POLICY: torch's (GNU) OpenMP
    threads spin briefly at a barrier, then sleep, instead of spinning 300,000 times
    first. Beside another busy process, a thread that spins holds a core that the thread
    it waits for needs, and every op can cost a time slice: `train pinwheel` at 2 threads
    ran 3-20x slower beside one busy process with the default; with 300 spins about 1.5x,
    and alone within about 10% of it (PASSIVE, no spinning: 1.3x beside a busy process,
    but 30% slower alone). Measured in docs/benchmarks.md, Speed. Read when torch loads its
    OpenMP runtime: so set before torch is imported, and only then."""
    if "torch" in sys.modules or "OMP_WAIT_POLICY" in os.environ:
        return
    os.environ.setdefault("GOMP_SPINCOUNT", SPIN_COUNT)


def main() -> None:
    guard_standard_streams()
    if sys.argv[1:] == ["--version"]:  # answered before typer, pydantic and the commands load
        try:
            print(version_line())
            sys.stdout.flush()
        except StdoutClosed as exc:
            print(f"error: {exc.strerror}", file=sys.stderr)
            sys.exit(1)
        sys.exit(0)
    limit_openmp_spinning()
    collect_after_torch()
    from alternators_cli.cli.root import app
    from alternators_cli.distributed_env import read_distributed_env
    from alternators_cli.errors import BadInput

    try:
        world_size = read_distributed_env()[1]
    except BadInput as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    if world_size > 1:
        # Under torchrun: leave without interpreter finalisation, where gloo's worker
        # threads can still abort the process (SIGABRT) after a clean finish.
        code = app(standalone_mode=False)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code if isinstance(code, int) else 0)
    app()


if __name__ == "__main__":
    main()
