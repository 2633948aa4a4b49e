"""The rich tables of the reports: evaluation (a distribution's metrics, a sequence
model's imputation and forecasts), a checkpoint's description, the built-in sets. Each
command prints JSON instead with --json."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table as RichTable

from alternators_cli.cli.common import print_json, warn


def shown_ratio(value: float | None) -> str:
    """A ratio to a baseline, or "–" where the baseline was exact (no ratio exists)."""
    return "–" if value is None else f"{value:.2f}"


def print_datasets(rows: list[dict]) -> None:
    table = RichTable(title="built-in data sets")
    for col in ("name", "kind", "dim", "description", "pretrained"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["name"], r["kind"], str(r["dim"]), r["description"],
                      "yes" if r["pretrained"] else "")
    Console().print(table)


def print_info(d: dict) -> None:
    table = RichTable(title=f"checkpoint {d['path']}", show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value")
    data_desc = f"{d['data']['name']} ({'built-in' if d['data']['builtin'] else 'file'}, " \
        f"{d['data']['dim']}-D, columns {', '.join(d['data']['columns'][:8])})"
    table.add_row("data", data_desc)
    table.add_row("held-out rows", str(d["heldout_rows"]))
    counts = d["parameters"]
    parts = [f"OPN {counts['opn']:,}", f"STN {counts['stn']:,}"]
    if counts.get("noise_models"):  # Alternator++'s eps_psi and eps_nu
        parts.append(f"noise models {counts['noise_models']:,}")
    table.add_row("parameters", f"{counts['total']:,} ({', '.join(parts)})")
    table.add_row("epochs trained", str(d["epochs_trained"]))
    table.add_row("final loss", "-" if d["final_loss"] is None else f"{d['final_loss']:.5g}")
    if d.get("train_seconds") is not None:
        threads = d.get("train_threads")
        on = f" on {threads} CPU thread(s)" if threads else ""
        table.add_row("training time", f"{d['train_seconds']:.1f}s{on}")
    table.add_row("versions", f"alternators {d['package_version']}, format {d['format_version']}")
    for key, value in d["settings"].items():
        table.add_row(f"  {key}", str(value))
    Console(width=100).print(table)


def print_report(result: dict, as_json: bool, source: str) -> None:
    from alternators_cli.metrics import METRICS

    if as_json:
        print_json(result)
        return
    sizes = f"n = {result['n']}"
    if result.get("units") == "standardised":
        sizes = (f"{result['n']} samples, {result['n_reference']} reference rows, "
                 "standardised units")
    table = RichTable(title=f"{source} vs {result['reference']}", caption=sizes)
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("floor", justify="right")
    table.add_column("ratio", justify="right")
    labels = {"energy_distance": "energy distance", "mmd": "MMD^2", "sliced_w2": "sliced W2"}
    for key in METRICS:
        r = result[key]
        ratio = f"{r['ratio']:.2f}"
        if "ratio_low" in r:
            ratio += f" [{r['ratio_low']:.2f}, {r['ratio_high']:.2f}]"
        table.add_row(labels[key], f"{r['value']:.5g}", f"{r['floor']:.5g}", ratio)
    console = Console(width=100)
    console.print(table)
    if "excess_energy" in result:
        own = "this model" if result.get("baselines") else "samples"
        rows = [(own, result)] + list(result.get("baselines", {}).items())
        title = ("beside baselines fitted on the training part" if result.get("baselines")
                 else "unbiased energy distance and classifier test")
        beside = RichTable(title=title)
        beside.add_column("model")
        beside.add_column("energy (unbiased) [95% interval]", justify="right")
        beside.add_column("classifier accuracy (0.5 = alike)", justify="right")
        for name, r in rows:
            e, c = r["excess_energy"], r["c2st"]
            beside.add_row(name, f"{e['value']:.4f} [{e['low']:.4f}, {e['high']:.4f}]",
                           f"{c['accuracy']:.3f} ± {c['stderr']:.3f}")
        console.print(beside)
    if result.get("warning"):
        warn(f"warning: {result['warning']}")


def print_sequence_report(result: dict, as_json: bool) -> None:
    if as_json:
        print_json(result)
        return
    console = Console(width=110)
    hidden = result.get("hidden_from_step", 1)
    where = f", cells hidden from step {hidden} on" if hidden > 1 else ""
    table = RichTable(title=f"imputation on {result['source']} ({result['segments']} segments "
                            f"of {result['length']} steps{where})")
    for col in ("missing", "pattern", "MAE", "linear interp. MAE", "ratio", "MSE",
                "linear interp. MSE", "90% band cover"):
        table.add_column(col, justify="right")
    for r in result["imputation"]:
        table.add_row(f"{r['missing']:.0%}", r["pattern"], f"{r['mae']:.4g}",
                      f"{r['linear_mae']:.4g}", shown_ratio(r["mae_ratio"]), f"{r['mse']:.4g}",
                      f"{r['linear_mse']:.4g}", f"{r['band_coverage']:.2f}")
    console.print(table)
    fc = result["forecast"]
    how = (f", backtest from {fc['origins']} origins" if fc.get("method") == "rolling origin"
           else "")
    table = RichTable(title=f"forecast at horizon {fc['horizon']}{how} (90 % band covers "
                            f"{fc['band_coverage']:.0%} of the truth)")
    for col in ("model", "MAE", "CRPS"):
        table.add_column(col, justify="right")
    table.add_row("alternator", f"{fc['mae']:.4g}", f"{fc['crps']:.4g}")
    table.add_row("persistence", f"{fc['persistence_mae']:.4g}", f"{fc['persistence_crps']:.4g}")
    if "seasonal_naive_mae" in fc:
        table.add_row(f"seasonal naive ({fc['season']})", f"{fc['seasonal_naive_mae']:.4g}",
                      f"{fc['seasonal_naive_crps']:.4g}")
    console.print(table)
    if "latent_correlation" in result:
        corr = ", ".join(f"{c:.3f}" for c in result["latent_correlation"])
        console.print(f"latent recovery (Pearson r per true state dimension): {corr}")
