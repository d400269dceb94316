"""The plain ``nn.Module`` a genome exports: an encoder stack and a decoder stack."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["Autoencoder"]


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
