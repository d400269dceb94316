"""Spatial topologies for cellular (co)evolution on a torus.

A :class:`Grid` is a ``rows × cols`` torus whose cells are numbered row-major
(``i = r * cols + c``).  Every cell has a neighbourhood: the cell itself first,
then its neighbours in a fixed order, all coordinates wrapping around.

* ``"von_neumann"``: centre, North (r-1), South (r+1), West (c-1), East (c+1).
* ``"moore"``: centre, then the 8 surrounding cells in row-major order of the
  offsets ``dr in (-1, 0, 1)``, ``dc in (-1, 0, 1)`` (skipping ``(0, 0)``).
* ``"ring"`` (1×N grids only): centre, then offsets -1, +1, -2, +2, ..., -r, +r.

Only ``"ring"`` takes a ``radius`` (>= 1); the grid neighbourhoods require ``radius == 1``.

Neighbourhoods are *sets* of distinct cells: a cell reached twice (small grids, a ring whose radius exceeds
``(n - 1) // 2``) is kept only at its first position.  Every cell's neighbourhood has the same size, and
neighbourhoods are symmetric (j ∈ N(i) iff i ∈ N(j)).
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

__all__ = ["NEIGHBOURHOODS", "Grid"]

#: Valid neighbourhood names.
NEIGHBOURHOODS: tuple[str, ...] = ("von_neumann", "moore", "ring")

_GRID_SPEC = re.compile(r"(\d+)x(\d+)(?::([a-z_]+)(?::(\d+))?)?")
_RING_SPEC = re.compile(r"ring:(\d+)(?::(\d+))?")


def _check_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an int, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class Grid:
    """A toroidal ``rows × cols`` grid with a neighbourhood shape (see the module docstring)."""

    rows: int
    cols: int
    neighbourhood: str = "von_neumann"
    radius: int = 1

    def __post_init__(self) -> None:
        for name in ("rows", "cols", "radius"):
            value = _check_int(name, getattr(self, name))
            object.__setattr__(self, name, value)  # normalise numpy ints
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if self.neighbourhood not in NEIGHBOURHOODS:
            raise ValueError(f"unknown neighbourhood {self.neighbourhood!r}; expected one of {list(NEIGHBOURHOODS)}")
        if self.neighbourhood == "ring" and self.rows != 1:
            raise ValueError(f"a 'ring' neighbourhood needs a 1xN grid (rows=1), got rows={self.rows}")
        if self.neighbourhood != "ring" and self.radius != 1:
            raise ValueError(
                f"radius={self.radius} is not supported for {self.neighbourhood!r}; only 'ring' takes a radius"
            )

    @classmethod
    def ring(cls, n: int, radius: int = 1) -> Grid:
        """A ring of ``n`` cells (a 1×n grid) where each cell sees ``radius`` cells either side."""
        return cls(1, n, "ring", radius)

    @classmethod
    def from_string(cls, spec: str) -> Grid:
        """Parse ``"RxC[:neighbourhood[:radius]]"`` or ``"ring:N[:radius]"``, e.g. ``"4x5:moore"``, ``"ring:10:2"``."""
        if not isinstance(spec, str):
            raise TypeError(f"grid spec must be a str, got {spec!r}")
        text = spec.strip().lower()
        try:
            if m := _RING_SPEC.fullmatch(text):
                return cls.ring(int(m[1]), int(m[2]) if m[2] else 1)
            if m := _GRID_SPEC.fullmatch(text):
                return cls(int(m[1]), int(m[2]), m[3] or "von_neumann", int(m[4]) if m[4] else 1)
        except ValueError as e:
            raise ValueError(f"grid spec {spec!r}: {e}") from e
        raise ValueError(
            f"malformed grid spec {spec!r}; expected 'RxC', 'RxC:neighbourhood[:radius]' or 'ring:N[:radius]' "
            f"with neighbourhood one of {list(NEIGHBOURHOODS)}"
        )

    def to_string(self) -> str:
        """The spec that :meth:`from_string` parses back into this grid."""
        if self.neighbourhood == "ring":
            return f"ring:{self.cols}:{self.radius}"
        return f"{self.rows}x{self.cols}:{self.neighbourhood}"

    __str__ = to_string

    @property
    def shape(self) -> tuple[int, int]:
        """``(rows, cols)``."""
        return (self.rows, self.cols)

    @property
    def n_cells(self) -> int:
        """Number of cells, ``rows * cols``."""
        return self.rows * self.cols

    def coords(self, i: int) -> tuple[int, int]:
        """``(row, col)`` of cell ``i``; raises IndexError outside ``[0, n_cells)``."""
        i = self._check_cell(i)
        return divmod(i, self.cols)

    def index(self, r: int, c: int) -> int:
        """Index of the cell at ``(r, c)``, wrapping both coordinates around the torus."""
        return (operator.index(r) % self.rows) * self.cols + operator.index(c) % self.cols

    def neighbours(self, i: int) -> tuple[int, ...]:
        """Distinct cells in the neighbourhood of cell ``i``, the cell itself first."""
        return _neighbourhoods(self)[self._check_cell(i)]

    def neighbourhoods(self) -> list[tuple[int, ...]]:
        """:meth:`neighbours` of every cell, in cell order (cached per grid)."""
        return list(_neighbourhoods(self))

    @property
    def neighbourhood_size(self) -> int:
        """Largest neighbourhood size, centre included (all cells have the same size on a torus)."""
        return max(len(n) for n in _neighbourhoods(self))

    def as_array(self) -> np.ndarray:
        """Neighbourhoods as an int64 array of shape ``(n_cells, k)``, for batched gathering."""
        hoods = _neighbourhoods(self)
        sizes = {len(n) for n in hoods}
        if len(sizes) != 1:
            raise ValueError(f"neighbourhoods have unequal sizes {sorted(sizes)}; cannot stack them into an array")
        return np.array(hoods, dtype=np.int64)

    def _offsets(self) -> list[tuple[int, int]]:
        """``(dr, dc)`` offsets in neighbourhood order, centre first, before removing duplicates."""
        if self.neighbourhood == "von_neumann":
            return [(0, 0), (-1, 0), (1, 0), (0, -1), (0, 1)]
        if self.neighbourhood == "moore":
            return [(0, 0)] + [(dr, dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1) if (dr, dc) != (0, 0)]
        return [(0, 0)] + [(0, s * d) for d in range(1, self.radius + 1) for s in (-1, 1)]

    def _check_cell(self, i: int) -> int:
        i = operator.index(i)
        if not 0 <= i < self.n_cells:
            raise IndexError(f"cell index {i} out of range for a {self.rows}x{self.cols} grid ({self.n_cells} cells)")
        return i


@lru_cache(maxsize=128)
def _neighbourhoods(grid: Grid) -> tuple[tuple[int, ...], ...]:
    offsets = grid._offsets()
    hoods = []
    for i in range(grid.n_cells):
        r, c = divmod(i, grid.cols)
        cells = (grid.index(r + dr, c + dc) for dr, dc in offsets)
        hoods.append(tuple(dict.fromkeys(cells)))  # dedupe, keeping first occurrence
    return tuple(hoods)
