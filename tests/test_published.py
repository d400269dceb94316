"""The published conditions, each against a small independent re-implementation of the published code.

The published code (github ALFA-group/lipizzaner-ae-prune, 4099978) runs plain ``nn.Sequential`` modules with
``torch.optim`` and ``torch.nn.utils.prune``; each test below writes that behaviour again in a few lines and
compares it with the option.  Adam's betas and a fresh Adam per minibatch are checked on every backend by the
backend contract (:func:`evoprune.testing.check_backend`).
"""

import math

import numpy as np
import pytest
import torch
from deap import base, creator, tools
from torch import nn
from torch.nn.utils import prune

from evoprune.algorithms import eaMuCommaLambda, select_pair
from evoprune.architecture import Architecture
from evoprune.data import binary_clustering
from evoprune.evaluation import evaluate
from evoprune.genome import AutoencoderGenome
from evoprune.pruning import ConjunctivePublished, VariancePublished, mutPrune
from evoprune.runs import RunConfig
from evoprune.runs.common import published_numbers
from evoprune.schedules import PublishedClock, Schedule
from evoprune.study.studyfile import StudyError, parse_study
from evoprune.training import LRDecay, lr_decay_factor, mutLearningRate, mutTrain, train_halves

ARCH = Architecture.paper(40, 12, 4)


@pytest.fixture
def data():
    return binary_clustering(n_clusters=4, dim=40, samples_per_cluster=25, seed=3)


def _module(g):
    return g.to_module()


def test_step_decay_is_torch_steplr():
    for T in (8, 11, 400):
        opt = torch.optim.Adam([nn.Parameter(torch.zeros(1))], lr=1e-5)
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=max(1, int(T / 4)), gamma=0.1)
        for t in range(1, T + 1):  # generation t trains epoch t - 1, then the published code steps the scheduler
            assert opt.param_groups[0]["lr"] == pytest.approx(1e-5 * lr_decay_factor("step:0.25:0.1", t, T),
                                                               rel=1e-12)
            opt.step()
            sched.step()
    assert LRDecay("none")(3, 10) == 1.0


def test_lr_scale_trains_with_the_scaled_rate(data):
    a, b = AutoencoderGenome(ARCH, rng=0, lr=1e-3), AutoencoderGenome(ARCH, rng=0, lr=1e-4)
    mutTrain(a, data.train, rng=1, batch_size=5, lr_scale=0.1)
    mutTrain(b, data.train, rng=1, batch_size=5)
    assert all(torch.equal(x, y) for x, y in zip(a.encoder.params, b.encoder.params, strict=True))
    assert a.lr == 1e-3  # the genome's own rate is untouched


def test_additive_lr_mutation_is_the_published_random_walk():
    g, ref = np.random.default_rng(4), np.random.default_rng(4)
    ind = AutoencoderGenome(ARCH, rng=0, lr=1e-5)
    lr = 1e-5
    for _ in range(200):
        mutLearningRate(ind, sigma=1e-5, low=1e-9, high=10, rng=g, scale="additive")
        lr = min(10, max(1e-9, lr + ref.normal(0, 1e-5)))  # lipi_ae_base.update_learning_rate
        assert ind.lr == lr
    with pytest.raises(ValueError, match="scale"):
        mutLearningRate(ind, scale="linear")


