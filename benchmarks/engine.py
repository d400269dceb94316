"""Engine speed: per-trial seconds of a canonical epoch and of a ring:10 generation, K trials in lockstep,
against the plain PyTorch loop a user would write, measured in the same run.

Paper network (1000-30-10 / 10-30-1000) and data (1000 x 1000 binary clustering), minibatch 5, RANDOM
pruning on the exponential schedule, the study runs' statistics included, the runs' loss schedule "bce>l1".
The plain loop trains one ``nn.Sequential`` per network with the run's losses computed the fast way (binary
cross-entropy from the logits, ``BCEWithLogitsLoss``, for the first half of the epochs, then L1 on the
sigmoid) and ``torch.optim.Adam(fused=True)`` where torch offers it: the ratios are against that loop; the
default-Adam loop (``foreach``) is shown beside it.  Prints the projected wall time of studies/paper.toml on
2 cores (and on the GPU when measured).

    python benchmarks/engine.py                    # CPU, 1 intra-op thread; CUDA too when present
    python benchmarks/engine.py --ks 1 4 --generations 3 --devices cpu
    python benchmarks/engine.py --memory 400       # peak RSS over 400 generations, K=30 canonical
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import torch
from torch import nn

from evoprune.data import binary_clustering
from evoprune.runs import RunConfig, run_trials
from evoprune.study.studyfile import load_study


def plain_epoch_seconds(data: torch.Tensor, batch_size: int, device: torch.device, epochs: int = 8,
                        fused: bool = True) -> float:
    """Median seconds of one epoch of the plain loop: one nn.Sequential and one torch.optim.Adam, binary
    cross-entropy from the logits for the first half of the epochs, L1 on the sigmoid after (as "bce>l1")."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(1000, 30), nn.ReLU(), nn.Linear(30, 10), nn.ReLU(),
                          nn.Linear(10, 30), nn.ReLU(), nn.Linear(30, 1000)).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=fused or None)
    bce = nn.BCEWithLogitsLoss()
    x_all = data.to(device)
    times = []
    for epoch in range(epochs + 1):
        t0 = time.perf_counter()
        for idx in torch.randperm(x_all.shape[0], device=device).split(batch_size):
            x = x_all[idx]
            logits = model(x)
            loss = bce(logits, x) if epoch <= epochs // 2 else (torch.sigmoid(logits) - x).abs().mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times[1:])


def engine_seconds(setting: str, k: int, data, device: str, generations: int, batch_size: int) -> float:
    """Median seconds per lockstep round (one generation of all K trials), divided by K: per-trial time."""
    cfg = RunConfig(setting=setting, operator="random", schedule="exponential", generations=generations,
                    batch_size=batch_size, grid="ring:10", device=device)
    stamps: list[float] = []

    def tick(trial: int) -> None:
        if trial == k - 1:
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            stamps.append(time.perf_counter())

    run_trials(cfg, data, list(range(k)), on_generation=tick)
    rounds = [b - a for a, b in zip(stamps[1:-1], stamps[2:-1], strict=False)] or [stamps[-1] - stamps[0]]
    return statistics.median(rounds) / k


def breakdown(setting: str, k: int, data, generations: int) -> str:
    """Where the CPU time of lockstep generations goes (thread time, cProfile, generation 2 to the last; the
    initial evaluation and the run's end are left out): training, evaluation kernels, the rest."""
    import cProfile
    import pstats

    cfg = RunConfig(setting=setting, operator="random", schedule="exponential", generations=generations,
                    batch_size=5, grid="ring:10", device="cpu")
    prof = cProfile.Profile(time.thread_time)
    ticks = [0]

    def tick(trial: int) -> None:
        ticks[0] += 1
        if ticks[0] == 2 * k:  # every trial has done generations 0 and 1
            prof.enable()
        elif ticks[0] == (generations + 1) * k:
            prof.disable()

    run_trials(cfg, data, list(range(k)), on_generation=tick)
    stats = pstats.Stats(prof).stats  # (file, line, name) -> (calls, primitive calls, tottime, cumtime, callers)
    total = sum(v[2] for v in stats.values())

    def share(*needles: str) -> float:
        return sum(v[2] for key, v in stats.items() if any(n in key[2] for n in needles)) / total

    train = share("fused_epoch", "train_step", "train_epoch")
    decode = share("decoder_error_sums")
    gemm = share("torch._C._nn.linear", "addmm", "torch.bmm")
    return (f"{setting}: training kernel {train:.0%}, fused decoder errors {decode:.0%}, "
            f"matrix products (encoders, pairings) {gemm:.0%}, the rest (Python, stacking, pruning, statistics) "
            f"{1 - train - decode - gemm:.0%} of {total / (generations - 1) / k * 1e3:.0f} ms CPU per trial-generation")


