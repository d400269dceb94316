import numpy as np
import pytest
import torch
from deap import base, creator, tools

from evoprune.algorithms import best_centre, eaToroidalGrid, select_pair, tournament
from evoprune.evaluation import evaluate, reconstruction_error
from evoprune.metrics import default_stats
from evoprune.pruning import mutPrune
from evoprune.schedules import Schedule
from evoprune.topology import Grid
from evoprune.training import mutLearningRate, mutTrain

from .test_algorithms import strip


def toolbox(data, schedule=("fixed", 0.5), amount=0.1):
    tb = base.Toolbox()
    tb.register("train", mutTrain, data=data.train, batch_size=10, loss="bce")
    tb.register("mutate", mutLearningRate, sigma=0.1)
    tb.register("evaluate", evaluate, data=data.train)
    if schedule:
        tb.register("prune", mutPrune, method="random", amount=amount)
        tb.register("schedule", Schedule(*schedule))
    return tb


def population(arch, n, seed=0):
    g = np.random.default_rng(seed)
    return [creator.Genome(arch, rng=g, lr=5e-3) for _ in range(n)]


def one_by_one(func, *iterables):
    """A map that is not the builtin one: the engine sends it one stack of one per task."""
    return list(map(func, *iterables))


def run(arch, data, grid="2x3", ngen=4, seed=1, tb=None, batched=True, map_=None, **kw):
    grid = Grid.from_string(grid)
    tb = tb or toolbox(data)
    tb.register("map", map_ or (map if batched else one_by_one))
    return eaToroidalGrid(population(arch, grid.n_cells), tb, grid, ngen,
                          stats=default_stats(data.test), rng=seed, data=data.train, test_data=data.test, **kw)


def _weights(pop):
    return [p for ind in pop for h in ind.halves for p in h.params]


def test_one_stack_equals_stacks_of_one(small_arch, small_data):
    a_pop, a_log = run(small_arch, small_data, batched=True)
    b_pop, b_log = run(small_arch, small_data, batched=False)
    for x, y in zip(_weights(a_pop), _weights(b_pop), strict=True):
        assert torch.allclose(x, y, atol=1e-5)
    assert a_log.select("npruned") == b_log.select("npruned")
    assert np.allclose(a_log.chapters["train"].select("min"), b_log.chapters["train"].select("min"), atol=1e-6)
    assert [i.n_kept for i in a_pop] == [i.n_kept for i in b_pop]


def test_synchronous_update_is_order_independent(small_arch, small_data):
    def reversed_map(func, *iterables):
        args = list(zip(*iterables, strict=True))
        out = [func(*a) for a in reversed(args)]
        return list(reversed(out))

    a = run(small_arch, small_data, map_=reversed_map)
    b = run(small_arch, small_data, batched=False)
    assert strip(a[1]) == strip(b[1])


def test_seed_reproduces_and_asynchronous_differs(small_arch, small_data):
    a = run(small_arch, small_data, update="asynchronous")
    b = run(small_arch, small_data, update="asynchronous")
    c = run(small_arch, small_data, update="synchronous")
    d = run(small_arch, small_data, update="synchronous", seed=2)
    assert strip(a[1]) == strip(b[1])
    assert strip(a[1].chapters["train"]) != strip(c[1].chapters["train"])
    assert strip(c[1].chapters["train"]) != strip(d[1].chapters["train"])


def test_masks_stay_zero_and_sparsity_follows_schedule(small_arch, small_data):
    def zero_where_masked(ind):
        return all(bool(torch.all(p[~m] == 0)) for h in ind.halves for p, m in zip(h.params, h.masks, strict=True))

    tb = toolbox(small_data, schedule=("fixed", 1.0))
    stats = tools.Statistics(zero_where_masked)
    stats.register("all", all)
    stats.register("kept", lambda _: None)
    grid = Grid.ring(5)
    pop, log = eaToroidalGrid(population(small_arch, 5), tb, grid, 4, stats=stats, rng=0, data=small_data.train)
    assert log.select("all") == [True] * 5
    assert log.select("npruned") == [0, 5, 5, 5, 5]
    # every cell pruned 10% of each tensor's survivors every generation: each half keeps ≈ 0.9^4
    for ind in pop:
        assert ind.encoder.fraction_kept == pytest.approx(0.9**4, abs=0.02)
        assert ind.decoder.fraction_kept == pytest.approx(0.9**4, abs=0.02)
    # prune_after: nothing until the last generation, then every cell
    _, log = eaToroidalGrid(population(small_arch, 5), toolbox(small_data, ("prune_after", 1.0)), grid, 3, rng=0,
                            data=small_data.train)
    assert log.select("npruned") == [0, 0, 0, 5]


def test_population_schedule_uses_neighbourhood_size(small_arch, small_data):
    seen = []

    class Spy(Schedule):
        def __call__(self, t, T, n=1):
            seen.append(n)
            return super().__call__(t, T, n)

    tb = toolbox(small_data)
    tb.register("schedule", Spy("population", 0.5))
    run(small_arch, small_data, grid="3x3:moore", ngen=1, tb=tb)
    assert seen == [9] * 9


def test_grid_learns_and_best_centre_uses_holdout(small_arch, small_data):
    pop, log = run(small_arch, small_data, grid="ring:4", ngen=12, tb=toolbox(small_data, schedule=None))
    assert log.select("best_test")[-1] < log.select("best_test")[0] - 0.1
    errs = [reconstruction_error(i, small_data.validation) for i in pop]
    assert best_centre(pop, small_data.validation) is pop[int(np.argmin(errs))]
    hof = tools.HallOfFame(1)
    eaToroidalGrid(pop, toolbox(small_data), Grid.ring(4), 1, halloffame=hof, rng=0, data=small_data.train)
    assert hof[0].fitness.values[0] <= min(i.fitness.values[0] for i in pop)
    assert all(hof[0] is not i for i in pop)