def test_transient_masks_are_prune_remove_with_adam_kept(data, backend):
    """Prune, then train on: the published prune.remove keeps no mask, so the zeros regrow and Adam goes on."""
    ind = AutoencoderGenome(ARCH, rng=0, lr=1e-2)
    x = data.train
    orders = torch.from_numpy(np.random.default_rng(0).permutation(x.shape[0]))[None, :20]
    module = ind.to_module()
    opt = torch.optim.Adam(module.parameters(), lr=1e-2)

    def reference_steps():
        for s in range(0, 20, 5):
            xb = x[orders[0, s : s + 5]]
            opt.zero_grad()
            (module(xb) - xb).abs().mean().backward()
            opt.step()

    def mine():
        (ind.encoder,), (ind.decoder,), _ = train_halves([ind.encoder], [ind.decoder], [ind.lr], x, orders, 5)

    reference_steps()
    mine()
    mutPrune(ind, "random", amount=0.3, rng=5, masks="transient")
    assert all(bool(m.all()) for h in ind.halves for m in h.masks)  # no mask kept
    assert sum(ind.zeros_at_prune) >= int(0.3 * ind.n_params) - 4
    assert ind.zeros_at_prune[0] == sum(int((p == 0).sum()) for p in ind.encoder.params)
    for lin, k in zip([m for m in module.modules() if isinstance(m, nn.Linear)], range(4), strict=True):
        half, j = (ind.encoder, 2 * k) if k < 2 else (ind.decoder, 2 * (k - 2))
        for name, t in (("weight", half.params[j]), ("bias", half.params[j + 1])):
            prune.custom_from_mask(lin, name, t != 0)  # the entries evoprune zeroed
            prune.remove(lin, name)  # torch keeps the Parameter, so Adam's state carries on
    reference_steps()
    mine()
    ref = [p.detach() for p in module.parameters()]
    for a, b in zip(ref, ind.encoder.params + ind.decoder.params, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)
    zeros = sum(int((p == 0).sum()) for h in ind.halves for p in h.params)
    assert zeros < sum(ind.zeros_at_prune) / 4  # they regrew; zeros_at_prune still says what pruning left


def _published_activations(seq: nn.Sequential, x: torch.Tensor) -> list[torch.Tensor]:
    """Forward hooks on each Linear layer, as the published ann.py: in-place ReLUs overwrite what the hook
    saw (so hidden layers read after ReLU), the last Linear before the Sigmoid."""
    seq = nn.Sequential(*[nn.ReLU(inplace=True) if isinstance(m, nn.ReLU) else m for m in seq])
    store = []
    for m in seq:
        if isinstance(m, nn.Linear):
            m.register_forward_hook(lambda mod, i, o: store.append(o))
    with torch.no_grad():
        seq(x)
    return store


def test_variance_published_is_the_published_compute_mask(data):
    ind = AutoencoderGenome(ARCH, rng=2, lr=1e-3)
    mutTrain(ind, data.train, rng=0, batch_size=5, epochs=3)
    before = [[p.clone() for p in h.params] for h in ind.halves]
    enc, dec = ind.encoder.to_sequential(), ind.decoder.to_sequential()
    mutPrune(ind, VariancePublished(batch_size=5), data=data.train, rng=7, masks="transient")
    g = np.random.default_rng(7)  # the draws, in the order the method makes them
    x = data.train[torch.from_numpy(g.permutation(data.train.shape[0]))]  # the epoch's minibatches, in order
    enc_acts = _published_activations(enc, x)
    for h, acts in ((0, enc_acts), (1, _published_activations(dec, enc_acts[-1]))):
        for layer, a in enumerate(acts):
            passes = a.numpy().reshape(-1, 5, a.shape[1])  # (passes, batch position, units)
            s = np.sum(np.std(passes, axis=0), axis=0)  # ann.py get_activation_variance
            for k in (0, 1):  # weight, then bias: prune_ann's per-entry keep draws
                t = np.repeat(s[:, None], before[h][2 * layer].shape[1], 1) if k == 0 else s
                t_p = 1.0 - np.abs(t)
                ptp = np.max(t_p) - np.min(t_p)
                if ptp > 0:
                    t_p = (t_p - np.min(t_p)) / ptp
                keep = t_p > g.random(t_p.shape)
                p = before[h][2 * layer + k].numpy()
                got = ind.halves[h].params[2 * layer + k].numpy()
                np.testing.assert_array_equal(got, np.where(keep, p, 0.0))


