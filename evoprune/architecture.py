"""Architectures: the shape of an autoencoder, as immutable specs of its two halves.

A :class:`HalfSpec` is either *dense*, a stack of Linear layers given by widths and one activation per
layer (the paper's network; it runs on the fused kernel and the dense torch path), or a sequence of
:mod:`evoprune.layers` (convolutions, pooling, reshapes, ...) with the shape of its input rows, which runs on
the general torch path.  An :class:`Architecture` pairs the encoder's and the decoder's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from .activations import ACTIVATIONS
from .layers import Act, Layer, Linear, layers_from_sequential, sequence_forward
from .util.validation import check_choice

__all__ = ["HalfSpec", "Architecture"]


@dataclass(frozen=True)
class HalfSpec:
    """Shape of one half: layer widths ``sizes`` and one activation per layer, or a sequence of ``layers``.

    Parameters
    ----------
    sizes
        Layer widths, input first: ``(in, h1, ..., out)``; at least two.
    activations
        One activation name per layer, a key of :data:`~evoprune.activations.ACTIVATIONS` (``relu``, ``sigmoid``, ...).
    layers
        Instead of ``sizes``/``activations``: the half's :mod:`evoprune.layers`, in order.
    input_shape
        With ``layers``: the shape of one input row, e.g. ``(1, 8, 8)``.
    """

    sizes: tuple[int, ...] = ()
    activations: tuple[str, ...] = ()
    layers: tuple[Layer, ...] = ()
    input_shape: tuple[int, ...] = ()

    def __deepcopy__(self, memo) -> HalfSpec:
        return self  # immutable: genomes share it (cheap clones)

    @property
    def dense(self) -> bool:
        """Whether this is a dense half (``sizes``/``activations``), which runs on the dense fast paths."""
        return not self.layers

    @property
    def in_shape(self) -> tuple[int, ...]:
        """Shape of one input row."""
        return (self.sizes[0],) if self.dense else self.input_shape

    @property
    def out_shape(self) -> tuple[int, ...]:
        """Shape of one output row."""
        return (self.sizes[-1],) if self.dense else self._walk()[-1]

    @property
    def in_features(self) -> int:
        """Number of features of one input row (``prod(in_shape)``)."""
        return math.prod(self.in_shape)

    @property
    def out_features(self) -> int:
        """Number of features of one output row (``prod(out_shape)``)."""
        return math.prod(self.out_shape)

    def _walk(self) -> list[tuple[int, ...]]:
        """Input shape of every layer, then the output shape (layered halves)."""
        shapes = [tuple(self.input_shape)]
        for layer in self.layers:
            shapes.append(layer.out_shape(shapes[-1]))
        return shapes

    @property
    def param_layers(self) -> list[tuple[int, Layer, tuple[int, ...]]]:
        """``(position, layer, input shape)`` of each parametric layer (layered halves; a dense half's Linear
        layers are at positions 0, 2, 4, ... of its ``nn.Sequential``)."""
        if self.dense:
            return [(2 * i, Linear(self.sizes[i], self.sizes[i + 1]), (self.sizes[i],)) for i in range(self.n_layers)]
        shapes = self._walk()
        return [(i, layer, shapes[i]) for i, layer in enumerate(self.layers) if layer.parametric]

    def neuron_axis(self, layer: int) -> int:
        """The weight axis of parametric layer ``layer`` whose entries are its neurons (output channels).

        Parameters
        ----------
        layer
            Index of the parametric layer.
        """
        return 0 if self.dense else self.param_layers[layer][1].neuron_axis

    def fan_in(self, layer: int) -> int:
        """PyTorch's fan-in of parametric layer ``layer``'s weight (its init bound is ``1/sqrt(fan_in)``).

        Parameters
        ----------
        layer
            Index of the parametric layer.
        """
        if self.dense:
            return self.sizes[layer]
        _, lay, shape = self.param_layers[layer]
        return lay.fan_in(shape)

    def stacked_forward(self, params, masks, x: torch.Tensor, outputs: list | None = None) -> torch.Tensor:
        """Forward pass of N stacked halves on flat rows (:func:`evoprune.layers.sequence_forward`).

        Parameters
        ----------
        params
            The flat ``(N, ...)`` parameter list.
        masks
            Masks of the same shapes, or ``None`` when pruned entries are already zero.
        x
            Flat input rows, ``(N, B, in_features)``.
        outputs
            If given, receives each parametric layer's neuron activity ``(N, B, neurons)``.
        """
        return sequence_forward(self.as_layers, self.in_shape, params, masks, x, outputs)

    @property
    def as_layers(self) -> tuple[Layer, ...]:
        """The half as a sequence of layers; a dense half gives its Linear and activation layers, alternating."""
        if not self.dense:
            return self.layers
        return tuple(x for (_, lin, _), act in zip(self.param_layers, self.activations, strict=True)
                     for x in (lin, Act(act)))

    def __post_init__(self) -> None:
        if self.layers or self.input_shape:
            _check_layered(self)
            return
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
        """Number of parametric layers (Linear layers of a dense half)."""
        return len(self.activations) if self.dense else sum(layer.parametric for layer in self.layers)

    @property
    def shapes(self) -> list[tuple[int, ...]]:
        """Shapes of the flat parameter list ``[W0, b0, W1, b1, ...]``."""
        out: list[tuple[int, ...]] = []
        if not self.dense:
            for _, layer, shape in self.param_layers:
                out += layer.param_shapes(shape)
            return out
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

    def __deepcopy__(self, memo) -> Architecture:
        return self  # immutable: genomes share it (cheap clones)

    def __post_init__(self) -> None:
        if self.encoder.dense and self.decoder.dense:
            if self.encoder.sizes[-1] != self.decoder.sizes[0]:
                raise ValueError(
                    f"encoder output width {self.encoder.sizes[-1]} != decoder input width {self.decoder.sizes[0]}"
                )
            if self.encoder.sizes[0] != self.decoder.sizes[-1]:
                raise ValueError(
                    f"encoder input width {self.encoder.sizes[0]} != decoder output width {self.decoder.sizes[-1]}"
                )
            return
        if not _fits(self.encoder.out_shape, self.decoder.in_shape):
            raise ValueError(f"encoder output shape {self.encoder.out_shape} != decoder input shape "
                             f"{self.decoder.in_shape}")
        if not _fits(self.encoder.in_shape, self.decoder.out_shape):
            raise ValueError(f"decoder output shape {self.decoder.out_shape} != encoder input shape "
                             f"{self.encoder.in_shape}")

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
    def from_modules(cls, encoder: nn.Module, decoder: nn.Module,
                     input_shape: tuple[int, ...] | None = None) -> Architecture:
        """Read the architecture of two ``nn.Sequential`` stacks.

        Stacks of Linear and activation modules give dense halves (the fast paths), stacks with other supported
        modules (:func:`evoprune.layers.layers_from_sequential`) layered halves; any other module is an error.

        Parameters
        ----------
        encoder
            The encoder stack.
        decoder
            The decoder stack.
        input_shape
            Shape of one input row, e.g. ``(1, 8, 8)``.  By default: the encoder's first Linear layer's width,
            else the shape the decoder outputs when it starts with a Linear layer (an autoencoder reconstructs
            its input); give it when neither says it.
        """
        enc_layers = layers_from_sequential(encoder, "encoder")
        dec_layers = layers_from_sequential(decoder, "decoder")
        input_shape = None if input_shape is None else tuple(int(v) for v in input_shape)
        enc, dec = _dense_spec(enc_layers), _dense_spec(dec_layers)  # dense halves keep the fast paths
        if enc is None or input_shape not in (None, enc.in_shape):
            if input_shape is None:
                first = enc_layers[0]
                input_shape = (first.in_features,) if hasattr(first, "in_features") else _output_shape(dec_layers)
                if input_shape is None:
                    name = type(next(iter(encoder.children()), encoder)).__name__
                    raise ValueError(f"the encoder starts with {name} and the decoder does not say what it "
                                     f"outputs: give input_shape, the shape of one input row, e.g. "
                                     f"Architecture.from_modules(enc, dec, input_shape=(1, 8, 8))")
            try:
                enc = HalfSpec(layers=enc_layers, input_shape=tuple(input_shape))
            except ValueError as e:
                raise ValueError(f"encoder: {e}") from None
        if dec is None:
            first = dec_layers[0]
            dec_in = (first.in_features,) if hasattr(first, "in_features") else enc.out_shape
            try:
                dec = HalfSpec(layers=dec_layers, input_shape=dec_in)
            except ValueError as e:
                raise ValueError(f"decoder: {e}") from None
        return cls(enc, dec)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input row (and of its reconstruction)."""
        return self.encoder.in_shape

    @property
    def latent_shape(self) -> tuple[int, ...]:
        """Shape of the code between encoder and decoder."""
        return self.encoder.out_shape

    @property
    def input_dim(self) -> int:
        """Number of input features (the width of a dense input)."""
        return self.encoder.sizes[0] if self.encoder.dense else self.encoder.in_features

    @property
    def latent_dim(self) -> int:
        """Number of features of the code."""
        return self.encoder.sizes[-1] if self.encoder.dense else self.encoder.out_features

    @property
    def n_params(self) -> int:
        """Number of weights and biases of both halves."""
        return self.encoder.n_params + self.decoder.n_params


