"""Tests for evoprune.topology: toroidal grids and their neighbourhoods.

Expected neighbourhoods are written out by hand (centre first, then the documented order),
not computed with the formula under test.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from evoprune import topology
from evoprune.topology import NEIGHBOURHOODS, Grid

# --------------------------------------------------------------------------- hand-written expectations

# ring 1x10, radius 1: (i, i-1, i+1)
RING_10_R1 = [
    (0, 9, 1),
    (1, 0, 2),
    (2, 1, 3),
    (3, 2, 4),
    (4, 3, 5),
    (5, 4, 6),
    (6, 5, 7),
    (7, 6, 8),
    (8, 7, 9),
    (9, 8, 0),
]

# ring 1x7, radius 2: (i, i-1, i+1, i-2, i+2)
RING_7_R2 = [
    (0, 6, 1, 5, 2),
    (1, 0, 2, 6, 3),
    (2, 1, 3, 0, 4),
    (3, 2, 4, 1, 5),
    (4, 3, 5, 2, 6),
    (5, 4, 6, 3, 0),
    (6, 5, 0, 4, 1),
]

# 3x3:      0 1 2
#           3 4 5
#           6 7 8
# von Neumann: (centre, N, S, W, E)
VN_3x3 = [
    (0, 6, 3, 2, 1),
    (1, 7, 4, 0, 2),
    (2, 8, 5, 1, 0),
    (3, 0, 6, 5, 4),
    (4, 1, 7, 3, 5),
    (5, 2, 8, 4, 3),
    (6, 3, 0, 8, 7),
    (7, 4, 1, 6, 8),
    (8, 5, 2, 7, 6),
]

# Moore: (centre, NW, N, NE, W, E, SW, S, SE)
MOORE_3x3 = [
    (0, 8, 6, 7, 2, 1, 5, 3, 4),
    (1, 6, 7, 8, 0, 2, 3, 4, 5),
    (2, 7, 8, 6, 1, 0, 4, 5, 3),
    (3, 2, 0, 1, 5, 4, 8, 6, 7),
    (4, 0, 1, 2, 3, 5, 6, 7, 8),
    (5, 1, 2, 0, 4, 3, 7, 8, 6),
    (6, 5, 3, 4, 8, 7, 2, 0, 1),
    (7, 3, 4, 5, 6, 8, 0, 1, 2),
    (8, 4, 5, 3, 7, 6, 1, 2, 0),
]

# 4x5 (rows=4, cols=5):   0  1  2  3  4
#                         5  6  7  8  9
#                        10 11 12 13 14
#                        15 16 17 18 19
# von Neumann: (centre, N, S, W, E)
VN_4x5 = [
    (0, 15, 5, 4, 1),
    (1, 16, 6, 0, 2),
    (2, 17, 7, 1, 3),
    (3, 18, 8, 2, 4),
    (4, 19, 9, 3, 0),
    (5, 0, 10, 9, 6),
    (6, 1, 11, 5, 7),
    (7, 2, 12, 6, 8),
    (8, 3, 13, 7, 9),
    (9, 4, 14, 8, 5),
    (10, 5, 15, 14, 11),
    (11, 6, 16, 10, 12),
    (12, 7, 17, 11, 13),
    (13, 8, 18, 12, 14),
    (14, 9, 19, 13, 10),
    (15, 10, 0, 19, 16),
    (16, 11, 1, 15, 17),
    (17, 12, 2, 16, 18),
    (18, 13, 3, 17, 19),
    (19, 14, 4, 18, 15),
]

# Moore on 4x5, by cell: (centre, NW, N, NE, W, E, SW, S, SE)
MOORE_4x5 = {
    0: (0, 19, 15, 16, 4, 1, 9, 5, 6),  # top-left corner
    4: (4, 18, 19, 15, 3, 0, 8, 9, 5),  # top-right corner
    15: (15, 14, 10, 11, 19, 16, 4, 0, 1),  # bottom-left corner
    19: (19, 13, 14, 10, 18, 15, 3, 4, 0),  # bottom-right corner
    1: (1, 15, 16, 17, 0, 2, 5, 6, 7),  # top edge
    2: (2, 16, 17, 18, 1, 3, 6, 7, 8),  # top edge
    17: (17, 11, 12, 13, 16, 18, 1, 2, 3),  # bottom edge
    10: (10, 9, 5, 6, 14, 11, 19, 15, 16),  # left edge
    9: (9, 3, 4, 0, 8, 5, 13, 14, 10),  # right edge
    6: (6, 0, 1, 2, 5, 7, 10, 11, 12),  # interior
    13: (13, 7, 8, 9, 12, 14, 17, 18, 19),  # interior
}

GRIDS = [
    Grid(3, 3),
    Grid(4, 5),
    Grid(5, 4),
    Grid(2, 7),
    Grid(1, 6),
    Grid(6, 1),
    Grid(2, 2),
    Grid(3, 3, "moore"),
    Grid(4, 5, "moore"),
    Grid(5, 4, "moore"),
    Grid(2, 3, "moore"),
    Grid(1, 4, "moore"),
    Grid.ring(10),
    Grid.ring(7, 2),
    Grid.ring(8, 3),
    Grid.ring(5, 4),
    Grid.ring(3, 5),
    Grid.ring(2),
]

# --------------------------------------------------------------------------- exact neighbourhoods


@pytest.mark.parametrize(
    ("grid", "expected"),
    [
        (Grid.ring(10), RING_10_R1),
        (Grid.ring(7, radius=2), RING_7_R2),
        (Grid(1, 10, "ring", 1), RING_10_R1),
        (Grid(3, 3), VN_3x3),
        (Grid(3, 3, "von_neumann"), VN_3x3),
        (Grid(3, 3, "moore"), MOORE_3x3),
        (Grid(4, 5), VN_4x5),
    ],
    ids=["ring10r1", "ring7r2", "1x10ring", "vn3x3", "vn3x3explicit", "moore3x3", "vn4x5"],
)
def test_exhaustive_neighbourhoods(grid: Grid, expected: list[tuple[int, ...]]) -> None:
    assert grid.n_cells == len(expected)
    assert grid.neighbourhoods() == expected
    for i, hood in enumerate(expected):
        assert grid.neighbours(i) == hood
    assert grid.as_array().tolist() == [list(h) for h in expected]


@pytest.mark.parametrize("cell", sorted(MOORE_4x5))
def test_moore_4x5(cell: int) -> None:
    assert Grid(4, 5, "moore").neighbours(cell) == MOORE_4x5[cell]


def test_4x5_axes_not_swapped() -> None:
    """The published code swapped x and y off the diagonal; a non-square grid catches that."""
    grid = Grid(4, 5)
    assert grid.coords(1) == (0, 1)
    centre, north, south, west, east = grid.neighbours(1)
    assert (centre, north, south, west, east) == (1, 16, 6, 0, 2)
    assert grid.coords(north) == (3, 1)
    # and the transposed grid differs
    assert Grid(5, 4).neighbours(1) == (1, 17, 5, 0, 2)


def test_moore_contains_von_neumann() -> None:
    for rows, cols in [(3, 3), (4, 5), (5, 4), (6, 7)]:
        vn, moore = Grid(rows, cols), Grid(rows, cols, "moore")
        for i in range(vn.n_cells):
            assert set(vn.neighbours(i)) <= set(moore.neighbours(i))


# --------------------------------------------------------------------------- structural properties


@pytest.mark.parametrize("grid", GRIDS, ids=str)
def test_symmetric(grid: Grid) -> None:
    hoods = [set(h) for h in grid.neighbourhoods()]
    for i in range(grid.n_cells):
        for j in range(grid.n_cells):
            assert (j in hoods[i]) == (i in hoods[j]), (i, j)


@pytest.mark.parametrize("grid", GRIDS, ids=str)
def test_each_cell_in_exactly_k_neighbourhoods(grid: Grid) -> None:
    k = grid.neighbourhood_size
    hoods = grid.neighbourhoods()
    assert all(len(h) == k for h in hoods)
    assert all(len(set(h)) == len(h) for h in hoods)  # distinct
    assert all(h[0] == i for i, h in enumerate(hoods))  # centre first
    counts = Counter(j for h in hoods for j in h)
    assert counts == {i: k for i in range(grid.n_cells)}
    arr = grid.as_array()
    assert arr.shape == (grid.n_cells, k)
    assert arr.dtype == np.int64


@pytest.mark.parametrize(
    ("grid", "k"),
    [(Grid(5, 5), 5), (Grid(5, 5, "moore"), 9), (Grid.ring(10), 3), (Grid.ring(11, 3), 7), (Grid.ring(7, 3), 7)],
)
def test_full_sizes(grid: Grid, k: int) -> None:
    assert grid.neighbourhood_size == k


def test_coords_and_index() -> None:
    grid = Grid(4, 5)
    assert [grid.coords(i) for i in (0, 4, 5, 19)] == [(0, 0), (0, 4), (1, 0), (3, 4)]
    assert grid.index(2, 3) == 13
    assert grid.index(-1, 1) == 16
    assert grid.index(4, 5) == 0
    assert grid.index(0, -1) == 4
    assert grid.index(np.int64(1), np.int64(2)) == 7
    assert grid.shape == (4, 5)
    for i in range(grid.n_cells):
        assert grid.index(*grid.coords(i)) == i


@pytest.mark.parametrize("bad", [-1, 20, 100])
def test_cell_out_of_range(bad: int) -> None:
    grid = Grid(4, 5)
    with pytest.raises(IndexError, match=str(bad)):
        grid.neighbours(bad)
    with pytest.raises(IndexError, match=str(bad)):
        grid.coords(bad)


def test_neighbourhoods_cached_and_not_aliased() -> None:
    grid = Grid(4, 5, "moore")
    first = grid.neighbourhoods()
    first.clear()
    assert len(grid.neighbourhoods()) == 20
    assert grid.neighbourhoods()[3] is Grid(4, 5, "moore").neighbourhoods()[3]  # shared cache for equal grids
    arr = grid.as_array()
    arr[:] = -1
    assert grid.as_array()[0, 0] == 0


def test_as_array_unequal_sizes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(topology, "_neighbourhoods", lambda grid: ((0, 1), (1,)))
    with pytest.raises(ValueError, match=r"unequal sizes \[1, 2\]"):
        Grid(1, 2).as_array()


# --------------------------------------------------------------------------- degenerate grids (dedupe)


@pytest.mark.parametrize("grid", [Grid(1, 1), Grid(1, 1, "moore"), Grid.ring(1), Grid.ring(1, 3)], ids=str)
def test_single_cell(grid: Grid) -> None:
    assert grid.neighbourhoods() == [(0,)]
    assert grid.neighbourhood_size == 1
    assert grid.as_array().tolist() == [[0]]


@pytest.mark.parametrize("grid", [Grid(1, 2), Grid(1, 2, "moore"), Grid.ring(2), Grid.ring(2, 4)], ids=str)
def test_two_cells(grid: Grid) -> None:
    assert grid.neighbourhoods() == [(0, 1), (1, 0)]


def test_two_by_one() -> None:
    assert Grid(2, 1).neighbourhoods() == [(0, 1), (1, 0)]


def test_2x2() -> None:
    # 0 1 / 2 3; N and S coincide, W and E coincide
    assert Grid(2, 2).neighbourhoods() == [(0, 2, 1), (1, 3, 0), (2, 0, 3), (3, 1, 2)]
    # Moore: every cell sees all four; first NW (the diagonal), then N, then W
    assert Grid(2, 2, "moore").neighbourhoods() == [(0, 3, 2, 1), (1, 2, 3, 0), (2, 1, 0, 3), (3, 0, 1, 2)]


def test_1xn_von_neumann_is_ring() -> None:
    assert Grid(1, 6).neighbourhoods() == Grid.ring(6).neighbourhoods()
    assert Grid(3, 1).neighbourhoods() == [(0, 2, 1), (1, 0, 2), (2, 1, 0)]


def test_ring_radius_larger_than_needed() -> None:
    # ring of 3, radius 5: offsets -1, +1 cover everything, the rest are duplicates
    assert Grid.ring(3, radius=5).neighbourhoods() == [(0, 2, 1), (1, 0, 2), (2, 1, 0)]
    # ring of 4, radius 2: -2 and +2 are the same cell
    assert Grid.ring(4, 2).neighbourhoods() == [(0, 3, 1, 2), (1, 0, 2, 3), (2, 1, 3, 0), (3, 2, 0, 1)]


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"rows": 0, "cols": 5}, "rows must be >= 1, got 0"),
        ({"rows": -3, "cols": 5}, "got -3"),
        ({"rows": 4, "cols": 0}, "cols must be >= 1, got 0"),
        ({"rows": 4, "cols": -7}, "got -7"),
        ({"rows": 1, "cols": 5, "neighbourhood": "ring", "radius": 0}, "radius must be >= 1, got 0"),
        ({"rows": 1, "cols": 5, "neighbourhood": "ring", "radius": -2}, "got -2"),
        ({"rows": 3, "cols": 5, "neighbourhood": "hexagonal"}, "'hexagonal'"),
        ({"rows": 3, "cols": 5, "neighbourhood": "Moore"}, "'Moore'"),
        ({"rows": 3, "cols": 5, "neighbourhood": "ring"}, "rows=3"),
        ({"rows": 3, "cols": 5, "radius": 2}, "radius=2"),
        ({"rows": 3, "cols": 5, "neighbourhood": "moore", "radius": 3}, "radius=3"),
    ],
)
def test_invalid_grid(kwargs: dict, needle: str) -> None:
    with pytest.raises(ValueError) as info:
        Grid(**kwargs)
    assert needle in str(info.value)


def test_invalid_messages_are_helpful() -> None:
    with pytest.raises(ValueError) as info:
        Grid(3, 3, "hex")
    for name in NEIGHBOURHOODS:
        assert name in str(info.value)
    with pytest.raises(ValueError, match="1xN"):
        Grid(2, 4, "ring")
    with pytest.raises(ValueError, match="got 0"):
        Grid.ring(0)
    with pytest.raises(ValueError, match="got 0"):
        Grid.ring(4, radius=0)


@pytest.mark.parametrize(("rows", "cols"), [(2.5, 3), ("3", 3), (3, None), (True, 3)])
def test_non_int_sizes(rows: object, cols: object) -> None:
    with pytest.raises(TypeError, match="must be an int"):
        Grid(rows, cols)  # type: ignore[arg-type]


def test_numpy_ints_normalised() -> None:
    grid = Grid(np.int64(3), np.int32(4))
    assert type(grid.rows) is int and type(grid.cols) is int
    assert grid == Grid(3, 4)


def test_frozen_and_hashable() -> None:
    grid = Grid(3, 3)
    with pytest.raises(AttributeError):
        grid.rows = 4  # type: ignore[misc]
    assert {Grid(3, 3), Grid(3, 3), Grid(3, 3, "moore")} == {Grid(3, 3), Grid(3, 3, "moore")}


# --------------------------------------------------------------------------- from_string


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("4x5", Grid(4, 5)),
        ("4x5:moore", Grid(4, 5, "moore")),
        ("4x5:von_neumann", Grid(4, 5, "von_neumann")),
        ("4x5:moore:1", Grid(4, 5, "moore")),
        ("ring:10", Grid(1, 10, "ring", 1)),
        ("ring:10:2", Grid(1, 10, "ring", 2)),
        ("1x10:ring:1", Grid(1, 10, "ring", 1)),
        ("1x10:ring:3", Grid.ring(10, 3)),
        ("1x10:ring", Grid.ring(10)),
        ("  4X5:Moore ", Grid(4, 5, "moore")),
        ("RING:7:2", Grid.ring(7, 2)),
    ],
)
def test_from_string(spec: str, expected: Grid) -> None:
    assert Grid.from_string(spec) == expected


@pytest.mark.parametrize("grid", GRIDS, ids=str)
def test_string_round_trip(grid: Grid) -> None:
    assert Grid.from_string(str(grid)) == grid
    assert Grid.from_string(grid.to_string()) == grid


def test_to_string() -> None:
    assert str(Grid(4, 5)) == "4x5:von_neumann"
    assert str(Grid(4, 5, "moore")) == "4x5:moore"
    assert str(Grid.ring(10, 2)) == "ring:10:2"


@pytest.mark.parametrize(
    "spec",
    ["", "4", "4x", "x5", "4x5x6", "4*5", "4 x 5", "4x5:", "4x5:moore:", "4x5:moore:1:2", "-4x5", "4.0x5",
     "ring", "ring:", "ring:abc", "ring:10:", "ring:10:2:3", "ring:-3", "moore:4x5"],
)  # fmt: skip
def test_from_string_malformed(spec: str) -> None:
    with pytest.raises(ValueError, match="malformed grid spec") as info:
        Grid.from_string(spec)
    assert repr(spec) in str(info.value)
    assert "ring:N" in str(info.value)


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("0x5", "rows must be >= 1, got 0"),
        ("4x0", "cols must be >= 1, got 0"),
        ("4x5:hex", "'hex'"),
        ("4x5:ring", "rows=4"),
        ("4x5:moore:2", "radius=2"),
        ("ring:0", "cols must be >= 1, got 0"),
        ("ring:10:0", "radius must be >= 1, got 0"),
    ],
)
def test_from_string_invalid_values(spec: str, needle: str) -> None:
    with pytest.raises(ValueError) as info:
        Grid.from_string(spec)
    assert needle in str(info.value)


def test_from_string_type() -> None:
    with pytest.raises(TypeError, match="must be a str"):
        Grid.from_string(45)  # type: ignore[arg-type]