def test_conjunctive_published_is_lexicase_select_nodes(data):
    ind = AutoencoderGenome(ARCH, rng=4, lr=1e-3)
    mutTrain(ind, data.train, rng=0, batch_size=5, epochs=2)
    before = [[p.clone() for p in h.params] for h in ind.halves]
    enc, dec = ind.encoder.to_sequential(), ind.decoder.to_sequential()
    mutPrune(ind, ConjunctivePublished(), data=data.test, rng=9, masks="transient")
    cases = np.random.default_rng(9).integers(1, data.test.shape[0], size=100)  # random.randint(1, N - 1)
    layers: list[list[np.ndarray]] = [[], [], [], []]
    for c in cases:  # one unbatched forward pass per case
        xa = data.test[int(c)][None]
        e = _published_activations(enc, xa)
        d = _published_activations(dec, e[-1])
        for li, a in enumerate(e + d):
            layers[li].append(a[0].numpy())
    for li, acts in enumerate(layers):
        flags = []
        for a in acts:
            with np.errstate(invalid="ignore", divide="ignore"):
                flags.append((a - a.min()) / (a.max() - a.min()) < 0.1)  # NaN (constant case) flags none
        sel = flags[0]
        for f in flags:
            if sel.sum() <= 1:
                break
            sel = sel & f
        h, layer = divmod(li, 2)
        w = before[h][2 * layer].numpy()
        got = ind.halves[h].params[2 * layer].numpy()
        np.testing.assert_array_equal(got, np.where(sel[:, None], 0.0, w))


def test_same_index_pairing_is_the_published_select():
    errors = torch.tensor([[0.3, 0.2, 0.9], [0.1, 0.8, 0.7], [0.5, 0.4, 0.6]])
    for seed in range(20):
        g, ref = np.random.default_rng(seed), np.random.default_rng(seed)
        losses = errors.min(1).values.numpy()  # best_case over the decoders
        a, b = ref.integers(0, 3, size=(2, 1))[:, 0]
        idx = a if losses[a] < losses[b] else b
        assert select_pair(errors, "best", 2, g, "same_index") == (idx, idx)


def test_a_grid_child_carries_each_halfs_own_zero_count(data):
    from evoprune.algorithms.grid import _Cells

    pop = [AutoencoderGenome(ARCH, rng=i) for i in range(3)]
    for i, ind in enumerate(pop):
        ind.zeros_at_prune = [10 * i + 1, 10 * i + 2]  # the published n_pruned of each half's lineage
    del pop[2].zeros_at_prune  # a lineage that never pruned counts 0
    errors = torch.tensor([[0.9, 0.1, 0.8], [0.7, 0.6, 0.5], [0.2, 0.3, 0.4]])
    cells = _Cells(pop, [[0, 1, 2]] * 3, data.train, 5, "best", 2, "independent", None)
    seen = set()
    for seed in range(30):
        ei, di = select_pair(errors, "best", 2, np.random.default_rng(seed))
        child = cells.child_of(0, errors, np.random.default_rng(seed))
        assert getattr(child, "zeros_at_prune", [0, 0]) == [getattr(pop[ei], "zeros_at_prune", [0, 0])[0],
                                        getattr(pop[di], "zeros_at_prune", [0, 0])[1]]
        seen.add((ei, di))
    assert any(e != d for e, d in seen)  # halves of different lineages were paired


@pytest.mark.parametrize("name", ["fixed", "increase", "decrease_published", "exponential", "final_n",
                                  "population", "prune_after"])
def test_published_clock_is_prune_ann_schedules(name):
    p, T, n = 0.5, 40, 3
    formulas = {  # prune_ann.py L336-421 with epoch t, final_epoch F, n_solutions n
        "fixed": lambda t, F: p, "increase": lambda t, F: t * (p / F),
        "decrease_published": lambda t, F: 1.0 - t * (p / F), "exponential": lambda t, F: p * (1 - np.exp(-2 * t / F)),
        "final_n": lambda t, F: 0 if t < F - 0.25 * F else p, "population": lambda t, F: t * (p / (F * n)),
        "prune_after": lambda t, F: 0 if t < F else p,
    }
    for last, F in (("T", T), ("T-1", T - 1)):  # canonical, coevolution
        clock = PublishedClock(Schedule(name, p), last)
        for gen in range(1, T + 1):
            assert clock(gen, T, n) == pytest.approx(min(1.0, formulas[name](gen - 1, F)), abs=1e-12)
    if name == "prune_after":
        assert all(PublishedClock(Schedule(name, p), "T")(t, T) == 0 for t in range(1, T + 1))  # never fires


