"""Runs through real process pools and a real dask LocalCluster give the serial results."""

import pytest
import torch
from deap import creator

from evoprune.algorithms import eaMuPlusLambda, eaToroidalGrid
from evoprune.parallel import ProcessMap, dask_map
from evoprune.topology import Grid

from .test_algorithms import make_toolbox, strip
from .test_grid import population, toolbox


def _grid_run(small_arch, small_data, map_=None):
    tb = toolbox(small_data)
    if map_ is not None:
        tb.register("map", map_)
    return eaToroidalGrid(population(small_arch, 4), tb, Grid(2, 2), 2, rng=3, data=small_data.train)


def _ea_run(small_arch, small_data, map_=None):
    tb = make_toolbox(small_data)
    if map_ is not None:
        tb.register("map", map_)
    pop = [creator.Genome(small_arch, rng=i, lr=5e-3) for i in range(2)]
    return eaMuPlusLambda(pop, tb, 2, 2, 2, rng=3)


def _same(a, b):
    """Same decisions (pruning counts, sparsity); losses and weights within float tolerance (chunked stacks)."""
    la, lb = strip(a[1]), strip(b[1])
    assert [r.get("npruned") for r in la[: len(a[1])]] == [r.get("npruned") for r in lb[: len(b[1])]]
    assert a[1].chapters["train"].select("min") == pytest.approx(b[1].chapters["train"].select("min"), abs=1e-5)
    for x, y in zip(a[0], b[0], strict=True):
        assert x.n_kept == y.n_kept
        assert all(torch.allclose(p, q, atol=1e-5) for p, q in zip(x.encoder.params, y.encoder.params, strict=True))


@pytest.mark.slow
def test_spawn_process_pool_with_creator_classes(small_arch, small_data):
    with ProcessMap(2) as pmap:
        _same(_grid_run(small_arch, small_data), _grid_run(small_arch, small_data, pmap))
        _same(_ea_run(small_arch, small_data), _ea_run(small_arch, small_data, pmap))


@pytest.mark.slow
def test_dask_local_cluster_matches_serial(small_arch, small_data):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        dmap = dask_map(client)
        assert len(client.scheduler_info()["workers"]) == 2
        _same(_grid_run(small_arch, small_data), _grid_run(small_arch, small_data, dmap))
        # tasks really ran on the workers
        assert set(dmap(lambda _: __import__("os").getpid(), range(8))) - {__import__("os").getpid()}


def test_process_map_rejects_bad_workers():
    with pytest.raises(ValueError, match="workers"):
        ProcessMap(0)


