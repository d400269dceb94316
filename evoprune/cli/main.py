"""Command line: ``evoprune run | report | status | pack | measure | export | compare | info`` (also
``python -m evoprune``)."""

from __future__ import annotations

import argparse
import multiprocessing
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from ..study.store.layout import runs_dir, study_file

__all__ = ["build_parser", "main"]


class _Terminated(Exception):
    """The run command got SIGTERM."""


@contextmanager
def _stop_on_sigterm() -> Iterator[None]:
    """SIGTERM stops the study now, its worker processes with it (the same command resumes it)."""

    def handler(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the clean-up short
        for child in multiprocessing.active_children():  # the process pool's workers
            child.terminate()
        raise _Terminated

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run(args) -> int:
    with _stop_on_sigterm():
        try:
            return _run_study(args)
        except _Terminated:
            pass
    from ..study.runner import study_status
    from ..study.studyfile import load_study

    study = load_study(args.study, imports=args.imports)
    finished = set(study_status(study, args.out)["finished"]) if study_file(args.out).is_file() else set()
    ids = _run_ids(study, args.trials)
    print(f"stopped by SIGTERM: {sum(i in finished for i in ids)}/{len(ids)} runs finished; run the same command "
          "to continue (unfinished runs resume from their last checkpoint)", flush=True)
    return 128 + signal.SIGTERM


def _run_ids(study, trials: int | None) -> list[str]:
    """The ids of the runs ``evoprune run --trials`` asks for (all when ``trials`` is None)."""
    return [s.run_id for s in study.runs() if s.trial < (trials or study.trials)]


def _run_study(args) -> int:
    from ..report.report import report, summary_text
    from ..study.dispatch import parse_duration
    from ..study.runner import run_study
    from ..study.studyfile import load_study

    study = load_study(args.study, imports=args.imports)
    if args.device is not None:
        from ..util.device import resolve_device

        resolve_device(args.device)  # a device this machine lacks is refused before anything runs
    time_limit = None if args.time_limit is None else parse_duration(args.time_limit)
    kw = {"device": args.device, "trials_per_job": args.trials_per_job, "trials": args.trials,
          "time_limit": time_limit, "packs": args.packs}
    if args.workers > 1 and args.scheduler:
        raise ValueError("use either --workers or --scheduler, not both")
    if args.scheduler:
        try:
            from distributed import Client
        except ImportError as e:
            raise ValueError(f"--scheduler needs dask.distributed (pip install 'dask[distributed]'): {e}") from e

        from ..parallel import dask_map

        with Client(args.scheduler) as client:
            rows = run_study(study, args.out, dask_map(client), **kw)
    elif args.workers > 1:
        from ..parallel import ProcessMap

        with ProcessMap(args.workers) as pmap:
            rows = run_study(study, args.out, pmap, **kw)
    else:
        rows = run_study(study, args.out, **kw)
    total = len(_run_ids(study, args.trials))
    if len(rows) < total:
        print(f"stopped at the time limit: {len(rows)}/{total} runs finished; run the same command to continue")
        return 0
    print(summary_text(args.out))
    if not args.no_report:
        print(f"report: {report(args.out)}")
    return 0


def _report(args) -> int:
    from ..report.report import report, summary_text

    path = report(args.out)
    print(summary_text(args.out))
    print(f"report: {path}")
    return 0


def _pack(args) -> int:
    from ..study.store.pack import pack

    shard, n = pack(args.out, args.dir, models=args.models, measure=not args.no_measure)
    print(f"packed {n} runs into {shard}" if shard else f"nothing to pack: {args.dir} holds every finished run "
          f"of {args.out}")
    return 0


def _measure(args) -> int:
    from ..study.store.pack import measure_models

    written = measure_models(args.dir, repeats=args.repeats, force=args.force)
    for path in written:
        print(f"wrote {path}")
    print(f"measured {len(written)} models" if written else f"nothing to measure in {args.dir}: every model has "
          "its measurement (--force measures again)")
    return 0


def _status(args) -> int:
    from ..study.runner import study_status
    from ..study.sharing import describe_claims
    from ..study.store.shards import is_pack, read_pack
    from ..study.studyfile import load_study

    if is_pack(args.out):
        pack = read_pack(args.out)
        print(f"{args.out}: pack of study {pack.study.name!r}: {len(pack.runs)}/{len(pack.study.runs())} runs "
              f"in {len(pack.shards)} shards")
        return 0
    saved = study_file(args.out)
    if not saved.is_file():
        raise ValueError(f"{args.out} has no {saved.name}: not a study output folder")
    state = study_status(load_study(saved, imports=args.imports, check_models=False), args.out)
    total = sum(len(v) for v in state.values())
    print(f"{args.out}: {len(state['finished'])}/{total} runs finished, {len(state['running'])} running, "
          f"{len(state['started'])} started, {len(state['pending'])} pending")
    for line in describe_claims(runs_dir(args.out), state["running"] + state["started"] + state["pending"]):
        print(f"  {line}")
    if args.verbose:
        for key in ("started", "pending"):
            for run_id in state[key]:
                print(f"  {key}: {run_id}")
    return 0


def _export(args) -> int:
    from ..models import export_model

    path = export_model(args.run_dir, args.out, dense=args.dense, compact=args.compact)
    print(f"wrote {path}")
    if args.compact:
        print(f"load it with PyTorch alone: {_LOAD_HINT['.onnx' if path.suffix == '.onnx' else 'pt2']}")
    return 0


_LOAD_HINT = {"pt2": "model = torch.export.load(FILE).module(); y = model(x)",
              ".onnx": "onnxruntime.InferenceSession(FILE).run(None, {'x': x})[0]"}


def _compare(args) -> int:
    from .compare import compare_operators

    compare_operators(args.out, args.generations, args.seed, args.workers, args.schedule)
    return 0


def _info(args) -> int:
    from .info import describe

    print(describe())
    return 0


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The ``evoprune`` argument parser: one subparser per command, each with its handler as ``func``."""
    p = argparse.ArgumentParser(
        prog="evoprune",
        description="Evolve and prune autoencoders with DEAP and PyTorch.",
        epilog="Errors are printed as 'evoprune: error: ...' naming the file at fault, without a traceback. "
        "Exit status: 0 success; 2 bad input (arguments, a missing or broken study or data file, "
        "a different study in --out); 1 any other OS error (permissions, a full disk); 143 run stopped by "
        "SIGTERM (run the same command to continue).",
    )
    sub = p.add_subparsers(dest="command", required=True)
    for add in (_add_run, _add_report_and_status, _add_pack_and_export, _add_compare_and_info):
        add(sub)
    return p


def _add_run(sub) -> None:
    r = sub.add_parser("run", help="run (or resume) a study described in a TOML file")
    r.add_argument("study", help="study file, e.g. studies/quick.toml")
    r.add_argument("--out", required=True, help="required: the output folder (re-running it resumes)")
    r.add_argument("--workers", type=_positive_int, default=1, help="local worker processes (default: 1, serial)")
    r.add_argument("--scheduler", help="address of a dask.distributed scheduler, e.g. tcp://10.0.0.5:8786")
    r.add_argument("--device", help="torch device for every run: cpu, cuda, cuda:N, mps or auto "
                   "(default: the study's [run] device, else auto)")
    r.add_argument("--trials-per-job", type=_positive_int, dest="trials_per_job",
                   help="trials of one configuration run in lockstep as one job (default: the study's "
                   "trials_per_job, else 4 on a CPU and 30 on a GPU)")
    r.add_argument("--trials", type=_positive_int, metavar="N", help="run only the first N trials of each "
                   "configuration (a prefix of the study: the same run ids and fingerprints)")
    r.add_argument("--time-limit", dest="time_limit", metavar="DURATION",
                   help="e.g. 2h30m, 45m, 90s or seconds: start no job that would not finish in time (estimated "
                   "from the jobs done so far), finish those running, exit 0; the same command continues")
    r.add_argument("--from", dest="packs", action="append", default=[], metavar="DIR",
                   help="a pack folder of this study (evoprune pack): its runs count as finished (repeatable)")
    r.add_argument("--import", action="append", default=[], dest="imports", metavar="MODULE",
                   help="import MODULE first, e.g. one that registers a pruning method; looked for next to the "
                   "study file, in the current folder, then on sys.path (repeatable; the study's imports key "
                   "does the same)")
    r.add_argument("--no-report", action="store_true", help="do not write the report at the end")
    r.set_defaults(func=_run)


def _add_report_and_status(sub) -> None:
    rep = sub.add_parser("report", help="statistics, tables and figures of a study output folder or pack folder")
    rep.add_argument("out", help="the study's output folder (the --out of evoprune run), or a pack folder")
    rep.set_defaults(func=_report)

    st = sub.add_parser("status", help="how many runs of a study output folder (or pack folder) are finished")
    st.add_argument("out", help="the study's output folder (the --out of evoprune run), or a pack folder")
    st.add_argument("--import", action="append", default=[], dest="imports", metavar="MODULE",
                    help="import MODULE first (as evoprune run --import), e.g. when the study's imports are not "
                    "on sys.path")
    st.add_argument("-v", "--verbose", action="store_true", help="list unfinished runs")
    st.set_defaults(func=_status)


def _add_pack_and_export(sub) -> None:
    pk = sub.add_parser("pack", help="add the finished runs a pack folder lacks to it as one new compact shard")
    pk.add_argument("out", metavar="OUT", help="the study's output folder (or another pack folder of the study)")
    pk.add_argument("dir", metavar="DIR", help="the pack folder (created if needed; shards are only ever added)")
    pk.add_argument("--models", choices=("none", "best", "report"), default="none",
                    help="best: also the model of each group's best run (DIR/models/); report: only each "
                         "operator's best run per setting (the report's masks figure); default: none")
    pk.add_argument("--no-measure", action="store_true", help="do not measure the packed models (by default "
                    "each gets DIR/models/<run_id>.json: parameters and file size after compaction, inference time "
                    "beside the unpruned model, on this machine)")
    pk.set_defaults(func=_pack)

    me = sub.add_parser("measure", help="what pruning buys each model of a pack: parameters and file size after "
                        "compaction, inference time beside the unpruned model (<model>.json beside each model)")
    me.add_argument("dir", metavar="DIR", help="a pack folder (its models/), a study output folder (the report's "
                    "models) or a folder of .safetensors model files")
    me.add_argument("--repeats", type=_positive_int, default=7, help="timed passes per model and batch size; the "
                    "median is kept (default: 7)")
    me.add_argument("--force", action="store_true", help="measure again models that have a measurement")
    me.set_defaults(func=_measure)

    ex = sub.add_parser("export", help="write a finished run's model as a file PyTorch alone loads")
    ex.add_argument("run_dir", metavar="RUN_DIR", help="a run folder (OUT/runs/<run_id>) or its model.safetensors")
    ex.add_argument("--out", required=True, help="required: FILE.safetensors (safetensors), else a torch.save "
                    "state dict (torch.load(FILE, weights_only=True) reads it); with --compact FILE.pt2 or FILE.onnx")
    ex.add_argument("--dense", action="store_true", help="pruning applied: plain nn.Sequential names "
                    "(encoder.0.weight, ...), no masks (default: weight_orig/weight_mask as torch.nn.utils.prune)")
    ex.add_argument("--compact", action="store_true", help="the compact model, dead units removed, as a program: "
                    "torch.export (load with torch.export.load(FILE).module()), or ONNX for FILE.onnx (needs "
                    "pip install 'evoprune[onnx]')")
    ex.set_defaults(func=_export)


def _add_compare_and_info(sub) -> None:
    d = sub.add_parser("compare", help="train the paper's full-size network once unpruned and once with each "
                       "pruning operator; print a table, plot the curves")
    d.add_argument("--out", default="out/compare", help="output folder (default: out/compare)")
    d.add_argument("--generations", type=_positive_int, default=200, help="epochs per variant (default: 200)")
    d.add_argument("--seed", type=int, default=0, help="seed of the data and of every run (default: 0)")
    d.add_argument("--workers", type=_positive_int, default=1, help="processes (default: 1)")
    d.add_argument("--schedule", default="exponential", help="pruning schedule of every pruned variant "
                   "(default: exponential)")
    d.set_defaults(func=_compare)

    i = sub.add_parser("info", help="versions, devices, threads and the kernel backend in use (for bug reports)")
    i.set_defaults(func=_info)


def main(argv: list[str] | None = None) -> int:
    """Run the ``evoprune`` command; errors in the input are printed (no traceback) and give status 2."""
    from ..study.checkpoint import CheckpointMismatch

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, CheckpointMismatch) as e:
        print(f"evoprune: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # permissions, a folder where a file should be, a full disk: no traceback
        print(f"evoprune: error: {e}", file=sys.stderr)
        return 1
