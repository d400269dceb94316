"""
Spatial coevolution on a toroidal grid
======================================

The paper's second setting trains autoencoders by *spatial coevolution*, in the style
of Lipizzaner ("Lipi-AE"): encoders and decoders live on a grid, and every cell trains
the best encoder/decoder pairing it can form with its neighbours. evoprune implements
it, generalised to any toroidal grid, as :func:`evoprune.algorithms.eaToroidalGrid`.
Like DEAP's own algorithms it takes a population and a toolbox and returns
``(population, logbook)``.

This page builds a 3 × 3 grid on a small problem, runs it with RANDOM pruning, and
looks at the result: convergence curves, a map of the cells, and the pairing errors a
cell selects from. The last sections show the same run from a
:class:`evoprune.runs.RunConfig`, parsimony replacement, and how to use a process pool.
"""

# %%
# Cells and neighbourhoods
# ------------------------
#
# A :class:`evoprune.topology.Grid` is a ``rows × cols`` torus: coordinates wrap
# around, so every cell has the same number of neighbours. Cells are numbered
# row-major (cell ``i`` is at row ``i // cols``, column ``i % cols``), and
# ``population[i]`` is the genome of cell ``i``: its *centre* encoder, its centre
# decoder and its learning rate. The population has exactly one individual per cell.
#
# A cell's *neighbourhood* is the cell itself (always first) and the cells it takes
# encoders and decoders from:
#
# ``von_neumann`` (the default, Lipizzaner's)
#    the cell and its four neighbours North, South, West and East: 5 cells.
# ``moore``
#    the cell and the 8 cells around it: 9 cells.
# ``ring`` (1 × N grids only)
#    the cell and ``radius`` cells on either side: ``2 * radius + 1`` cells. A 10-cell
#    ring of radius 1 is the paper's setting.
#
# Grids are usually written as strings (study files use them too) and parsed by
# :meth:`evoprune.topology.Grid.from_string`; ``str(grid)`` gives the spec back.
# Neighbourhoods are sets of distinct cells: on a grid too small for the shape, a
# cell reached twice counts once.

import matplotlib.pyplot as plt
import numpy as np
from deap import base, creator

from evoprune.algorithms import best_centre, eaToroidalGrid
from evoprune.architecture import Architecture
from evoprune.data import binary_clustering
from evoprune.evaluation import evaluate, pairing_errors, reconstruction_errors
from evoprune.genome import AutoencoderGenome
from evoprune.metrics import default_stats
from evoprune.pruning import mutPrune
from evoprune.runs import RunConfig, run
from evoprune.schedules import Schedule
from evoprune.topology import Grid
from evoprune.training import LossSchedule, mutLearningRate, mutTrain

for spec in ["ring:10", "ring:10:2", "4x4", "4x4:moore", "3x3", "ring:3:5"]:
    grid = Grid.from_string(spec)
    print(f"{spec:10} -> {str(grid):17} cell 0 sees {grid.neighbours(0)}")

# %%
# The torus shows in a picture (dark: the cell, light: its neighbours): on a 4 × 4
# grid the neighbourhood of a corner cell wraps around to the opposite edges.