def test_selection_by_solution_concept():
    errors = torch.tensor([[0.1, 0.9, 0.9], [0.5, 0.5, 0.5], [0.3, 0.2, 0.95]])
    g = np.random.default_rng(0)
    # with a tournament as large as the pool the best is (almost surely) drawn
    assert select_pair(errors, "best", 50, g) == (0, 0)
    assert select_pair(errors, "worst", 50, g) == (1, 0)  # max over partners: enc 0.9/0.5/0.95, dec 0.5/0.9/0.95
    assert select_pair(errors, "mean", 50, g) == (2, 0)
    counts = np.bincount([tournament(torch.tensor([0.0, 1.0]), 2, g) for _ in range(2000)], minlength=2)
    assert 0.70 < counts[0] / 2000 < 0.80  # size-2 tournament on two: best wins with p = 3/4


def test_bad_arguments(small_arch, small_data):
    pop = population(small_arch, 4)
    with pytest.raises(ValueError, match="4 individuals but the grid has 6"):
        eaToroidalGrid(pop, toolbox(small_data), Grid(2, 3), 1, data=small_data.train)
    with pytest.raises(ValueError, match="lazy"):
        eaToroidalGrid(pop, toolbox(small_data), Grid(2, 2), 1, update="lazy", data=small_data.train)
    with pytest.raises(ValueError, match="median"):
        eaToroidalGrid(pop, toolbox(small_data), Grid(2, 2), 1, concept="median", data=small_data.train)
    tb = toolbox(small_data)
    tb.register("train", lambda ind, rng=None: (ind,))
    eaToroidalGrid(pop, tb, Grid(2, 2), 1, data=small_data.train)  # a plain function runs member by member


def test_parsimony_replacement_and_prune_first_one_stack_equals_stacks_of_one(small_arch, small_data):
    from evoprune.selection import selParsimony

    tb = toolbox(small_data, schedule=("fixed", 1.0))
    tb.register("select", selParsimony, tolerance=0.0)
    a_pop, a_log = run(small_arch, small_data, tb=tb, prune_first=True, batched=True)
    b_pop, b_log = run(small_arch, small_data, tb=tb, prune_first=True, batched=False)
    assert [i.n_kept for i in a_pop] == [i.n_kept for i in b_pop]
    assert np.allclose(a_log.chapters["train"].select("min"), b_log.chapters["train"].select("min"), atol=1e-6)
    # elitist replacement: a cell's training fitness never gets worse
    mins = a_log.chapters["train"].select("max")
    assert all(b <= a + 1e-9 for a, b in zip(mins, mins[1:], strict=False))
    # harsh pruning (80% per event): always-replace accepts it, elitist replacement mostly refuses it
    harsh = toolbox(small_data, schedule=("fixed", 1.0), amount=0.8)
    always = run(small_arch, small_data, tb=harsh)[0]
    harsh.register("select", selParsimony, tolerance=0.0)
    elitist = run(small_arch, small_data, tb=harsh)[0]
    assert max(i.fraction_kept for i in always) < 0.01
    assert np.median([i.fraction_kept for i in elitist]) > 0.1


def test_grid_accepts_a_grid_string_and_keyword_only_arguments(small_arch, small_data):
    a_pop, _ = eaToroidalGrid(population(small_arch, 6), toolbox(small_data), "2x3", 2, rng=1, data=small_data.train)
    b_pop, _ = eaToroidalGrid(population(small_arch, 6), toolbox(small_data), Grid(2, 3), 2, rng=1,
                              data=small_data.train)
    assert [i.n_kept for i in a_pop] == [i.n_kept for i in b_pop]
    for x, y in zip(_weights(a_pop), _weights(b_pop), strict=True):
        assert torch.equal(x, y)
    with pytest.raises(ValueError, match="ring:0"):
        eaToroidalGrid(population(small_arch, 6), toolbox(small_data), "ring:0", 2, data=small_data.train)
    with pytest.raises(TypeError):
        eaToroidalGrid(population(small_arch, 6), toolbox(small_data), "2x3", 2, None)  # stats is keyword-only


def test_loss_schedule_on_the_grid_one_stack_equals_stacks_of_one(small_arch, small_data):
    from evoprune.training import LossSchedule

    tb = toolbox(small_data)
    tb.register("loss", LossSchedule("bce>l1", switch=0.5))
    a_pop, a_log = run(small_arch, small_data, tb=tb, batched=True)
    b_pop, b_log = run(small_arch, small_data, tb=tb, batched=False)
    for x, y in zip(_weights(a_pop), _weights(b_pop), strict=True):
        assert torch.allclose(x, y, atol=1e-5)
    # and the schedule changes the run: a BCE-only run ends elsewhere
    c_pop, _ = run(small_arch, small_data, batched=True)
    assert not all(torch.allclose(x, y, atol=1e-4) for x, y in zip(_weights(a_pop), _weights(c_pop), strict=True))

    calls = []

    def train(ind, rng=None, loss="l1", **kw):
        calls.append(loss)
        return mutTrain(ind, small_data.train, rng=rng, batch_size=10, loss=loss)

    tb.register("train", train)
    run(small_arch, small_data, tb=tb, batched=False, grid="ring:2")
    assert calls == ["bce"] * 4 + ["l1"] * 4  # 2 cells x 4 generations, switch after generation 2