def test_canonical_always_keeps_the_child_and_the_published_numbers(data):
    creator.create("FitnessPub", base.Fitness, weights=(-1.0,)) if not hasattr(creator, "FitnessPub") else None
    tb = base.Toolbox()
    tb.register("train", mutTrain, data=data.train, batch_size=5)
    tb.register("evaluate", evaluate, data=data.train)
    tb.register("prune", mutPrune, method="random", amount=0.5, masks="transient")
    tb.register("schedule", Schedule("fixed", 1.0))
    tb.register("select", tools.selBest)
    pop = [creator.Genome(ARCH, rng=0, lr=1e-2)]
    pop, log = eaMuCommaLambda(pop, tb, 1, 1, 2, rng=0, prune_first=False)
    assert log.select("npruned") == [0, 1, 1]
    nums = published_numbers(pop, data)
    assert nums["published_kept"] == pytest.approx(1 - sum(pop[0].zeros_at_prune) / pop[0].n_params)
    assert 0.4 < nums["published_kept"] < 0.6  # what pruning left (amount 0.5), not the model's masks (all kept)
    assert pop[0].fraction_kept == 1.0
    assert nums["published_train_l1"] == pytest.approx(pop[0].fitness.values[0], rel=1e-6)


def test_heldout_rows_repeat_as_published():
    d = binary_clustering(n_clusters=4, dim=30, samples_per_cluster=20, seed=1, heldout_repeats=10)
    plain = binary_clustering(n_clusters=4, dim=30, samples_per_cluster=20, seed=1)
    assert torch.equal(d.train, plain.train)
    for split in (d.test, d.validation):
        assert len(np.unique(split.numpy(), axis=0)) <= 8 and torch.equal(split[:8], split[8:16])
    with pytest.raises(ValueError, match="heldout_repeats=3 must divide"):
        binary_clustering(samples_per_cluster=20, heldout_repeats=3)


def test_defaults_leave_identity_and_config_as_they_were():
    cfg = RunConfig()
    for key in ("adam_betas", "optimizer_reset", "lr_decay", "masks", "pairing", "report_metric"):
        assert key not in cfg.identity() and key not in cfg.as_dict()
    pub = RunConfig(adam_betas=(0.5, 0.999), masks="transient")
    assert pub.identity()["adam_betas"] == [0.5, 0.999] and pub.as_dict()["masks"] == "transient"


@pytest.mark.parametrize(("key", "value", "needle"), [
    ("optimizer_reset", '"epoch"', "unknown optimizer_reset 'epoch'"),
    ("lr_decay", '"cosine"', "lr_decay must be 'none' or 'step:<every>:<gamma>'"),
    ("adam_betas", "[0.5, 1.5]", "betas must be two numbers in [0, 1)"),
    ("lr_bounds", "[1e-3, 1e-5]", "lr_bounds must be 0 < low <= high"),
    ("masks", '"soft"', "unknown masks 'soft'"),
    ("pairing", '"random"', "unknown pairing 'random'"),
    ("eval_rows", "0", "eval_rows must be an integer >= 1"),
    ("schedule_clock", '"paper"', "unknown schedule_clock 'paper'"),
    ("report_metric", '"mean"', "unknown report_metric 'mean'"),
    ("pruning_data", '"validation"', "unknown pruning_data 'validation'"),
])
def test_bad_published_options_are_refused_naming_file_and_key(key, value, needle):
    text = f'[run]\n{key} = {value}\n[factors]\noperator = ["random"]\n'
    with pytest.raises(StudyError) as e:
        parse_study(text, "pub.toml")
    assert f"pub.toml: run.{key}:" in str(e.value) and needle in str(e.value)


def test_the_published_study_file_reads_as_published():
    from pathlib import Path

    study = parse_study(Path(__file__).parents[1].joinpath("studies", "published.toml").read_text(), "published.toml")
    runs = study.runs()
    canon = next(r.config for r in runs if r.group == "random-exponential" and r.config.setting == "canonical")
    grid = next(r.config for r in runs if r.config.setting == "grid" and r.config.operator == "random")
    assert (canon.batch_size, canon.lr, canon.adam_betas, canon.selection) == (5, 1e-5, (0.5, 0.999), "always")
    assert (grid.optimizer_reset, grid.pairing, grid.eval_rows, grid.update) == ("minibatch", "same_index", 5,
                                                                                  "asynchronous")
    groups = {(r.config.setting, r.group) for r in runs}
    assert len(groups) == 24 and ("grid", "variance_published-population@ring10") in groups
    assert math.isclose(RunConfig(operator="variance_published").probability, 0.1)
