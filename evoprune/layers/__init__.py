"""Layer kinds of a genome's halves: one frozen class per kind (shapes, init, stacked forward, module).

A dense half (Linear layers and activations, :class:`~evoprune.architecture.HalfSpec` with ``sizes``) keeps
its own fast paths; any other half is a sequence of these layers and runs on the general torch path.
"""

from .autoencoder import Autoencoder
from .base import LAYER_KINDS, Layer, check_rows, layer_from_dict
from .conv import Conv, ConvTranspose, Linear
from .sequence import layers_from_sequential, neuron_activity, sequence_forward
from .shape import Act, Flatten, Pool, Unflatten, Upsample

__all__ = [
    "Autoencoder", "LAYER_KINDS", "Layer", "check_rows", "layer_from_dict", "Conv", "ConvTranspose", "Linear",
    "layers_from_sequential", "neuron_activity", "sequence_forward", "Act", "Flatten", "Pool", "Unflatten",
    "Upsample",
]
