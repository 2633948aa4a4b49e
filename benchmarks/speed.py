"""Speed against the machine's own limit (`make bench-speed`), in one run, one table.

- the machine: torch.mm GFLOP/s on large square float32 matrices, 1 and 2 threads;
- sampling: points/s at the default T for n = 1e3, 1e5, 1e6, FLOPs per point, achieved
  GFLOP/s as a fraction of the measured peak, beside variants of the default and the
  authors' network size;
- training: points·steps/s, and time to quality: wall seconds of training (evaluation
  excluded) until the held-out energy-distance ratio on pinwheel is <= 3;
- memory: peak RSS of `alternators sample -n 10000000 --format npy -o FILE` (and of 1e6,
  to show memory flat in n);
- the authors' sampler beside ours, in this run (`--authors PATH`, a clone of
  vertaix/Alternators: its `alternators_static.py` is imported from there at run time,
  nothing of it is copied here);
- whole processes: `alternators --version`, and `alternators sample -c pretrained:pinwheel
  -n 1000000 -o FILE` (npy and CSV) beside the same model and n sampled in this process;
- training beside a busy process: `alternators train pinwheel` alone, and with one
  single-threaded CPU-bound process running.

Rows compared with each other are measured in turns (A B A B ...) and reported as medians,
so that a change in the host's load falls on both sides alike.

    python -m benchmarks.speed [--quick] [--authors PATH] [--only SECTION,...]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

# As the command line runs torch (alternators_cli.cli.limit_openmp_spinning), so that this
# process's rates and a whole `alternators` process's are of the same threads: read when
# torch loads its OpenMP runtime, hence before the import.
if "OMP_WAIT_POLICY" not in os.environ:
    os.environ.setdefault("GOMP_SPINCOUNT", "300")

import torch  # noqa: E402

from benchmarks import common  # noqa: E402

EVAL_N = 5000

# Measured side by side with the default, for sampling and for training: each one setting
# (or a group) away from it.
VARIANTS = {
    "ours (default)": {},
    "ours, no linear skip": {"linear_skip": False},
    "ours, SiLU, no linear skip": {"activation": "silu", "linear_skip": False},
    "ours, 16 OPN features": {"opn_fourier_features": 16},
    "ours, STN features only": {"opn_fourier_features": 0},
    "ours, no Fourier features": {"fourier_features": 0, "opn_fourier_features": 0},
}
AUTHORS = ("authors' size (hidden 128, 2 layers, T 15, SiLU)", {
    "hidden": 128, "layers": 2, "steps": 15, "fourier_features": 0, "opn_fourier_features": 0,
    "activation": "silu", "linear_skip": False})


def sampling_rate(model, n: int) -> float:
    normalizer = common.identity_normalizer(2)

    def run():
        for _ in common.sample_chunks(model, normalizer, n, seed=0):
            pass

    seconds = common.median_time(run, 3 if n <= 100_000 else 1)
    return n / seconds


def time_to_quality(target: float = 3.0, limit_s: float = 300.0) -> tuple[float | None, int]:
    trainer = common.builtin_trainer("pinwheel", 0, {})
    reference = common.draw_builtin("pinwheel", EVAL_N, 4242)
    floor = statistics.mean(
        common.energy_distance(common.draw_builtin("pinwheel", EVAL_N, 100 + i),
                               common.draw_builtin("pinwheel", EVAL_N, 200 + i))
        for i in range(3)
    )
    state = {"train_s": 0.0, "hit": None}
    tick = [time.perf_counter()]

    def on_epoch(report) -> bool:
        state["train_s"] += time.perf_counter() - tick[0]
        if report.epoch % 5 == 0:
            pts = common.sample(trainer.sampling_model(), trainer.normalizer, EVAL_N, seed=1)
            if common.energy_distance(pts, reference) / floor <= target:
                state["hit"] = state["train_s"]
                return False
        tick[0] = time.perf_counter()
        return state["train_s"] < limit_s

    trainer.run(on_epoch)
    return state["hit"], trainer.epoch


def training_rate(overrides: dict) -> float:
    trainer = common.builtin_trainer("pinwheel", 0, {**overrides, "epochs": 3})
    rates = []
    trainer.run(lambda r: rates.append(r.points_per_second))
    return statistics.median(rates[1:])


# ---- the authors' sampler -------------------------------------------------------------

AUTHORS_MODULE = "alternators_static"
AUTHORS_BATCH = 1000  # their toy_example.py's --batch_size
NOT_MEASURED = "not measured (give --authors PATH to a clone of vertaix/Alternators)"


def authors_clone(text: str) -> Path:
    """argparse type: a folder holding the authors' alternators_static.py."""
    path = Path(text).expanduser()
    if not (path / f"{AUTHORS_MODULE}.py").is_file():
        raise argparse.ArgumentTypeError(
            f"no {AUTHORS_MODULE}.py in {text} (a clone of vertaix/Alternators)")
    return path.resolve()