def show_neighbourhood(ax, grid, cell):
    """Shade the neighbourhood of ``cell``; write each cell's index in it."""
    image = np.zeros(grid.shape)
    for j in grid.neighbours(cell):
        image[grid.coords(j)] = 1 if j != cell else 2
    ax.imshow(image, cmap="Blues", vmin=0, vmax=2.5)
    for i in range(grid.n_cells):
        r, c = grid.coords(i)
        ax.text(c, r, i, ha="center", va="center", fontsize=8)
    ax.set_title(f"{grid}: cell {cell}", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


fig, axes = plt.subplots(1, 3, figsize=(7, 2.9), width_ratios=[1, 1, 2.5])
fig.suptitle("Neighbourhood of cell 0 (dark) on a 4 × 4 grid, a 4 × 4 Moore grid "
             "and a ring of 10", fontsize="medium")
show_neighbourhood(axes[0], Grid.from_string("4x4"), 0)
show_neighbourhood(axes[1], Grid.from_string("4x4:moore"), 0)
show_neighbourhood(axes[2], Grid.from_string("ring:10:2"), 0)
fig.tight_layout()

# %%
# Data, genomes and a population
# ------------------------------
#
# The data is Baldi's binary clustering (:func:`evoprune.data.binary_clustering`),
# here with 4 clusters of 64-bit vectors: each row is a centroid with 5 % of its bits
# flipped. Reconstructing the centroid, the best an autoencoder can do, scores an L1
# error equal to that flip rate, 0.05 on average; a constant output of 0.5 scores
# 0.5. The network is the paper's shape, scaled down: 64 → 16 → 4 → 16 → 64.
#
# DEAP needs an individual class: :class:`evoprune.genome.AutoencoderGenome` with a
# fitness. The grid has one individual per cell, each with its own initial weights
# drawn from one seeded generator.

if not hasattr(creator, "FitnessMin"):  # the guards let the page run twice in a session
    creator.create("FitnessMin", base.Fitness, weights=(-1.0,))
if not hasattr(creator, "Individual"):
    creator.create("Individual", AutoencoderGenome, fitness=creator.FitnessMin)

data = binary_clustering(n_clusters=4, dim=64, samples_per_cluster=25, seed=0)
arch = Architecture.paper(data.dim, hidden=16, latent=4)
grid = Grid.from_string("3x3")  # von Neumann: 5 cells per neighbourhood

init = np.random.default_rng([0, 1])  # the seed evoprune.runs.run uses for seed 0
population = [creator.Individual(arch, rng=init, lr=0.01) for _ in range(grid.n_cells)]
print(f"train / test / validation rows: {len(data.train)}, {len(data.test)}, "
      f"{len(data.validation)}")
print(f"{grid.n_cells} cells, {population[0].n_params} parameters per genome")

# %%
# One generation
# --------------
#
# In every generation each cell builds a child from its neighbourhood, and the child
# replaces the cell's centre:
#
# #. **Pairing.** The cell draws a batch of ``eval_size`` (default 100) training rows
#    and computes the error matrix ``E[i, j]``: the loss of encoder ``i`` followed by
#    decoder ``j``, for every encoder and every decoder of the neighbourhood
#    (``k × k`` pairings for ``k`` cells).
# #. **Solution concept.** Each encoder is scored from its row of ``E`` (its errors
#    with all the neighbourhood's decoders), each decoder from its column.
#    ``concept="best"`` (the default, as in the paper) scores a half by its best
#    partner (the minimum), ``"worst"`` by its worst partner, ``"mean"`` by the mean.
# #. **Selection.** A tournament (``tournsize``, default 2, drawn with replacement)
#    picks an encoder by the encoder scores, and a separate tournament picks a
#    decoder. They are chosen *independently*, so a cell can combine the encoder of
#    one neighbour with the decoder of another.
# #. **Variation.** The child is the selected encoder and decoder (with their pruning
#    masks and Adam moments) and the cell's own learning rate. It is trained for one
#    epoch (``toolbox.train``), its learning rate is mutated (``toolbox.mutate``),
#    the pruning mutation fires with the schedule's probability (``toolbox.prune``
#    and ``toolbox.schedule``), and it is evaluated (``toolbox.evaluate``).
#
# Pairing batches come from the ``data`` argument of ``eaToroidalGrid`` (the training
# rows). The toolbox holds the
# same operators as the canonical loop (see :doc:`toolbox`); parents are
# chosen by the tournaments above. Here: minibatches of 10 rows, binary
# cross-entropy for the first half of the run and L1 after it
# (:class:`evoprune.training.LossSchedule`), and RANDOM pruning of 10 % of each
# tensor on the paper's exponential schedule.

toolbox = base.Toolbox()
toolbox.register("train", mutTrain, data=data.train, batch_size=10)
toolbox.register("loss", LossSchedule("bce>l1", switch=0.5))
toolbox.register("mutate", mutLearningRate, sigma=0.1)
toolbox.register("prune", mutPrune, method="random", amount=0.1)
toolbox.register("schedule", Schedule("exponential", p=0.5))
toolbox.register("evaluate", evaluate, data=data.train)  # also the pairing data

# %%
# The schedule is called as ``schedule(t, T, n)`` with ``n`` the neighbourhood size.
# Only the ``population`` schedule uses ``n``: on a Moore grid (``n = 9``) it prunes
# three times less often than on the paper's ring (``n = 3``).
#
# Running the grid
# ----------------
#
# ``update="synchronous"`` (the default) lets every cell read the grid as it was at
# the end of the previous generation and replaces all centres at once, so the cells
# of a generation are computed together as one stack (see :doc:`../engine`).
# ``update="asynchronous"`` (the paper's) visits the cells one at a time in a random
# order and each reads the grid as it is at that moment. Both are reproducible from
# ``rng``: every cell gets its own child generator each generation, and everything
# random in its step comes from it.
#
# :func:`evoprune.metrics.default_stats` records min, median and max of the
# training fitness and the fraction kept. With ``test_data`` the logbook also has
# ``best_test``, the test L1 of the centre with the best training fitness.

population, logbook = eaToroidalGrid(
    population, toolbox, grid, 30, stats=default_stats(), rng=0,
    update="synchronous", concept="best", data=data.train, test_data=data.test,
)
train = logbook.chapters["train"].select("median")
kept = logbook.chapters["kept"].select("median")
print(" gen  npruned  best_test  best_kept  median train  median kept")
for rec in logbook[::5]:
    g = rec["gen"]
    print(f"{g:4d} {rec['npruned']:8d} {rec['best_test']:10.4f} "
          f"{rec['best_kept']:10.3f} {train[g]:13.4f} {kept[g]:12.3f}")

# %%
# The logbook has, per generation, ``gen``, ``nevals``, ``npruned`` (children that
# were pruned), ``time``, the learning rates' ``lr_min``, ``lr_median`` and
# ``lr_max``, ``best`` (index of the centre with the best training fitness),
# ``best_kept``, ``best_test`` and the chapters of ``stats``. Plotted:

gens = logbook.select("gen")
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(7, 3.4), layout="constrained")
fig.suptitle("3 × 3 grid run: L1 error and fraction kept per generation", fontsize="medium")
ax1.plot(gens, logbook.select("best_test"), label="best centre (test)")
ax1.plot(gens, logbook.chapters["train"].select("median"), label="median cell (train)")
ax1.axhline(0.5, color="grey", ls=":", label="constant 0.5")
ax1.set_ylabel("L1")
ax1.legend(fontsize="small")
ax2.plot(gens, logbook.select("best_kept"), label="best centre")
ax2.plot(gens, logbook.chapters["kept"].select("median"), label="median cell")
ax2.plot(gens, logbook.chapters["kept"].select("min"), label="sparsest cell")
ax2.set_ylabel("fraction kept")
ax2.legend(fontsize="small")
for ax in (ax1, ax2):
    ax.set_xlabel("generation")
    ax.grid(alpha=0.3)

