"""Autoencoder genomes: plain weight tensors, permanent boolean masks, a learning rate.

A genome holds two :class:`Half` objects (encoder, decoder).  Each half is a
stack of Linear layers described by an immutable :class:`HalfSpec`; its
parameters are kept as a flat list ``[W0, b0, W1, b1, ...]`` of ordinary
tensors with one boolean mask per tensor.  ``nn.Module`` objects are built only
at the edges (:meth:`AutoencoderGenome.to_module`,
:meth:`AutoencoderGenome.from_modules`), so genomes deep-copy and pickle
cheaply and many of them can be stacked for batched training.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .activations import ACTIVATIONS
from .kernels import layer_outputs as _layer_outputs
from .kernels import stacked_forward
from .rng import RNGLike, as_generator
from .validation import check_choice, check_positive

__all__ = ["HalfSpec", "Architecture", "Half", "AutoencoderGenome", "Autoencoder"]

_ACTIVATION_MODULES = {
    "relu": nn.ReLU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "identity": nn.Identity,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
}
_MODULE_NAMES = {cls: name for name, cls in _ACTIVATION_MODULES.items()}


@dataclass(frozen=True)
class HalfSpec:
    """Shape of one half: layer widths ``sizes`` and one activation per layer.

    Parameters
    ----------
    sizes
        Layer widths, input first: ``(in, h1, ..., out)``; at least two.
    activations
        One activation name per layer (a key of the layer activations: ``relu``, ``sigmoid``, ``tanh``,
        ``identity``, ``leaky_relu``, ``elu``, ``gelu``).
    """

    sizes: tuple[int, ...]
    activations: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "sizes", tuple(int(s) for s in self.sizes))
        object.__setattr__(self, "activations", tuple(self.activations))
        if len(self.sizes) < 2:
            raise ValueError(f"a half needs at least an input and an output size, got sizes={self.sizes}")
        if any(s <= 0 for s in self.sizes):
            raise ValueError(f"layer sizes must be positive, got sizes={self.sizes}")
        if len(self.activations) != len(self.sizes) - 1:
            raise ValueError(
                f"need one activation per layer: {len(self.sizes) - 1} layers but activations={self.activations}"
            )
        for a in self.activations:
            check_choice("activation", a, ACTIVATIONS)

    @property
    def n_layers(self) -> int:
        """Number of Linear layers."""
        return len(self.activations)

    @property
    def shapes(self) -> list[tuple[int, ...]]:
        """Shapes of the flat parameter list ``[W0, b0, W1, b1, ...]``."""
        out: list[tuple[int, ...]] = []
        for i in range(self.n_layers):
            out += [(self.sizes[i + 1], self.sizes[i]), (self.sizes[i + 1],)]
        return out

    @property
    def n_params(self) -> int:
        """Number of weights and biases."""
        return sum(math.prod(s) for s in self.shapes)


@dataclass(frozen=True)
class Architecture:
    """Encoder and decoder specs; the decoder must map the latent back to the input width.

    Parameters
    ----------
    encoder
        Spec of the encoder (input width to latent width).
    decoder
        Spec of the decoder (latent width back to input width).
    """

    encoder: HalfSpec
    decoder: HalfSpec

    def __post_init__(self) -> None:
        if self.encoder.sizes[-1] != self.decoder.sizes[0]:
            raise ValueError(
                f"encoder output width {self.encoder.sizes[-1]} != decoder input width {self.decoder.sizes[0]}"
            )
        if self.encoder.sizes[0] != self.decoder.sizes[-1]:
            raise ValueError(
                f"encoder input width {self.encoder.sizes[0]} != decoder output width {self.decoder.sizes[-1]}"
            )

    @classmethod
    def paper(cls, input_dim: int = 1000, hidden: int = 30, latent: int = 10) -> Architecture:
        """The published network: ``in→30→10`` (ReLU, ReLU) and ``10→30→in`` (ReLU, Sigmoid).

        Parameters
        ----------
        input_dim
            Input (and output) width.
        hidden
            Width of the hidden layer of each half.
        latent
            Width of the code.
        """
        return cls(
            HalfSpec((input_dim, hidden, latent), ("relu", "relu")),
            HalfSpec((latent, hidden, input_dim), ("relu", "sigmoid")),
        )

    @classmethod
    def from_modules(cls, encoder: nn.Module, decoder: nn.Module) -> Architecture:
        """Read the architecture of two ``nn.Sequential`` stacks of Linear + activation modules.

        Parameters
        ----------
        encoder
            The encoder stack.
        decoder
            The decoder stack.
        """
        return cls(_spec_from_sequential(encoder, "encoder"), _spec_from_sequential(decoder, "decoder"))

    @property
    def input_dim(self) -> int:
        """Width of the input (and of the reconstruction)."""
        return self.encoder.sizes[0]

    @property
    def latent_dim(self) -> int:
        """Width of the code between encoder and decoder."""
        return self.encoder.sizes[-1]

    @property
    def n_params(self) -> int:
        """Number of weights and biases of both halves."""
        return self.encoder.n_params + self.decoder.n_params


def _spec_from_sequential(seq: nn.Module, what: str) -> HalfSpec:
    sizes: list[int] = []
    acts: list[str] = []
    for m in seq.children() if isinstance(seq, nn.Sequential) else [seq]:
        if isinstance(m, nn.Linear):
            if m.bias is None:
                raise ValueError(f"{what}: Linear layers without bias are not supported")
            if sizes and sizes[-1] != m.in_features:
                raise ValueError(f"{what}: Linear in_features {m.in_features} != previous width {sizes[-1]}")
            if not sizes:
                sizes.append(m.in_features)
            elif len(acts) < len(sizes) - 1:
                acts.append("identity")
            sizes.append(m.out_features)
        elif type(m) in _MODULE_NAMES:
            if len(acts) != len(sizes) - 2 or not sizes:
                raise ValueError(f"{what}: activation {type(m).__name__} must follow a Linear layer")
            acts.append(_MODULE_NAMES[type(m)])
        else:
            raise ValueError(f"{what}: unsupported module {type(m).__name__}; use Linear and activations")
    if len(acts) < len(sizes) - 1:
        acts.append("identity")
    return HalfSpec(tuple(sizes), tuple(acts))


@dataclass
class Half:
    """Parameters, masks and optimizer moments of one half (encoder or decoder).

    ``params`` and ``masks`` are flat lists ``[W0, b0, W1, b1, ...]``; pruned
    entries are exactly zero in ``params`` and ``False`` in ``masks``.
    ``exp_avg``/``exp_avg_sq``/``step`` hold Adam's state so that training can
    continue across generations (``None`` until first trained).

    Parameters
    ----------
    spec
        Shape of the half.
    params
        Weights and biases ``[W0, b0, W1, b1, ...]`` (``W`` is ``(out, in)``).
    masks
        Boolean masks of the same shapes (``False``: pruned).
    exp_avg
        Adam's first moments, or ``None``.
    exp_avg_sq
        Adam's second moments, or ``None``.
    step
        Adam steps taken so far.
    """

    spec: HalfSpec
    params: list[torch.Tensor]
    masks: list[torch.Tensor]
    exp_avg: list[torch.Tensor] | None = None
    exp_avg_sq: list[torch.Tensor] | None = None
    step: int = 0

    @classmethod
    def init(cls, spec: HalfSpec, rng: RNGLike = None) -> Half:
        """PyTorch's default Linear init, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), drawn from ``rng``.

        Parameters
        ----------
        spec
            Shape of the half.
        rng
            Seed or NumPy generator for the weights.
        """
        g = as_generator(rng)
        params = []
        for i, shape in enumerate(spec.shapes):
            bound = 1.0 / math.sqrt(spec.sizes[i // 2])
            params.append(torch.from_numpy(g.uniform(-bound, bound, size=shape).astype(np.float32)))
        return cls(spec, params, [torch.ones_like(p, dtype=torch.bool) for p in params])

    def clone(self) -> Half:
        """A deep copy (tensors cloned)."""
        def c(ts):
            return None if ts is None else [t.clone() for t in ts]

        return Half(self.spec, c(self.params), c(self.masks), c(self.exp_avg), c(self.exp_avg_sq), self.step)

    def __deepcopy__(self, memo) -> Half:
        return self.clone()

    @property
    def n_params(self) -> int:
        """Number of weights and biases."""
        return sum(p.numel() for p in self.params)

    @property
    def n_kept(self) -> int:
        """Number of unpruned weights and biases."""
        return int(sum(int(m.sum()) for m in self.masks))

    @property
    def fraction_kept(self) -> float:
        """Fraction of weights and biases not pruned."""
        return self.n_kept / self.n_params

    @property
    def sparsity(self) -> float:
        """Fraction of weights and biases pruned."""
        return 1.0 - self.fraction_kept

    def prune_entries(self, index: int, flat: torch.Tensor | np.ndarray) -> None:
        """Permanently prune entries ``flat`` (flat indices) of tensor ``index``.

        Parameters
        ----------
        index
            Position of the tensor in ``params`` (``2 * layer`` for a weight, ``2 * layer + 1`` for a bias).
        flat
            Flat indices into that tensor.
        """
        flat = torch.as_tensor(flat, dtype=torch.long)
        if flat.numel() == 0:
            return
        self.masks[index].view(-1)[flat] = False
        self.params[index].view(-1)[flat] = 0.0
        for state in (self.exp_avg, self.exp_avg_sq):
            if state is not None:
                state[index].view(-1)[flat] = 0.0

    def prune_neurons(self, layer: int, neurons: Sequence[int] | torch.Tensor) -> None:
        """Prune whole output neurons of ``layer``: their incoming weight rows and biases.

        Parameters
        ----------
        layer
            Layer index.
        neurons
            Output neurons of that layer to prune.
        """
        neurons = torch.as_tensor(neurons, dtype=torch.long)
        if neurons.numel() == 0:
            return
        w_idx, b_idx = 2 * layer, 2 * layer + 1
        n_in = self.params[w_idx].shape[1]
        rows = (neurons[:, None] * n_in + torch.arange(n_in)[None, :]).reshape(-1)
        self.prune_entries(w_idx, rows)
        self.prune_entries(b_idx, neurons)

    def alive_neurons(self, layer: int) -> torch.Tensor:
        """Boolean vector: output neurons of ``layer`` with at least one unpruned weight or bias.

        Parameters
        ----------
        layer
            Layer index.
        """
        return self.masks[2 * layer].any(dim=1) | self.masks[2 * layer + 1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Masked forward pass of this half on a (batch, width) tensor.

        Parameters
        ----------
        x
            Input of shape ``(batch, spec.sizes[0])``.

        Returns
        -------
        torch.Tensor
            The output, ``(batch, spec.sizes[-1])``.
        """
        return stacked_forward(self.spec, [p[None] for p in self.params], [m[None] for m in self.masks], x[None])[0]

    def layer_outputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Post-activation outputs of every layer (for activation-guided pruning).

        Parameters
        ----------
        x
            Input of shape ``(batch, spec.sizes[0])``.

        Returns
        -------
        list of torch.Tensor
            One ``(batch, width)`` tensor per layer.
        """
        outs = _layer_outputs(self.spec, [p[None] for p in self.params], [m[None] for m in self.masks], x[None])
        return [h[0] for h in outs]

    def to_sequential(self, prune_layout: bool = False) -> nn.Sequential:
        """This half as an ``nn.Sequential`` of Linear and activation modules, pruned weights zero.

        Parameters
        ----------
        prune_layout
            Attach ``weight_mask``/``bias_mask`` buffers as :mod:`torch.nn.utils.prune` does.
        """
        layers: list[nn.Module] = []
        for i, act in enumerate(self.spec.activations):
            lin = nn.Linear(self.spec.sizes[i], self.spec.sizes[i + 1])
            with torch.no_grad():
                lin.weight.copy_(self.params[2 * i] * self.masks[2 * i])
                lin.bias.copy_(self.params[2 * i + 1] * self.masks[2 * i + 1])
            if prune_layout:
                from torch.nn.utils import prune

                prune.custom_from_mask(lin, "weight", self.masks[2 * i].clone())
                prune.custom_from_mask(lin, "bias", self.masks[2 * i + 1].clone())
            layers += [lin, _ACTIVATION_MODULES[act]()]
        return nn.Sequential(*layers)

    @classmethod
    def from_sequential(cls, seq: nn.Module, spec: HalfSpec) -> Half:
        """Read a half from an ``nn.Sequential`` (its ``weight_mask``/``bias_mask`` buffers, if any, become the masks).

        Parameters
        ----------
        seq
            A stack of Linear and activation modules.
        spec
            The stack's shape (see :meth:`Architecture.from_modules`).
        """
        params, masks = [], []
        for lin in (m for m in seq.modules() if isinstance(m, nn.Linear)):
            for name in ("weight", "bias"):
                value = getattr(lin, name).detach().clone().float()
                mask = getattr(lin, name + "_mask", None)
                mask = torch.ones_like(value, dtype=torch.bool) if mask is None else mask.detach().bool().clone()
                params.append(value * mask)
                masks.append(mask)
        return cls(spec, params, masks)


class AutoencoderGenome:
    """An autoencoder as a DEAP individual: encoder and decoder halves plus a learning rate.

    Use it as a ``creator`` base class::

        creator.create("Individual", AutoencoderGenome, fitness=creator.FitnessMin)
        ind = creator.Individual(Architecture.paper(), rng=np.random.default_rng(0))

    Parameters
    ----------
    arch
        The architecture; defaults to the paper's 1000→30→10 / 10→30→1000 network.
    rng : ~evoprune.rng.RNGLike
        Generator (or seed) for weight initialisation.
    lr
        Initial learning rate (a strategy parameter, mutated by ``mutLearningRate``).
    encoder, decoder
        Existing halves to assemble (e.g. the encoder of one genome and the
        decoder of another); they are used as given, not copied.
    """

    def __init__(
        self,
        arch: Architecture | None = None,
        rng: RNGLike = None,
        lr: float = 1e-3,
        *,
        encoder: Half | None = None,
        decoder: Half | None = None,
    ) -> None:
        if arch is None:
            arch = Architecture(encoder.spec, decoder.spec) if encoder and decoder else Architecture.paper()
        self.arch = arch
        g = as_generator(rng) if encoder is None or decoder is None else None
        self.encoder = encoder if encoder is not None else Half.init(arch.encoder, g)
        self.decoder = decoder if decoder is not None else Half.init(arch.decoder, g)
        if self.encoder.spec != arch.encoder or self.decoder.spec != arch.decoder:
            raise ValueError("encoder/decoder specs do not match the architecture")
        self.lr = check_positive("lr", lr)

    @classmethod
    def from_halves(cls, encoder: Half, decoder: Half, lr: float = 1e-3):
        """Assemble a genome (of this class, e.g. a ``creator`` class) from two halves.

        Parameters
        ----------
        encoder
            The encoder half (used as given).
        decoder
            The decoder half (used as given).
        lr
            Initial learning rate.
        """
        return cls(Architecture(encoder.spec, decoder.spec), lr=lr, encoder=encoder, decoder=decoder)

    @classmethod
    def from_modules(cls, encoder: nn.Module, decoder: nn.Module, lr: float = 1e-3):
        """Build a genome from user ``nn.Sequential`` stacks (existing ``weight_mask`` buffers are kept).

        Parameters
        ----------
        encoder
            The encoder stack of Linear and activation modules.
        decoder
            The decoder stack.
        lr
            Initial learning rate.
        """
        arch = Architecture.from_modules(encoder, decoder)
        return cls.from_halves(
            Half.from_sequential(encoder, arch.encoder), Half.from_sequential(decoder, arch.decoder), lr
        )

    def __deepcopy__(self, memo):
        cls = self.__class__
        new = cls.__new__(cls)
        memo[id(self)] = new
        for k, v in self.__dict__.items():
            new.__dict__[k] = copy.deepcopy(v, memo)
        return new

    # -- sizes -----------------------------------------------------------
    @property
    def halves(self) -> tuple[Half, Half]:
        """``(encoder, decoder)``."""
        return self.encoder, self.decoder

    @property
    def n_params(self) -> int:
        """Number of weights and biases of both halves."""
        return self.encoder.n_params + self.decoder.n_params

    @property
    def n_kept(self) -> int:
        """Number of unpruned weights and biases."""
        return self.encoder.n_kept + self.decoder.n_kept

    @property
    def fraction_kept(self) -> float:
        """Fraction of weights and biases not pruned (1.0 before any pruning)."""
        return self.n_kept / self.n_params

    @property
    def sparsity(self) -> dict[str, float]:
        """Fraction of pruned parameters per half and in total."""
        return {"encoder": self.encoder.sparsity, "decoder": self.decoder.sparsity, "total": 1 - self.fraction_kept}

    # -- inference -------------------------------------------------------
    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction of ``x`` by the masked network (no gradients).

        Parameters
        ----------
        x
            Input of shape ``(batch, input_dim)``.

        Returns
        -------
        torch.Tensor
            The reconstruction, same shape as ``x``.
        """
        return self.decoder.forward(self.encoder.forward(x))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """``genome(x)``: the reconstruction of ``x`` (``(batch, input_dim)``), like calling an ``nn.Module``."""
        return self.reconstruct(x)

    def to_module(self, prune_layout: bool = False) -> Autoencoder:
        """A plain ``nn.Module`` with masked (zeroed) weights.

        With ``prune_layout=True`` every Linear carries ``weight_orig``/``weight_mask``
        (and ``bias_orig``/``bias_mask``) as ``torch.nn.utils.prune`` would, so
        ``prune.is_pruned`` and ``prune.remove`` work on it.

        Parameters
        ----------
        prune_layout
            Attach the masks as :mod:`torch.nn.utils.prune` does.
        """
        return Autoencoder(self.encoder.to_sequential(prune_layout), self.decoder.to_sequential(prune_layout))

    def __repr__(self) -> str:
        enc, dec = self.arch.encoder.sizes, self.arch.decoder.sizes
        fit = getattr(self, "fitness", None)
        return (
            f"{type(self).__name__}({'→'.join(map(str, enc))} | {'→'.join(map(str, dec))}, "
            f"kept={self.n_kept}/{self.n_params}, lr={self.lr:.3g}"
            + (f", fitness={fit.values}" if fit is not None and fit.valid else "")
            + ")"
        )


class Autoencoder(nn.Module):
    """Plain encoder/decoder module exported from a genome.

    Parameters
    ----------
    encoder
        The encoder stack.
    decoder
        The decoder stack.
    """

    def __init__(self, encoder: nn.Sequential, decoder: nn.Sequential) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction of ``x``: ``decoder(encoder(x))``.

        Parameters
        ----------
        x
            Input of shape ``(batch, input_dim)``.
        """
        return self.decoder(self.encoder(x))
