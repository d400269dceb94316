"""What pruning buys a saved model: parameters and file size after compaction, and inference time, beside the
unpruned model of the same architecture.

:func:`measure_model` measures one model file; :func:`measure_folder` every model of a folder that lacks a
measurement, each written as ``<model stem>.json`` beside its model file (``evoprune pack --models ...`` does
this for the models it packs, ``evoprune measure DIR`` for those already there).  A measurement
(:class:`ModelMeasurement`) records:

* ``params`` and ``kept``: the genome's entries (weights and biases) and those not pruned;
* ``compact_params``: the parameters of :func:`~evoprune.models.compaction.compact` (dense shapes), and
  ``file_bytes``: the size of its ``torch.export`` program
  (:meth:`~evoprune.models.compaction.CompactAutoencoder.file_size`); ``unpruned_params`` and
  ``unpruned_file_bytes``: the same for the unpruned model of the architecture;
* ``seconds[b]``: seconds for :data:`ROWS` rows in batches of ``b`` (1 and 256) on one thread, the median of
  ``repeats`` timed passes, through the compact model as ``sparse="auto"`` stores it for that batch size
  (``layouts[b]``: the Linear layers kept as CSR); ``unpruned_seconds[b]``: the same through the model at the
  architecture's unpruned shapes, pruned entries stored as zeros (``genome.to_module()``); the two take turns;
* ``inputs``: the rows timed: the test rows of the run's data where the caller gives them (``evoprune pack``
  and ``evoprune measure`` give the study's), else uniform random rows from a fixed seed;
* where and with what it was measured: ``machine``, ``torch``, ``evoprune``, ``measured_at``, and
  ``model_sha256`` (the model file it describes).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from ..genome import AutoencoderGenome
from ..util.io import atomic_write_text
from .compaction import compact
from .files import load_model, model_metadata

__all__ = ["BATCHES", "ROWS", "ModelMeasurement", "inference_seconds", "machine", "measure_folder", "measure_model",
           "measurement_path"]

#: Rows each timed pass runs.
ROWS = 1000
#: Batch sizes the inference time is measured at.
BATCHES = (1, 256)
#: Version of the measurement file's layout.
FORMAT = 1


@dataclass
class ModelMeasurement:
    """What :func:`measure_model` measured of one model (the module docstring describes each field)."""

    run_id: str
    params: int
    kept: int
    compact_params: int
    file_bytes: int
    unpruned_params: int
    unpruned_file_bytes: int
    seconds: dict[int, float]
    unpruned_seconds: dict[int, float]
    layouts: dict[int, list[str]] = field(default_factory=dict)
    rows: int = ROWS
    inputs: str = "uniform random"
    repeats: int = 7
    threads: int = 1
    machine: str = ""
    torch: str = ""
    evoprune: str = ""
    measured_at: str = ""
    model_sha256: str = ""
    format: int = FORMAT

    @property
    def fraction_kept(self) -> float:
        """``kept / params``."""
        return self.kept / self.params

    def speedup(self, batch: int) -> float:
        """How many times faster the compact model runs than the model at its unpruned shapes, at ``batch``."""
        return self.unpruned_seconds[batch] / self.seconds[batch]

    def to_json(self) -> str:
        """The measurement as JSON text (what :meth:`save` writes)."""
        return json.dumps(asdict(self), indent=1, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str, where: str = "<measurement>") -> ModelMeasurement:
        """Read a measurement written by :meth:`to_json`; a file of another layout is refused naming ``where``."""
        try:
            d = json.loads(text)
            if d.get("format") != FORMAT:
                raise ValueError(f"format {d.get('format')!r} is not {FORMAT}")
            for key in ("seconds", "unpruned_seconds", "layouts"):
                d[key] = {int(b): v for b, v in d.get(key, {}).items()}
            return cls(**d)
        except (ValueError, TypeError, AttributeError) as e:
            raise ValueError(f"{where}: not a model measurement of this evoprune version ({e})") from None

    def save(self, path: str | os.PathLike) -> Path:
        """Write the measurement (atomically) as JSON."""
        return atomic_write_text(Path(path), self.to_json())

    @classmethod
    def load(cls, path: str | os.PathLike) -> ModelMeasurement:
        """Read a measurement file."""
        return cls.from_json(Path(path).read_text(encoding="utf-8"), str(path))


def measurement_path(model_file: str | os.PathLike) -> Path:
    """Where a model file's measurement lies: beside it, ``<stem>.json``."""
    return Path(model_file).with_suffix(".json")


