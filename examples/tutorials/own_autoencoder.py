"""
Your own autoencoder
====================

evoprune evolves the networks you write. Bring an encoder and a decoder as
``nn.Sequential`` stacks of the layers PyTorch users reach for (``Linear``,
``Conv1d``/``Conv2d``, ``ConvTranspose1d``/``ConvTranspose2d``, ``Flatten``, ``Unflatten``,
max and average pooling, nearest ``Upsample`` and the activations), and every operator,
both algorithms, checkpoints and model files take them.

This page evolves a small convolutional autoencoder on the 8 × 8 ``digits`` images, in
the canonical (1 + 1) loop and on a ring grid, pruned by *channel* (CONJUNCTIVE) and by
*entry* (magnitude). It shows the reconstructions and the channels each operator removed,
and puts the evolved weights back into the user's own modules. It runs in under a minute
on a laptop CPU.
"""

# %%
# The user's modules
# ------------------
#
# In a project this function lives in the user's own module (say ``my_models.py``); a
# study file names it as ``model = "my_models:conv_ae"`` under ``[run]``, and
# ``evoprune run`` builds the same network for every run. The encoder halves the image
# with a strided convolution (8 channels of 4 × 4) and maps it to a 10-number code; the
# decoder mirrors it with a transposed convolution.

import matplotlib.pyplot as plt
import numpy as np
import torch
from deap import base, creator, tools
from torch import nn

from evoprune.algorithms import best_centre, eaMuPlusLambda, eaToroidalGrid
from evoprune.architecture import Architecture
from evoprune.data import digits
from evoprune.evaluation import evaluate, reconstruction_error
from evoprune.genome import AutoencoderGenome
from evoprune.pruning import mutPrune
from evoprune.schedules import Schedule
from evoprune.selection import selParsimony
from evoprune.training import mutLearningRate, mutTrain