# %%
# The loss falls while pruning accumulates. The fraction kept does not only fall: a
# child takes the encoder and the decoder that its tournaments pick from the
# neighbourhood, so a cell's pruned halves can give way to less pruned ones from a
# neighbour, and the sparsest halves on the grid can die out.
#
# The final model
# ---------------
#
# :func:`evoprune.algorithms.best_centre` returns the centre pair with the lowest
# error on held-out data (without it, the best training fitness). The validation set
# chooses; the test set only reports.

final = best_centre(population, data.validation)
cell = population.index(final)
test_l1 = reconstruction_errors([final], data.test)[0].item()
print(f"best centre: cell {cell}, test L1 {test_l1:.4f}, "
      f"fraction kept {final.fraction_kept:.3f} ({final.n_kept} of {final.n_params})")

# %%
# A map of the cells
# ------------------
#
# Each cell holds its own encoder and decoder, pruned and trained along its own
# lineage. Laid out as the grid, each cell's test L1 and fraction kept after the
# last generation:

cell_l1 = reconstruction_errors(population, data.test).numpy()
cell_kept = np.array([ind.fraction_kept for ind in population])

fig, axes = plt.subplots(1, 2, figsize=(7.5, 3.4), layout="constrained")
fig.suptitle("Each cell of the 3 × 3 grid after 30 generations", fontsize="medium")
for ax, values, title in [(axes[0], cell_l1, "test L1"),
                          (axes[1], cell_kept, "fraction kept")]:
    image = ax.imshow(values.reshape(grid.shape), cmap="viridis")
    for i, v in enumerate(values):
        r, c = grid.coords(i)
        red, green, blue, _ = image.cmap(image.norm(v))
        light = 0.299 * red + 0.587 * green + 0.114 * blue > 0.5  # dark text on light cells
        ax.text(c, r, f"cell {i}\n{v:.3f}", ha="center", va="center",
                color="black" if light else "white", fontsize=10)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.colorbar(image, ax=ax, shrink=0.8)

