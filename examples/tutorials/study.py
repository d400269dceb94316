"""
Describe, run and report a whole study
======================================

The paper compares pruning operators and schedules over many independent trials. In
evoprune such a study is a small TOML file: ``evoprune run`` runs every run of it, on
one core, a local process pool or a dask cluster, keeps every finished run and
resumes unfinished ones from checkpoints; ``evoprune report`` gives the statistics
and figures.

.. code-block:: console

   $ .venv/bin/evoprune run studies/quick.toml --out out/quick --workers 2
   $ .venv/bin/evoprune status out/quick
   $ .venv/bin/evoprune report out/quick

This page does the same from Python with a tiny study: it writes the study file,
checks it, runs it, loads the results as a pandas DataFrame and writes the report.
"""

# %%
# The study file
# --------------
#
# A study crosses *factors*: here three operators (no pruning, RANDOM and magnitude
# pruning) and two schedules, in the canonical setting, three trials each, on small
# binary-clustering data. The page writes it into a temporary folder; everything the
# study produces goes there too.

import shutil
import tempfile
import textwrap
from pathlib import Path

import matplotlib.pyplot as plt

from evoprune.report.report import report
from evoprune.study import load_results
from evoprune.study.runner import run_study
from evoprune.study.studyfile import StudyError, load_study

STUDY = """\
name = "tiny"
description = "Three operators, two schedules, canonical training"
seed = 0
trials = 3

[data]
name = "binary_clustering"
n_clusters = 4
dim = 64
samples_per_cluster = 20
seed = 0

[run]
setting = "canonical"
generations = 30
batch_size = 10
lr = 0.01
hidden = 16
latent = 4
device = "cpu"

[factors]
operator = ["none", "random", "magnitude"]
schedule = ["exponential", "final_n"]
"""

folder = Path(tempfile.mkdtemp(prefix="evoprune-study-"))
study_file = folder / "tiny.toml"
study_file.write_text(STUDY)