def _fits(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    """Equal shapes, or flat rows (1-d) of the other's number of features (rows travel flat between halves)."""
    return a == b or (min(len(a), len(b)) == 1 and math.prod(a) == math.prod(b))


def _output_shape(layers) -> tuple[int, ...] | None:
    """What a decoder that starts with a Linear layer outputs (``None`` when it does not, or cannot run)."""
    first = layers[0] if layers else None
    if not hasattr(first, "in_features"):
        return None
    try:
        return HalfSpec(layers=tuple(layers), input_shape=(first.in_features,)).out_shape
    except ValueError:
        return None


def _dense_spec(layers) -> HalfSpec | None:
    """The dense spec of Linear layers each followed by at most one activation, else ``None``."""
    sizes: list[int] = []
    acts: list[str] = []
    for layer in layers:
        if layer.kind == "Linear":
            if sizes and sizes[-1] != layer.in_features:
                return None
            if sizes and len(acts) < len(sizes) - 1:
                acts.append("identity")
            sizes = sizes or [layer.in_features]
            sizes.append(layer.out_features)
        elif layer.kind == "Act" and sizes and len(acts) == len(sizes) - 2:
            acts.append(layer.name)
        else:
            return None
    if len(acts) < len(sizes) - 1:
        acts.append("identity")
    return HalfSpec(tuple(sizes), tuple(acts))


def _check_layered(spec: HalfSpec) -> None:
    if spec.sizes or spec.activations:
        raise ValueError("give a half either sizes and activations (dense) or layers and input_shape, not both")
    if not spec.layers or not spec.input_shape:
        raise ValueError("a layered half needs layers and input_shape (the shape of one input row)")
    object.__setattr__(spec, "layers", tuple(spec.layers))
    object.__setattr__(spec, "input_shape", tuple(int(s) for s in spec.input_shape))
    for i, layer in enumerate(spec.layers):
        if not isinstance(layer, Layer):
            raise ValueError(f"layer {i} is {layer!r}, not an evoprune.layers.Layer")
    if spec.n_layers == 0:
        raise ValueError("a half needs at least one layer with parameters")
    spec._walk()  # raises ValueError where a layer does not fit its input
