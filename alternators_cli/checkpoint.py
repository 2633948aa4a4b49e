"""Self-describing checkpoints: settings, data description, normalisation, held-out data,
training state, format and package versions. Loaded with `weights_only=True` only."""

from __future__ import annotations

import datetime as _dt
import io
import pickle
import warnings
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from alternators_cli.errors import BadInput
from alternators_cli.kinds import build_model, kind_of
from alternators_cli.model import parameter_counts
from alternators_cli.normalize import Normalizer
from alternators_cli.settings import KIND_SETTINGS, DistributionSettings, parse_settings
from alternators_cli.version import __version__

FORMAT = "alternators-checkpoint"
FORMAT_VERSION = 2
PRETRAINED_PREFIX = "pretrained:"


def migrate_v1(payload: dict) -> dict:
    """A format-1 file as format 2: the kind stored once (at the top, not in the settings),
    and only the settings its kind reads. Format 1 kept every setting of both kinds, and
    files written before a setting existed lack it; they ran with the values below."""
    ran_before = {"fourier_features": 0, "opn_fourier_features": 0, "schedule_rho": 1.0,
                  "activation": "silu", "linear_skip": False}
    kind = payload.get("kind", "distribution")
    own = KIND_SETTINGS.get(kind, DistributionSettings).model_fields
    settings = {**ran_before, **payload.get("settings", {})}
    if "normalize" not in payload.get("settings", {}):  # distributions ran one shared scale
        settings["normalize"] = "shared" if kind == "distribution" else "auto"
    settings = {k: v for k, v in settings.items() if k in own and k != "kind"}
    out = {**payload, "format_version": 2, "kind": kind, "settings": settings}
    state = payload.get("state")
    if kind == "distribution" and isinstance(state, dict) and isinstance(state.get("model"),
                                                                         dict):
        weights = dict(state["model"])
        dim, dz = int(payload["data"]["dim"]), int(settings.get("latent_dim", 20))
        weights.setdefault("fourier", torch.zeros(dim, 0))  # the features were off
        weights.setdefault("opn_fourier", torch.zeros(dz, 0))
        out["state"] = {**state, "model": weights}
    return out


# Settings added after format 2 began, by kind: a file written before one existed lacks it
# and ran with the value here, which need not be today's default.
ADDED_SETTINGS = {"sequence": {"increments": False}}

REQUIRED_KEYS = (
    "format", "format_version", "package_version", "kind", "settings", "data",
    "normalizer", "state", "epoch", "history",
)


@dataclass
class Checkpoint:
    """What `sample`, `evaluate`, `animate` and `info` rebuild from a checkpoint file."""

    path: str
    payload: dict
    model: torch.nn.Module  # kinds.build_model of the settings
    normalizer: Normalizer

    @property
    def data(self) -> dict:
        return self.payload["data"]

    @property
    def kind(self) -> str:
        return self.payload["kind"]

    @property
    def model_kind(self):
        """The kinds.ModelKind of the model: how it draws, animates and is scored."""
        return kind_of(self.settings)

    @property
    def settings(self):
        """The settings the model runs with (DistributionSettings or SequenceSettings)."""
        return self.model.config

    @property
    def columns(self) -> list[str]:
        return list(self.data["columns"])

    @property
    def dim(self) -> int:
        return int(self.data["dim"])

    def reference(self):
        """What this model is scored against by default: its built-in set, or its
        held-out part (None when it keeps fewer than 4 rows)."""
        from alternators_cli.evaluation import Reference

        if self.data.get("builtin"):
            return Reference(self.data["name"], True)
        heldout = self.heldout
        if heldout is None or len(heldout) < 4:
            return None
        return Reference(f"held-out part of {self.data['name']}", False, heldout)

    def baseline_samples(self, reference, n: int, seed: int) -> dict | None:
        """Samples of the baselines fitted on the training part (the Gaussian and the
        mixture, baselines.py), for a table reference, with the model's integer columns
        rounded as the model's are."""
        from alternators_cli import baselines

        if reference.builtin:
            return None
        try:
            draws = baselines.load(self.payload.get("baseline"), self.dim)
        except ValueError as err:
            raise BadInput(f"{self.path} has a damaged {err} baseline") from None
        integer = self.normalizer.integer
        rounded = integer is not None and integer.any()
        out = {}
        for name, draw in draws.items():
            points = draw(n, seed)
            if rounded:
                points[:, integer] = points[:, integer].round()
            out[name] = points
        return out or None

    @property
    def heldout(self) -> np.ndarray | None:
        h = self.payload.get("heldout")
        return None if h is None else h.numpy()

    @property
    def heldout_history(self) -> np.ndarray | None:
        """Sequences: the last training steps before the held-out part (what a backtest of
        the held-out part forecasts from); None in files from before it was kept."""
        h = self.payload.get("heldout_history")
        return None if h is None else h.numpy()


    def describe(self) -> dict:
        history = self.payload["history"]
        return {
            "path": self.path,
            "kind": self.payload["kind"],
            "format_version": self.payload["format_version"],
            "package_version": self.payload["package_version"],
            "created": self.payload.get("created"),
            "data": {
                k: self.data[k] for k in ("name", "builtin", "dim", "columns", "rows")
                if k in self.data
            },
            "heldout_rows": 0 if self.heldout is None else int(np.prod(self.heldout.shape[:-1])),
            "settings": self.settings.model_dump(mode="json"),
            "parameters": parameter_counts(self.model),
            "epochs_trained": int(self.payload["epoch"]),
            "final_loss": history[-1] if history else None,
            "train_seconds": self.payload.get("train_seconds"),
            "train_threads": self.payload.get("train_threads"),
        }


