"""Architectures: the shape of an autoencoder, as immutable specs of its two halves.

A :class:`HalfSpec` is a stack of Linear layers (widths and one activation per layer);
an :class:`Architecture` pairs the encoder's and the decoder's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from torch import nn

from .activations import ACTIVATIONS
from .validation import check_choice

__all__ = ["HalfSpec", "Architecture"]



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
    module_names = {a.module: name for name, a in ACTIVATIONS.items()}
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
        elif type(m) in module_names:
            if len(acts) != len(sizes) - 2 or not sizes:
                raise ValueError(f"{what}: activation {type(m).__name__} must follow a Linear layer")
            acts.append(module_names[type(m)])
        else:
            raise ValueError(f"{what}: unsupported module {type(m).__name__}; use Linear and activations")
    if len(acts) < len(sizes) - 1:
        acts.append("identity")
    return HalfSpec(tuple(sizes), tuple(acts))
