"""The pruning contract: every registered method passes it, broken methods fail it, and a method defined
here (outside the package) is registered by its definition and runs from a study file with its own parameter."""

import json
import pickle

import numpy as np
import pytest
import torch

from evoprune.pruning import (
    METHODS,
    Magnitude,
    PruningMethod,
    Random,
    Variance,
    method_names,
    mutPrune,
)
from evoprune.runs import RunConfig
from evoprune.study.runner import run_study
from evoprune.study.studyfile import StudyError, load_study
from evoprune.testing import check_pruning_method, contract_architectures
from evoprune.util.operator import Batch


class LowActivity(PruningMethod):
    """A user's method: prune the neurons whose mean |activation|^power is lowest."""

    name = "low_activity"
    unit = "neuron"
    needs_data = True

    def __init__(self, amount: float | None = 0.2, scope: str = "layer", n_cases: int = 32,
                 power: float = 1.0) -> None:
        super().__init__(amount, scope)
        if not isinstance(power, int | float) or isinstance(power, bool) or not power > 0:
            raise ValueError(f"power must be a positive number, got {power!r}")
        self.n_cases, self.power = int(n_cases), float(power)

    def scores(self, stack, rngs):
        return [[a.abs().pow(self.power).mean(dim=1).double() for a in acts] for acts in stack.activations]


def test_defining_a_method_registers_it_with_its_parameters():
    assert METHODS["low_activity"] is LowActivity
    assert method_names()[:4] == ("random", "variance", "conjunctive", "magnitude")
    assert "low_activity" in method_names()
    assert LowActivity.hyper_parameters() == {"amount": 0.2, "scope": "layer", "n_cases": 32, "power": 1.0}
    assert RunConfig(operator="low_activity").probability == 0.5  # no paper_p: the documented default
    assert RunConfig(operator="variance").probability == 0.1


@pytest.mark.parametrize("name", list(METHODS))
def test_every_registered_method_passes_the_contract(name):
    assert len(check_pruning_method(METHODS[name])) == 8


@pytest.mark.parametrize("method", [Random(0.2, scope="global"), Variance(0.3, scope="global", n_cases=20),
                                    Magnitude(0.25, scope="layer"), LowActivity(0.4, scope="global", power=2.0)],
                         ids=repr)
def test_contract_with_other_parameters(method):
    check_pruning_method(method)


class Regrows(Random, register=False):
    name = "regrows"

    def prune(self, individuals, rngs, data=None, masks="permanent"):
        out = super().prune(individuals, rngs, data, masks)
        for ind in individuals:  # bring back the first pruned weight
            m = ind.encoder.masks[0].view(-1)
            m[int(torch.nonzero(~m)[0])] = True
        return out


class IgnoresAmount(Random, register=False):
    name = "ignores_amount"

    def __init__(self, amount=0.1, scope="layer"):
        super().__init__(0.5, scope)


class GlobalRng(Random, register=False):
    name = "global_rng"

    def scores(self, stack, rngs):
        return [[torch.rand(p.shape, dtype=torch.float64) for p in half] for half in stack.params]


class EmptiesLayers(Random, register=False):
    name = "empties_layers"

    def _reserve(self, *args):
        return 0

    def _keep_layers(self, *args):
        pass


class ForgetsData(Variance, register=False):
    name = "forgets_data"

    def _stack(self, individuals, rngs, data):
        if data is None:
            data = torch.ones(10, individuals[0].arch.input_dim)
        return super()._stack(individuals, rngs, data)


@pytest.mark.parametrize("broken,check", [
    (Regrows, "masks only shrink"),
    (IgnoresAmount, "amount honoured"),
    (GlobalRng, "no global RNG touched"),
    (EmptiesLayers, "no layer emptied"),
    (ForgetsData, "needs data"),
])
def test_contract_catches_broken_methods(broken, check):
    with pytest.raises(AssertionError) as e:
        check_pruning_method(broken)
    assert check in str(e.value) and repr(broken.name) in str(e.value)
    assert broken.name not in METHODS  # register=False


@pytest.mark.parametrize("name", list(METHODS))
def test_methods_and_operators_round_trip_through_pickle(name):
    # the package never unpickles, so the contract checks dumps + deepcopy; the full round trip is here
    from functools import partial

    from evoprune.genome import AutoencoderGenome

    m = METHODS[name]()
    m2, op = pickle.loads(pickle.dumps((m, partial(mutPrune, method=m))))
    assert m2 == m and type(m2) is type(m)
    a, b = (AutoencoderGenome(contract_architectures()["paper"], rng=1) for _ in range(2))
    data = torch.rand(40, 24, generator=torch.Generator().manual_seed(1)) if m.needs_data else None
    mutPrune(a, m, data=data, rng=5)
    op(b, data=data, rng=5)
    assert all(torch.equal(x, y) for x, y in zip(a.encoder.masks, b.encoder.masks, strict=True))


