"""
Quickstart
==========

On a fresh machine with Python 3.11 or newer, two commands from the repository root do
everything:

.. code-block:: console

   $ make demo    # set up .venv, then run the quick study and print its summary
   $ make test    # lint, the test suite, and these pages built with their tutorials

``make demo`` creates a virtual environment in ``.venv`` with the pinned versions from
``constraints.txt`` (PyTorch's CPU build among them), builds evoprune's fused CPU
kernel, and runs ``evoprune run studies/quick.toml --out out/quick --workers 2``: both
settings of the paper (canonical training and spatial coevolution on a ring), no
pruning and each pruning operator on two schedules, three trials each. It prints the
median test L1 and fraction of parameters kept per group and writes a report with
statistical tests and figures to ``out/quick/report/``; the :doc:`study` tutorial
explains it. Run it again after an interruption and it resumes.

``make docs`` builds these pages alone, ``make bench`` times the engine against a plain
PyTorch loop, ``make clean`` removes ``.venv``, ``out/`` and the built pages.

The rest of this page is your first run from Python, a few seconds long.
"""

# %%
# Train and prune one autoencoder
# -------------------------------
#
# :class:`~evoprune.runs.RunConfig` holds every choice of a run, with the paper's
# defaults: the canonical setting (one network, trained by a (1 + 1) loop), the
# paper's network (``dim → 30 → 10 → 30 → dim``), an exponential pruning schedule and a
# loss that switches from binary cross-entropy to L1 halfway. :func:`~evoprune.runs.run`
# runs it on a :class:`~evoprune.data.Dataset` from a seed.
#
# Here the data are the paper's binary clustering data at a fifth of its width, so the
# page builds quickly, and two runs are compared: no pruning, and magnitude pruning.

import matplotlib.pyplot as plt

from evoprune.data import binary_clustering
from evoprune.runs import RunConfig, run

data = binary_clustering(n_clusters=10, dim=200, samples_per_cluster=100, seed=0)

results = {}
for operator in ["none", "magnitude"]:
    config = RunConfig(operator=operator, generations=60)
    results[operator] = run(config, data, seed=0)

for name, r in results.items():
    print(f"{name:10s} test L1 {r.test_l1:.4f}, fraction kept {r.fraction_kept:.3f}")

# %%
# The test L1 error is the mean absolute difference between a test row and its
# reconstruction. A constant 0.5 output scores 0.5. The floor is the data's noise: an
# ideal denoiser outputs each row's cluster centroid and still differs from the row in
# the 5 % of bits that were flipped. Magnitude pruning reaches about the same error as
# the unpruned run with a fraction of the parameters.
#
# Each result carries its logbook as records, one per generation. The dotted line
# marks where the loss schedule switches from binary cross-entropy to L1
# (``loss_switch=0.5`` of the generations):

switch = round(config.loss_switch * config.generations)
print(f"loss: BCE for generations 1-{switch}, L1 from generation {switch + 1}")

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8, 3.4), layout="constrained")
fig.suptitle("Test L1 and fraction kept per generation, unpruned and with magnitude pruning",
             fontsize="medium")
for name, r in results.items():
    gens = [rec["gen"] for rec in r.records]
    ax1.plot(gens, [rec["test_min"] for rec in r.records], label=name)
    ax2.plot(gens, [rec["kept_min"] for rec in r.records], label=name)
for ax in (ax1, ax2):
    ax.axvline(switch, color="0.5", ls=":", lw=1)
ax1.annotate("BCE → L1", (switch, 1), xycoords=("data", "axes fraction"), xytext=(3, -12),
             textcoords="offset points", color="0.35")
ax1.set(xlabel="generation", ylabel="test L1", yscale="log")
ax2.set(xlabel="generation", ylabel="fraction kept", ylim=(0, 1.05))
ax2.legend()

# %%
# The sharp drop in the test error just after the switch is the change of loss, not of
# the network: BCE pushes every output towards its bit and leaves the outputs soft, while
# L1 trains on exactly the error the plot shows and pulls each output to 0 or 1, so the
# error the plot measures falls at once.

# %%
# Where to go next
# ----------------
#
# * :doc:`toolbox` builds the same run by hand on a DEAP toolbox, operator by operator.
# * :doc:`grid` runs spatial coevolution of encoders and decoders on a toroidal grid.
# * :doc:`study` describes a whole study (operators × schedules × settings × trials) in
#   a TOML file, runs it and reads the report.
# * :doc:`custom_pruning` writes a new pruning operator and checks it.
# * :doc:`../gpu` runs on a GPU or a cluster; :doc:`../reproduction` compares evoprune
#   with the published study.
