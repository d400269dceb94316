"""Compaction: a pruned genome as a smaller ordinary ``nn.Module`` with its dead parts removed, and its export.

:func:`compact` (also :meth:`AutoencoderGenome.compact <evoprune.genome.AutoencoderGenome.compact>`) gives a
:class:`CompactAutoencoder` whose output equals the masked model's (``genome.to_module()``) on every row up to
the order of floating-point sums (in float64, to about 1e-15).  The rules, applied over encoder and decoder as
one chain until nothing changes:

* A unit (a Linear neuron, a convolution's output channel) that *feeds nothing* (every weight that reads it
  in the next parametric layer is pruned) is removed with its incoming weights and bias.
* A unit with no unpruned incoming weight emits a constant, ``act(bias)`` (``act(0)`` if the bias is pruned
  too), through the parameter-free layers that follow (activations, pooling, upsampling, reshapes: computed
  exactly, padding included), folded into the next layer's bias, and the unit is removed.  Into a Linear
  layer this is always exact; into a (transposed) convolution only where the contribution is the same at
  every output position (checked, to 1e-10): a constant of 0 (e.g. a ReLU channel whose bias is pruned or
  negative), or a uniform constant read without padding.  Otherwise (zero padding, or a transposed
  convolution's border taps) the channel is kept, with its zero weights.
* Inputs that feed nothing are not read: a :class:`.SelectInputs` module at the front takes the original
  rows and keeps the features (or, before a convolution, the channels) the model reads.
* The output layer keeps its width: an output unit with no weights left emits its constant.
* Units are removed in groups that no tensor between two parametric layers cuts apart: a neuron of a
  Linear layer whose output is unflattened into channels goes only with its whole channel, and a channel
  with its whole block of flattened features.  Entries pruned inside what stays (single weights of a
  kept neuron or kernel) stay as zeros; only Linear layers can store them sparsely (``sparse=``).
* When no path from the input to the output is left (e.g. a half whose every unit is dead), the output
  does not depend on the input: the encoder reads nothing (a code of width 0) and the decoder is a
  :class:`.ConstantOutput` emitting the masked model's output for every row.

An entry counts as pruned when its mask is ``False`` or its value is exactly zero: either way it adds
nothing.  :func:`export_compact` writes the model as a file PyTorch alone loads (``torch.export``, or ONNX).
"""

from __future__ import annotations

import copy
import io
import os
import statistics
import time
import warnings
from pathlib import Path

import torch
from torch import nn

from ..layers.autoencoder import Autoencoder
from ..util.io import atomic_write_bytes
from .compaction_graph import constant_output, kept_units, link_op, plan, stage_layer

__all__ = ["SPARSE", "compact", "CompactAutoencoder", "SelectInputs", "SparseLinear", "ConstantOutput",
           "export_compact"]

#: The values of ``compact(sparse=...)``.
SPARSE = ("never", "auto", "always")


class SelectInputs(nn.Module):
    """The inputs a compact model reads: ``x`` (flattened first if ``flatten``), its positions ``index`` along dim 1.

    Parameters
    ----------
    index
        Kept positions along dim 1: features, or channels of an input that is not flattened.
    flatten
        Flatten each row first (``index`` then counts the flat features).
    """

    def __init__(self, index: torch.Tensor, flatten: bool = False) -> None:
        super().__init__()
        self.register_buffer("index", torch.as_tensor(index, dtype=torch.long))
        self.flatten = bool(flatten)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The selected inputs of ``x``.

        Parameters
        ----------
        x
            Input rows, ``(batch, *input_shape)``.
        """
        if self.flatten:
            x = x.flatten(1)
        return x.index_select(1, self.index)


class SparseLinear(nn.Module):
    """A Linear layer whose weight is stored as a sparse CSR matrix (``torch.sparse_csr``).

    Parameters
    ----------
    weight
        The dense ``(out, in)`` weight; its zero entries are not stored.
    bias
        The ``(out,)`` bias.
    """

    #: Storage of the weight.
    layout = "csr"

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor) -> None:
        super().__init__()
        self.out_features, self.in_features = weight.shape
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            self.register_buffer("weight", weight.detach().to_sparse_csr())
        self.register_buffer("bias", bias.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x @ weight.T + bias``.

        Parameters
        ----------
        x
            Input rows ``(batch, in_features)``.
        """
        return torch.addmm(self.bias.unsqueeze(1), self.weight, x.t()).t()

    def to_dense(self) -> nn.Linear:
        """The same layer as a dense ``nn.Linear``."""
        lin = nn.Linear(self.in_features, self.out_features).to(self.bias.dtype)
        with torch.no_grad():
            lin.weight.copy_(self.weight.to_dense())
            lin.bias.copy_(self.bias)
        return lin