def load_authors(clone: Path) -> types.ModuleType:
    """Their `alternators_static`, imported from the clone by its file path. At its top it
    imports einops (used nowhere in the file) and sklearn's KernelDensity (used only to
    plot): whichever of them is not installed is stood in for by an empty module, which
    sampling never touches."""
    for name, attrs in (("einops", {}), ("sklearn", {}),
                        ("sklearn.neighbors", {"KernelDensity": None})):
        try:
            importlib.import_module(name)
        except ImportError:
            stand_in = types.ModuleType(name, "stand-in: imported, not used to sample")
            stand_in.__dict__.update(attrs)
            sys.modules[name] = stand_in
    spec = importlib.util.spec_from_file_location(AUTHORS_MODULE,
                                                  clone / f"{AUTHORS_MODULE}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[AUTHORS_MODULE] = module
    spec.loader.exec_module(module)
    return module


class AuthorsSampler:
    """Their toy model as their toy_example.py builds it (latent 20, T 15, alpha 0.7, noise
    max 0.5, one layer) with their initialisation (random weights: the rate does not depend
    on them), sampled as they sample: `model(eps_x0, eps_x0, eps_z0, False, True)` per
    batch, the points in `model.x_hat[-1]`; under torch.no_grad(), which only spares
    them autograd's bookkeeping."""

    def __init__(self, module: types.ModuleType):
        torch.manual_seed(0)
        self.model = module.Alt_static(latent_dim=20, obser_dim=2, number_step=15, alpha=0.7,
                                       noise_max=0.5, n_layers=1, device=torch.device("cpu"))
        self.model.apply(module.init_weights)
        self.model.eval()
        self.params = sum(p.numel() for p in self.model.parameters())
        # FLOPs of one point: its linear layers at each of steps 1..T-1 (their loop).
        self.flops = 2 * (self.model.number_step - 1) * sum(
            int(m.in_features) * int(m.out_features) for m in self.model.modules()
            if isinstance(m, torch.nn.Linear))

    def sample(self, n: int, batch: int = AUTHORS_BATCH) -> torch.Tensor:
        with torch.no_grad():
            for start in range(0, n, batch):
                size = min(batch, n - start)
                eps_x0, eps_z0 = torch.randn(size, 2), torch.randn(size, 20)
                self.model(eps_x0, eps_x0, eps_z0, False, True)
                points = self.model.x_hat[-1]
        return points


def ours_in_process(model, normalizer, n: int):
    """n points of `model` as `alternators sample` draws them, in this process."""
    def run():
        for _ in common.sample_chunks(model, normalizer, n, seed=0):
            pass
    return run


def authors_rows(clone: Path | None, quick: bool) -> tuple[list[str], float | None]:
    """Their points/s beside ours (pretrained:pinwheel, in process), in turns; and their
    best rate (None when not measured)."""
    if clone is None:
        return [f"| authors' sampler | vertaix/Alternators toy `Alt_static` | {NOT_MEASURED} |"
                ], None
    theirs = AuthorsSampler(load_authors(clone))
    model, normalizer = common.load_model("pretrained:pinwheel")
    rows, best = [], 0.0

    def at(threads: int, fn):  # theirs at 1 and at 2 torch threads: the better is theirs
        def run():
            before = torch.get_num_threads()
            torch.set_num_threads(threads)
            try:
                fn()
            finally:
                torch.set_num_threads(before)
        return run

    for n, repeats in ((1_000, 21), (100_000, 1 if quick else 3)):
        runs = {}
        for threads in (1, 2):
            runs[f"batches of {AUTHORS_BATCH:,}, {threads} thread(s)"] = at(
                threads, lambda n=n: theirs.sample(n))
            if n > AUTHORS_BATCH:
                runs[f"one batch of {n:,}, {threads} thread(s)"] = at(
                    threads, lambda n=n: theirs.sample(n, n))
        runs["ours"] = ours_in_process(model, normalizer, n)
        seconds = common.paired_medians(runs, repeats)
        ours = n / seconds.pop("ours")
        for how, s in seconds.items():
            rate = n / s
            best = max(best, rate)
            rows.append(f"| authors' sampler (vertaix/Alternators toy `Alt_static`, "
                        f"{theirs.params:,} params, T 15, {theirs.flops / 1e3:.0f} "
                        f"kFLOP/point), in process | n = {n:,}, {how} | {rate:,.0f} "
                        f"points/s ({rate * theirs.flops / 1e9:.1f} GFLOP/s); ours "
                        f"(pretrained:pinwheel, in process, paired) {ours:,.0f} points/s = "
                        f"{ours / rate:.1f}x |")
    return rows, best


# ---- whole processes ---------------------------------------------------------------------


def process_rows(quick: bool, authors_best: float | None) -> list[str]:
    """`alternators --version`, and `sample -c pretrained:pinwheel -n N -o FILE` (npy, CSV)
    as whole processes beside the same model and n sampled in this process, in turns."""
    n = 100_000 if quick else 1_000_000
    version = common.paired_medians({"v": lambda: common.run_cli("--version")}, 3 if quick
                                    else 9)["v"]
    rows = [f"| whole process | `alternators --version` | {version:.2f} s (target < 0.5 s): "
            f"{'met' if version < 0.5 else 'MISSED'} |"]
    model, normalizer = common.load_model("pretrained:pinwheel")
    with tempfile.TemporaryDirectory() as tmp:
        def cli(fmt: str, count: int):
            out = Path(tmp) / f"samples.{fmt}"
            return lambda: (common.run_cli("sample", "-c", "pretrained:pinwheel", "-n",
                                           str(count), "--format", fmt, "-o", str(out)),
                            out.unlink())
        seconds = common.paired_medians(
            {"start": cli("npy", 1), "npy": cli("npy", n),
             "in": ours_in_process(model, normalizer, n), "csv": cli("csv", n)},
            1 if quick else 3)
    inside = n / seconds["in"]
    rows.append(f"| whole process | `sample -c pretrained:pinwheel -n 1 --format npy -o FILE` "
                f"(the fixed cost: start, imports, loading) | {seconds['start']:.2f} s |")
    rows.append(f"| in process | pretrained:pinwheel, n = {n:,} (as `sample` draws them) | "
                f"{inside:,.0f} points/s |")
    for fmt in ("npy", "csv"):
        rate = n / seconds[fmt]
        share = rate / inside
        line = (f"| whole process | `sample -c pretrained:pinwheel -n {n:,} --format {fmt} "
                f"-o FILE` | {seconds[fmt]:.2f} s = {rate:,.0f} points/s = {100 * share:.0f}% "
                "of in process")
        if fmt == "npy":
            line += f" (target >= 80%: {'met' if share >= 0.8 else 'MISSED'})"
            if authors_best is not None:
                times = rate / authors_best
                line += (f"; {times:.1f}x the authors' best in-process rate (target >= 10x: "
                         f"{'met' if times >= 10 else 'MISSED'})")
            else:
                line += "; against the authors': " + NOT_MEASURED
        rows.append(line + " |")
    return rows


# ---- training beside a busy process --------------------------------------------------


def threads_picked(counts: list[int | None]) -> str:
    """'2', or '1 / 2 / 1' where the runs picked differently."""
    shown = ["?" if c is None else str(c) for c in counts]
    return shown[0] if len(set(shown)) == 1 else " / ".join(shown)


def busy_rows(quick: bool) -> list[str]:
    """`alternators train pinwheel --epochs E` (default threads) alone and with one busy
    single-threaded process (a Python loop, not niced) running, in turns; the same with
    GNU OpenMP's default wait (300,000 spins, then sleep), as before the command line set
    GOMP_SPINCOUNT: an empty OMP_WAIT_POLICY, which makes the command line leave OpenMP
    alone and which OpenMP reads as unset (after a warning on stderr); and with
    OMP_WAIT_POLICY=PASSIVE (no spinning)."""
    settings = common.settings()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        def train(epochs: int, busy: bool, given: dict):
            # The command line's own OpenMP settings unless given: none inherited from here.
            env = {k: v for k, v in common.cli_env(**given).items()
                   if k in given or k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}

            def run():
                competitor = (subprocess.Popen([sys.executable, "-c", "while True: pass"])
                              if busy else None)
                try:
                    common.run_cli("train", "pinwheel", "--epochs", str(epochs), "--out", tmp,
                                   "--overwrite", "--device", "cpu", "-q", env=env)
                finally:
                    if competitor is not None:
                        competitor.kill()
                        competitor.wait()
                trained_s, threads = common.training_record(Path(tmp) / "model.pt")
                seconds.append(trained_s)
                picked.append(threads)
            return run

        for label, epochs, env in (("default", 3 if quick else 20, {}),
                                   ("GNU OpenMP's default wait (as before)",
                                    2 if quick else 5, {"OMP_WAIT_POLICY": ""}),
                                   ("OMP_WAIT_POLICY=PASSIVE", 3 if quick else 10,
                                    {"OMP_WAIT_POLICY": "PASSIVE"})):
            seconds: list[float] = []
            picked: list[int | None] = []  # threads each run trained on, as seconds
            runs = {"alone": train(epochs, False, env), "busy": train(epochs, True, env)}
            walls = common.paired_medians(runs, 1 if quick else 3, warm_up=False)
            alone_s = statistics.median(seconds[0::2])
            busy_s = statistics.median(seconds[1::2])
            work = epochs * settings.epoch_size * settings.steps
            ratio = busy_s / alone_s
            rows.append(
                f"| train beside a busy process | `train pinwheel --epochs {epochs}`, {label} "
                f"(--threads 0 picked {threads_picked(picked[0::2])} alone, "
                f"{threads_picked(picked[1::2])} busy) | alone {work / alone_s:,.0f} "
                f"points·steps/s ({alone_s:.1f} s of training, {walls['alone']:.1f} s "
                f"whole command); with one busy process {work / busy_s:,.0f} points·steps/s "
                f"({busy_s:.1f} s, {walls['busy']:.1f} s); {ratio:.2f}x the time alone "
                f"(target <= 2x: {'met' if ratio <= 2 else 'MISSED'}) |")
    return rows


def peak_rss_mb(ckpt: Path, n: int) -> tuple[float, float]:
    """Peak RSS (MB) and wall seconds of the CLI writing n samples as .npy."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "big.npy"
        script = (
            "import resource, subprocess, sys, time; t = time.perf_counter(); "
            "subprocess.run(sys.argv[1:], check=True); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, "
            "time.perf_counter() - t)"
        )
        cmd = [sys.executable, "-c", script, *common.cli_command(), "sample", "-c", str(ckpt),
               "-n", str(n), "--format", "npy", "-o", str(out)]
        done = subprocess.run(cmd, check=True, capture_output=True, text=True,
                              env=common.cli_env())
        rss_kb, seconds = done.stdout.split()
    return int(rss_kb) / 1024, float(seconds)


SECTIONS = ("sampling", "training", "quality", "memory", "authors", "process", "busy")


def sections(text: str) -> tuple[str, ...]:
    """argparse type: a comma-separated subset of SECTIONS."""
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in SECTIONS]
    if unknown or not names:
        given = ", ".join(unknown) if unknown else repr(text)
        raise argparse.ArgumentTypeError(
            f"not sections: {given} (choose from {', '.join(SECTIONS)})")
    return names


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = common.argument_parser(__spec__, __doc__)
    parser.add_argument("--quick", action="store_true",
                        help="small n and few repeats: skip n = 1e6 and the 1e7 RSS run")
    parser.add_argument("--authors", type=authors_clone, metavar="PATH",
                        help="a clone of vertaix/Alternators: time its toy sampler beside ours")
    parser.add_argument("--only", type=sections, metavar="SECTION,...",
                        help=f"run only these ({', '.join(SECTIONS)}); print the table, "
                        "leave docs/benchmarks.md as it is")
    return parser.parse_args(argv)


def main() -> None:
    host = common.Host()
    args = parse_args()
    run = set(args.only or SECTIONS)
    common.reuse_freed_memory()  # as `alternators train` does
    rows = []
    measured = {t: common.matmul_peak(t) for t in (1, 2)}
    peak = {t: max(v[0] for v in measured.values()) if t == 2 else measured[1][0]
            for t in (1, 2)}  # 2 threads can do at least what 1 does
    torch.set_num_threads(2)
    rows.append(f"| machine | torch.mm, best of square float32 256..2048 | 1 thread "
                f"{measured[1][0]:.1f} GFLOP/s (n = {measured[1][1]}), 2 threads "
                f"{measured[2][0]:.1f} GFLOP/s (n = {measured[2][1]}); peak used: "
                f"{peak[2]:.1f} |")
    configs = {label: overrides for label, overrides in [*VARIANTS.items(), AUTHORS]}
    sizes = [1_000, 100_000] + ([] if args.quick else [1_000_000])
    authors_best = None
    if "authors" in run:
        authors, authors_best = authors_rows(args.authors, args.quick)
        rows += authors
    if "process" in run:
        rows += process_rows(args.quick, authors_best)
    if "busy" in run:
        rows += busy_rows(args.quick)
    for label, overrides in configs.items() if "sampling" in run else ():
        model = common.network(2, common.settings(**overrides))
        flops = common.flops(model)
        params = common.parameter_count(model)
        for n in sizes:
            rate = sampling_rate(model, n)
            gflops = rate * flops / 1e9
            rows.append(
                f"| sample {label}, {params:,} params | n = {n:,} | {rate:,.0f} points/s, "
                f"{flops / 1e3:.0f} kFLOP/point, {gflops:.1f} GFLOP/s = "
                f"{100 * gflops / peak[2]:.0f}% of peak |"
            )
    for label, overrides in VARIANTS.items() if "training" in run else ():
        settings = common.settings(**overrides)
        rate = training_rate(overrides)
        rows.append(f"| train, {label} | batch {settings.batch_size}, T {settings.steps} | "
                    f"{rate:,.0f} points·steps/s |")
    if "quality" in run:
        hit, epochs = time_to_quality()
        rows.append(
            f"| time to quality | pinwheel, energy ratio <= 3 (n = {EVAL_N:,}, checked every "
            "5 epochs, evaluation time excluded) | "
            + (f"{hit:.1f} s of training ({epochs} epochs) |" if hit is not None
               else f"not reached in {epochs} epochs |")
        )
    if "memory" in run:
        with tempfile.TemporaryDirectory() as tmp:  # a 1-epoch model: the default's size
            common.run_cli("train", "pinwheel", "--epochs", "1", "--out", tmp, "--overwrite",
                           "--device", "cpu")
            for n in ([1_000_000] if args.quick else [1_000_000, 10_000_000]):
                rss, seconds = peak_rss_mb(Path(tmp) / "model.pt", n)
                rows.append(f"| memory | `sample -n {n:,} --format npy -o FILE` | peak RSS "
                            f"{rss:.0f} MB, {seconds:.1f} s |")
    header = [
        host.line(2, peak[2]),
        "",
        f"{torch.get_num_threads()} threads unless stated, GOMP_SPINCOUNT="
        f"{os.environ.get('GOMP_SPINCOUNT')}, OMP_WAIT_POLICY="
        f"{os.environ.get('OMP_WAIT_POLICY')} (the command line's) unless stated; "
        "medians of repeated runs, rows compared with each other measured in turns.",
        "",
        "| what | setting | result |",
        "|---|---|---|",
    ]
    table = "\n".join(header + rows)
    print(table)
    if args.only is None:
        common.write_section(common.BENCHMARKS_MD, "speed", table)


if __name__ == "__main__":
    main()