# %%
# Top-level keys
#    ``name`` (default: the file name without ``.toml``) and ``description`` label
#    the study. ``seed`` (default 0) is the study's seed, from which every run's seed
#    is derived. ``trials`` (default 30) is the number of trials per group.
#    ``checkpoint_every`` (default 10) is how often, in generations, a run saves a
#    checkpoint. ``trials_per_job`` (default: 4 on a CPU, 30 on a CUDA GPU) is how many
#    trials of one configuration advance together as one job.
# ``[data]``
#    ``name`` is a data set of :mod:`evoprune.data` (``binary_clustering`` or
#    ``digits``) or the path of a ``.npy``/``.npz`` or IDX file; the other keys are
#    its keyword arguments (see :func:`evoprune.data.binary_clustering` and
#    :func:`evoprune.data.load_dataset`). Every run loads the data from these
#    arguments, so every run of the study sees the same data. Rows are vectors by
#    default; ``images = true`` gives ``digits`` as 1 × 8 × 8 images, and a file's
#    ``shape = "keep"`` keeps its rows' shape (``shape = [1, 28, 28]`` reshapes them;
#    see :func:`evoprune.data.files.load_array`). The rows' shape must be the shape the
#    network takes: ``data rows have shape (64,) but the architecture takes (1, 8, 8)``
#    stops a run whose data and network do not fit.
# ``[run]``
#    Fields of :class:`evoprune.runs.RunConfig` shared by every run (table below).
# ``[settings.canonical]``, ``[settings.grid]``
#    ``[run]`` fields for one setting only; they override ``[run]``.
# ``[factors]``
#    Lists of values of ``[run]`` fields, crossed: every combination is one *group*
#    of ``trials`` runs, and a factor overrides both ``[run]`` and ``[settings.*]``.
#    Any field can be a factor, e.g. ``lr = [0.001, 0.003]`` or
#    ``grid = ["ring:10", "4x4:moore"]``.
# ``[run.pruning]`` (and ``[settings.<name>.pruning]``)
#    The pruning methods' parameters: ``amount``, ``n_cases``, ``scope``
#    (``"layer"`` or ``"global"``) and method parameters such as CONJUNCTIVE's
#    ``threshold``, each given to every method that takes it; a table per method,
#    e.g. ``[run.pruning.conjunctive]``, overrides them for that method.
#
# The ``[run]`` keys, the fields of :class:`evoprune.runs.RunConfig`:
#
# .. list-table::
#    :header-rows: 1
#    :widths: 16 18 66
#
#    * - key
#      - default
#      - meaning
#    * - ``setting``
#      - ``"canonical"``
#      - ``"canonical"`` (:func:`evoprune.algorithms.eaMuPlusLambda`) or ``"grid"``
#        (:func:`evoprune.algorithms.eaToroidalGrid`, see :doc:`grid`)
#    * - ``operator``
#      - ``"none"``
#      - pruning method: ``"none"``, ``"random"``, ``"variance"``, ``"conjunctive"``,
#        ``"magnitude"`` or a method registered by the user
#    * - ``schedule``
#      - ``"exponential"``
#      - pruning schedule: ``fixed``, ``increase``, ``decrease``,
#        ``decrease_published``, ``exponential``, ``final_n``, ``population``,
#        ``prune_after``
#    * - ``p``
#      - the method's
#      - the schedule's base probability; default: the paper's for the method (0.5,
#        or 0.1 for VARIANCE)
#    * - ``amount``
#      - ``0.1``
#      - fraction of the unpruned entries a pruning removes
#    * - ``generations``
#      - ``100``
#      - generations (epochs) per run
#    * - ``batch_size``
#      - ``32``
#      - minibatch size of training
#    * - ``loss``
#      - ``"bce>l1"``
#      - training loss: one of ``"l1"``, ``"bce"``, ``"mse"``, or two joined by
#        ``>``: the first until ``loss_switch`` of the run, then the second
#    * - ``loss_switch``
#      - ``0.5``
#      - fraction of the generations trained with the first loss
#    * - ``lr``
#      - ``0.001``
#      - initial learning rate (Adam)
#    * - ``lr_sigma``
#      - ``0.1``
#      - step of the learning-rate mutation (log scale); 0 turns it off
#    * - ``tolerance``
#      - ``0.05``
#      - relative tolerance of parsimony selection and replacement
#    * - ``hidden``, ``latent``
#      - ``30``, ``10``
#      - layer sizes: input → hidden → latent → hidden → input
#    * - ``model``
#      - none
#      - a network of your own instead of ``hidden``/``latent`` (give one or the
#        other): ``"module:function"``, see below
#    * - ``n_cases``
#      - ``100``
#      - input cases of the activation-based operators
#    * - ``selection``
#      - ``"parsimony"``
#      - canonical survivor selection: ``"parsimony"``, ``"best"`` or ``"nsga2"``
#        (DEAP's ``selNSGA2`` over training L1 and fraction kept; the run reports the
#        sparsest final model within ``tolerance`` of the best validation L1)
#    * - ``mu``, ``lambda_``
#      - ``1``, ``1``
#      - canonical population and offspring sizes
#    * - ``grid``
#      - ``"ring:10"``
#      - grid spec of the grid setting (:meth:`evoprune.topology.Grid.from_string`)
#    * - ``update``
#      - ``"synchronous"``
#      - grid update: ``"synchronous"`` or ``"asynchronous"``
#    * - ``concept``
#      - ``"best"``
#      - grid solution concept: ``"best"``, ``"worst"`` or ``"mean"``
#    * - ``replacement``
#      - ``"always"``
#      - grid: the child always replaces the centre, or ``"parsimony"``: the centre
#        survives a child worse by more than ``tolerance``
#    * - ``prune_first``
#      - by setting
#      - prune before the epoch of training: true for the canonical setting, false
#        for the grid unless set
#    * - ``device``
#      - ``"auto"``
#      - ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"`` or ``"auto"``; not part of a
#        run's identity, so a run resumes on any device
#    * - ``pruning``
#      - empty
#      - the ``[run.pruning]`` table above
#
# Your own network
#    ``model = "my_models:dense_ae"`` (under ``[run]``, ``[settings.*]`` or as a
#    factor) names a function of your module ``my_models.py`` that takes no
#    arguments and returns the encoder and the decoder as two ``nn.Sequential``
#    stacks, e.g. ``Linear(64, 16), ReLU(), Linear(16, 4), ReLU()`` and
#    ``Linear(4, 16), ReLU(), Linear(16, 64), Sigmoid()``, or convolutional ones on
#    images (``[data] images = true`` gives the digits as 1 × 8 × 8; see
#    :doc:`own_autoencoder`). The module is looked for
#    next to the study file, then in the current folder, then on ``sys.path``, as
#    ``imports`` are; :meth:`evoprune.architecture.Architecture.from_modules` reads
#    the network's shape from the two stacks. Only the shape is used: every trial
#    draws its own initial weights from its seed, not the weights of the returned
#    modules, so trials differ and a seed reproduces a run. The entry is checked
#    when the study is read, before any run starts: a module or function that is
#    not there, a function that does not return two modules, or modules evoprune
#    cannot use stop the study with a message naming the entry and why. A study
#    without ``model`` keeps its run ids and results.
#
# Checking a study
# ----------------
#
# :func:`evoprune.study.studyfile.load_study` reads and checks the whole file before
# anything runs: unknown keys, values of the wrong type, unknown data-set arguments
# and every combination of the factors. A group is named by its operator and
# schedule; without pruning the schedule means nothing, so ``none`` is one group,
# not one per schedule. Trial ``t`` of every group gets the same seed, derived
# from the study's ``seed`` and ``t``: groups are compared under *common random
# numbers*, from the same initial networks.