def conv_ae() -> tuple[nn.Sequential, nn.Sequential]:
    """A convolutional autoencoder for 1 × 8 × 8 images: (encoder, decoder)."""
    encoder = nn.Sequential(
        nn.Conv2d(1, 8, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(128, 10)
    )
    decoder = nn.Sequential(
        nn.Linear(10, 128), nn.ReLU(), nn.Unflatten(1, (8, 4, 4)),
        nn.ConvTranspose2d(8, 1, 4, stride=2, padding=1), nn.Sigmoid(),
    )
    return encoder, decoder


# %%
# :meth:`Architecture.from_modules <evoprune.architecture.Architecture.from_modules>`
# reads the stacks. The input shape comes from what the decoder outputs (an
# autoencoder reconstructs its input); give ``input_shape=`` when it cannot tell. A
# module it cannot evolve is refused with its position, and halves that do not fit
# are refused with both shapes:

arch = Architecture.from_modules(*conv_ae())
print(f"input {arch.input_shape}, code {arch.latent_shape}, {arch.n_params} parameters")
wide_code = nn.Sequential(nn.Linear(12, 128), nn.ReLU(), nn.Unflatten(1, (8, 4, 4)),
                          nn.ConvTranspose2d(8, 1, 4, stride=2, padding=1), nn.Sigmoid())
for enc, dec in ((nn.Sequential(nn.Conv2d(1, 8, 3), nn.LSTM(8, 8)), conv_ae()[1]),
                 (conv_ae()[0], wide_code)):
    try:
        Architecture.from_modules(enc, dec)
    except ValueError as err:
        print(f"ValueError: {err}")

# %%
# Data with shape
# ---------------
#
# ``digits(images=True)`` gives the scikit-learn digits as 1 × 8 × 8 images scaled to
# [0, 1] (the same values and splits as the flat 64-pixel rows, which the network also
# takes). Rows of another shape are refused, naming both shapes.

data = digits(images=True)
train, test = data.train, data.test
print(f"train {tuple(train.shape)}, test {tuple(test.shape)}")
try:
    evaluate(AutoencoderGenome(arch, rng=0), test[:, :, :4])
except ValueError as err:
    print(f"ValueError: {err}")

# %%
# Two ways to prune
# -----------------
#
# A pruning method removes *entries* (single weights) or *neurons*. In a convolution a
# neuron is an output channel: removing it masks its whole filter and its bias, and the
# next layer's weights that read it stop mattering.
#
# CONJUNCTIVE (``unit = "neuron"``) removes the channels that are (almost) never active
# on a sample of training images; a channel's activity on an image is its mean over the
# image's positions. Magnitude (``unit = "entry"``) removes the 10 % smallest weights of
# the whole network. Both fire on the *exponential* schedule.
#
# Everything else is registered as in :doc:`toolbox`; the genome type is the same
# :class:`~evoprune.genome.AutoencoderGenome`.

if not hasattr(creator, "FitnessMin"):
    creator.create("FitnessMin", base.Fitness, weights=(-1.0,))
if not hasattr(creator, "Individual"):
    creator.create("Individual", AutoencoderGenome, fitness=creator.FitnessMin)

PRUNING = {
    "CONJUNCTIVE (channels)": dict(method="conjunctive", data=train, n_cases=200),
    "magnitude (entries)": dict(method="magnitude", amount=0.1),
}


def make_toolbox(pruning: dict) -> base.Toolbox:
    toolbox = base.Toolbox()
    toolbox.register("train", mutTrain, data=train, batch_size=32)
    toolbox.register("mutate", mutLearningRate)
    toolbox.register("prune", mutPrune, **pruning)
    toolbox.register("schedule", Schedule("exponential", 0.5))
    toolbox.register("evaluate", evaluate, data=train)
    toolbox.register("select", selParsimony, tolerance=0.05)
    return toolbox


# %%
# Evolve, canonical and grid
# --------------------------
#
# The canonical (1 + 1) loop trains one autoencoder an epoch per generation; the grid
# trains a ring of 6 cells, each pairing the best encoder and decoder of its
# neighbourhood. Initial weights are drawn from the run's seed with PyTorch's default
# initialisation, so a seed reproduces a run.

models = {}
for name, pruning in PRUNING.items():
    pop = [creator.Individual(arch, rng=0, lr=3e-3)]
    pop, _ = eaMuPlusLambda(pop, make_toolbox(pruning), mu=1, lambda_=1, ngen=60, rng=0)
    models[("canonical", name)] = pop[0]
    pop = [creator.Individual(arch, rng=c, lr=3e-3) for c in range(6)]
    pop, _ = eaToroidalGrid(pop, make_toolbox(pruning), "ring:6", 20, rng=0, eval_size=64, data=train,
                            halloffame=tools.HallOfFame(1))
    models[("grid", name)] = best_centre(pop)

print(f"{'setting':10s} {'pruning':24s} {'test L1':>8s} {'kept':>6s}")
for (setting, name), g in models.items():
    print(f"{setting:10s} {name:24s} {reconstruction_error(g, test):8.4f} {g.fraction_kept:6.1%}")

# %%
# Reconstructions
# ---------------
#
# Eight test images (top row) and what each evolved model makes of them.

shown = test[:8]
fig, axes = plt.subplots(len(models) + 1, 8, figsize=(8, 1.15 * (len(models) + 1)),
                         layout="constrained")
rows = [("test images", shown)] + [
    (f"{setting}\n{name.split()[0]}", g.reconstruct(shown).detach()) for (setting, name), g in models.items()
]
for ax_row, (label, images) in zip(axes, rows, strict=True):
    for ax, image in zip(ax_row, images, strict=True):
        ax.imshow(image[0], cmap="Greys", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
    ax_row[0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize="small")

# %%
# The channels each operator removed
# ----------------------------------
#
# The encoder's first layer has eight 3 × 3 filters. For every model, its filters as
# they are after evolution: a filter CONJUNCTIVE removed is blank (crossed out), and
# magnitude pruning leaves holes in the filters it thinned. The text gives each model's
# kept fraction per layer.

fig, axes = plt.subplots(len(models), 8, figsize=(8, 1.25 * len(models)), layout="constrained")
for ax_row, ((setting, name), g) in zip(axes, models.items(), strict=True):
    weights = (g.encoder.params[0] * g.encoder.masks[0])[:, 0]  # (8 channels, 3, 3)
    alive = g.encoder.masks[0].flatten(1).any(1)
    scale = float(weights.abs().max())
    for c, ax in enumerate(ax_row):
        ax.imshow(weights[c], cmap="RdBu", vmin=-scale, vmax=scale)
        if not alive[c]:
            ax.plot([-0.5, 2.5], [-0.5, 2.5], color="k", lw=1)
            ax.plot([-0.5, 2.5], [2.5, -0.5], color="k", lw=1)
        ax.set_xticks([])
        ax.set_yticks([])
    ax_row[0].set_ylabel(f"{setting}\n{name.split()[0]}", rotation=0, ha="right", va="center",
                         fontsize="small")
    kept = ", ".join(f"{k} {1 - v:.0%}" for k, v in g.sparsity.items())
    print(f"{setting:10s} {name:24s} channels kept {int(alive.sum())}/8; kept per half: {kept}")

# %%
# Back into the user's module
# ---------------------------
#
# :meth:`~evoprune.genome.AutoencoderGenome.to_module` exports an ordinary
# :class:`torch.nn.Module` whose ``encoder`` and ``decoder`` have the user's layer
# positions, so their state dicts load straight into a fresh copy of the user's own
# stacks (``evoprune export`` writes the same tensors to a file, for a study's models).
# Pruned weights are zeros there; with ``prune_layout=True`` they come as
# :mod:`torch.nn.utils.prune` masks instead.

best = min(models.values(), key=lambda g: reconstruction_error(g, test))
encoder, decoder = conv_ae()
exported = best.to_module()
encoder.load_state_dict(exported.encoder.state_dict())
decoder.load_state_dict(exported.decoder.state_dict())
with torch.no_grad():
    codes = encoder(test)
    again = decoder(codes)
print(f"codes {tuple(codes.shape)}; same reconstructions as the genome: "
      f"{torch.allclose(again, best.reconstruct(test), atol=1e-6)}")
print(f"test L1 of the user's module: {float((again - test).abs().mean()):.4f}; "
      f"zero weights in its first convolution: {float((encoder[0].weight == 0).float().mean()):.0%}")
print(f"mean code per digit 0-2: {np.round(codes[:3].mean(1).numpy(), 2)}")
