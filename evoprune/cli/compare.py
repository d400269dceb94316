"""``evoprune compare``: canonical training of the paper's network, unpruned and with each pruning operator."""

from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from tqdm.auto import tqdm

from ..data import Dataset, binary_clustering
from ..report.plots import plot_curves
from ..runs import RunConfig, RunResult, operators, run, single_thread
from ..util.io import atomic_write_text, write_jsonl

__all__ = ["compare_operators"]


def _run_variant(args) -> RunResult:
    single_thread()
    cfg, data, seed = args
    res = run(cfg, data, seed)
    res.best = None
    return res


def format_table(results: list[RunResult]) -> str:
    lines = ["| variant | test L1 | train L1 | fraction kept | encoder kept | decoder kept | seconds |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r.label} | {r.test_l1:.4f} | {r.train_l1:.4f} | {r.fraction_kept:.3f} | "
                     f"{r.kept_encoder:.3f} | {r.kept_decoder:.3f} | {r.wall_time:.1f} |")
    return "\n".join(lines)


def compare_operators(out: str | Path = "out/compare", generations: int = 200, seed: int = 0, workers: int = 1,
         schedule: str = "exponential", data: Dataset | None = None, **config) -> list[RunResult]:
    """Train the paper's network once per operator (and unpruned), ``config`` overriding RunConfig fields."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    single_thread()
    cfgs = [RunConfig(operator=op, schedule=schedule, generations=generations, **config)
            for op in operators(published=False)]
    data = data if data is not None else binary_clustering(seed=seed)
    t0 = time.perf_counter()
    if workers > 1:
        with ProcessPoolExecutor(workers) as ex:
            results = list(tqdm(ex.map(_run_variant, [(c, data, seed) for c in cfgs]), total=len(cfgs),
                                desc="variants", unit="run"))
    else:
        results = []
        with tqdm(total=len(cfgs) * (generations + 1), desc="compare", unit="gen") as bar:
            for cfg in cfgs:
                bar.set_postfix_str(cfg.label)
                res = run(cfg, data, seed, on_generation=lambda: bar.update(1))
                res.best = None
                results.append(res)
    for r in results:
        write_jsonl(out / f"{r.label}.jsonl", r.records)
    table = format_table(results)
    atomic_write_text(out / "results.md", table + "\n")
    curves = {r.label: {"test_l1": [x["test_min"] for x in r.records], "kept": [x["kept_min"] for x in r.records]}
              for r in results}
    plot_curves(curves, out / "compare.png",
                title=f"canonical training, paper data, {schedule} schedule ({generations} epochs)")
    print(table)
    print(f"\nplot: {out / 'compare.png'}   logbooks: {out}/*.jsonl   ({time.perf_counter() - t0:.0f} s)")
    return results
