"""The allocator setting `alternators train` applies: training steps stop faulting in
fresh pages for their activations (allocator.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import resource, sys, torch
from alternators_cli.allocator import reuse_freed_memory
from alternators_cli.model import Alternator
from alternators_cli.settings import DistributionSettings
applied = reuse_freed_memory() if sys.argv[1] == "on" else False
torch.set_num_threads(1)
torch.manual_seed(0)
model = Alternator(2, DistributionSettings())
x = torch.randn(500, 2)
def step():
    model.zero_grad(set_to_none=True)
    model.loss(x).backward()
for _ in range(int(sys.argv[2])):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    step()
print(applied, (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 10)
"""


def page_faults_per_step(mode: str, warmup: int = 8) -> tuple[bool, float]:
    probe = [sys.executable, "-c", PROBE, mode, str(warmup)]
    out = subprocess.run(probe, capture_output=True, text=True, check=True).stdout.split()
    return out[0] == "True", float(out[1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc only")
def test_training_steps_reuse_freed_memory_instead_of_faulting_in_pages():
    applied, faults = page_faults_per_step("on")
    assert applied
    # A default-size step allocates ~100 MB of activations and gradients. glibc left alone
    # faults 1,200-2,300 pages a step here (measured 2026-11-26); with the setting, once the
    # heap has grown a few steps in, 0-150.
    assert faults < 500, faults


SAMPLE_PROBE = """
import resource, sys, torch
from alternators_cli import engine
from alternators_cli.model import Alternator
from alternators_cli.normalize import Normalizer
from alternators_cli.settings import DistributionSettings
import numpy as np
torch.set_num_threads(1)
model = Alternator(2, DistributionSettings()).eval()
normalizer = Normalizer(mean=np.zeros(2, np.float32), scale=np.ones(2, np.float32))
def draw(n):
    for _ in engine.sample_chunks(model, normalizer, n, seed=0):
        pass
draw(20_000)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
draw(100_000)
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 100_000)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc only")
def test_sampling_reuses_freed_memory_instead_of_faulting_in_pages():
    # Every command that samples goes through engine.sample_chunks. glibc left alone
    # faulted in about 3 pages per point here (each chunk's activations fresh from mmap).
    out = subprocess.run([sys.executable, "-c", SAMPLE_PROBE], capture_output=True,
                         text=True, check=True).stdout
    assert float(out) < 0.2, out
