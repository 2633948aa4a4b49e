"""1 vs 2 processes on this CPU (`make bench-scale`): points·steps per second of
`alternators train` at default model settings, single process (1 and 2 threads) and under
`torchrun --nproc-per-node 2` (gloo, 1 thread each), with the same global batch.

    python -m benchmarks.scale [--epochs 4]
"""

from __future__ import annotations

import re
import statistics
import sys
import tempfile

from benchmarks import common

RATE = re.compile(r"([\d.]+)k pt·steps/s")
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
            "2", "-m", "alternators_cli"]


def rate(launcher: list[str], threads: int, epochs: int) -> float:
    """The median epoch's points·steps/s after the first (the warm-up) of a short run."""
    with tempfile.TemporaryDirectory() as tmp:
        done = common.run_cli("train", "pinwheel", "--out", tmp, "--overwrite", "--epochs",
                              str(epochs), "--device", "cpu", "--checkpoint-every", "0",
                              launcher=launcher, env=common.cli_env(OMP_NUM_THREADS=str(threads)))
    rates = [float(m) * 1e3 for m in RATE.findall(done.stderr)]
    if not rates:
        raise SystemExit("benchmark: `alternators train` printed no pt·steps/s rate")
    return statistics.median(rates[1:] if len(rates) > 1 else rates)


def main() -> None:
    host = common.Host()
    parser = common.argument_parser(__spec__, __doc__)
    parser.add_argument("--epochs", type=common.positive, default=4)
    args = parser.parse_args()
    single = common.cli_command()
    rows = [
        ("1 process, 1 thread", rate(single, 1, args.epochs)),
        ("1 process, 2 threads", rate(single, 2, args.epochs)),
        ("2 processes (torchrun, gloo), 1 thread each", rate(TORCHRUN, 1, args.epochs)),
    ]
    base = rows[0][1]
    lines = [
        host.line(2),
        "",
        f"Default model settings, global batch {common.settings().batch_size}, pinwheel; "
        "median epoch after the first.",
        "",
        "| setup | points·steps/s | vs 1 process, 1 thread |",
        "|---|---|---|",
    ] + [f"| {name} | {r:,.0f} | {r / base:.2f}x |" for name, r in rows]
    lines += [
        "",
        "On GPUs: one process per GPU (`torchrun --nproc-per-node NGPU`, NCCL), each with its "
        "share of the global batch; the networks are small, so raise --batch-size (and --lr) "
        "until a GPU is busy, and expect near-linear scaling only while each GPU's share stays "
        "in the tens of thousands of points.",
    ]
    table = "\n".join(lines)
    print(table)
    common.write_section(common.BENCHMARKS_MD, "scale", table)


if __name__ == "__main__":
    main()
