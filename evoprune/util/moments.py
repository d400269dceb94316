"""Running means and squared deviations of a stream of equally shaped tensors (Welford's update, Chan's merge)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["Moments"]


@dataclass
class Moments:
    """``count`` observations' float64 ``mean`` and sum of squared deviations ``m2``, elementwise.

    A stacked one (leading axis N, every member with the same count) splits with ``moments[i]``.
    """

    count: int
    mean: torch.Tensor
    m2: torch.Tensor

    @classmethod
    def empty(cls, shape: tuple[int, ...], device: torch.device | str | None = None) -> Moments:
        """No observations yet, of ``shape``."""
        zeros = torch.zeros(shape, dtype=torch.float64, device=device)
        return cls(0, zeros, zeros.clone())

    def add(self, x: torch.Tensor) -> None:
        """Take one more observation ``x`` (Welford), in place."""
        x = x.detach().double()
        self.count += 1
        delta = x - self.mean
        self.mean += delta / self.count
        self.m2 += delta * (x - self.mean)

    def merged(self, later: Moments) -> Moments:
        """The moments of both streams together (Chan et al.'s pairwise update); neither is modified."""
        if later.count == 0 or self.count == 0:
            return (self if later.count == 0 else later).clone()
        n = self.count + later.count
        delta = later.mean.to(self.mean.device) - self.mean
        mean = self.mean + delta * (later.count / n)
        m2 = self.m2 + later.m2.to(self.m2.device) + delta.square() * (self.count * later.count / n)
        return Moments(n, mean, m2)

    def std(self) -> torch.Tensor:
        """The population standard deviation (``numpy.std``'s default, ``ddof=0``)."""
        if self.count == 0:
            raise ValueError("no observations: a standard deviation needs at least one")
        return (self.m2 / self.count).clamp_min(0.0).sqrt()

    def clone(self) -> Moments:
        """A copy (tensors cloned)."""
        return Moments(self.count, self.mean.clone(), self.m2.clone())

    def __getitem__(self, i: int) -> Moments:
        return Moments(self.count, self.mean[i].clone(), self.m2[i].clone())

    def cpu(self) -> Moments:
        """A copy on the CPU."""
        return Moments(self.count, self.mean.cpu(), self.m2.cpu())
