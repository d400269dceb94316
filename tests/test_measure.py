"""What pruning buys a model: measured once (when packed, or by ``evoprune measure``), kept as JSON beside it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from evoprune.cli import main
from evoprune.genome import AutoencoderGenome
from evoprune.models import save_model
from evoprune.models.measure import BATCHES, ModelMeasurement, measure_folder, measure_model, measurement_path
from evoprune.pruning import Magnitude


@pytest.fixture
def model_files(tmp_path, small_arch):
    """Two model files of the small architecture: one pruned by global magnitude to 20% kept, one unpruned."""
    pruned = AutoencoderGenome(small_arch, rng=1)
    Magnitude(amount=0.8, scope="global").prune([pruned], [np.random.default_rng(0)])
    paths = [save_model(tmp_path / "m" / "canonical__magnitude-fixed__t00.safetensors", pruned,
                        run_id="canonical__magnitude-fixed__t00"),
             save_model(tmp_path / "m" / "canonical__none__t00.safetensors", AutoencoderGenome(small_arch, rng=2),
                        run_id="canonical__none__t00")]
    return pruned, paths


def test_a_measurement_round_trips_and_says_what_it_measured(model_files, tmp_path):
    genome, (path, _) = model_files
    m = measure_model(path, repeats=2)
    assert m.run_id == "canonical__magnitude-fixed__t00"
    assert (m.params, m.kept, m.fraction_kept) == (genome.n_params, genome.n_kept, genome.fraction_kept)
    small = genome.compact()
    assert m.compact_params == small.n_params < m.unpruned_params == genome.n_params
    assert m.file_bytes == small.file_size() < m.unpruned_file_bytes
    assert set(m.seconds) == set(m.unpruned_seconds) == set(m.layouts) == set(BATCHES)
    assert all(t > 0 for t in [*m.seconds.values(), *m.unpruned_seconds.values()])
    assert m.speedup(1) == m.unpruned_seconds[1] / m.seconds[1]
    assert (m.rows, m.repeats, m.threads) == (1000, 2, 1) and m.machine and m.torch and m.measured_at
    assert m.inputs == "uniform random"
    saved = m.save(measurement_path(path))
    assert saved == path.with_suffix(".json")
    assert ModelMeasurement.load(saved) == m  # batch sizes come back as integers
    assert json.loads(saved.read_text())["seconds"].keys() == {"1", "256"}


def test_a_file_of_another_layout_is_refused_naming_it(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text(json.dumps({"format": 99}))
    with pytest.raises(ValueError, match="x.json: not a model measurement"):
        ModelMeasurement.load(bad)
    bad.write_text("[1, 2]")
    with pytest.raises(ValueError, match="x.json"):
        ModelMeasurement.load(bad)


def test_a_folder_is_measured_once_and_again_when_a_model_changes(model_files, capsys):
    genome, paths = model_files
    folder = paths[0].parent
    assert measure_folder(folder, repeats=1) == [measurement_path(p) for p in sorted(paths)]
    assert measure_folder(folder, repeats=1) == []  # each has its measurement
    Magnitude(amount=0.5, scope="global").prune([genome], [np.random.default_rng(0)])
    save_model(paths[0], genome, run_id="canonical__magnitude-fixed__t00")  # another model under the same name
    assert measure_folder(folder, repeats=1) == [measurement_path(paths[0])]
    assert ModelMeasurement.load(measurement_path(paths[0])).kept == genome.n_kept
    assert main(["measure", str(folder), "--repeats", "1"]) == 0
    assert "nothing to measure" in capsys.readouterr().out
    assert main(["measure", str(folder), "--repeats", "1", "--force"]) == 0
    assert "measured 2 models" in capsys.readouterr().out
    assert main(["measure", str(folder / "nothing")]) == 2


def test_the_run_s_rows_are_timed_when_given(model_files, small_data):
    _, (path, _) = model_files
    m = measure_model(path, repeats=1, rows=small_data.test[:30])  # 30 rows, repeated up to 1000
    assert m.inputs == "test rows" and m.rows == 1000
    with pytest.raises(ValueError, match="repeats must be an integer"):
        measure_model(path, repeats=0)
