"""The engine: shapes, the sampling equations of SPEC section 1 checked by hand,
schedules, the training loss, determinism and chunking of the sampler."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from alternators_cli import engine
from alternators_cli.datasets import draw_builtin
from alternators_cli.engine import sample_chunks
from alternators_cli.model import Alternator, parameter_counts
from alternators_cli.normalize import Normalizer
from alternators_cli.settings import DistributionSettings, Objective


def tiny_config(**overrides) -> DistributionSettings:
    values = dict(steps=3, latent_dim=3, hidden=8, layers=2, noise_max=0.6, noise_min=0.05,
                  sigma_z_scale=0.5, alpha=0.6)
    values.update(overrides)
    return DistributionSettings(**values)


def tiny_model(dim: int = 2, seed: int = 0, **overrides) -> Alternator:
    torch.manual_seed(seed)
    return Alternator(dim, tiny_config(**overrides)).eval()


def f_theta(model: Alternator, z: torch.Tensor, t: int) -> torch.Tensor:
    """The OPN at step index t (0-based): it reads z and the Fourier features of z, and its
    step embedding is a first-layer bias."""
    return model.opn(model.opn_input(z), model.opn.step(model.step_features[t]))


def g_phi(model: Alternator, x: torch.Tensor, t: int) -> torch.Tensor:
    """The STN at step index t: it reads x and the Fourier features of x."""
    return model.stn(model.stn_input(x), model.stn.step(model.step_features[t]))


# ---- the sampling cycle, by hand --------------------------------------------------------


@torch.no_grad()
def test_sampling_steps_follow_the_spec_equations():
    model = tiny_model(dim=2, steps=2)
    n, dz, dx = 7, 3, 2
    frames = model.sample(n, torch.Generator().manual_seed(123), all_steps=True)

    # Replay the same random draws in the sampler's order: z_0, eps_x1, eps_z1, eps_x2.
    g = torch.Generator().manual_seed(123)
    z0 = torch.randn(n, dz, generator=g)
    eps_x1 = torch.randn(n, dx, generator=g)
    eps_z1 = torch.randn(n, dz, generator=g)
    eps_x2 = torch.randn(n, dx, generator=g)
    sx = model.sigma_x.double()
    sz = model.sigma_z.double()
    a = model.alpha.double()

    # x_1 = sqrt(1 - sigma_x[1]^2) f(z_0, 1) + sigma_x[1] eps_x
    x1 = math.sqrt(1 - sx[0] ** 2) * f_theta(model, z0, 0).double() + sx[0] * eps_x1
    # z_1 = sqrt(alpha) g(x_1, 1) + sqrt(1 - alpha - sigma_z^2) z_0 + sigma_z eps_z
    z1 = (
        math.sqrt(a[0]) * g_phi(model, x1.float(), 0).double()
        + math.sqrt(1 - a[0] - sz[0] ** 2) * z0
        + sz[0] * eps_z1
    )
    x2 = math.sqrt(1 - sx[1] ** 2) * f_theta(model, z1.float(), 1).double() + sx[1] * eps_x2

    assert frames.shape == (2, n, dx)
    torch.testing.assert_close(frames[0].double(), x1, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(frames[1].double(), x2, atol=1e-5, rtol=1e-5)


@torch.no_grad()
def test_coefficient_buffers_match_the_schedules():
    model = tiny_model(steps=5)
    sx, sz, a = (model.sigma_x.double(), model.sigma_z.double(), model.alpha.double())
    torch.testing.assert_close(model.x_keep.double(), torch.sqrt(1 - sx**2), atol=1e-6, rtol=0)
    torch.testing.assert_close(model.z_in.double(), torch.sqrt(a), atol=1e-6, rtol=0)
    torch.testing.assert_close(
        model.z_keep.double(), torch.sqrt(1 - a - sz**2), atol=1e-6, rtol=0
    )


@torch.no_grad()
def test_the_last_frame_is_the_sample():
    model = tiny_model()
    full = model.sample(6, torch.Generator().manual_seed(5), all_steps=True)
    last = model.sample(6, torch.Generator().manual_seed(5))
    torch.testing.assert_close(full[-1], last, atol=0, rtol=0)


# ---- schedules --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "steps,noise_max,noise_min,scale,alpha",
    [(15, 0.5, 0.01, 1.0, 0.7), (6, 0.9, 0.01, 0.5, 0.5), (4, 0.3, 0.3, 2.0, 0.5)],
)
def test_schedules(steps, noise_max, noise_min, scale, alpha):
    model = tiny_model(steps=steps, noise_max=noise_max, noise_min=noise_min,
                       sigma_z_scale=scale, alpha=alpha)
    sx = model.sigma_x.double().numpy()
    sz = model.sigma_z.double().numpy()
    a = model.alpha.double().numpy()
    assert sx.shape == sz.shape == a.shape == (steps,)
    np.testing.assert_allclose(sx, np.linspace(noise_max, noise_min, steps), atol=1e-6)
    assert np.all(np.diff(sx) <= 1e-7), "sigma_x must fall from noise_max to noise_min"
    assert np.all((sx > 0) & (sx < 1))
    np.testing.assert_allclose(sz, scale * sx, atol=1e-6)
    np.testing.assert_allclose(a, alpha, atol=1e-7)
    assert np.all(a + sz**2 <= 1 + 1e-6)


# The spec allows alpha + sigma_z^2 = 1 exactly (the latent then forgets z_{t-1}); with
# these values the float arithmetic lands a hair above 1 and sqrt(1 - alpha - sigma_z^2)
# must not become NaN.
@pytest.mark.parametrize("alpha,noise_max,scale", [(0.36, 0.8, 1.0), (0.91, 0.3, 1.0)])
@torch.no_grad()
def test_boundary_alpha_plus_sigma_z_squared_equal_to_one_gives_finite_samples(
    alpha, noise_max, scale
):
    model = tiny_model(steps=3, alpha=alpha, noise_max=noise_max, noise_min=0.01,
                       sigma_z_scale=scale)
    assert torch.isfinite(model.z_keep).all(), f"z_keep = {model.z_keep.tolist()}"
    x = model.sample(16, torch.Generator().manual_seed(0))
    assert torch.isfinite(x).all()


@pytest.mark.parametrize("rho", [3.0, 7.0])
def test_a_larger_rho_keeps_the_ends_and_spends_more_steps_at_low_noise(rho):
    linear = tiny_model(steps=15, noise_max=0.9, noise_min=0.01).sigma_x.double()
    model = tiny_model(steps=15, noise_max=0.9, noise_min=0.01, schedule_rho=rho)
    sx = model.sigma_x.double()
    assert sx[0].item() == pytest.approx(0.9) and sx[-1].item() == pytest.approx(0.01)
    assert torch.all(sx[1:-1] < linear[1:-1]), f"rho={rho}: {sx.tolist()}"
    assert torch.all(torch.diff(sx) < 0), "sigma_x must fall from noise_max to noise_min"
    # Karras et al. (2022), eq. 5: sigma^(1/rho) is linear in the step.
    root = sx ** (1 / rho)
    torch.testing.assert_close(torch.diff(root), torch.full((14,), (root[-1] - root[0]).item() / 14,
                               dtype=torch.float64), atol=1e-6, rtol=0)
    # The coefficients of (1) and (2) follow the schedule.
    torch.testing.assert_close(model.x_keep.double(), torch.sqrt(1 - sx**2), atol=1e-6, rtol=0)
    torch.testing.assert_close(model.sigma_z.double(), 0.5 * sx, atol=1e-6, rtol=0)


def test_rho_one_is_exactly_the_linear_schedule_older_checkpoints_ran():
    model = tiny_model(steps=15, noise_max=0.9, noise_min=0.01, schedule_rho=1.0)
    linear = torch.linspace(0.9, 0.01, 15, dtype=torch.float64).float()
    assert torch.equal(model.sigma_x, linear)


def test_single_step_model_uses_noise_min():
    model = tiny_model(steps=1, noise_max=0.8, noise_min=0.1)
    assert model.sigma_x.tolist() == pytest.approx([0.1])
    x = model.sample(5, torch.Generator().manual_seed(0), all_steps=True)
    assert x.shape == (1, 5, 2)


# ---- loss -------------------------------------------------------------------------------


def _normalised_batch(n=256, seed=0) -> torch.Tensor:
    points = draw_builtin("8gaussians", n, seed)
    return torch.from_numpy(Normalizer.fit(points).encode(points))


@pytest.mark.parametrize("objective", [Objective.energy, Objective.mse])
def test_loss_is_a_finite_differentiable_scalar(objective):
    model = tiny_model(objective=objective).train()
    loss = model.loss(_normalised_batch(64), torch.Generator().manual_seed(0))
    assert loss.shape == ()
    assert torch.isfinite(loss)
    loss.backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(float(g.abs().sum()) > 0 for g in grads)


@pytest.mark.parametrize("objective", [Objective.energy, Objective.mse])
def test_loss_decreases_over_a_few_adam_steps(objective):
    model = tiny_model(objective=objective, hidden=32).train()
    x = _normalised_batch()

    def fixed_noise_loss() -> float:
        with torch.no_grad():
            return model.loss(x, torch.Generator().manual_seed(99)).item()

    before = fixed_noise_loss()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(1)
    for _ in range(40):
        loss = model.loss(x, g)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = fixed_noise_loss()
    assert math.isfinite(after)
    assert after < 0.9 * before, (before, after)


def _loss_by_hand(model: Alternator, x: torch.Tensor, generator: torch.Generator):
    """The teacher-forced energy loss of docs/model.md, one step at a time: at step t the
    OPN decodes m draws z_{t-1} = zbar_{t-1} + s_{t-1} eps_j and is scored by the energy
    score against x; then the STN reads the noised x~_t and (2) moves zbar on."""
    T, B, m, dz = model.steps, x.shape[0], model.config.draws, model.config.latent_dim
    eps = torch.randn(T, B, x.shape[1], generator=generator)  # the loss's own draw order
    noise = torch.randn(T, m, B, dz, generator=generator)
    zbar, s, scores = torch.zeros(B, dz), 1.0, []

    def norm(v):  # |v|, smoothed at 0 as the model's is (a finite gradient at f_j = f_j)
        return torch.sqrt((v * v).sum(-1) + 1e-8)

    for t in range(T):
        f = [f_theta(model, zbar + s * noise[t, j], t) for j in range(m)]
        fit = sum(norm(fj - x) for fj in f) / m
        spread = sum(
            norm(f[j] - f[k]) for j in range(m) for k in range(m) if j != k
        ) / (2 * m * (m - 1))
        scores.append((fit - spread).mean())
        x_noised = torch.sqrt(1 - model.sigma_x[t] ** 2) * x + model.sigma_x[t] * eps[t]
        z_prev = zbar + s * noise[t, 0]
        zbar = (torch.sqrt(model.alpha[t]) * g_phi(model, x_noised, t)
                + torch.sqrt(1 - model.alpha[t] - model.sigma_z[t] ** 2) * z_prev)
        s = model.sigma_z[t]
    return torch.stack(scores).mean()


@pytest.mark.parametrize("steps", [1, 2, 5])
def test_loss_and_its_gradients_match_the_equations_step_by_step(steps):
    model = tiny_model(steps=steps, draws=3, fourier_features=4, opn_fourier_features=4)
    x = _normalised_batch(16)
    params = list(model.parameters())

    def gradients(loss):  # a parameter the loss does not reach has gradient 0
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        return [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads, strict=True)]

    loss = model.loss(x, torch.Generator().manual_seed(7))
    expected = _loss_by_hand(model, x, torch.Generator().manual_seed(7))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    grads, expected_grads = gradients(loss), gradients(expected)
    for (name, _), got, want in zip(model.named_parameters(), grads, expected_grads, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6, msg=name)
    # With one step the STN's output is never read; with more it is trained.
    stn_grads = [g for (name, _), g in zip(model.named_parameters(), grads, strict=True)
                 if name.startswith("stn.")]
    assert (steps == 1) == all(float(g.abs().sum()) == 0 for g in stn_grads)


def test_linear_skip_adds_a_linear_map_of_each_networks_raw_input():
    features = dict(fourier_features=4, opn_fourier_features=4)
    skipped = tiny_model(linear_skip=True, **features)
    plain = tiny_model(linear_skip=False, **features)
    # The skip starts at zero and draws nothing: every other weight is the plain network's.
    shared = plain.state_dict()
    for name, value in skipped.state_dict().items():
        if name.endswith(".skip"):
            assert float(value.abs().sum()) == 0
        else:
            assert torch.equal(value, shared[name]), name
    assert {n for n in skipped.state_dict() if n not in shared} == {"opn.skip", "stn.skip"}
    with torch.no_grad():
        skipped.opn.skip.normal_()
        skipped.stn.skip.normal_()
    z, x = torch.randn(7, 3), torch.randn(7, 2)  # latent_dim 3, data 2
    for t in range(skipped.steps):
        # f(z) = MLP([z, sin zC, cos zC]) + S_f z and g(x) = MLP([x, sin xB, cos xB]) + S_g x:
        # the skip reads the raw columns only, not the Fourier features.
        torch.testing.assert_close(
            f_theta(skipped, z, t) - f_theta(plain, z, t), z @ skipped.opn.skip.T)
        torch.testing.assert_close(
            g_phi(skipped, x, t) - g_phi(plain, x, t), x @ skipped.stn.skip.T)
    # Both skips are trained.
    loss = skipped.loss(_normalised_batch(16), torch.Generator().manual_seed(0))
    grad_opn, grad_stn = torch.autograd.grad(loss, [skipped.opn.skip, skipped.stn.skip])
    assert float(grad_opn.abs().sum()) > 0 and float(grad_stn.abs().sum()) > 0


def test_loss_is_deterministic_given_the_generator():
    model = tiny_model()
    x = _normalised_batch(32)
    a = model.loss(x, torch.Generator().manual_seed(3)).item()
    b = model.loss(x, torch.Generator().manual_seed(3)).item()
    c = model.loss(x, torch.Generator().manual_seed(4)).item()
    assert a == b
    assert a != c


# ---- shapes, determinism, chunking --------------------------------------------------------


@pytest.mark.parametrize("dim", [1, 2, 5])
@torch.no_grad()
def test_model_sample_shapes(dim):
    model = tiny_model(dim=dim, steps=4)
    g = torch.Generator().manual_seed(0)
    assert model.sample(9, g).shape == (9, dim)
    assert model.sample(9, g, all_steps=True).shape == (4, 9, dim)


def _identity_normalizer(dim=2) -> Normalizer:
    return Normalizer(np.zeros(dim, np.float32), np.ones(dim, np.float32))


def test_engine_sample_shapes_and_data_units():
    model = tiny_model(steps=4)
    norm = Normalizer(np.array([10.0, -5.0], np.float32), np.array([3.0, 3.0], np.float32))
    out = engine.sample(model, norm, 11, seed=0)
    assert out.shape == (11, 2) and out.dtype == np.float32
    frames = engine.sample(model, norm, 11, seed=0, all_steps=True)
    assert frames.shape == (4, 11, 2)
    # Output is in data units: undoing the normaliser gives the model's own samples.
    raw = engine.sample(model, _identity_normalizer(), 11, seed=0)
    np.testing.assert_allclose(out, raw * 3.0 + np.array([10.0, -5.0]), rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(frames[-1], out)


def test_engine_sample_is_deterministic_in_the_seed():
    model = tiny_model()
    norm = _identity_normalizer()
    a = engine.sample(model, norm, 50, seed=7)
    b = engine.sample(model, norm, 50, seed=7)
    c = engine.sample(model, norm, 50, seed=8)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_sample_chunks_same_n_and_seed_give_identical_output():
    model = tiny_model()
    norm = _identity_normalizer()
    one = [c.clone() for c in sample_chunks(model, norm, 10, seed=3, chunk=4)]
    two = [c.clone() for c in sample_chunks(model, norm, 10, seed=3, chunk=4)]
    assert [len(c) for c in one] == [4, 4, 2]
    for a, b in zip(one, two, strict=True):
        torch.testing.assert_close(a, b, atol=0, rtol=0)


def test_sample_chunk_i_uses_its_own_seed():
    """Chunk i is drawn from a generator seeded by (seed, i): its points do not depend
    on how many points come after it, and chunk 1 differs from chunk 0."""
    model = tiny_model()
    norm = _identity_normalizer()
    chunks = [c.clone() for c in sample_chunks(model, norm, 10, seed=3, chunk=4)]
    first_only = next(iter(sample_chunks(model, norm, 4, seed=3, chunk=4))).clone()
    torch.testing.assert_close(chunks[0], first_only, atol=0, rtol=0)
    assert not torch.allclose(chunks[0], chunks[1])
    seed_1 = int(np.random.SeedSequence([3, 1]).generate_state(1)[0])
    with torch.no_grad():
        expected = model.sample(4, torch.Generator().manual_seed(seed_1))
    torch.testing.assert_close(chunks[1], expected, atol=0, rtol=0)


def test_sampling_does_not_touch_the_global_rng():
    model = tiny_model()
    torch.manual_seed(0)
    state = torch.get_rng_state()
    engine.sample(model, _identity_normalizer(), 20, seed=1)
    assert torch.equal(torch.get_rng_state(), state)


# ---- normaliser and parameters ----------------------------------------------------------


def test_normalizer_round_trip_and_shared_scale():
    points = draw_builtin("checkerboard", 500, 0) * np.array([1.0, 0.25], np.float32) + 3
    norm = Normalizer.fit(points)
    assert norm.scale[0] == norm.scale[1], "one shared scale keeps the aspect ratio"
    encoded = norm.encode(points)
    np.testing.assert_allclose(encoded.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(np.sqrt((encoded**2).mean()), 1, atol=1e-5)
    decoded = norm.decode_(torch.from_numpy(encoded.copy())).numpy()
    np.testing.assert_allclose(decoded, points, atol=1e-5)
    back = Normalizer.from_state(norm.to_state())
    np.testing.assert_array_equal(back.mean, norm.mean)
    np.testing.assert_array_equal(back.scale, norm.scale)


def test_parameter_counts_add_up():
    model = tiny_model()
    counts = parameter_counts(model)
    assert counts["opn"] == sum(p.numel() for p in model.opn.parameters())
    assert counts["stn"] == sum(p.numel() for p in model.stn.parameters())
    assert counts["total"] == sum(p.numel() for p in model.parameters())


def test_parallel_chunk_workers_give_the_same_points_in_order():
    model = tiny_model()
    norm = _identity_normalizer()
    threads = torch.get_num_threads()
    serial = torch.cat(list(sample_chunks(model, norm, 50, seed=9, chunk=4, workers=1)))
    pooled = torch.cat(list(sample_chunks(model, norm, 50, seed=9, chunk=4, workers=3)))
    torch.testing.assert_close(serial, pooled, atol=0, rtol=0)
    assert torch.get_num_threads() == threads  # the pool restores torch's thread count


# ---- Fourier features of x for the STN ------------------------------------------------


@torch.no_grad()
def test_stn_reads_fourier_features_of_x():
    model = tiny_model(dim=2, fourier_features=5, fourier_scale=3.0)
    x = torch.randn(4, 2)
    features = model.stn_input(x)
    assert features.shape == (4, 2 + 2 * 5)
    proj = x @ model.fourier
    torch.testing.assert_close(features, torch.cat([x, proj.sin(), proj.cos()], dim=1))
    assert model.stn.inp.in_features == 12
    # The frequencies are saved with the weights and scale with fourier_scale.
    assert "fourier" in model.state_dict()
    wider = tiny_model(dim=2, fourier_features=5, fourier_scale=6.0)
    torch.testing.assert_close(wider.fourier, 2 * model.fourier)
    assert tiny_model(dim=2, fourier_features=0).stn_input(x) is x  # off: x itself


@torch.no_grad()
def test_opn_reads_fourier_features_of_z():
    model = tiny_model(dim=2, latent_dim=3, opn_fourier_features=4, opn_fourier_scale=2.0)
    z = torch.randn(5, 3)
    features = model.opn_input(z)
    assert features.shape == (5, 3 + 2 * 4)
    proj = z @ model.opn_fourier
    torch.testing.assert_close(features, torch.cat([z, proj.sin(), proj.cos()], dim=1))
    assert model.opn.inp.in_features == 11
    assert "opn_fourier" in model.state_dict()
    wider = tiny_model(dim=2, latent_dim=3, opn_fourier_features=4, opn_fourier_scale=4.0)
    torch.testing.assert_close(wider.opn_fourier, 2 * model.opn_fourier)
    # Separate frequencies from the STN's, even at equal shapes.
    same_shape = tiny_model(dim=3, latent_dim=3, fourier_features=4, opn_fourier_features=4)
    assert not torch.allclose(same_shape.fourier, same_shape.opn_fourier)
    assert tiny_model(opn_fourier_features=0).opn_input(z) is z  # off: z itself


def tiny_trainer(**overrides):
    from alternators_cli.trainer import Trainer
    from alternators_cli.training_data import TrainingData

    values = dict(epochs=1, epoch_size=64, batch_size=32, hidden=8, steps=3, latent_dim=3,
                  device="cpu")
    settings = DistributionSettings(**{**values, **overrides})
    trainer = Trainer(settings, TrainingData("pinwheel", 2, ["x", "y"], True), torch.device("cpu"))
    trainer.run()
    return trainer


def test_checkpoint_from_before_the_fourier_options_loads_as_it_ran(tmp_path):
    """Format-1 files written before the options existed lack the settings and the
    buffers: they ran without features, and load that way (checkpoint.migrate_v1)."""
    from alternators_cli import checkpoint

    trainer = tiny_trainer(fourier_features=0, opn_fourier_features=0)
    payload = checkpoint.build_payload(trainer, None, 0.0)
    payload["format_version"] = 1
    for key in ("fourier_features", "fourier_scale", "opn_fourier_features",
                "opn_fourier_scale"):
        del payload["settings"][key]
    del payload["state"]["model"]["fourier"], payload["state"]["model"]["opn_fourier"]
    path = tmp_path / "old.pt"
    with open(path, "wb") as f:
        checkpoint.save(payload, f)
    loaded = checkpoint.load(str(path))
    assert loaded.model.config.fourier_features == loaded.model.config.opn_fourier_features == 0
    a = loaded.model.sample(5, torch.Generator().manual_seed(1))
    b = trainer.sampling_model().eval().sample(5, torch.Generator().manual_seed(1))
    torch.testing.assert_close(a, b)


def test_checkpoint_with_fourier_features_round_trips(tmp_path):
    from alternators_cli import checkpoint

    trainer = tiny_trainer(fourier_features=4, opn_fourier_features=3)
    path = tmp_path / "m.pt"
    with open(path, "wb") as f:
        checkpoint.save(checkpoint.build_payload(trainer, None, 0.0), f)
    loaded = checkpoint.load(str(path))
    torch.testing.assert_close(loaded.model.fourier, trainer.sampling_model().fourier)
    torch.testing.assert_close(loaded.model.opn_fourier, trainer.sampling_model().opn_fourier)
    a = loaded.model.sample(5, torch.Generator().manual_seed(1))
    b = trainer.sampling_model().eval().sample(5, torch.Generator().manual_seed(1))
    torch.testing.assert_close(a, b)


def test_one_chunk_samples_on_one_thread_with_the_same_points():
    model = Alternator(2, DistributionSettings()).eval()
    normalizer = Normalizer(mean=np.zeros(2, np.float32), scale=np.ones(2, np.float32))
    before = torch.get_num_threads()
    seen = []
    real = model.sample

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real(*args, **kwargs)

    model.sample = spy
    try:
        torch.set_num_threads(2)
        two = engine.sample(model, normalizer, 1000, seed=5)
        assert seen == [1] and torch.get_num_threads() == 2
        torch.set_num_threads(1)
        np.testing.assert_array_equal(two, engine.sample(model, normalizer, 1000, seed=5))
    finally:
        torch.set_num_threads(before)
