"""1 vs 2 processes on this CPU (`make bench-scale`): points·steps per second of
`alternators train` at default model settings, single process (1 and 2 threads) and under
`torchrun --nproc-per-node 2` (gloo, 1 thread each), with the same global batch.

    python benchmarks/scale.py [--epochs 4]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from quality import write_section  # noqa: E402

from alternators_cli.settings import DistributionSettings  # noqa: E402

BIN = Path(sys.executable).parent
RATE = re.compile(r"([\d.]+)k pt·steps/s")


def rate(launcher: list[str], threads: int, epochs: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [*launcher, "train", "pinwheel", "--out", tmp, "--overwrite", "--epochs",
               str(epochs), "--device", "cpu", "--checkpoint-every", "0"]
        env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    rates = [float(m) * 1e3 for m in RATE.findall(done.stderr)]
    return statistics.median(rates[1:] if len(rates) > 1 else rates)  # skip the warm-up epoch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()
    single = [str(BIN / "alternators")]
    double = [str(BIN / "torchrun"), "--standalone", "--nproc-per-node", "2", "-m",
              "alternators_cli"]
    rows = [
        ("1 process, 1 thread", rate(single, 1, args.epochs)),
        ("1 process, 2 threads", rate(single, 2, args.epochs)),
        ("2 processes (torchrun, gloo), 1 thread each", rate(double, 1, args.epochs)),
    ]
    base = rows[0][1]
    lines = [
        f"Default model settings, global batch {DistributionSettings().batch_size}, "
        "pinwheel; median "
        "epoch after the first.",
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
    write_section(ROOT / "docs" / "benchmarks.md", "scale", table)


if __name__ == "__main__":
    main()
