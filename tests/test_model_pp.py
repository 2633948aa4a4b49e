"""Alternator++ (`--variant alternator++`): the sampling equations (1++), (2++) and the loss
with its noise-matching terms, checked by hand; the variant from the command line to a
checkpoint that rebuilds it; the settings it refuses."""

from __future__ import annotations

import json

import pytest
import torch
from helpers import assert_ok, invoke, stderr_lines
from test_model import f_theta, g_phi, tiny_config

from alternators_cli import checkpoint
from alternators_cli.model import Alternator, flops_per_point, parameter_counts
from alternators_cli.model_pp import AlternatorPP
from alternators_cli.settings import DistributionSettings


def tiny_pp(dim: int = 2, seed: int = 0, **overrides) -> AlternatorPP:
    torch.manual_seed(seed)
    model = AlternatorPP(dim, tiny_config(variant="alternator++", **overrides)).eval()
    with torch.no_grad():  # a trained N is not the identity: nothing below may assume it
        model.nu_skip.add_(0.1 * torch.randn_like(model.nu_skip))
    return model


def eps_psi(model: AlternatorPP, z: torch.Tensor, t: int) -> torch.Tensor:
    """The x-update's noise model: it reads what the OPN reads (z and its features)."""
    return model.psi(model.opn_input(z), model.psi.step(model.step_features[t]))


def eps_nu(model: AlternatorPP, x: torch.Tensor, z: torch.Tensor, t: int) -> torch.Tensor:
    """The z-update's noise model, eps_nu(z_{t-1}, x_t) = MLP([x, sin xB, cos xB, z]) + N z."""
    v = torch.cat([model.stn_input(x), z], -1)
    return model.nu(v, model.nu.step(model.step_features[t])) + z @ model.nu_skip.T


@torch.no_grad()
def test_sampling_steps_follow_the_alternator_pp_equations():
    model = tiny_pp(steps=2)
    n, dz, dx = 7, 3, 2
    frames = model.sample(n, torch.Generator().manual_seed(123), all_steps=True)

    g = torch.Generator().manual_seed(123)  # the sampler's order: z_0, eps_x1, eps_z1, eps_x2
    z0 = torch.randn(n, dz, generator=g)
    eps_x1, eps_z1, eps_x2 = (torch.randn(n, d, generator=g) for d in (dx, dz, dx))
    sx, sz, a = model.sigma_x, model.sigma_z, model.alpha
    sb = model.config.noise_min
    beta = 1 - sx**2

    x1 = (beta[0].sqrt() * f_theta(model, z0, 0) + (1 - beta[0] - sb**2).sqrt()
          * eps_psi(model, z0, 0) + sb * eps_x1)  # (1++)
    z1 = (a[0].sqrt() * g_phi(model, x1, 0) + (1 - a[0] - sz[0] ** 2).sqrt()
          * eps_nu(model, x1, z0, 0) + sz[0] * eps_z1)  # (2++)
    # The last step's noise model has no weight: sigma_x[T] = sigma_b.
    x2 = beta[1].sqrt() * f_theta(model, z1, 1) + sb * eps_x2

    torch.testing.assert_close(frames[0], x1, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(frames[1], x2, atol=1e-5, rtol=1e-5)


def _loss_by_hand(model: AlternatorPP, x: torch.Tensor, generator: torch.Generator):
    """docs/model.md "Alternator++", one step at a time: the energy score of f's m draws
    against x; of the m pairs (f held fixed, eps_psi) against (x, eps_t), eps_t the noise of
    the STN's input; and |eps_nu - z_{t-1}|."""
    T, B, m, dz = model.steps, x.shape[0], model.config.draws, model.config.latent_dim
    dx, sb = x.shape[1], model.config.noise_min
    eps = torch.randn(T, B, dx, generator=generator)
    eps_base = torch.randn(T, B, dx, generator=generator)
    noise = torch.randn(T, m, B, dz, generator=generator)

    def norm(v):
        return torch.sqrt((v * v).sum(-1) + 1e-8)

    def energy(draws, target):
        fit = sum(norm(d - target) for d in draws) / m
        spread = sum(norm(draws[j] - draws[k]) for j in range(m) for k in range(m)
                     if j != k) / (2 * m * (m - 1))
        return (fit - spread).mean()

    zbar, s, scores, matches, nus = torch.zeros(B, dz), 1.0, [], [], []
    for t in range(T):
        z = [zbar + s * noise[t, j] for j in range(m)]
        f = [f_theta(model, zj, t) for zj in z]
        scores.append(energy(f, x))
        pairs = [torch.cat([fj.detach(), eps_psi(model, zj, t)], -1)
                 for fj, zj in zip(f, z, strict=True)]
        matches.append(energy(pairs, torch.cat([x, eps[t]], -1)))
        if t == T - 1:
            break
        beta = 1 - model.sigma_x[t] ** 2
        x_noised = beta.sqrt() * x + (1 - beta - sb**2).sqrt() * eps[t] + sb * eps_base[t]
        z_prev = z[0]
        nu = eps_nu(model, x_noised, z_prev, t)
        nus.append(norm(nu - z_prev.detach()))
        zbar = (model.alpha[t].sqrt() * g_phi(model, x_noised, t)
                + (1 - model.alpha[t] - model.sigma_z[t] ** 2).sqrt() * nu)
        s = model.sigma_z[t]
    loss = torch.stack(scores).mean() + torch.stack(matches).mean()
    return loss + torch.stack(nus).mean() if nus else loss


@pytest.mark.parametrize("steps", [1, 3])
def test_loss_and_its_gradients_match_the_equations_step_by_step(steps):
    model = tiny_pp(steps=steps, draws=3, fourier_features=4, opn_fourier_features=4)
    x = torch.randn(16, 2)
    params = list(model.parameters())

    def gradients(loss):
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        return [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads, strict=True)]

    loss = model.loss(x, torch.Generator().manual_seed(7))
    expected = _loss_by_hand(model, x, torch.Generator().manual_seed(7))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    for (name, _), got, want in zip(model.named_parameters(), gradients(loss),
                                    gradients(expected), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6, msg=name)


