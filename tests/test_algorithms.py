import math
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest
from deap import base, creator, tools

from evoprune.algorithms import eaMuCommaLambda, eaMuPlusLambda
from evoprune.evaluation import evaluate
from evoprune.metrics import default_stats
from evoprune.pruning import mutPrune
from evoprune.schedules import Schedule
from evoprune.selection import selParsimony
from evoprune.training import mutLearningRate, mutTrain


def strip(log):
    """Logbook records without wall-clock fields (the only part a seed does not fix)."""
    out = [{k: v for k, v in r.items() if k != "time"} for r in log]
    for name, chapter in log.chapters.items():
        out.append({name: strip(chapter)})
    return out


def make_toolbox(data, schedule=("fixed", 1.0), amount=0.1, select=None):
    tb = base.Toolbox()
    tb.register("train", mutTrain, data=data.train, batch_size=25, loss="bce")
    tb.register("mutate", mutLearningRate, sigma=0.1)
    tb.register("evaluate", evaluate, data=data.train)
    if schedule is not None:
        tb.register("prune", mutPrune, method="random", amount=amount)
        tb.register("schedule", Schedule(*schedule))
    if select is not None:
        tb.register("select", select)
    return tb


def run(small_arch, small_data, seed=0, ngen=4, mu=1, lambda_=1, comma=True, **kw):
    pop = [creator.Genome(small_arch, rng=np.random.default_rng([seed, i]), lr=5e-3) for i in range(mu)]
    algo = eaMuCommaLambda if comma else eaMuPlusLambda
    return algo(pop, make_toolbox(small_data, **kw), mu, lambda_, ngen, stats=default_stats(small_data.test), rng=seed)


def test_canonical_training_with_scheduled_pruning(small_arch, small_data):
    pop, log = run(small_arch, small_data, ngen=5, schedule=("fixed", 1.0))
    assert log.select("gen") == list(range(6))
    assert log.select("npruned") == [0, 1, 1, 1, 1, 1]
    # every generation pruned 10% of each tensor's survivors: ≈ 0.9^5 of parameters kept
    assert pop[0].fraction_kept == pytest.approx(0.9**5, abs=0.02)
    kept = log.chapters["kept"].select("median")
    assert all(a > b for a, b in zip(kept, kept[1:], strict=False))
    assert log.chapters["test"].select("min")[-1] < log.chapters["test"].select("min")[0]


def test_schedule_sees_generation_number(small_arch, small_data):
    # prune_after must fire exactly once: at the last generation
    pop, log = run(small_arch, small_data, ngen=4, schedule=("prune_after", 1.0))
    assert log.select("npruned") == [0, 0, 0, 0, 1]
    assert pop[0].fraction_kept < 0.95
    # final_n with n_frac = 0.25 of 8 generations fires at t >= 6
    _, log = run(small_arch, small_data, ngen=8, schedule=("final_n", 1.0))
    assert log.select("npruned") == [0, 0, 0, 0, 0, 0, 1, 1, 1]


def test_seed_reproduces_logbook_exactly(small_arch, small_data):
    a = run(small_arch, small_data, seed=3, mu=2, lambda_=3, comma=False, schedule=("exponential", 0.5))[1]
    b = run(small_arch, small_data, seed=3, mu=2, lambda_=3, comma=False, schedule=("exponential", 0.5))[1]
    c = run(small_arch, small_data, seed=4, mu=2, lambda_=3, comma=False, schedule=("exponential", 0.5))[1]
    assert strip(a) == strip(b)
    assert strip(a.chapters["train"]) != strip(c.chapters["train"])


def test_plus_selection_keeps_best_and_hall_of_fame(small_arch, small_data):
    pop = [creator.Genome(small_arch, rng=i, lr=5e-3) for i in range(2)]
    hof = tools.HallOfFame(1)
    pop, log = eaMuPlusLambda(pop, make_toolbox(small_data, schedule=None), 2, 3, 3, halloffame=hof, rng=0)
    assert len(pop) == 2 and log.select("nevals") == [2, 3, 3, 3]
    best = min(ind.fitness.values[0] for ind in pop)
    assert hof[0].fitness.values[0] == pytest.approx(best)


