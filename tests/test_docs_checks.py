"""The docs build's own checks: prose in a tutorial may quote only numbers its code printed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "docs" / "_ext"))
quoted_numbers = pytest.importorskip("quoted_numbers")


def test_measured_looking_numbers_are_found():
    text = "test L1 0.0528 with 24% kept, near 0.10, ≈0.105 and about 43 % of weights; amount 0.1"
    assert quoted_numbers.quoted_numbers(text) == ["0.0528", "0.10", "0.105", "43"]


def test_a_number_the_page_printed_passes():
    output = "test L1:       0.0528\nfraction kept: 0.242 (14933 of 61670)"
    assert quoted_numbers.unprinted(["the run ends at 0.0528 with 0.242 kept"], output) == []


def test_a_stale_number_is_reported():
    # The old toolbox page: "near 0.10, about half of the weights kept"; the run printed 0.054.
    output = "test L1:       0.0540"
    assert quoted_numbers.unprinted(["a test L1 near 0.10"], output) == ["0.10"]
    assert quoted_numbers.unprinted(["it reaches 0.054"], "test L1: 0.0541") == ["0.054"]  # no prefix match


def test_a_paragraph_citing_a_benchmark_is_skipped():
    text = "At full size magnitude reaches 0.0509 (benchmarks/tradeoff_targets.py)."
    assert quoted_numbers.unprinted([text], "") == []


def test_pages_naming_main_are_found(tmp_path):
    no_leaks = pytest.importorskip("no_leaks")
    (tmp_path / "api").mkdir()
    (tmp_path / "api" / "pruning.html").write_text("<dd>'low_activity': &lt;class '__main__.LowActivity'&gt;</dd>")
    (tmp_path / "index.html").write_text("<p>clean</p>")
    guard = '<span class="k">if</span> <span class="vm">__name__</span> <span class="o">==</span> ' \
            '<span class="s2">&quot;__main__&quot;</span>:'
    (tmp_path / "gpu.html").write_text(guard)
    (tmp_path / "repr.html").write_text(guard + "<pre>&lt;__main__.Leak object at 0x7f&gt;</pre>")
    assert no_leaks.pages_with(tmp_path) == [tmp_path / "api" / "pruning.html", tmp_path / "repr.html"]


def test_tutorial_methods_are_forgotten():
    no_leaks = pytest.importorskip("no_leaks")
    from evoprune.pruning import METHODS, PruningMethod

    Leak = type("Leak", (PruningMethod,), {"name": "leak_test", "__module__": "__main__",
                                          "scores": lambda self, stack, rngs: []})
    assert METHODS["leak_test"] is Leak
    no_leaks.forget_tutorial_methods({}, "tutorial.py", "after")
    assert "leak_test" not in METHODS and "random" in METHODS
