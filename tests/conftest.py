import numpy as np
import pytest
import torch
from deap import base, creator

from evoprune.architecture import Architecture

if not hasattr(creator, "FitnessMin"):
    creator.create("FitnessMin", base.Fitness, weights=(-1.0,))
if not hasattr(creator, "Genome"):
    from evoprune.genome import AutoencoderGenome

    creator.create("Genome", AutoencoderGenome, fitness=creator.FitnessMin)


@pytest.fixture
def small_arch():
    return Architecture.paper(input_dim=40, hidden=12, latent=4)


@pytest.fixture
def small_data():
    from evoprune.data import binary_clustering

    return binary_clustering(n_clusters=4, dim=40, samples_per_cluster=25, seed=3)


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)
    yield


def rng(seed=0):
    return np.random.default_rng(seed)


@pytest.fixture(autouse=True)
def _torch_path(monkeypatch):
    """Batched training runs on the torch path in tests (the fused C++ kernel: on in tests/test_fused.py only)."""
    monkeypatch.setenv("EVOPRUNE_FUSED", "0")
    yield


@pytest.fixture(params=["torch", "fused"])
def backend(request, monkeypatch):
    """Run the test under each backend: the torch path and the fused C++ kernel (what a user gets on a CPU).

    The fused case is skipped only where the kernel cannot be had (the reason is shown).
    """
    if request.param == "fused":
        from evoprune.backends import fused

        monkeypatch.setenv("EVOPRUNE_FUSED", "1")
        if fused.extension() is None:
            pytest.skip(f"the fused kernel is unavailable here: {fused.backend()[1]}")
    return request.param