study = load_study(study_file)
runs = study.runs()
print(f"{study.name}: {len(runs)} runs")
for spec in runs[:4] + runs[-2:]:
    print(f"  {spec.run_id:34} seed {spec.seed}")

# %%
# A mistake in the file stops everything before any run starts, with a message that
# names the file and the key. ``evoprune run`` prints it as
# ``evoprune: error: ...`` and exits with status 2; from Python the error is a
# :class:`evoprune.study.checks.StudyError`:

for wrong, right in [('"magnitude"]', '"magnitud"]'),
                     ("generations = 30", "generatoins = 30")]:
    bad = folder / "bad.toml"
    bad.write_text(STUDY.replace(wrong, right))
    try:
        load_study(bad)
    except StudyError as error:
        message = f"{type(error).__name__}: {error}".replace(str(folder), "<tmp>")
        print(textwrap.fill(message, 88, subsequent_indent="    "))

# %%
# Running it
# ----------
#
# :func:`evoprune.study.runner.run_study` runs every run into an output folder and
# returns their results, one dictionary per run, as saved in its ``result.json``:

out = folder / "out"
rows = run_study(study, out, progress=False)
print(f"{len(rows)} runs finished; the first one:")
for key in ["run_id", "seed", "test_l1", "fraction_kept", "hypervolume"]:
    print(f"  {key:14} {rows[0][key]}")

# %%
# On the command line the same run is ``evoprune run tiny.toml --out out``; at the
# end it prints the median test L1, fraction kept and hypervolume of each group
# (:func:`evoprune.report.report.summary_text`) and writes the report:
#
# * without ``--workers`` (or with ``--workers 1``) the runs go one after another in
#   that process, with a progress bar;
# * ``--workers N`` sends them to ``N`` local worker processes
#   (:class:`evoprune.parallel.ProcessMap`); from Python, pass a ``ProcessMap`` as
#   ``run_study``'s ``map_``, under an ``if __name__ == "__main__":`` guard;
# * ``--scheduler tcp://HOST:8786`` sends them to a ``dask.distributed`` cluster
#   (:func:`evoprune.parallel.dask_map`). The workers write into the output folder,
#   so it must be on a file system they all share, at the same path.
#
# Each run uses one torch thread, so use one worker per core. Results do not depend
# on where the runs execute.
#
# The results as a DataFrame
# --------------------------
#
# :func:`evoprune.study.load_results` gives the finished runs as a pandas
# DataFrame, one row per run (the columns are
# :data:`evoprune.study.store.load.SCHEMA`), so any summary is one ``groupby`` away:

df = load_results(out)
columns = ["group", "trial", "test_l1", "fraction_kept", "hypervolume"]
print(df[columns].sort_values(["group", "trial"]).to_string(index=False))

# %%

metrics = ["test_l1", "fraction_kept", "hypervolume"]
medians = df.groupby(["operator", "schedule"])[metrics].median()
print(medians.round(4).to_string())

# %%
# Three trials of a small network show the mechanics, not the paper's findings.

# %%
# The report
# ----------
#
# :func:`evoprune.report.report.report` (what ``evoprune report OUT`` runs, and
# ``evoprune run`` at its end) reads the finished runs and writes ``OUT/report/``:
# ``report.md`` with the group table (median and interquartile range), the best
# schedule per operator, the tests the design asks for (operators within each
# schedule, schedules within each operator, each pruned group against the unpruned
# one: Friedman and Holm-corrected Wilcoxon signed-rank tests, since trials are
# blocked by seed, and the Vargha–Delaney A12 effect size), a note on statistical
# power, CSV and LaTeX tables, and figures per setting.

path = report(out)
print(f"report: {path.relative_to(folder)}")
for name in sorted(p.name for p in path.parent.iterdir()):
    print("   ", name)

# %%
# The end of the canonical section of ``report.md``: average ranks, the metrics not
# compared, and the power notes. With three trials per group no difference can be
# significant, and the report says so, with the number of trials that would be
# needed.

