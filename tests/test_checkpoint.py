import json
import pickle
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from deap import creator, tools

from evoprune.architecture import Architecture
from evoprune.runs import ensure_creator
from evoprune.study.checkpoint import (
    CheckpointMismatch,
    checkpoints,
    latest_checkpoint,
    logbook_from_dict,
    logbook_to_dict,
    read_checkpoint,
    save_checkpoint,
)
from evoprune.study.runner import TIMING_FIELDS, run_study
from evoprune.study.studyfile import parse_study

from .test_study import TINY

ROOT = Path(__file__).resolve().parent.parent
FP = "0123456789abcdef"


def _population(device="cpu"):
    ensure_creator()
    arch = Architecture.paper(40, 12, 4)
    g = np.random.default_rng(5)
    pop = [creator.AEIndividual(arch, rng=g, lr=0.001 * (i + 1)) for i in range(3)]
    pop.append(creator.AETradeoffIndividual(arch, rng=g, lr=1 / 3))
    for i, ind in enumerate(pop):
        if i != 2:  # individual 2: an invalid fitness, never trained (no Adam moments)
            ind.fitness.values = (0.1 + i / 7,) if len(ind.fitness.weights) == 1 else (0.25, 0.75)
            for h in ind.halves:
                h.exp_avg = [torch.from_numpy(g.normal(size=p.shape).astype(np.float32)) for p in h.params]
                h.exp_avg_sq = [torch.from_numpy(g.random(size=p.shape).astype(np.float32)) for p in h.params]
                h.step = 17 + i
            ind.encoder.prune_neurons(0, [1, 3])
            ind.decoder.prune_entries(2, g.choice(12 * 40, size=50, replace=False))
        ind.pruned = i % 2 == 0
        ind.train_loss = 1 / 3 + i
        ind.zeros_at_prune = (7 + i, 11)
    for ind in pop:
        for h in ind.halves:
            for name in ("params", "masks", "exp_avg", "exp_avg_sq"):
                if getattr(h, name) is not None:
                    setattr(h, name, [t.to(device) for t in getattr(h, name)])
    return pop


def _logbook():
    lb = tools.Logbook()
    lb.header = ["gen", "nevals", "train", "tradeoff"]
    lb.chapters["train"].header = ["min", "median", "max"]
    lb.chapters["tradeoff"].header = ["front"]
    for gen in range(3):
        lb.record(gen=gen, nevals=4, time=0.1 * gen + 1e-17, npruned=np.int64(gen), best_test=float("nan"),
                  train={"min": np.float64(1 / 3 + gen), "median": 0.5, "max": np.float32(0.7)},
                  tradeoff={"front": [[0.1 * gen, 1.0], (0.2, np.float64(0.5))]})
    return lb


def _equal_tensors(a, b):
    if a is None or b is None:
        return a is None and b is None
    return all(x.dtype == y.dtype and y.device.type == "cpu" and torch.equal(x.cpu(), y)
               for x, y in zip(a, b, strict=True))


def _assert_same_population(saved, loaded):
    assert len(saved) == len(loaded)
    for a, b in zip(saved, loaded, strict=True):
        assert type(a) is type(b) and type(b).__name__ in ("AEIndividual", "AETradeoffIndividual")
        assert a.arch == b.arch and a.lr == b.lr
        assert a.fitness.valid == b.fitness.valid and a.fitness.values == b.fitness.values
        assert (a.pruned, a.train_loss) == (b.pruned, b.train_loss)
        assert list(a.zeros_at_prune) == b.zeros_at_prune
        for ha, hb in zip(a.halves, b.halves, strict=True):
            assert ha.step == hb.step
            for name in ("params", "masks", "exp_avg", "exp_avg_sq"):
                assert _equal_tensors(getattr(ha, name), getattr(hb, name)), name


def _assert_same_logbook(a, b):
    """Same records (value by value, NaN included: compared as JSON, as log.jsonl writes them), headers, chapters."""
    assert len(a) == len(b) and a.header == b.header and set(a.chapters) == set(b.chapters)
    assert json.dumps(logbook_to_dict(a)) == json.dumps(logbook_to_dict(b))
    for name in a.chapters:
        _assert_same_logbook(a.chapters[name], b.chapters[name])


