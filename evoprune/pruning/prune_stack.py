"""What a pruning method scores: :class:`PruneStack`, N genomes stacked on one device."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..util import flat

__all__ = ["PruneStack"]


@dataclass
class PruneStack:
    """What :meth:`PruningMethod.scores` sees: N genomes stacked on one device.

    A convolution's neurons are its output channels (:func:`evoprune.layers.neuron_activity`); :meth:`alive_neurons`
    and :meth:`per_neuron` know which weight axis holds them.

    Parameters
    ----------
    genomes
        The N genomes.
    params
        Per half (0 encoder, 1 decoder), the flat ``[W0, b0, W1, b1, ...]`` of stacked ``(N, ...)`` tensors.
    masks
        Per half, the stacked boolean masks.
    activations
        Per half, every layer's post-activation ``(N, cases, out)`` outputs on each member's own sample of the
        data (data methods), else ``None``.
    device
        Device of the tensors.
    """

    genomes: list
    params: list[list[torch.Tensor]]
    masks: list[list[torch.Tensor]]
    activations: list[list[torch.Tensor]] | None
    device: torch.device

    @property
    def specs(self):
        """``[encoder spec, decoder spec]`` of the stacked genomes."""
        return [self.genomes[0].encoder.spec, self.genomes[0].decoder.spec]

    def alive_neurons(self, half: int, layer: int) -> torch.Tensor:
        """``(N, neurons)``: each member's neurons of ``layer`` with an unpruned weight or bias.

        Parameters
        ----------
        half
            0 encoder, 1 decoder.
        layer
            Index of the parametric layer.
        """
        axis = self.specs[half].neuron_axis(layer) + 1
        w, b = flat.pair(self.masks[half], layer)
        w = w.movedim(axis, 1)
        return w.reshape(*w.shape[:2], -1).any(dim=2) | b

    def per_neuron(self, half: int, k: int, values: torch.Tensor) -> torch.Tensor:
        """One member's ``values`` per neuron of tensor ``k``'s layer, broadcast to that tensor's shape.

        Parameters
        ----------
        half
            0 encoder, 1 decoder.
        k
            Index of the tensor in the half's flat ``[W0, b0, W1, b1, ...]``.
        values
            One value per neuron of that tensor's layer, ``(neurons,)``.
        """
        shape = tuple(self.params[half][k].shape[1:])
        if flat.is_bias(k):
            return values.expand(shape)
        axis = self.specs[half].neuron_axis(flat.layer_of(k))
        view = [1] * len(shape)
        view[axis] = shape[axis]
        return values.view(view).expand(shape)