text = path.read_text()
part = text[text.index("Average ranks"):text.index("![")].strip()
for line in part.splitlines():
    print(textwrap.fill(line, 88, subsequent_indent="  "))

# %%
# The report's figures are PNG files; the page shows three of them at their own
# resolution (open an image on its own to see it full size). First the operator ×
# schedule heatmaps: median test L1, fraction kept and trade-off hypervolume of each
# group, with the unpruned group's value in each title.


def show(png, alt):
    """Draw a PNG file in a figure as wide as the page, at the file's resolution.

    ``alt`` describes the image for readers who cannot see it (the page's alt text).
    """
    image = plt.imread(png)
    height, width = image.shape[:2]
    fig = plt.figure(figsize=(7, 7 * height / width), dpi=width / 7)
    fig.suptitle(alt).set_visible(False)  # the file has its own title
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(image)
    ax.set_axis_off()


show(path.parent / "heatmap_canonical.png",
     "Heatmaps of median test L1, fraction kept and hypervolume per operator and "
     "schedule, canonical setting, values written in each cell")

# %%
# The trade-off: every run's final test L1 against its fraction kept, and each
# group's attainment front (what its runs reached, lower left is better). The
# unpruned runs are the stars at fraction kept 1.

show(path.parent / "scatter_canonical.png",
     "Final test L1 against fraction kept for every run, with each group's "
     "attainment front as a step line; unpruned runs as stars")

# %%
# What pruning kept: for each operator's best run, the mask of the encoder's first
# layer (rows: hidden units, columns: inputs; black is kept), of the decoder's last
# layer, and the fraction kept per layer. RANDOM thins every layer alike; magnitude
# pruning ranks all the genome's weights together, so it thins some layers far more
# than others and can leave a hidden unit with no input at all (an empty row).

show(path.parent / "masks_canonical.png",
     "Pruning masks of each operator's best run: encoder first layer and decoder last "
     "layer as black-and-white grids, and bars of the fraction kept per layer")

# %%
# The hypervolume is built on validation data: every generation records the
# population's non-dominated (validation L1, fraction kept) models, and a run's
# hypervolume is the area its front dominates up to (L1 0.5, kept 1.0). Higher is
# better; a run that never prunes scores 0. No quantity that ranks or selects
# models reads the test data, which is only reported.
#
# The output folder
# -----------------
#
# .. code-block:: text
#
#    OUT/study.toml                          copy of the study file
#    OUT/runs/<run_id>/config.json           configuration, data, seed, fingerprint
#    OUT/runs/<run_id>/log.jsonl             one JSON record per generation
#    OUT/runs/<run_id>/ckpt-*.safetensors    checkpoints, while the run is unfinished
#    OUT/runs/<run_id>/model.safetensors     the model the run reports
#    OUT/runs/<run_id>/population.safetensors  grid runs: the final population
#    OUT/runs/<run_id>/result.json           final numbers; marks the run finished
#    OUT/report/                             written by evoprune report
#
# A ``run_id`` is ``<setting>__<group>__t<trial>``, e.g.
# ``canonical__magnitude-exponential__t00``. :func:`evoprune.models.load_model` reads a
# run's model back, and ``evoprune export RUN_DIR --out FILE`` writes it for plain
# PyTorch.
#
# Resuming and status
# -------------------
#
# A study can be stopped at any moment (Ctrl-C, a killed job, a lost machine) and
# resumed by running the same command again. Runs with a ``result.json`` are
# skipped; unfinished runs resume from their newest good checkpoint (every file is
# written atomically, and each checkpoint carries a hash of its contents), so at most
# ``checkpoint_every`` generations per interrupted run are lost, and a resumed run
# gives the same results as an uninterrupted one. A checkpoint also carries the
# run's fingerprint (its configuration, seed and data); an output folder that holds
# a different study is refused, so change the study file only together with a new
# ``--out`` folder.
#
# .. code-block:: console
#
#    $ .venv/bin/evoprune run studies/quick.toml --out out/quick --workers 2
#    ^C
#    $ .venv/bin/evoprune status out/quick
#    out/quick: 31/54 runs finished, 0 running, 2 started, 21 pending
#    $ .venv/bin/evoprune run studies/quick.toml --out out/quick --workers 2
#
# ``evoprune status -v`` also lists the started and pending runs. The repository's
# studies are ``studies/quick.toml`` (the paper's design in miniature),
# ``studies/paper.toml`` (the published study, 1,500 runs; see
# :doc:`../reproduction`) and ``studies/digits.toml`` (scikit-learn's 8 × 8 digits).

# %%
# Finally, the page removes its temporary study folder:

shutil.rmtree(folder)