def test_mutPrune_by_name_instance_and_batch():
    arch = contract_architectures()["3 hidden layers"]
    from evoprune.genome import AutoencoderGenome

    a, b, c = (AutoencoderGenome(arch, rng=0) for _ in range(3))
    mutPrune(a, "random", rng=3, amount=0.2)
    mutPrune(b, Random(0.2), rng=np.random.default_rng(3))
    mutPrune(Batch([c], [np.random.default_rng(3)]), method="random", amount=0.2)
    assert all(torch.equal(x.encoder.masks[0], y.encoder.masks[0]) for x, y in ((a, b), (a, c)))
    with pytest.raises(ValueError, match="unknown pruning method 'nope'"):
        mutPrune(a, "nope")
    with pytest.raises(TypeError, match="no parameter 'thresh'"):
        mutPrune(a, "conjunctive", thresh=0.2)
    with pytest.raises(ValueError, match="needs data"):
        mutPrune(a, "variance")
    with pytest.raises(ValueError, match="name .* is taken"):
        type("Other", (PruningMethod,), {"name": "random", "scores": Random.scores})


STUDY = """
name = "own-method"
seed = 3
trials = 1
checkpoint_every = 100

[data]
name = "binary_clustering"
n_clusters = 4
dim = 24
samples_per_cluster = 20

[run]
generations = 4
hidden = 8
latent = 3
p = 1.0

[run.pruning]
scope = "global"
amount = 0.2
threshold = 0.3

[run.pruning.low_activity]
power = 2.0
n_cases = 16

[factors]
operator = ["none", "low_activity", "conjunctive"]
schedule = ["fixed"]
"""


def test_own_method_runs_from_a_study_file_with_its_parameters(tmp_path):
    path = tmp_path / "own.toml"
    path.write_text(STUDY)
    study = load_study(path)
    cfgs = {s.config.operator: s.config for s in study.runs()}
    assert cfgs["low_activity"].pruning == {"scope": "global", "power": 2.0}
    assert cfgs["low_activity"].n_cases == 16 and cfgs["low_activity"].amount == 0.2
    assert cfgs["low_activity"].method() == LowActivity(0.2, scope="global", n_cases=16, power=2.0)
    assert cfgs["conjunctive"].pruning == {"threshold": 0.3}  # shared keys go where they are taken
    assert cfgs["none"].pruning == {} and "pruning" not in cfgs["none"].identity()
    rows = {r["run_id"]: r for r in run_study(study, tmp_path / "out", progress=False)}
    run = rows["canonical__low_activity-fixed__t00"]
    assert run["fraction_kept"] < 1.0
    recorded = json.loads((tmp_path / "out" / "runs" / run["run_id"] / "config.json").read_text())
    assert recorded["config"]["pruning"] == {"scope": "global", "power": 2.0}


def test_setting_pruning_tables_override_the_run_table(tmp_path):
    text = STUDY.replace("[factors]", "[settings.grid]\ngrid = \"ring:4\"\n\n[settings.grid.pruning.conjunctive]\n"
                                      "threshold = 0.4\n\n[factors]\nsetting = [\"canonical\", \"grid\"]")
    path = tmp_path / "s.toml"
    path.write_text(text)
    got = {(s.config.setting, s.config.operator): s.config.pruning for s in load_study(path).runs()}
    assert got["canonical", "conjunctive"] == {"threshold": 0.3}
    assert got["grid", "conjunctive"] == {"threshold": 0.4}
    assert got["grid", "low_activity"] == {"scope": "global", "power": 2.0}


@pytest.mark.parametrize("old,new,needle", [
    ("power = 2.0", "power = -1.0", "run.pruning.low_activity.power: power must be a positive number"),
    ("power = 2.0", "powr = 2.0", "run.pruning.low_activity.powr: unknown parameter of pruning method "
                                  "'low_activity'; valid: amount, scope, n_cases, power"),
    ('scope = "global"', 'scope = "row"', "run.pruning.scope: unknown pruning scope 'row'; valid: global, layer"),
    ("threshold = 0.3", "threshold = 1.3", "run.pruning.threshold: threshold must be a probability"),
    ("threshold = 0.3", "treshold = 0.3", "run.pruning.treshold: unknown key; valid: amount"),
    ("amount = 0.2", "amount = 1.2", "run.pruning.amount: amount must be a fraction in [0, 1)"),
    ("p = 1.0", "p = 1.0\namount = 0.1", "run.pruning.amount: also set as run.amount"),
])
def test_bad_pruning_tables_are_rejected_naming_file_key_and_values(tmp_path, old, new, needle):
    text = STUDY.replace(old, new)
    assert text != STUDY
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(StudyError) as e:
        load_study(path)
    assert str(e.value).startswith(f"{path}: ")
    assert needle in str(e.value)


def test_studies_without_pruning_keep_their_fingerprints():
    # the fingerprint of a run without method parameters is what it was before RunConfig.pruning existed
    ident = RunConfig(operator="random").identity()
    assert ident["extra"] == {} and "pruning" not in ident
    assert RunConfig(operator="conjunctive", pruning={"threshold": 0.2}).identity()["pruning"] == {"threshold": 0.2}
    with pytest.raises(ValueError, match="no parameter 'floor'"):
        RunConfig(operator="random", pruning={"floor": 0.1})


def test_genome_is_callable_like_a_module():
    from evoprune.genome import AutoencoderGenome

    g = AutoencoderGenome(contract_architectures()["paper"], rng=0)
    x = torch.rand(5, 24)
    assert torch.allclose(g(x), g.to_module()(x).detach())