gaps = [(abs(cell_l1[i] - cell_l1[j]), i, j)
        for i in range(len(population)) for j in grid.neighbours(i) if j > i]
gap, i, j = max(gaps)
print(f"test L1 from {cell_l1.min():.3f} to {cell_l1.max():.3f}; largest gap between "
      f"neighbours: cells {i} and {j}, {cell_l1[i]:.3f} and {cell_l1[j]:.3f}")

# %%
# Neighbours exchange halves, yet they need not be alike: each child is trained and
# pruned on its own, and with ``"always"`` replacement one costly pruning sets a cell
# back for several generations whatever its neighbours hold. After 30 generations the
# map shows lineages at different stages rather than a smooth landscape, and on a
# 3 × 3 torus no cell is more than two steps from any other, so there is no "distant"
# cell to drift apart from. What the grid buys is this spread: several lineages kept
# at once, the reason for a spatial population in the first place.
#
# What a cell selects from
# ------------------------
#
# :func:`evoprune.evaluation.pairing_errors` computes the matrix a cell scores its
# neighbourhood with: rows are encoders, columns decoders, both in neighbourhood
# order (the centre first). Here for the middle cell, on 100 training rows:

hood = grid.neighbours(4)
E = pairing_errors([population[j].encoder for j in hood],
                   [population[j].decoder for j in hood], data.train)
print("encoder \\ decoder of cell " + "".join(f"{j:8d}" for j in hood))
for j, row in zip(hood, E.tolist(), strict=True):
    print(f"cell {j:<21d}" + "".join(f"{e:8.4f}" for e in row))
print("encoder scores (best partner):", np.round(E.min(dim=1).values.numpy(), 4))
print("decoder scores (best partner):", np.round(E.min(dim=0).values.numpy(), 4))

# %%
# Read a row across for an encoder's errors with every decoder of the
# neighbourhood, a column down for a decoder's with every encoder. Under the
# ``"best"`` concept the scores are the row and column minima; the next child's
# encoder is the better of two encoders drawn at random by these scores, its decoder
# likewise, so a half that is poor with every partner rarely survives, and a cell's
# new pair need not come from any single cell.
#
# Pruning on the grid, from a run configuration
# ---------------------------------------------
#
# By default the grid follows the paper: it prunes *after* training, and the child
# replaces the centre unconditionally, leaving the following generations to recover.
# Pruning masks are permanent, so every pruning that is kept accumulates. Two
# options change that:
#
# * registering ``select`` on the toolbox makes replacement a selection between the
#   old centre and the child, ``toolbox.select([centre, child], 1)``. With
#   :func:`evoprune.selection.selParsimony` the child wins when its training error is
#   within a relative tolerance of the centre's, preferring the sparser of the two,
#   so pruning is kept only while it costs (almost) nothing;
# * ``prune_first=True`` applies the pruning mutation *before* the epoch of training,
#   so a pruned child has one epoch to recover before it is compared with the centre.
#
# A :class:`evoprune.runs.RunConfig` describes a whole run, as a study file's
# ``[run]`` table does, and :func:`evoprune.runs.run` builds the toolbox and the
# population from it (:func:`evoprune.runs.grid.grid_toolbox`), runs the grid and
# reports the centre chosen on the validation set. Here the run above, as a
# configuration, with either replacement:

results = {}
for replacement, prune_first in [("always", False), ("parsimony", True)]:
    cfg = RunConfig(
        setting="grid", grid="3x3", generations=30, batch_size=10, lr=0.01,
        hidden=16, latent=4, operator="random", schedule="exponential",
        replacement=replacement, prune_first=prune_first, device="cpu",
    )
    results[replacement] = result = run(cfg, data, seed=0)
    print(f"{replacement:9}  test L1 {result.test_l1:.4f}  "
          f"fraction kept {result.fraction_kept:.3f}")

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(7, 3.4), layout="constrained")
fig.suptitle("Grid runs with \"always\" and \"parsimony\" replacement, per generation",
             fontsize="medium")
