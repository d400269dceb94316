"""The engine: one variation step over stacks, trials in lockstep, devices, public torch only."""

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from deap import creator

from evoprune.engine.variation import Operators, vary
from evoprune.genome import Architecture, AutoencoderGenome
from evoprune.runs import RunConfig, run, run_trials
from evoprune.util.device import check_device_name, resolve_device
from evoprune.util.operator import Batch, is_batched

from .test_algorithms import make_toolbox

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available on this machine")


def _weights(genomes):
    return [p for g in genomes for h in g.halves for p in h.params]


def _children(arch, n, seed=0):
    g = np.random.default_rng(seed)
    out = []
    for i in range(n):
        ind = creator.Genome(arch, rng=g, lr=float(2e-3 * (1 + i)))
        ind.encoder.prune_entries(0, g.choice(ind.encoder.params[0].numel(), size=5 * i, replace=False))
        out.append(ind)
    return out


def _vary(arch, data, idx, map_=map, chunks=None, n=5):
    tb = make_toolbox(data, schedule=("fixed", 0.5))
    ops = Operators.from_toolbox(tb, prune_first=True)
    kids = [_children(arch, n)[i] for i in idx]
    rngs = [np.random.default_rng([7, i]) for i in idx]
    return vary(kids, rngs, ops, 3, 10, [3] * len(idx), map_, chunks)


def test_stack_of_one_stack_of_n_and_chunked_stack_agree(small_arch, small_data, backend):
    whole = _vary(small_arch, small_data, range(5))
    singles = [_vary(small_arch, small_data, [i])[0] for i in range(5)]
    chunked = _vary(small_arch, small_data, range(5), map_=lambda f, *its: list(map(f, *its)), chunks=2)
    for other in (singles, chunked):
        assert [i.pruned for i in whole] == [i.pruned for i in other]
        assert [i.n_kept for i in whole] == [i.n_kept for i in other]
        assert [i.lr for i in whole] == [i.lr for i in other]
        for x, y in zip(_weights(whole), _weights(other), strict=True):
            assert torch.allclose(x, y, atol=1e-6)
        assert [i.fitness.values[0] for i in whole] == pytest.approx([i.fitness.values[0] for i in other], abs=1e-6)
    assert any(i.pruned for i in whole) and not all(i.pruned for i in whole)


def test_deaps_default_toolbox_map_varies_one_stack(small_arch, small_data, monkeypatch):
    # DEAP's toolbox.map is partial(map): serial, so the stack must not be cut into chunks.
    from deap import base

    import evoprune.engine.variation as variation

    calls = []
    real = variation.vary_stack
    monkeypatch.setattr(variation, "vary_stack", lambda inds, *a: calls.append(len(inds)) or real(inds, *a))
    _vary(small_arch, small_data, range(5), map_=base.Toolbox().map)
    _vary(small_arch, small_data, range(5), map_=lambda f, *its: list(map(f, *its)))  # unknown map: chunked
    assert calls == [5, 1, 1, 1, 1, 1]


def test_registered_operators_keep_their_stacked_form_and_plain_functions_loop(small_arch, small_data):
    tb = make_toolbox(small_data)
    assert is_batched(tb.train) and is_batched(tb.evaluate) and not is_batched(tb.mutate)
    kids = _children(small_arch, 2)
    fits = tb.evaluate(Batch(kids))  # the registered data applies to the stack too
    assert fits == [tb.evaluate(k) for k in kids] and len(fits) == 2
    with pytest.raises(ValueError, match="one generator per member"):
        Batch(kids, [np.random.default_rng(0)])
    calls = []

    def train(ind, rng=None):
        calls.append(ind)
        return (ind,)

    tb.register("train", train)
    ops = Operators.from_toolbox(tb)
    kids = _children(small_arch, 3)
    vary(kids, [np.random.default_rng(i) for i in range(3)], ops, 1, 2, [1, 1, 1])
    assert calls == kids and all(k.fitness.valid for k in kids)


def _assert_same_run(a, b):
    assert [r["npruned"] for r in a.records] == [r["npruned"] for r in b.records]
    assert a.fraction_kept == b.fraction_kept
    assert a.test_l1 == pytest.approx(b.test_l1, abs=1e-5)
    for x, y in zip(_weights(a.population), _weights(b.population), strict=True):
        assert torch.allclose(x, y, atol=1e-5)