def test_noise_matching_trains_the_noise_models_and_not_f():
    model = tiny_pp(steps=3)
    x, gen = torch.randn(16, 2), torch.Generator().manual_seed(0)
    loss = model.loss(x, gen)
    psi, nu, opn = (model.psi.body[-1].weight, model.nu_skip, model.opn.body[-1].weight)
    grad_psi, grad_nu, grad_opn = torch.autograd.grad(loss, [psi, nu, opn])
    assert float(grad_psi.abs().sum()) > 0 and float(grad_nu.abs().sum()) > 0
    # f's gradient is the alternator's energy score's alone: the pairs hold f fixed. At T = 1
    # there is no transition, so the plain loss with the same weights and draws gives it.
    one = tiny_pp(steps=1)
    plain = Alternator(2, tiny_config(steps=1))
    plain.load_state_dict({k: v for k, v in one.state_dict().items() if k in plain.state_dict()})
    got = torch.autograd.grad(one.loss(x, torch.Generator().manual_seed(5)),
                              one.opn.body[-1].weight)[0]
    # The ++ loss draws eps_t, then eps'_t, then the latent noise; the plain loss eps_t, then
    # the latent noise: one draw skipped gives the plain loss the same latent noise.
    plain_noise = torch.Generator().manual_seed(5)
    torch.randn(1, 16, 2, generator=plain_noise)
    want = torch.autograd.grad(plain.loss(x, plain_noise), plain.opn.body[-1].weight)[0]
    torch.testing.assert_close(got, want)


def test_flops_and_parameters_count_the_noise_models():
    model, plain = tiny_pp(steps=3), Alternator(2, tiny_config())
    h, dz, dx, layers = 8, 3, 2, 2

    def mlp(d_in, d_out):  # matmul multiply-adds of a StepMLP without skip
        return d_in * h + (layers - 1) * h * h + h * d_out

    k_z = model.config.opn_fourier_features
    k = model.config.fourier_features
    extra = (2 * mlp(dz + 2 * k_z, dx) * 3  # eps_psi at each of the T steps
             + 2 * (mlp(dx + 2 * k + dz, dz) + dz * dz) * 2)  # eps_nu and N at T - 1
    assert flops_per_point(model) - flops_per_point(plain) == extra
    counts = parameter_counts(model)
    assert counts["total"] == sum(p.numel() for p in model.parameters())
    assert counts["noise_models"] == counts["total"] - counts["opn"] - counts["stn"] > 0
    assert parameter_counts(plain)["noise_models"] == 0


def test_settings_refuse_what_alternator_pp_does_not_run():
    for bad in ({"scored_steps": 2}, {"objective": "mse"}):
        with pytest.raises(ValueError, match="alternator"):
            DistributionSettings(variant="alternator++", steps=3, **bad)
    DistributionSettings(variant="alternator++", scored_steps=3, steps=3)  # all steps: fine


def test_variant_from_the_command_line_to_a_checkpoint_that_rebuilds_it(tmp_path, runner):
    out = tmp_path / "run"
    assert_ok(invoke(runner, ["train", "8gaussians", "--variant", "alternator++",
                              "--epochs", "1", "--epoch-size", "500", "--steps", "3",
                              "--hidden", "16", "--out", out, "--quiet"]))
    settings = json.loads((out / "settings.json").read_text())
    assert settings["variant"] == "alternator++"
    ckpt = checkpoint.load(str(out / "model.pt"), device="cpu")
    assert isinstance(ckpt.model, AlternatorPP)
    draws = [invoke(runner, ["sample", "-c", out / "model.pt", "-n", "5", "--seed", "3"])
             for _ in range(2)]
    for result in draws:
        assert_ok(result)
    assert draws[0].stdout == draws[1].stdout and len(draws[0].stdout.splitlines()) == 6


@pytest.mark.parametrize("args", [["--variant", "alternator+++"],
                                  ["--variant", "alternator++", "--scored-steps", "4"]])
def test_a_bad_variant_or_combination_is_one_line_and_exit_2(tmp_path, runner, args):
    result = invoke(runner, ["train", "8gaussians", "--epochs", "1", "--out", tmp_path / "r",
                             *args])
    assert result.exit_code == 2
    assert len(stderr_lines(result)) == 1, result.stderr
    assert not (tmp_path / "r").exists()
