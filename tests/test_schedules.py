import math

import pytest

from evoprune.schedules import SCHEDULES, Schedule, get_schedule


@pytest.mark.parametrize(
    "name,t,T,n,expected",
    [
        ("fixed", 7, 100, 1, 0.5),
        ("increase", 25, 100, 1, 0.125),
        ("increase", 100, 100, 1, 0.5),
        ("decrease", 0, 100, 1, 0.5),
        ("decrease", 75, 100, 1, 0.125),
        ("decrease", 100, 100, 1, 0.0),
        ("decrease_published", 0, 100, 1, 1.0),
        ("exponential", 0, 100, 1, 0.0),
        ("exponential", 50, 100, 1, 0.5 * (1 - math.exp(-1))),
        ("exponential", 100, 100, 1, 0.5 * (1 - math.exp(-2))),
        ("final_n", 74, 100, 1, 0.0),
        ("final_n", 75, 100, 1, 0.5),
        ("population", 50, 100, 5, 0.05),
        ("population", 100, 100, 3, 0.5 / 3),
        ("prune_after", 99, 100, 1, 0.0),
        ("prune_after", 100, 100, 1, 0.5),
    ],
)
def test_formulas(name, t, T, n, expected):
    assert get_schedule(name, 0.5)(t, T, n) == pytest.approx(expected)


def test_prune_after_fires_at_last_generation_of_short_runs():
    assert Schedule("prune_after", 1.0)(1, 1) == 1.0


def test_unknown_schedule_lists_valid_names():
    with pytest.raises(ValueError) as e:
        get_schedule("linear")
    assert "linear" in str(e.value)
    for name in ("exponential", "final_n", "population", "prune_after"):
        assert name in str(e.value)


@pytest.mark.parametrize("p", [-0.01, 1.01, float("nan")])
def test_probability_out_of_range(p):
    with pytest.raises(ValueError, match="probability"):
        Schedule("fixed", p)


def test_bad_generation_arguments():
    s = Schedule("increase", 0.5)
    with pytest.raises(ValueError):
        s(11, 10)
    with pytest.raises(ValueError):
        s(1, 10, n=0)
    assert len(SCHEDULES) == 8