for name, result in results.items():
    ax1.plot([r["best_test"] for r in result.records], label=name)
    ax2.plot([r["kept_median"] for r in result.records], label=name)
ax1.set_ylabel("best centre, test L1")
ax2.set_ylabel("median cell, fraction kept")
for ax in (ax1, ax2):
    ax.set_xlabel("generation")
    ax.legend(fontsize="small", title="replacement", title_fontsize="small")
    ax.grid(alpha=0.3)

# %%
# The first configuration is the run of the previous sections: the same seeds give
# the same numbers. With ``"always"`` every pruning that fires is kept, whatever it
# costs, and the loss suffers; with ``"parsimony"`` (and pruning first) a centre
# gives way only to a child that is about as good, so less is pruned and the loss
# ends closer to the floor of the data. In a study file these are the ``[run]`` keys
# ``replacement`` and ``prune_first`` (see :doc:`study`). Full-size runs of both on
# the paper's ring are in :doc:`../reproduction`.
#
# Process pools and dask
# ----------------------
#
# The chunks of each variation stack go through ``toolbox.map``, so any
# DEAP-compatible map can be registered. :mod:`evoprune.parallel` has two:
# :class:`evoprune.parallel.ProcessMap` (local worker processes, started with
# ``spawn``) and :func:`evoprune.parallel.dask_map` (a ``dask.distributed``
# client). Code that starts processes must sit under an
# ``if __name__ == "__main__":`` guard, because each spawned worker imports the
# script it came from; the ``creator`` classes stay at module level, so the workers
# create them too. That is why the example below is a script file and is not run on
# this page (a page's code is not a file the workers could import):
#
# .. code-block:: python
#
#    import numpy as np
#    from deap import base, creator
#
#    from evoprune.algorithms import best_centre, eaToroidalGrid
#    from evoprune.data import binary_clustering
#    from evoprune.evaluation import evaluate, reconstruction_error
#    from evoprune.architecture import Architecture
#    from evoprune.genome import AutoencoderGenome
#    from evoprune.parallel import ProcessMap
#    from evoprune.pruning import mutPrune
#    from evoprune.schedules import Schedule
#    from evoprune.training import LossSchedule, mutLearningRate, mutTrain
#
#    # module level: spawned workers import this file and find the creator classes
#    creator.create("FitnessMin", base.Fitness, weights=(-1.0,))
#    creator.create("Individual", AutoencoderGenome, fitness=creator.FitnessMin)
#
#
#    def main():
#        data = binary_clustering(n_clusters=4, dim=64, samples_per_cluster=25, seed=0)
#        toolbox = base.Toolbox()
#        toolbox.register("train", mutTrain, data=data.train, batch_size=10)
#        toolbox.register("loss", LossSchedule("bce>l1", switch=0.5))
#        toolbox.register("mutate", mutLearningRate, sigma=0.1)
#        toolbox.register("prune", mutPrune, method="random", amount=0.1)
#        toolbox.register("schedule", Schedule("exponential", p=0.5))
#        toolbox.register("evaluate", evaluate, data=data.train)
#        arch = Architecture.paper(data.dim, hidden=16, latent=4)
#        init = np.random.default_rng([0, 1])
#        population = [creator.Individual(arch, rng=init, lr=0.01) for _ in range(9)]
#        with ProcessMap(workers=2, threads_per_worker=1) as pmap:
#            toolbox.register("map", pmap)  # each stack of cells: one chunk per worker
#            population, logbook = eaToroidalGrid(population, toolbox, "3x3", 30, rng=0,
#                                                 data=data.train)
#        final = best_centre(population, data.validation)
#        print(f"test L1 {reconstruction_error(final, data.test):.4f}, "
#              f"fraction kept {final.fraction_kept:.3f}")
#
#
#    if __name__ == "__main__":  # spawned workers import this file without running main()
#        main()
#
# Saved as ``grid_pool.py`` and run with ``python grid_pool.py``, it prints the
# numbers of the serial run above: every cell carries its own generator, so a seeded
# run makes the same decisions on the builtin ``map``, a process pool or a dask
# cluster. It is also slower: starting workers and sending genomes to them costs more
# than a small grid's arithmetic. To use many cores, run many grids at once instead;
# the study runner does that (``evoprune run --workers N``, see :doc:`study`). With a
# dask cluster, register ``dask_map(client)`` in the same way, inside the guard.
