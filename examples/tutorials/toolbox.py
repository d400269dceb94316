"""
Register evoprune operators in your own DEAP toolbox
====================================================

evoprune does not hide DEAP. Its genome is a base class for ``creator`` types, its
operators are plain functions you ``register`` on a :class:`deap.base.Toolbox`, and its
algorithms read the operators from the toolbox by name, as DEAP's own algorithms do.

This tutorial builds such a toolbox by hand and runs *canonical training with pruning*
on the paper's data: one autoencoder, trained epoch by epoch, with a pruning mutation
that fires on a schedule. It takes a few seconds on a laptop CPU.
"""

# %%
# DEAP types
# ----------
#
# :class:`~evoprune.genome.AutoencoderGenome` holds an encoder and a decoder: plain
# weight tensors, one boolean mask per tensor and a learning rate. Masks are permanent:
# a pruned weight is zero in every forward pass and never regrows. The genome holds no
# hooks or optimizer objects, so ``toolbox.clone`` (``copy.deepcopy``) and ``pickle``
# are cheap. ``FitnessMin`` has one objective, the reconstruction error.

import matplotlib.pyplot as plt
import torch
from deap import base, creator, tools
from torch.nn.utils import prune as torch_prune

import evoprune.algorithms
import evoprune.data
import evoprune.evaluation
import evoprune.metrics
import evoprune.pruning
import evoprune.schedules
import evoprune.selection
import evoprune.training
from evoprune.architecture import Architecture
from evoprune.genome import AutoencoderGenome

# The guards let the script run twice in one interpreter (a notebook, say):
# creator.create warns when a class is created again.
if not hasattr(creator, "FitnessMin"):
    creator.create("FitnessMin", base.Fitness, weights=(-1.0,))
if not hasattr(creator, "Individual"):
    creator.create("Individual", AutoencoderGenome, fitness=creator.FitnessMin)

# %%
# Data
# ----
#
# :func:`~evoprune.data.binary_clustering` generates Baldi's binary clustering data,
# the paper's benchmark: random binary centroids, and samples that are centroids with
# each bit flipped with probability 0.05. Train, test and validation rows are separate
# draws. With the paper's sizes (1000 bits, 10 clusters, 100 rows per cluster and
# split) a constant 0.5 output scores an L1 error of 0.5, and an ideal denoiser, which
# outputs the centroid, 0.05: that is the floor.

data = evoprune.data.binary_clustering(
    n_clusters=10, dim=1000, samples_per_cluster=100, seed=0
)
train, test = data.train, data.test
print(f"train {tuple(train.shape)}, test {tuple(test.shape)}")

# %%
# The toolbox
# -----------
#
# :func:`evoprune.algorithms.eaMuPlusLambda` looks these operators up by name:
#
# ``train``
#    :func:`~evoprune.training.mutTrain`, training as a *variation operator*: one epoch
#    of minibatch Adam, in place. Adam's moments live on the genome, so the optimizer
#    state carries over from one generation to the next.
# ``loss``
#    A :class:`~evoprune.training.LossSchedule`: binary cross-entropy for the first
#    half of the run (fast to learn on 0/1 data), then L1, the reported error, to
#    fine-tune. The switch follows the run's generation.
# ``mutate``
#    :func:`~evoprune.training.mutLearningRate`, a log-normal step on the learning
#    rate, a strategy parameter of the genome.
# ``prune`` and ``schedule``
#    :func:`~evoprune.pruning.mutPrune` with the magnitude method removes the 10 %
#    smallest unpruned weights. The :class:`~evoprune.schedules.Schedule` decides at
#    generation ``t`` of ``T`` whether it fires: ``"exponential"`` fires with
#    probability ``p (1 - exp(-2 t / T))``, rarely while the network learns its shape.
#    The paper's operators register the same way (``method="conjunctive"``, with
#    ``data=train`` for their activation statistics).
# ``evaluate``
#    :func:`~evoprune.evaluation.evaluate`: the L1 error on the *training* rows. Test
#    rows are used only to report, never to decide.
# ``select``
#    :func:`~evoprune.selection.selParsimony`: among the individuals whose loss is
#    within 5 % of the best, the one with the fewest parameters survives.
#
# Each operator that draws random numbers gets its own generator from the algorithm,
# derived from the run's seed, so ``rng=seed`` reproduces a run.

