import json

import pytest

from evoprune.cli import main
from evoprune.cli.compare import compare_operators
from evoprune.runs import operators


def test_compare_writes_table_plot_and_logbooks(tmp_path, small_data, capsys):
    results = compare_operators(tmp_path, generations=6, seed=0, data=small_data, hidden=12, latent=4)
    out = capsys.readouterr().out
    labels = [r.label for r in results]  # every registered method (a test's own ones too), the published aside
    assert labels[:5] == ["none", "random-exponential", "variance-exponential", "conjunctive-exponential",
                          "magnitude-exponential"]
    assert labels == ["none", *(f"{m}-exponential" for m in operators(published=False)[1:])]
    assert not any("published" in label for label in labels)
    for r in results:
        assert f"| {r.label} | {r.test_l1:.4f}" in out
        rows = [json.loads(line) for line in (tmp_path / f"{r.label}.jsonl").read_text().splitlines()]
        assert [x["gen"] for x in rows] == list(range(7))
        assert rows[-1]["kept_min"] == pytest.approx(r.fraction_kept)
    assert results[0].fraction_kept == 1.0
    assert (tmp_path / "compare.png").stat().st_size > 5000


def test_cli_reports_bad_schedule(capsys):
    assert main(["compare", "--schedule", "sometimes", "--generations", "1", "--out", "/tmp/x"]) == 2
    assert "sometimes" in capsys.readouterr().err


def test_help_documents_error_format_and_exit_status(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert e.value.code == 0
    assert "evoprune: error:" in out and "2 bad input" in out and "1 any other OS error" in out