def machine() -> str:
    """This machine in words: processor, logical cores and operating system."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} logical cores, {platform.system()}"


@torch.no_grad()
def inference_seconds(models: list, x: torch.Tensor, batch: int, repeats: int = 7) -> list[float]:
    """Per model, the median seconds to run every row of ``x`` in batches of ``batch``.

    The models take turns in each of the ``repeats`` timed passes (after one warm-up pass each), so a change in
    the machine's load touches them alike."""
    chunks = list(torch.split(x, batch))

    def once(model) -> float:
        t0 = time.perf_counter()
        for c in chunks:
            model(c)
        return time.perf_counter() - t0

    for model in models:
        once(model)
    times = [[once(model) for model in models] for _ in range(repeats)]
    return [statistics.median(t[i] for t in times) for i in range(len(models))]


def _rows(rows: torch.Tensor | None, shape: tuple[int, ...]) -> torch.Tensor:
    """:data:`ROWS` rows of ``shape``: from ``rows`` (repeated or cut), or uniform random from a fixed seed."""
    if rows is None:
        return torch.rand(ROWS, *shape, generator=torch.Generator().manual_seed(0))
    rows = rows.detach().cpu().float().reshape(len(rows), *shape)
    return rows.repeat(-(-ROWS // len(rows)), *([1] * len(shape)))[:ROWS].contiguous()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def measure_model(model_file: str | os.PathLike, repeats: int = 7,
                  rows: torch.Tensor | None = None) -> ModelMeasurement:
    """Measure what pruning buys the model in ``model_file`` (see the module docstring) on one thread, timing
    ``rows`` (the run's test rows, cycled or cut to :data:`ROWS`; ``None``: uniform random rows from a fixed seed)
    ``repeats`` times."""
    from .. import __version__

    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be an integer >= 1, got {repeats!r}")
    path = Path(model_file)
    genome = load_model(path)
    run_id = model_metadata(path).get("run_id") or path.stem
    unpruned = AutoencoderGenome(genome.arch, rng=0)  # for the sizes at the architecture's full shapes
    x = _rows(rows, tuple(genome.arch.input_shape))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        small = compact(genome)
        dense = genome.to_module().eval()
        seconds, base, layouts = {}, {}, {}
        for b in BATCHES:
            model = compact(genome, sparse="auto", batch_size=b)
            seconds[b], base[b] = inference_seconds([model, dense], x, b, repeats)
            layouts[b] = [name for name, e in model.layouts.items() if e["layout"] == "csr"]
        return ModelMeasurement(
            run_id=str(run_id), params=genome.n_params, kept=genome.n_kept, compact_params=small.n_params,
            file_bytes=small.file_size(), unpruned_params=unpruned.n_params,
            unpruned_file_bytes=compact(unpruned).file_size(), seconds=seconds, unpruned_seconds=base,
            layouts=layouts, rows=ROWS, inputs="uniform random" if rows is None else "test rows", repeats=repeats,
            threads=1, machine=machine(), torch=torch.__version__,
            evoprune=__version__, measured_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            model_sha256=_sha256(path))
    finally:
        torch.set_num_threads(threads)


def measure_folder(folder: str | os.PathLike, repeats: int = 7, force: bool = False,
                   names: list[str] | None = None, rows: torch.Tensor | None = None) -> list[Path]:
    """Measure every model file of ``folder`` (``*.safetensors``) that has no measurement beside it yet, or whose
    measurement describes another file; returns the measurement files written."""
    written = []
    for model_file in sorted(Path(folder).glob("*.safetensors")):
        if names is not None and model_file.name not in names and model_file.stem not in names:
            continue
        target = measurement_path(model_file)
        if not force and target.is_file():
            try:
                if ModelMeasurement.load(target).model_sha256 == _sha256(model_file):
                    continue
            except ValueError:
                pass  # unreadable or of another layout: measured again
        written.append(measure_model(model_file, repeats, rows).save(target))
    return written