def build_payload(trainer, heldout: np.ndarray | None, train_seconds: float) -> dict:
    """Everything a Trainer's run needs to be rebuilt, sampled, scored and resumed."""
    data, kind = trainer.data, kind_of(trainer.settings)
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "package_version": __version__,
        "kind": kind.kind.value,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "settings": trainer.settings.model_dump(mode="json", exclude={"kind"}),
        "data": {
            "name": data.name,
            "builtin": data.builtin,
            "dim": data.dim,
            "columns": list(data.columns),
            "rows": kind.data_rows(data, heldout),
            **({"fingerprint": data.fingerprint} if data.fingerprint else {}),
        },
        "normalizer": trainer.normalizer.to_state(),
        "heldout": None if heldout is None else torch.from_numpy(heldout.astype(np.float32)),
        "heldout_history": kind.heldout_history(data, heldout),
        "state": _to_cpu(trainer.state_dict()),
        "epoch": trainer.epoch,
        "history": list(trainer.history),
        "train_seconds": float(train_seconds),
        # The CPU threads it trained on (--threads, or measured at 0); None off the CPU
        # or before it trained.
        "train_threads": trainer.chosen_threads if trainer.device.type == "cpu" else None,
        "baseline": trainer.baseline,  # name -> parameters (baselines.fit_baselines)
    }


def _to_cpu(obj):
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_to_cpu(v) for v in obj]
    return obj


def save(payload: dict, f) -> None:
    torch.save(payload, f)


def resolve_path(spec: str) -> Path:
    """A file path, or `pretrained:NAME` for a checkpoint shipped inside the package."""
    if spec.startswith(PRETRAINED_PREFIX):
        name = spec[len(PRETRAINED_PREFIX):]
        path = Path(str(resources.files("alternators_cli") / "pretrained" / f"{name}.pt"))
        if not path.exists():
            have = ", ".join(pretrained_names()) or "none"
            raise BadInput(f"no pretrained checkpoint {name!r} (available: {have})")
        return path
    return Path(spec)


def pretrained_names() -> list[str]:
    folder = Path(str(resources.files("alternators_cli") / "pretrained"))
    return sorted(p.stem for p in folder.glob("*.pt")) if folder.is_dir() else []


def load(
    spec: str, device: torch.device | str = "cpu", kind: str | None = None
) -> Checkpoint:
    """Load and validate a checkpoint; never runs code from the file. With `kind`, refuse
    a checkpoint of another kind (e.g. a sequence model given to a distribution command)."""
    path = resolve_path(spec)
    if not path.exists():
        raise BadInput(f"checkpoint not found: {spec}")
    if path.is_dir():
        hint = " (did you mean its model.pt?)" if (path / "model.pt").exists() else ""
        raise BadInput(f"checkpoint {spec} is a directory{hint}")
    if path.is_char_device() or path.is_block_device():  # /dev/zero: no end to read to
        raise BadInput(f"checkpoint {spec} is a device, not a checkpoint file")
    try:
        raw = path.read_bytes()
    except PermissionError:
        raise BadInput(f"checkpoint is not readable: {spec}") from None
    if not raw:
        raise BadInput(f"checkpoint {spec} is empty (0 bytes)")
    try:
        with warnings.catch_warnings():  # torch warns about legacy files before refusing
            warnings.simplefilter("ignore")
            payload = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise BadInput(
            f"checkpoint {spec} holds Python objects that could run code; refused to load it"
        ) from None
    except Exception:  # any other failure to parse: text, truncated zip, garbage bytes
        raise BadInput(f"checkpoint {spec} is truncated or not a PyTorch file") from None
    ckpt = from_payload(payload, str(spec), device)
    if kind is not None and ckpt.kind != kind:
        raise BadInput(
            f"checkpoint {spec} holds a {ckpt.kind} model; this command needs a "
            f"{kind} model"
        )
    return ckpt