def project_paper(canon_s: float, grid_s: float, workers: int) -> float:
    """Hours for studies/paper.toml given per-trial seconds per canonical epoch (its minibatch) and grid generation."""
    study = load_study("studies/paper.toml")
    total = 0.0
    for spec in study.runs():
        per_gen = canon_s if spec.config.setting == "canonical" else grid_s
        total += per_gen * spec.config.generations
    return total / workers / 3600


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ks", type=int, nargs="+", default=[1, 4, 10, 30])
    ap.add_argument("--generations", type=int, default=4, help="generations per measurement (>= 3)")
    ap.add_argument("--devices", nargs="+", default=None, help="default: cpu, and cuda when present")
    ap.add_argument("--memory", type=int, default=0, help="also measure peak RSS over this many generations")
    ap.add_argument("--profile", action="store_true", help="also say where a K=4 generation's CPU time goes")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    devices = a.devices or (["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
    data = binary_clustering(seed=0)
    print(f"torch {torch.__version__}, 1 intra-op thread, paper network and data, minibatch 5, "
          f"RANDOM-exponential, stats included; median over {a.generations - 2} rounds")
    for device in devices:
        dev = torch.device(device)
        plain5 = plain_epoch_seconds(data.train, 5, dev)
        plain32 = plain_epoch_seconds(data.train, 32, dev)
        default5 = plain_epoch_seconds(data.train, 5, dev, fused=False)
        name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "CPU"
        print(f"\n## {device} ({name})\nplain loop epoch (BCE from logits / L1, fused Adam): {plain5 * 1e3:.1f} ms "
              f"at minibatch 5, {plain32 * 1e3:.1f} ms at minibatch 32; with the default Adam {default5 * 1e3:.1f} ms "
              f"at minibatch 5")
        print("| K | canonical epoch ms/trial | vs plain | ring:10 generation ms/trial | vs plain x10 | "
              "canonical bs32 ms/trial |")
        print("|---|---|---|---|---|---|")
        best = {"canon": float("inf"), "grid": float("inf"), "canon32": float("inf")}
        for k in a.ks:
            t0 = time.perf_counter()
            c = engine_seconds("canonical", k, data, device, a.generations, 5)
            g = engine_seconds("grid", k, data, device, a.generations, 5)
            c32 = engine_seconds("canonical", k, data, device, a.generations, 32)
            best = {"canon": min(best["canon"], c), "grid": min(best["grid"], g), "canon32": min(best["canon32"], c32)}
            print(f"| {k} | {c * 1e3:.1f} | {plain5 / c:.1f}x | {g * 1e3:.0f} | {10 * plain5 / g:.1f}x | "
                  f"{c32 * 1e3:.1f} |  ({time.perf_counter() - t0:.0f} s)", flush=True)
        workers = 2 if dev.type == "cpu" else 1
        print(f"best K: canonical {plain5 / best['canon']:.1f}x, ring:10 {10 * plain5 / best['grid']:.1f}x the plain "
              f"loop with fused Adam ({default5 / best['canon']:.1f}x, {10 * default5 / best['grid']:.1f}x the "
              f"default-Adam loop); studies/paper.toml projects to "
              f"{project_paper(best['canon32'], best['grid'], workers):.1f} h "
              f"on {workers} {'cores' if workers > 1 else 'GPU'} (plain loop: "
              f"{project_paper(plain32, 10 * plain5, workers):.1f} h)")
    if a.profile:
        print("\nwhere the time goes (K = 4, 1 thread, CPU):")
        for setting in ("canonical", "grid"):
            print("  " + breakdown(setting, 4, data, 20 if setting == "canonical" else 4), flush=True)
    if a.memory:
        rss = []
        cfg = RunConfig(operator="random", generations=a.memory, batch_size=5, device=devices[-1])
        run_trials(cfg, data, list(range(30)), on_generation=lambda k: k == 29 and rss.append(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
        marks = [rss[i] for i in (0, len(rss) // 4, len(rss) // 2, 3 * len(rss) // 4, -1)]
        print(f"\npeak RSS (MB) over {a.memory} generations of 30 canonical trials: "
              + ", ".join(f"{m:.0f}" for m in marks))
        rss.clear()
        cfg = RunConfig(setting="grid", operator="random", generations=5, batch_size=5, device=devices[-1])
        run_trials(cfg, data, list(range(30)), on_generation=lambda k: k == 29 and rss.append(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
        print(f"peak RSS (MB), 30 lockstep ring:10 trials, 5 generations: {rss[-1]:.0f}")


if __name__ == "__main__":
    main()