@pytest.mark.parametrize("setting", ["canonical", "grid"])
def test_a_trial_in_lockstep_gives_what_it_gives_alone(setting, small_data, backend):
    cfg = RunConfig(setting=setting, operator="magnitude", schedule="fixed", p=0.5, generations=6, batch_size=10,
                    hidden=8, latent=3, grid="ring:3", device="cpu")
    seeds = [11, 12, 13]
    together = run_trials(cfg, small_data, seeds)
    for seed, res in zip(seeds, together, strict=True):
        _assert_same_run(res, run(cfg, small_data, seed))
    assert len({r.fraction_kept for r in together}) > 1 or len({r.test_l1 for r in together}) > 1


def test_lockstep_catches_up_runs_resumed_at_different_generations(small_data, backend):
    cfg = RunConfig(operator="random", schedule="fixed", p=0.5, generations=6, batch_size=10, hidden=8, latent=3,
                    device="cpu")
    saved = {}

    def keep(seed):
        def save(gen, population, logbook, rng):
            import copy
            from types import SimpleNamespace

            saved[(seed, gen)] = SimpleNamespace(gen=gen, population=copy.deepcopy(population),
                                                 logbook=copy.deepcopy(logbook), rng_state=rng.bit_generator.state)
        return save

    full = run_trials(cfg, small_data, [1, 2], checkpoints=[keep(1), keep(2)])
    saved[(2, 4)].wall_time = 1000.0  # the time the trial had taken before its checkpoint
    resumed = run_trials(cfg, small_data, [1, 2], resumes=[saved[(1, 2)], saved[(2, 4)]])
    for a, b in zip(full, resumed, strict=True):
        _assert_same_run(a, b)
    assert resumed[0].wall_time < 1000.0 < resumed[1].wall_time


def test_device_names():
    assert check_device_name("cuda:1") == "cuda:1"
    with pytest.raises(ValueError, match="gpu"):
        check_device_name("gpu")
    with pytest.raises(ValueError, match="tpu"):
        RunConfig(device="tpu")
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")


def test_device_is_not_part_of_a_runs_identity():
    assert RunConfig(device="cpu").identity() == RunConfig(device="auto").identity()


@CUDA
@pytest.mark.parametrize("setting", ["canonical", "grid"])
def test_cuda_run_matches_cpu_decisions_and_checkpoints_on_cpu(setting, small_data):
    cfg = RunConfig(setting=setting, operator="conjunctive", schedule="fixed", p=1.0, generations=4, batch_size=10,
                    hidden=8, latent=3, grid="ring:3")
    a = run(cfg, small_data, 5, device="cpu")
    b = run(cfg, small_data, 5, device="cuda")
    assert [r["npruned"] for r in a.records] == [r["npruned"] for r in b.records]
    assert a.test_l1 == pytest.approx(b.test_l1, abs=1e-3)
    assert all(p.device.type == "cpu" for p in _weights(b.population))  # genomes rest on the CPU


def test_no_private_torch_names_in_the_package():
    root = Path(__file__).resolve().parents[1] / "evoprune"
    bad = [f"{p.name}:{i}" for p in root.rglob("*.py") for i, line in enumerate(p.read_text().splitlines(), 1)
           if re.search(r"\btorch\._[a-z]", line)]
    assert not bad, bad


def test_errors_of_a_genome_in_a_batch_equal_its_errors_alone_bit_for_bit(small_arch, small_data, backend):
    from evoprune.evaluation import reconstruction_errors
    from evoprune.pruning import mutPrune

    gs = [AutoencoderGenome(small_arch, rng=s) for s in range(5)]
    for i, g in enumerate(gs[:3]):
        mutPrune(g, method="random", amount=0.4, rng=i)
    other = AutoencoderGenome(Architecture.paper(input_dim=40, hidden=9, latent=4), rng=7)  # another shape
    for metric in ("l1", "mse", "bce"):
        together = reconstruction_errors([*gs, other], small_data.test, metric, rows=30)
        alone = torch.cat([reconstruction_errors([g], small_data.test, metric, rows=30) for g in [*gs, other]])
        assert torch.equal(together, alone), metric
        assert len(set(together.tolist())) == 6