def test_parsimony_selection_prefers_sparser_within_tolerance(small_arch):
    a, b, c = (creator.Genome(small_arch, rng=i) for i in range(3))
    mutPrune(b, "random", amount=0.5, rng=0)
    a.fitness.values, b.fitness.values, c.fitness.values = (0.100,), (0.1005,), (0.2,)
    assert selParsimony([a, b, c], 1, tolerance=0.01)[0] is b
    assert selParsimony([a, b, c], 1, tolerance=0.0)[0] is a
    assert selParsimony([a, b, c], 3, tolerance=0.01) == [b, a, c]


def test_nan_genome_gets_worst_fitness_in_the_loop(small_arch, small_data):
    pop = [creator.Genome(small_arch, rng=0, lr=5e-3), creator.Genome(small_arch, rng=1, lr=5e-3)]
    pop[0].decoder.params[0].fill_(float("nan"))
    pop, log = eaMuPlusLambda(pop, make_toolbox(small_data, schedule=None), 2, 2, 2, rng=0)
    assert all(math.isfinite(i.fitness.values[0]) for i in pop)


def test_bad_arguments(small_arch, small_data):
    pop = [creator.Genome(small_arch, rng=0)]
    tb = make_toolbox(small_data)
    with pytest.raises(ValueError, match="cxpb"):
        eaMuPlusLambda(pop, tb, 1, 1, 1, cxpb=1.5)
    with pytest.raises(ValueError, match="mate"):
        eaMuPlusLambda(pop, tb, 1, 1, 1, cxpb=0.5)
    with pytest.raises(ValueError, match="lambda_"):
        eaMuCommaLambda(pop, tb, 2, 1, 1)
    del tb.schedule
    with pytest.raises(ValueError, match="schedule"):
        eaMuPlusLambda(pop, tb, 1, 1, 1)


def test_process_pool_map_gives_same_result(small_arch, small_data):
    serial = run(small_arch, small_data, seed=5, mu=2, lambda_=2, comma=False, ngen=2)
    pop = [creator.Genome(small_arch, rng=np.random.default_rng([5, i]), lr=5e-3) for i in range(2)]
    tb = make_toolbox(small_data)
    with ProcessPoolExecutor(2) as ex:
        tb.register("map", ex.map)
        par = eaMuPlusLambda(pop, tb, 2, 2, 2, stats=default_stats(small_data.test), rng=5)
    assert strip(serial[1]) == strip(par[1])
    assert [i.n_kept for i in serial[0]] == [i.n_kept for i in par[0]]


def _recording_toolbox(calls):
    """A toolbox whose operators only record what was called, in order (and with which loss)."""

    def train(ind, rng=None, loss="l1"):
        calls.append(("train", loss))
        return (ind,)

    def prune(ind, rng=None):
        calls.append(("prune", None))
        return (ind,)

    tb = base.Toolbox()
    tb.register("train", train)
    tb.register("evaluate", lambda ind: (1.0,))
    tb.register("prune", prune)
    tb.register("schedule", Schedule("fixed", 1.0))
    return tb


@pytest.mark.parametrize("algo", [eaMuPlusLambda, eaMuCommaLambda])
@pytest.mark.parametrize(("kw", "first"), [({}, "prune"), ({"prune_first": True}, "prune"),
                                            ({"prune_first": False}, "train")])
def test_prune_first_sets_the_order_of_pruning_and_training(small_arch, algo, kw, first):
    calls = []
    pop = [creator.Genome(small_arch, rng=0)]
    algo(pop, _recording_toolbox(calls), 1, 1, 3, rng=0, **kw)
    second = "train" if first == "prune" else "prune"
    assert [c[0] for c in calls] == [first, second] * 3


def test_loss_schedule_is_passed_to_training_by_generation(small_arch):
    from evoprune.training import LossSchedule

    calls = []
    tb = _recording_toolbox(calls)
    tb.register("loss", LossSchedule("bce>l1", switch=0.5))
    eaMuPlusLambda([creator.Genome(small_arch, rng=0)], tb, 1, 1, 6, rng=0)
    assert [loss for what, loss in calls if what == "train"] == ["bce"] * 3 + ["l1"] * 3


def test_arguments_after_ngen_are_keyword_only(small_arch, small_data):
    pop = [creator.Genome(small_arch, rng=0)]
    with pytest.raises(TypeError):
        eaMuPlusLambda(pop, make_toolbox(small_data), 1, 1, 1, 0.5)  # DEAP's cxpb position: refused, not misread