class ConstantOutput(nn.Module):
    """Emits ``value`` for every row: the decoder of a model whose output does not depend on its input.

    Parameters
    ----------
    value
        One output row.
    """

    def __init__(self, value: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("value", value.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``value`` repeated once per row of ``x``.

        Parameters
        ----------
        x
            The code, ``(batch, ...)``; only its batch size is read.
        """
        return self.value.expand(x.shape[0], *self.value.shape).clone()


class CompactAutoencoder(Autoencoder):
    """What :func:`compact` returns: the rows ``genome.to_module()`` takes and gives, with the dead parts gone.

    Parameters
    ----------
    encoder
        The encoder stack (first a :class:`.SelectInputs` when some inputs are not read).
    decoder
        The decoder stack (a :class:`.ConstantOutput` when the output does not depend on the input).
    input_shape
        Shape of one input row.
    inputs_read
        Flat indices of the input features the model reads.
    code_index
        Flat indices, into the original code, of the code features the compact encoder outputs.
    n_params
        Number of weights and biases (a constant output's values included), at their dense shapes.
    """

    def __init__(self, encoder: nn.Sequential, decoder: nn.Sequential, input_shape: tuple[int, ...],
                 inputs_read: torch.Tensor, code_index: torch.Tensor, n_params: int) -> None:
        super().__init__(encoder, decoder)
        self.input_shape = tuple(input_shape)
        self.inputs_read = inputs_read
        self.code_index = code_index
        self.n_params = int(n_params)
        #: Per Linear layer (``"encoder.0"``, ...): ``layout`` (``"dense"``/``"csr"``), ``density`` and, with
        #: ``sparse="auto"``, the measured seconds per call ``dense_s`` and ``csr_s``.
        self.layouts: dict[str, dict] = {}

    @property
    def constant(self) -> bool:
        """Whether the output does not depend on the input (the decoder is a :class:`.ConstantOutput`)."""
        return isinstance(self.decoder[0], ConstantOutput)

    def to_dense(self) -> CompactAutoencoder:
        """A copy with every :class:`.SparseLinear` stored as a dense ``nn.Linear``."""
        def dense(seq: nn.Sequential) -> nn.Sequential:
            return nn.Sequential(*(m.to_dense() if isinstance(m, SparseLinear) else copy.deepcopy(m) for m in seq))

        new = CompactAutoencoder(dense(self.encoder), dense(self.decoder), self.input_shape, self.inputs_read,
                                 self.code_index, self.n_params)
        new.layouts = {k: {**v, "layout": "dense"} for k, v in self.layouts.items()}
        return new.train(self.training)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the model as :func:`export_compact` does.

        Parameters
        ----------
        path
            ``FILE.pt2`` (``torch.export``) or ``FILE.onnx``.
        """
        return export_compact(self, path)

    def file_size(self, suffix: str = ".pt2") -> int:
        """Bytes of the file :meth:`save` writes for ``suffix``, measured by writing it to memory.

        Parameters
        ----------
        suffix
            ``".pt2"`` or ``".onnx"``.
        """
        return len(_export_bytes(self, suffix))


def compact(genome, sparse: str = "never", batch_size: int = 256,
            dtype: torch.dtype = torch.float32) -> CompactAutoencoder:
    """The genome's masked network as a smaller module on the CPU, in eval mode (rules: module docstring).

    Parameters
    ----------
    genome : ~evoprune.genome.AutoencoderGenome
        The genome (dense or layered halves); it is not changed.
    sparse
        How Linear weights are stored: ``"never"`` (dense ``nn.Linear``), ``"always"`` (:class:`.SparseLinear`,
        CSR), or ``"auto"``: CSR for each layer where a CSR product is measured faster than the dense one on
        this machine's CPU for ``batch_size`` rows (one thread, median of 5 repeats), else dense.  The choice
        is in the model's ``layouts``.
    batch_size
        Rows per call to time with ``sparse="auto"``.
    dtype
        Of the model's weights: ``torch.float32`` (the genome's), or ``torch.float64`` to check the
        compaction itself against ``genome.to_module().double()`` without float32 rounding.
    """
    if sparse not in SPARSE:
        raise ValueError(f"unknown sparse={sparse!r}; choose one of {', '.join(map(repr, SPARSE))}")
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    stages, links = plan(genome)
    if constant_output(links):
        model = _constant_model(genome, dtype)
    else:
        model = _build(genome, stages, links, dtype)
    _choose_layouts(model, sparse, int(batch_size))
    return model.eval()


def _constant_model(genome, dtype: torch.dtype) -> CompactAutoencoder:
    """The compact model of a genome whose output does not depend on its input."""
    spec = genome.arch.encoder
    enc, dec = (half.to_sequential().to("cpu", dtype) for half in genome.halves)
    with torch.no_grad():
        value = dec(enc(torch.zeros(1, *spec.in_shape, dtype=dtype)).reshape(1, *genome.arch.decoder.in_shape))[0]
    enc = nn.Sequential(SelectInputs(torch.zeros(0, dtype=torch.long), flatten=True))
    empty = torch.zeros(0, dtype=torch.long)
    return CompactAutoencoder(enc, nn.Sequential(ConstantOutput(value)), spec.in_shape, empty, empty, value.numel())


def _build(genome, stages, links, dtype: torch.dtype) -> CompactAutoencoder:
    """The compact modules of a planned chain."""
    halves: dict[str, list[nn.Module]] = {"encoder": [], "decoder": []}
    in_shape = tuple(genome.arch.encoder.in_shape)
    first = links[0]
    kept_in = first.kept(0)
    flat_index = torch.arange(first.gids[0].numel()).reshape(first.shapes[0])[kept_in].flatten()
    if len(kept_in) < first.shapes[0][0]:
        halves["encoder"].append(SelectInputs(kept_in, flatten=first.flat_input and len(in_shape) > 1))
    elif first.flat_input and len(in_shape) > 1:
        halves["encoder"].append(nn.Flatten())
    code_index = torch.zeros(0, dtype=torch.long)
    n_params = 0
    for i, link in enumerate(links):
        for j, (half, _) in enumerate(link.ops):
            halves[half].append(link_op(link, j).to_module())
        if 0 < i < len(stages) and stages[i - 1].half == "encoder" and stages[i].half == "decoder":
            code = link.gids[sum(h == "encoder" for h, _ in link.ops)]  # the tensor between the halves
            code_index = torch.nonzero(link.alive[code].flatten()).flatten()
        if i == len(stages):
            break
        stage = stages[i]
        slots, units = kept_units(stages, links, i)
        w = stage.w.index_select(stage.in_axis, slots).index_select(stage.out_axis, units)
        module = stage_layer(stage, len(slots), len(units)).to_module().to(dtype)
        with torch.no_grad():
            module.weight.copy_(w)
            module.bias.copy_(stage.b[units])
        n_params += module.weight.numel() + module.bias.numel()
        halves[stage.half].append(module)
    return CompactAutoencoder(nn.Sequential(*halves["encoder"]), nn.Sequential(*halves["decoder"]), in_shape,
                              flat_index, code_index, n_params)


# -- sparse storage -------------------------------------------------------------------------------------------
def _seconds(module: nn.Module, x: torch.Tensor, repeats: int = 5) -> float:
    """Median seconds per call of ``module(x)`` over ``repeats`` timed loops of at least a millisecond."""
    module(x)
    t0 = time.perf_counter()
    module(x)
    n = max(1, int(1e-3 / max(time.perf_counter() - t0, 1e-7)))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(n):
            module(x)
        times.append((time.perf_counter() - t0) / n)
    return statistics.median(times)


def _choose_layouts(model: CompactAutoencoder, sparse: str, batch_size: int) -> None:
    """Store each Linear layer dense or CSR as ``sparse`` says, and record the choice in ``model.layouts``."""
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        for name in ("encoder", "decoder"):
            seq = getattr(model, name)
            for pos, m in enumerate(seq):
                if not isinstance(m, nn.Linear):
                    continue
                entry: dict = {"layout": "dense", "density": float(m.weight.ne(0).float().mean())}
                if sparse != "never":
                    csr = SparseLinear(m.weight, m.bias)
                    use = sparse == "always"
                    if sparse == "auto":
                        x = torch.rand(batch_size, m.in_features, dtype=m.weight.dtype)
                        with torch.no_grad():
                            entry["dense_s"], entry["csr_s"] = _seconds(m, x), _seconds(csr, x)
                        use = entry["csr_s"] < entry["dense_s"]
                    if use:
                        seq[pos] = csr
                        entry["layout"] = "csr"
                model.layouts[f"{name}.{pos}"] = entry
    finally:
        torch.set_num_threads(threads)


# -- export ---------------------------------------------------------------------------------------------------
def _export_bytes(model: CompactAutoencoder, suffix: str) -> bytes:
    """The bytes of ``model`` exported for ``suffix`` (``.onnx``: ONNX; anything else: ``torch.export``)."""
    dense = model.to_dense()
    plain = Autoencoder(dense.encoder, dense.decoder).eval()  # no extra attributes in the program
    dtype = next(t.dtype for t in plain.state_dict().values() if t.is_floating_point())
    x = torch.rand(2, *model.input_shape, dtype=dtype)
    dynamic = ({0: torch.export.Dim("batch")},)
    if suffix == ".onnx":
        try:
            import onnx  # noqa: F401
            import onnxscript  # noqa: F401
        except ImportError as e:
            raise ValueError(f"ONNX export needs the onnx and onnxscript packages (pip install 'evoprune[onnx]'): "
                             f"{e}") from None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(plain, (x,), dynamo=True, dynamic_shapes=dynamic, input_names=["x"],
                                        output_names=["reconstruction"], verbose=False)
        return program.model_proto.SerializeToString()
    buf = io.BytesIO()
    torch.export.save(torch.export.export(plain, (x,), dynamic_shapes=dynamic), buf)
    return buf.getvalue()


def export_compact(model: CompactAutoencoder, path: str | os.PathLike) -> Path:
    """Write a compact model as a file PyTorch alone (or an ONNX runtime) loads and runs, for any batch size.

    ``FILE.onnx`` is ONNX (needs the ``onnx`` extra: ``pip install 'evoprune[onnx]'``); any other name is a
    ``torch.export`` program, loaded with ``torch.export.load(FILE).module()``.  CSR layers are stored
    dense in both (neither format takes sparse CSR weights).

    Parameters
    ----------
    model
        What :func:`compact` returned.
    path
        The file to write (atomically).
    """
    path = Path(path)
    return atomic_write_bytes(path, _export_bytes(model, path.suffix))
