"""Compaction of saved models: size, file size, inference time and outputs against the masked model.

For every model file in a folder (default ``results/paper/models``) prints one row:

* ``kept``: unpruned entries of the genome, of ``params`` in all;
* ``compact``: parameters of ``genome.compact()`` (dense shapes), and ``csr@1``/``csr@256``: the Linear
  layers ``sparse="auto"`` stores as CSR when timed for batch 1 / 256;
* ``file kB``: the compact model exported with ``torch.export`` (``.pt2``), and ``dense kB``: the unpruned
  model of the same architecture written the same way;
* ``ms b=1`` / ``ms b=256``: milliseconds to run 1,000 rows in batches of 1 / 256 (one thread, median of
  ``--repeats``), compact (``sparse="auto"`` for that batch size) against the dense masked model
  (``genome.to_module()``, what the unpruned model costs);
* ``max|diff|``: largest difference between the compact and the masked model's outputs (float32) on 1,000
  rows (the paper data's test rows for 1,000-input models, else uniform random rows), and ``f32 err``: the
  masked float32 model's own largest difference from the same model in float64, for scale.

    python benchmarks/compact.py                         # results/paper/models
    python benchmarks/compact.py path/to/models --repeats 7

``evoprune measure`` (:mod:`evoprune.models.measure`) records the size and time of each packed model in a
JSON file beside it, which the report and the reproduction page read; this script also checks the outputs.
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path

import pandas as pd
import torch

from evoprune.genome import AutoencoderGenome
from evoprune.models import load_model
from evoprune.models.measure import inference_seconds

ROWS = 1000


def rows_for(genome) -> torch.Tensor:
    """The paper data's test rows for a 1,000-input model, else uniform random rows."""
    if tuple(genome.arch.input_shape) == (1000,):
        from evoprune.data import binary_clustering

        return binary_clustering(seed=0).test[:ROWS].float()
    return torch.rand(ROWS, *genome.arch.input_shape, generator=torch.Generator().manual_seed(0))


def measure(path: Path, repeats: int) -> dict:
    genome = load_model(path)
    masked = genome.to_module().eval()
    x = rows_for(genome)
    row = {"model": path.stem, "kept": genome.n_kept, "params": genome.n_params}
    with torch.no_grad():
        compact = genome.compact()
        ref = masked(x)
        row["compact"] = compact.n_params
        row["file kB"] = compact.file_size() / 1e3
        row["dense kB"] = AutoencoderGenome(genome.arch, rng=0).compact().file_size() / 1e3
        for batch in (1, 256):
            auto = genome.compact(sparse="auto", batch_size=batch)
            row[f"csr@{batch}"] = sum(e["layout"] == "csr" for e in auto.layouts.values())
            fast, dense = inference_seconds([auto, masked], x, batch, repeats)
            row[f"ms b={batch}"], row[f"dense ms b={batch}"] = fast * 1e3, dense * 1e3
        row["max|diff|"] = float((compact(x) - ref).abs().max())
        exact = copy.deepcopy(masked).double()(x.double())
        row["f32 err"] = float((ref.double() - exact).abs().max())
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", nargs="?", default="results/paper/models", help="folder of model files")
    parser.add_argument("--repeats", type=int, default=7, help="timed repeats per measurement (median)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    paths = sorted(Path(args.folder).glob("*.safetensors"))
    if not paths:
        raise SystemExit(f"{args.folder}: no .safetensors model files")
    table = pd.DataFrame([measure(p, args.repeats) for p in paths]).set_index("model")
    pd.set_option("display.width", 250)
    print(table.to_string(float_format=lambda v: f"{v:.3g}"))
    print(f"\nmedian speed-up, compact vs dense: batch 1 {(table['dense ms b=1'] / table['ms b=1']).median():.2f}x, "
          f"batch 256 {(table['dense ms b=256'] / table['ms b=256']).median():.2f}x")


if __name__ == "__main__":
    main()
