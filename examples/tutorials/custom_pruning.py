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
import torch

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
        scores = [
            [a.abs().pow(self.power).mean(dim=1) for a in acts]
            for acts in stack.activations
        ]
        # the decoder's last layer is the reconstruction: never drop an output feature
        scores[1][-1] = torch.full_like(scores[1][-1], float("inf"))
        return scores


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
# ``[run.pruning.low_activity]``; see the command line below), or on your own toolbox::
#
#     toolbox.register("prune", mutPrune, method=LowActivity(power=2.0), data=train)
#
# Here it runs in the canonical setting beside magnitude pruning and CONJUNCTIVE, on
# the paper's data at a fifth of its width. A run passes its own ``amount`` (the
# :class:`~evoprune.runs.RunConfig` field, 0.1 unless set) to every method that takes
# one, so each pruning here removes a tenth of each layer's neurons; the class default
# (0.2) applies only where you build the method yourself, as on the toolbox above.

data = binary_clustering(n_clusters=10, dim=200, samples_per_cluster=100, seed=0)
results = {}
for operator, params in [
    ("magnitude", {}),
    ("conjunctive", {}),
    ("low_activity", {"power": 2.0}),
]:
    config = RunConfig(operator=operator, pruning=params, generations=60)
    results[operator] = r = run(config, data, seed=0)
    fired = sum(rec["npruned"] for rec in r.records)
    print(f"{operator:13s} test L1 {r.test_l1:.4f}  kept {r.fraction_kept:.3f}  "
          f"pruned {fired} times")

# %%
# Each operator fired as often (the schedule and the seed decide when), but a pruned child
# replaces its parent only while its error stays within the selection's tolerance of
# the parent's, so the fraction kept records the prunings the network could afford.
#
# Which layers each method thinned: the fraction of weights kept per layer of the
# final network. A neuron method removes whole rows of a layer's weights; magnitude
# pruning removes single weights. ``LowActivity`` never touches the decoder's last
# layer (its scores there are ``inf``): an output neuron is a feature of the
# reconstruction, and dropping one would cost its error on every row.

fig, ax = plt.subplots(figsize=(8, 3.8), layout="constrained")
fig.suptitle("Fraction of weights kept per layer of the final network, by operator",
             fontsize="medium")
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
fig.legend(loc="outside right upper", frameon=False)

# %%
# From the command line
# ---------------------
#
# ``evoprune run`` reads a study in a fresh process, which knows only the built-in
# methods. Save the class in a module next to the study file and name the module in
# the study's ``imports`` (or pass ``--import my_pruning``): evoprune imports it, from
# the study file's folder first and then from ``sys.path``, before it reads the study,
# and so do its worker processes. An installed package can instead declare the module
# as an entry point of the ``evoprune.pruning`` group. Here the class above goes into
# ``studies/my_pruning.py`` and a small study beside it names the module:

import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import evoprune  # noqa: E402

folder = Path(tempfile.mkdtemp())
(folder / "studies").mkdir()
(folder / "studies" / "my_pruning.py").write_text('''\
"""The LowActivity pruning method of the custom-pruning tutorial."""

import torch

from evoprune.pruning import PruningMethod


class LowActivity(PruningMethod):
    name = "low_activity"
    unit = "neuron"
    needs_data = True

    def __init__(self, amount=0.2, scope="layer", n_cases=32, power=1.0):
        super().__init__(amount, scope)
        self.n_cases = n_cases
        self.power = power

    def scores(self, stack, rngs):
        scores = [[a.abs().pow(self.power).mean(dim=1) for a in acts]
                  for acts in stack.activations]
        scores[1][-1] = torch.full_like(scores[1][-1], float("inf"))
        return scores
''')
(folder / "studies" / "study.toml").write_text("""\
name = "low_activity"
imports = ["my_pruning"]
trials = 2

[data]
name = "binary_clustering"
dim = 100

[run]
generations = 20

[run.pruning.low_activity]
power = 2.0

[factors]
operator = ["none", "low_activity"]
""")

# %%
# Run it from another folder, as a shell would (``evoprune run studies/study.toml
# --out out``); here through the Python that builds this page. Each run's
# ``config.json`` records the method's parameters (``evoprune report out`` would then
# write the report, which names the method):

env = {**os.environ, "PYTHONPATH": str(Path(evoprune.__file__).parents[1])}
done = subprocess.run(
    [sys.executable, "-m", "evoprune", "run", "studies/study.toml", "--out", "out",
     "--no-report"],
    cwd=folder, env=env, capture_output=True, text=True,
)
print("exit status", done.returncode)
for run_dir in sorted((folder / "out" / "runs").iterdir()):
    config = json.loads((run_dir / "config.json").read_text())["config"]
    result = json.loads((run_dir / "result.json").read_text())
    print(f"{run_dir.name:40s} {config['pruning']}  test L1 {result['test_l1']:.4f}")

# %%
# A module that cannot be imported stops the command before it writes anything,
# with one line that names the module:

done = subprocess.run(
    [sys.executable, "-m", "evoprune", "run", "studies/study.toml", "--out", "out2",
     "--import", "my_prunning"],
    cwd=folder, env=env, capture_output=True, text=True,
)
print("exit status", done.returncode)
print(textwrap.fill(done.stderr, 80))
print("out2 written:", (folder / "out2").exists())

# %%
# This page defined ``LowActivity`` in the process that builds the documentation;
# unregister it so nothing after the page sees it.

from evoprune.pruning import unregister_method  # noqa: E402

unregister_method("low_activity")
print(method_names())
