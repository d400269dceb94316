"""Autoencoder genomes: plain weight tensors, permanent boolean masks, a learning rate.

A genome holds two :class:`~evoprune.half.Half` objects (encoder, decoder).  Each half is described by an
immutable :class:`~evoprune.architecture.HalfSpec` (dense Linear layers, or :mod:`evoprune.layers` such as
convolutions); its parameters are a flat list ``[W0, b0, W1, b1, ...]`` of ordinary tensors with one boolean
mask each.  ``nn.Module`` objects are built only at the edges (:meth:`AutoencoderGenome.to_module`,
:meth:`AutoencoderGenome.from_modules`), so genomes deep-copy and pickle cheaply and stack for batched training.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from .architecture import Architecture
from .half import Half
from .layers.autoencoder import Autoencoder
from .rng import RNGLike, as_generator
from .util.validation import check_positive

__all__ = ["AutoencoderGenome"]


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
    def from_modules(cls, encoder: nn.Module, decoder: nn.Module, lr: float = 1e-3,
                     input_shape: tuple[int, ...] | None = None):
        """Build a genome from user ``nn.Sequential`` stacks, keeping their weights and existing
        :mod:`torch.nn.utils.prune` masks (``weight_mask``/``bias_mask`` buffers).

        Parameters
        ----------
        encoder
            The encoder stack (see :meth:`~evoprune.architecture.Architecture.from_modules` for the modules).
        decoder
            The decoder stack.
        lr
            Initial learning rate.
        input_shape
            Shape of one input row, e.g. ``(1, 8, 8)``; needed unless the encoder starts with a Linear layer.
        """
        arch = Architecture.from_modules(encoder, decoder, input_shape)
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
        """Reconstruction of ``x`` (same shape) by the masked network, without gradients.

        Parameters
        ----------
        x
            Input of shape ``(batch, *input_shape)``.
        """
        out = self.decoder.forward(self.encoder.forward(x))
        return out if out.shape == x.shape else out.reshape(x.shape)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """``genome(x)``: :meth:`reconstruct`, like calling an ``nn.Module``."""
        return self.reconstruct(x)

    def to_module(self, prune_layout: bool = False) -> Autoencoder:
        """A plain ``nn.Module`` with masked (zeroed) weights.

        Parameters
        ----------
        prune_layout
            Attach the masks as :mod:`torch.nn.utils.prune` does (``weight_orig``/``weight_mask``,
            ``bias_orig``/``bias_mask``), so ``prune.is_pruned`` and ``prune.remove`` work on it.
        """
        return Autoencoder(self.encoder.to_sequential(prune_layout), self.decoder.to_sequential(prune_layout))

    def compact(self, sparse: str = "never", batch_size: int = 256, dtype: torch.dtype = torch.float32):
        """:func:`evoprune.models.compaction.compact` of this genome: a smaller module, its dead units removed, whose
        output equals :meth:`to_module`'s (``n_params``, ``layouts``, ``save(path)``, ``file_size()``).

        Parameters
        ----------
        sparse
            ``"never"`` (dense Linear weights), ``"always"`` (CSR) or ``"auto"`` (CSR where measured faster
            for ``batch_size`` rows).
        batch_size
            Rows per call to time with ``sparse="auto"``.
        dtype
            Of the compact model's weights (``torch.float64`` checks the compaction without float32 rounding).
        """
        from .models.compaction import compact

        return compact(self, sparse=sparse, batch_size=batch_size, dtype=dtype)

    def __repr__(self) -> str:
        enc, dec = (s.sizes or (f"{s.in_shape}", f"{len(s.layers)} layers", f"{s.out_shape}")
                    for s in (self.arch.encoder, self.arch.decoder))
        fit = getattr(self, "fitness", None)
        return (
            f"{type(self).__name__}({'→'.join(map(str, enc))} | {'→'.join(map(str, dec))}, "
            f"kept={self.n_kept}/{self.n_params}, lr={self.lr:.3g}"
            + (f", fitness={fit.values}" if fit is not None and fit.valid else "")
            + ")"
        )