def from_payload(payload, name: str, device: torch.device | str = "cpu") -> Checkpoint:
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise BadInput(f"{name} is not an alternators checkpoint (foreign .pt file)")
    version = payload.get("format_version")
    if version == 1:
        payload = migrate_v1(payload)
        version = FORMAT_VERSION
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise BadInput(f"{name} has an invalid checkpoint format version {version!r}")
    if version > FORMAT_VERSION:
        raise BadInput(
            f"{name} has checkpoint format {version!r}, newer than this alternators "
            f"{__version__} reads ({FORMAT_VERSION}); upgrade alternators"
        )
    missing = [k for k in REQUIRED_KEYS if k not in payload]
    if missing:
        raise BadInput(f"{name} is missing {', '.join(missing)}: damaged checkpoint")
    if payload["kind"] not in KIND_SETTINGS:
        raise BadInput(f"{name} holds a model of unknown kind {payload['kind']!r}")
    try:
        if not isinstance(payload["settings"], dict):
            raise TypeError("settings")
        try:
            config = parse_settings({**ADDED_SETTINGS.get(payload["kind"], {}),
                                     **payload["settings"], "kind": payload["kind"]})
        except BadInput as exc:
            raise BadInput(f"{name} has invalid settings: {exc}") from None
        dim = int(payload["data"]["dim"])
        normalizer = Normalizer.from_state(payload["normalizer"])
        if not 1 <= dim <= MAX_DIM:
            raise BadInput(f"{name} has an invalid data dimension {dim}")
        check_normalizer(normalizer, dim, name)
        columns = payload["data"]["columns"]
        if not isinstance(columns, list | tuple) or len(columns) != dim or not all(
            isinstance(c, str) for c in columns
        ):
            raise BadInput(f"{name} does not match its own settings: it names "
                           f"{len(columns) if isinstance(columns, list | tuple) else 'no'} "
                           f"columns for {dim}-D data")
        weights = dict(payload["state"]["model"])
        # Shapes first, on a model without storage (the meta device): settings that ask
        # for a huge model cost nothing unless the file really holds its weights.
        with torch.device("meta"):
            shapes = {k: tuple(v.shape) for k, v in build_model(dim, config).state_dict().items()}
        check_weights(weights, shapes, name)
        model = build_model(dim, config)
        model.load_state_dict(weights)
    except (KeyError, TypeError, AttributeError, RuntimeError, ValueError) as exc:
        detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise BadInput(f"{name} does not match its own settings: {detail}") from None
    model.to(device).eval()
    return Checkpoint(name, payload, model, normalizer)


MAX_DIM = 1_000_000  # columns; data.MAX_COLUMNS is far below


def check_normalizer(normalizer: Normalizer, dim: int, name: str) -> None:
    mean, scale = np.asarray(normalizer.mean), np.asarray(normalizer.scale)
    if mean.shape != (dim,) or scale.shape != (dim,):
        raise BadInput(f"{name} has a normaliser of the wrong shape")
    if not (np.isfinite(mean).all() and np.isfinite(scale).all()):
        raise BadInput(f"{name} has a normaliser with NaN or infinite values: damaged checkpoint")
    if not (scale > 0).all():
        raise BadInput(f"{name} has a normaliser scale <= 0: damaged checkpoint")


def check_weights(weights: dict, shapes: dict, name: str) -> None:
    """The file's weights have exactly the model's names and shapes, and are finite."""
    for key, shape in shapes.items():
        if key not in weights:
            raise BadInput(f"{name} does not match its own settings: weight {key} is missing")
        tensor = weights[key]
        if not isinstance(tensor, torch.Tensor):
            raise BadInput(f"{name} does not match its own settings: {key} is not a tensor")
        if tuple(tensor.shape) != shape:
            raise BadInput(
                f"{name} does not match its own settings: {key} has shape "
                f"{list(tensor.shape)}, the settings make {list(shape)}"
            )
    extra = sorted(set(weights) - set(shapes))
    if extra:
        raise BadInput(f"{name} does not match its own settings: unexpected weight {extra[0]}")
    for key, tensor in weights.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise BadInput(f"{name} has NaN or infinite weights ({key}): damaged checkpoint")


def slim(payload: dict) -> dict:
    """A sampling-only copy (no optimiser, EMA or RNG state): what pretrained files ship."""
    out = dict(payload)
    out["state"] = {"model": payload["state"]["model"]}
    return out


def can_resume(payload: dict) -> bool:
    return {"train_model", "optimizer", "scheduler", "ema"} <= set(payload["state"])


if __name__ == "__main__":  # python -m alternators_cli.checkpoint slim IN OUT
    import sys

    from alternators_cli.files import atomic_write_with

    if len(sys.argv) != 4 or sys.argv[1] != "slim":
        sys.exit("usage: python -m alternators_cli.checkpoint slim IN.pt OUT.pt")
    slimmed = slim(load(sys.argv[2]).payload)
    Path(sys.argv[3]).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_with(Path(sys.argv[3]), lambda f: save(slimmed, f))
