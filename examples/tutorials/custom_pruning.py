"""
Write your own pruning operator
===============================

A pruning operator is one small class. Subclass
:class:`evoprune.pruning.PruningMethod`, give it a ``name`` and say how to *score* the
entries (or whole neurons) of a stack of genomes; evoprune does the rest:

* low scores are pruned first and ``inf`` means "keep"; entries already pruned are
  never candidates, so masks only shrink;
* ``amount`` is the fraction of the candidates to prune, per layer
  (``scope="layer"``) or over the whole genome (``scope="global"``);
* ties at the cut-off are broken with the member's own generator, and a layer never
  loses its last weight or neuron.

This page writes one, checks it against the contract every method must keep, and
runs it next to the built-in operators.
"""

# %%
# The method
# ----------
#
# ``LowActivity`` prunes the hidden neurons whose mean ``|activation| ** power`` over
# a sample of training rows is lowest. ``unit = "neuron"`` asks for one score per
# output neuron of each layer; ``needs_data = True`` makes evoprune compute the
# activations (``stack.activations[half][layer]``, of shape ``(members, cases, out)``,
# on the data's device) before calling :meth:`~evoprune.pruning.PruningMethod.scores`.
# The hyper-parameters are the keyword arguments of ``__init__``, each stored as an
# attribute of the same name: that is how study files set them and errors name them.

import textwrap

import matplotlib.pyplot as plt

from evoprune.data import binary_clustering
from evoprune.pruning import PruningMethod, method_names
from evoprune.runs import RunConfig, run
from evoprune.testing import check_pruning_method


class LowActivity(PruningMethod):
    """Prune the neurons whose mean |activation| ** power is lowest."""

    name = "low_activity"  # the name in study files and RunConfig
    unit = "neuron"
    needs_data = True
    paper_p = None  # schedule base probability: None gives evoprune's default

    def __init__(self, amount=0.2, scope="layer", n_cases=32, power=1.0):
        super().__init__(amount, scope)
        self.n_cases = n_cases  # rows sampled per member for the activations
        self.power = power

    def scores(self, stack, rngs):
        return [
            [a.abs().pow(self.power).mean(dim=1) for a in acts]
            for acts in stack.activations
        ]


print(method_names())

# %%
# Defining the class registered it, next to the built-in methods.
# ``class M(PruningMethod, register=False)`` would not. Random draws, if a method needs
# any, come from ``rngs[i]`` for member ``i``, never from a global generator.
#
# Check it
# --------
#
# :func:`evoprune.testing.check_pruning_method` runs the contract on the paper's
# network and on one with three hidden layers per half: masks only shrink and pruned
# weights and Adam moments stay zero through training; ``amount`` is honoured; a seed
# reproduces the mask; a stack of N genomes gives what N single calls give; no layer
# is emptied; the method pickles and deep-copies; a method that needs data refuses to
# run without it. Put the call in your test suite.

passed = check_pruning_method(LowActivity(power=2.0))
print("\n".join(passed))

# %%
# A method that breaks the contract is caught, with the check named. This one scores
# with Python's global random generator, so a seed cannot reproduce its masks:

import random  # noqa: E402


class Careless(PruningMethod, register=False):
    name = "careless"

    def scores(self, stack, rngs):
        return [
            [p.double().apply_(lambda _: random.random()) for p in half]
            for half in stack.params
        ]


try:
    check_pruning_method(Careless)
except AssertionError as error:
    print(textwrap.fill(str(error), 80))

# %%
# Use it
# ------
#
# By name wherever an operator is named: in a :class:`~evoprune.runs.RunConfig`, in a
# study file (``operator = ["none", "low_activity"]``, with parameters in
# ``[run.pruning.low_activity]``; import the module that defines the method before the
# study is read), or on your own toolbox::
#
#     toolbox.register("prune", mutPrune, method=LowActivity(power=2.0), data=train)
#
# Here it runs in the canonical setting beside magnitude pruning and CONJUNCTIVE, on
# the paper's data at a fifth of its width.

data = binary_clustering(n_clusters=10, dim=200, samples_per_cluster=100, seed=0)
results = {}
for operator, params in [
    ("magnitude", {}),
    ("conjunctive", {}),
    ("low_activity", {"power": 2.0}),
]:
    config = RunConfig(operator=operator, pruning=params, generations=60)
    results[operator] = run(config, data, seed=0)
    r = results[operator]
    print(f"{operator:13s} test L1 {r.test_l1:.4f}  kept {r.fraction_kept:.3f}")

# %%
# Which layers each method thinned: the fraction of weights kept per layer of the
# final network. A neuron method removes whole rows of a layer's weights (and the
# matching columns of the next layer); magnitude pruning removes single weights.

fig, ax = plt.subplots(figsize=(8, 3.2))
width = 0.27
for i, (operator, r) in enumerate(results.items()):
    labels, kept = [], []
    for half in ("encoder", "decoder"):
        for j, mask in enumerate(getattr(r.best, half).masks[::2]):  # weights
            labels.append(f"{half[:3]} {j}")
            kept.append(mask.float().mean().item())
    ax.bar([x + i * width for x in range(len(kept))], kept, width, label=operator)
ax.set_xticks([x + width for x in range(len(labels))], labels)
ax.set(ylabel="fraction of weights kept", ylim=(0, 1.05))
ax.legend(loc="lower left")
fig.tight_layout()