def test_round_trip_is_exact(tmp_path):
    pop, lb = _population(), _logbook()
    rng = np.random.default_rng(2**100 + 12345)
    rng.random(7)
    rng.integers(0, 10, size=3, dtype=np.uint32)  # leaves has_uint32 / uinteger set
    state = rng.bit_generator.state
    path = save_checkpoint(tmp_path, FP, 10, pop, lb, rng, wall_time=12.5)
    assert path.name == "ckpt-000010.safetensors"
    ck = read_checkpoint(path, FP)
    assert ck.gen == 10 and ck.wall_time == 12.5
    _assert_same_population(pop, ck.population)
    _assert_same_logbook(lb, ck.logbook)
    assert ck.rng_state == state and isinstance(ck.rng_state["state"]["state"], int)
    g = np.random.default_rng()
    g.bit_generator.state = ck.rng_state
    assert np.array_equal(g.random(5), rng.random(5))
    # the rebuilt logbook prints and records like the original (numpy values come back as Python numbers)
    assert len(str(ck.logbook).splitlines()) == len(str(lb).splitlines())
    back = logbook_from_dict(logbook_to_dict(ck.logbook))
    back.record(gen=3, nevals=1, train={"min": 1.0, "median": 1.0, "max": 1.0})
    assert back.chapters["train"][-1]["min"] == 1.0


def test_keep_newest_two_integrity_fallback_and_mismatch(tmp_path):
    pop, lb, rng = _population(), _logbook(), np.random.default_rng(0)
    for gen in (3, 6, 9):
        save_checkpoint(tmp_path, FP, gen, pop, lb, rng)
    assert [p.name for p in checkpoints(tmp_path)] == ["ckpt-000006.safetensors", "ckpt-000009.safetensors"]
    newest = checkpoints(tmp_path)[-1]
    blob = bytearray(newest.read_bytes())
    blob[-10] ^= 0xFF  # one flipped bit of a tensor: the file still parses
    newest.write_bytes(bytes(blob))
    with pytest.warns(UserWarning, match=r"ckpt-000009\.safetensors: checksum mismatch"):
        assert latest_checkpoint(tmp_path, FP).gen == 6
    newest.write_bytes(bytes(blob[:-100]))  # truncated
    with pytest.warns(UserWarning, match=r"ckpt-000009\.safetensors.*truncated or corrupt"):
        assert latest_checkpoint(tmp_path, FP).gen == 6
    # the state text is covered too: a changed generation number does not pass
    header_len = int.from_bytes(blob[:8], "little")
    header = bytes(blob[8 : 8 + header_len]).replace(b'\\"gen\\": 9', b'\\"gen\\": 8')
    assert len(header) == header_len and header != bytes(blob[8 : 8 + header_len])
    newest.write_bytes(bytes(blob[:8]) + header + bytes(blob[8 + header_len :]))
    with pytest.warns(UserWarning, match="checksum mismatch"):
        assert latest_checkpoint(tmp_path, FP).gen == 6
    with pytest.raises(CheckpointMismatch, match="different study configuration"), pytest.warns(UserWarning):
        latest_checkpoint(tmp_path, "f" * 16)


