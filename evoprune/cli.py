"""Command line: ``evoprune demo`` (and ``python -m evoprune``)."""

from __future__ import annotations

import argparse
import sys


def _demo(args) -> int:
    from .demo import demo

    demo(args.out, args.generations, args.seed, args.workers, args.schedule)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="evoprune", description="Evolve and prune autoencoders with DEAP and PyTorch.")
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="canonical training of the paper's network with each pruning operator")
    d.add_argument("--out", default="out/demo", help="output folder (default: out/demo)")
    d.add_argument("--generations", type=int, default=200, help="epochs per variant (default: 200)")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--workers", type=int, default=1, help="processes (default: 1)")
    d.add_argument("--schedule", default="exponential")
    d.set_defaults(func=_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ValueError as e:
        print(f"evoprune: error: {e}", file=sys.stderr)
        return 2
