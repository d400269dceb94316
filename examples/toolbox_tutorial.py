"""Register evoprune operators in your own DEAP toolbox.

This script builds a DEAP toolbox by hand from evoprune's pieces and runs
canonical training with pruning: a (1 + 1) evolution strategy in which every
generation the single parent is cloned, the child is (sometimes) pruned,
trained for one epoch, has its learning rate mutated, and is evaluated; the
better of parent and child survives, preferring the sparser one when their
losses are within 5 % of each other.  Training uses binary cross-entropy for
the first half of the run and L1 afterwards (a loss schedule).

Run it with the paper's data set (1000 dimensions, 10 clusters, 100 samples
per cluster)::

    python examples/toolbox_tutorial.py --generations 60

or with a tiny problem for a quick look::

    python examples/toolbox_tutorial.py --generations 8 --dim 64 --clusters 4 --samples-per-cluster 20
"""

from __future__ import annotations

import argparse

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
from evoprune.genome import Architecture, AutoencoderGenome


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generations", type=int, default=60, help="number of generations (epochs), default 60")
    parser.add_argument("--dim", type=int, default=1000, help="input dimension (paper: 1000)")
    parser.add_argument("--clusters", type=int, default=10, help="number of binary clusters (paper: 10)")
    parser.add_argument("--samples-per-cluster", type=int, default=100, help="rows per cluster and split (paper: 100)")
    parser.add_argument("--seed", type=int, default=0, help="seed for data, initial weights and the run")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    """Run the tutorial; returns the final numbers (``test_l1``, ``fraction_kept``, ...)."""
    args = parse_args(argv)

    # --- 1. DEAP types --------------------------------------------------------
    # A genome is an encoder/decoder pair of weight tensors with permanent pruning
    # masks and a learning rate. It becomes a DEAP individual by adding a fitness.
    # The guards let the script be imported or run twice in one interpreter.
    if not hasattr(creator, "FitnessMin"):
        creator.create("FitnessMin", base.Fitness, weights=(-1.0,))
    if not hasattr(creator, "Individual"):
        creator.create("Individual", AutoencoderGenome, fitness=creator.FitnessMin)

    # --- 2. Data --------------------------------------------------------------
    # Baldi's binary clustering data, generated from the seed (no download).
    # Train, test and validation rows are noisy copies of the same centroids.
    data = evoprune.data.binary_clustering(
        n_clusters=args.clusters, dim=args.dim, samples_per_cluster=args.samples_per_cluster, seed=args.seed
    )
    train, test = data.train, data.test

    # --- 3. The toolbox ------------------------------------------------------
    toolbox = base.Toolbox()
    # Variation operators. The algorithm calls each of them as op(ind, rng=g),
    # with a generator derived from the run's seed, so the run is reproducible.
    #   train:    one epoch of minibatch Adam; the Adam state lives on the genome,
    #             so it persists across generations.
    #   mutate:   log-normal step on the learning rate (a strategy parameter).
    #   prune:    remove the 10 % smallest-magnitude unpruned weights, for good.
    #   schedule: probability that `prune` fires at generation t of T:
    #             p * (1 - exp(-2 t / T)) with p = 0.5 -- rare early, frequent late.
    #   loss:     the training loss by generation: binary cross-entropy for the first
    #             half of the run, then L1 (the reported error) to fine-tune.
    toolbox.register("train", evoprune.training.mutTrain, data=train, batch_size=32)
    toolbox.register("loss", evoprune.training.LossSchedule("bce>l1", switch=0.5))
    toolbox.register("mutate", evoprune.training.mutLearningRate)
    toolbox.register("prune", evoprune.pruning.mutPruneMagnitude, amount=0.1)
    toolbox.register("schedule", evoprune.schedules.Schedule("exponential", 0.5))
    # Fitness: mean L1 reconstruction error on the training data (minimised).
    toolbox.register("evaluate", evoprune.evaluation.evaluate, data=train)
    # Survivor selection: the best by fitness, except that among individuals whose
    # loss is within 5 % of the best one, the one with the fewest parameters wins.
    toolbox.register("select", evoprune.selection.selParsimony, tolerance=0.05)
    # toolbox.clone (copy.deepcopy) and toolbox.map (the builtin map) keep DEAP's defaults;
    # register a process pool's map here to vary individuals in parallel.

    # --- 4. Population, hall of fame, statistics --------------------------------
    arch = Architecture.paper(input_dim=args.dim)  # dim -> 30 -> 10 -> 30 -> dim
    population = [creator.Individual(arch, rng=args.seed)]
    halloffame = tools.HallOfFame(1)
    # min / median / max of training fitness ("train"), fraction of parameters
    # kept ("kept") and test L1 ("test") for the population, every generation.
    stats = evoprune.metrics.default_stats(test)

    # --- 5. Run ---------------------------------------------------------------
    # mu = lambda = 1: canonical training with pruning, as a (1 + 1) strategy.
    population, logbook = evoprune.algorithms.eaMuPlusLambda(
        population,
        toolbox,
        mu=1,
        lambda_=1,
        ngen=args.generations,
        stats=stats,
        halloffame=halloffame,
        verbose=True,
        rng=args.seed,
    )

    # --- 6. Results -----------------------------------------------------------
    best = population[0]
    test_l1 = evoprune.evaluation.reconstruction_error(best, test)
    print(f"\nfinal individual: {best}")
    print(f"test L1:       {test_l1:.4f}  (a constant 0.5 output scores 0.50)")
    print(f"fraction kept: {best.fraction_kept:.3f}  ({best.n_kept} of {best.n_params} parameters)")
    print(f"sparsity:      {', '.join(f'{k} {v:.3f}' for k, v in best.sparsity.items())}")
    print(f"offspring pruned over the run: {sum(logbook.select('npruned'))} (selection kept some of them)")

    # --- 7. Export -------------------------------------------------------------
    # A plain nn.Module for inference. With prune_layout=True every Linear layer
    # carries weight_orig/weight_mask as torch.nn.utils.prune would, so the usual
    # PyTorch pruning tools (is_pruned, remove, ...) work on it.
    module = best.to_module(prune_layout=True)
    with torch.no_grad():
        same = torch.allclose(module(test), best.reconstruct(test), atol=1e-6)
    print(f"exported module: prune.is_pruned = {torch_prune.is_pruned(module)}, same output as genome: {same}")

    return {
        "test_l1": test_l1,
        "train_l1": float(best.fitness.values[0]),
        "fraction_kept": best.fraction_kept,
        "n_kept": best.n_kept,
        "n_params": best.n_params,
        "is_pruned": torch_prune.is_pruned(module),
        "logbook": logbook,
        "best": best,
    }


if __name__ == "__main__":
    main()