toolbox = base.Toolbox()
toolbox.register("train", evoprune.training.mutTrain, data=train, batch_size=32)
toolbox.register("loss", evoprune.training.LossSchedule("bce>l1", switch=0.5))
toolbox.register("mutate", evoprune.training.mutLearningRate)
toolbox.register("prune", evoprune.pruning.mutPrune, method="magnitude", amount=0.1)
toolbox.register("schedule", evoprune.schedules.Schedule("exponential", 0.5))
toolbox.register("evaluate", evoprune.evaluation.evaluate, data=train)
toolbox.register("select", evoprune.selection.selParsimony, tolerance=0.05)

# %%
# Population, hall of fame, statistics
# ------------------------------------
#
# :meth:`Architecture.paper() <evoprune.architecture.Architecture.paper>` is the published
# network: encoder ``dim → 30 → 10``, decoder ``10 → 30 → dim``. Any stack of Linear
# layers and activations can be described with :class:`~evoprune.architecture.HalfSpec`.
# :func:`~evoprune.metrics.default_stats` records min, median and max of the training
# fitness (``train``), the fraction of parameters kept (``kept``) and the test L1
# (``test``) every generation.

arch = Architecture.paper(input_dim=1000)
population = [creator.Individual(arch, rng=0)]
print(f"{population[0].n_params} parameters")
halloffame = tools.HallOfFame(1)
stats = evoprune.metrics.default_stats(test)

# %%
# Run
# ---
#
# With ``mu = lambda_ = 1`` the (μ + λ) loop is a (1 + 1) evolution strategy: each
# generation it clones the parent, prunes the child when the schedule fires, trains it
# for one epoch, mutates its learning rate, evaluates it, and keeps one of parent and
# child. The child is pruned *before* its epoch of training (``prune_first=True``), so
# a pruned child gets an epoch to recover before it is judged; parsimony selection then
# accepts the pruning while it costs (almost) nothing.

population, logbook = evoprune.algorithms.eaMuPlusLambda(
    population, toolbox, mu=1, lambda_=1, ngen=60,
    stats=stats, halloffame=halloffame, rng=0,
)
best = population[0]
test_l1 = evoprune.evaluation.reconstruction_error(best, test)
print(f"test L1:       {test_l1:.4f}")
print(f"fraction kept: {best.fraction_kept:.3f} ({best.n_kept} of {best.n_params})")
pruned = ", ".join(f"{k} {v:.3f}" for k, v in best.sparsity.items())
print(f"pruned:        {pruned}")
print(f"generations in which the child was pruned: {sum(logbook.select('npruned'))}")

# %%
# The logbook holds one record per generation (``verbose=True`` prints it as it grows).
# Its chapters plot as learning curves: the error falls quickly under BCE, drops again
# when the loss switches to L1 halfway, and the fraction kept falls in steps as the
# schedule fires more often. The train and test curves lie on top of each other (the
# test rows come from the same clusters), so train is drawn wide and pale, test thin
# and dashed on it; the largest gap between them is printed below.

gens = logbook.select("gen")
train_curve = logbook.chapters["train"].select("min")
test_curve = logbook.chapters["test"].select("min")
gap = max(abs(a - b) for a, b in zip(train_curve, test_curve, strict=True))
print(f"largest |train - test| gap: {gap:.4f}")
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8, 3.4), layout="constrained")
fig.suptitle("(1 + 1) run with magnitude pruning: train and test L1, fraction kept",
             fontsize="medium")
ax1.plot(gens, train_curve, lw=5, alpha=0.35, label="train")
ax1.plot(gens, test_curve, lw=1.2, ls="--", color="k", label="test")
ax1.set(xlabel="generation", ylabel="L1 error", yscale="log")
ax1.legend()
ax2.plot(gens, logbook.chapters["kept"].select("min"), color="C2")
ax2.set(xlabel="generation", ylabel="fraction kept", ylim=(0, 1.05))

# %%
# Export
# ------
#
# :meth:`~evoprune.genome.AutoencoderGenome.to_module` exports an ordinary
# :class:`torch.nn.Module`. With ``prune_layout=True`` every Linear layer carries
# ``weight_orig``/``weight_mask`` as :mod:`torch.nn.utils.prune` would, so
# ``prune.is_pruned`` and ``prune.remove`` work on it.

module = best.to_module(prune_layout=True)
with torch.no_grad():
    same = torch.allclose(module(test), best.reconstruct(test), atol=1e-6)
print(f"prune.is_pruned: {torch_prune.is_pruned(module)}, same output: {same}")