class _Payload:
    """Unpickling this creates the marker file: what a malicious checkpoint could do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


SMALL = (TINY.replace('name = "tiny"', 'name = "ck"').replace("seed = 1", "seed = 4")
         .replace("trials = 2", "trials = 1").replace("generations = 12", "generations = 6")
         .replace('setting = ["canonical", "grid"]', 'setting = ["canonical"]')
         .replace('operator = ["none", "random"]', 'operator = ["random"]'))


@pytest.mark.slow
def test_crafted_pickle_checkpoints_are_never_unpickled(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_Payload(marker))
    # the payload is real: unpickled (in another process), it creates its file
    probe = tmp_path / "probe"
    code = f"import pickle,sys; sys.path.insert(0, {str(ROOT)!r}); pickle.loads({pickle.dumps(_Payload(probe))!r})"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
    assert probe.exists()
    study = parse_study(SMALL, "ck.toml")
    ref = run_study(study, tmp_path / "ref", progress=False)
    out = tmp_path / "out"
    d = out / "runs" / study.runs()[0].run_id
    d.mkdir(parents=True)
    (d / "ckpt-000005.pkl").write_bytes(payload)
    (d / "ckpt-000005.safetensors").write_bytes(payload)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rows = run_study(study, out, progress=False)
    messages = [str(w.message) for w in caught]
    assert not marker.exists()
    assert any(re.search(r"old-format checkpoint .*ckpt-000005\.pkl.*never loaded", m) for m in messages), messages
    assert any(re.search(r"unreadable checkpoint .*ckpt-000005\.safetensors: not a safetensors file", m)
               for m in messages), messages
    strip = lambda r: {k: v for k, v in r.items() if k not in TIMING_FIELDS}  # noqa: E731
    assert [strip(r) for r in rows] == [strip(r) for r in ref]  # restarted from scratch
    assert not list(d.glob("ckpt-*"))  # finished: checkpoints (planted ones included) removed


def test_no_pickle_loading_in_the_package():
    for path in (ROOT / "evoprune").rglob("*.py"):
        text = path.read_text()
        assert not re.search(r"pickle\.loads?\(|cloudpickle\.loads?\(", text), path
        for call in re.findall(r"torch\.load\([^)]*\)", text):
            assert "weights_only=True" in call, (path, call)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (GPU-written checkpoint read on a CPU)")
def test_checkpoint_written_from_gpu_resumes_on_cpu(tmp_path):
    pop = _population("cuda")
    assert pop[0].encoder.params[0].is_cuda
    path = save_checkpoint(tmp_path, FP, 4, pop, _logbook(), np.random.default_rng(1))
    ck = read_checkpoint(path, FP)
    _assert_same_population(pop, ck.population)  # equal values, every tensor on the CPU


def test_format_2_checkpoints_still_load_as_they_were_written():
    """tests/data/checkpoint-format2.safetensors was written by the last version with format 2: two trained,
    pruned members with Adam's moments; it reads back as the same members built again here."""
    from evoprune.data import binary_clustering
    from evoprune.pruning import mutPrune
    from evoprune.training import mutTrain

    ensure_creator()
    ck = read_checkpoint(Path(__file__).parent / "data" / "checkpoint-format2.safetensors", "fp-v2")
    data = binary_clustering(n_clusters=4, dim=40, samples_per_cluster=25, seed=3)
    assert ck.gen == 3 and ck.logbook.select("gen") == [0]
    for s, got in enumerate(ck.population):
        want = creator.AEIndividual(Architecture.paper(40, 12, 4), rng=s, lr=3e-3)
        mutPrune(want, "random", amount=0.3, rng=s + 1)
        mutTrain(want, data.train, rng=s + 2, batch_size=10)
        for a, b in zip(want.halves, got.halves, strict=True):
            assert a.step == b.step == 10  # 100 rows, minibatches of 10
            for x, y in zip(a.params + a.masks + a.exp_avg + a.exp_avg_sq,
                            b.params + b.masks + b.exp_avg + b.exp_avg_sq, strict=True):
                assert torch.equal(x, y)
        assert got.fitness.values == (0.25 + s,) and got.pruned == bool(s) and got.lr == 3e-3


def test_checkpoints_hold_the_model_files_tensors_and_adam(tmp_path):
    from safetensors.torch import load_file

    from evoprune.models.files import genome_tensors

    ensure_creator()
    g = creator.AEIndividual(Architecture.paper(40, 12, 4), rng=0)
    g.encoder.exp_avg = [torch.full_like(p, 0.5) for p in g.encoder.params]
    g.encoder.exp_avg_sq = [torch.full_like(p, 0.25) for p in g.encoder.params]
    path = save_checkpoint(tmp_path, "fp", 1, [g], tools.Logbook(), np.random.default_rng(0))
    tensors = load_file(path)
    assert all(torch.equal(tensors[k], v) for k, v in genome_tensors(g, "0.", moments=True).items())
    assert "0.encoder.0.weight_exp_avg" in tensors and "0.decoder.0.weight_exp_avg" not in tensors
    back = read_checkpoint(path, "fp").population[0]
    assert back.decoder.exp_avg is None and torch.equal(back.encoder.exp_avg_sq[1], g.encoder.exp_avg_sq[1])
