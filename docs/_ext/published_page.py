"""Sphinx extension: the published conditions and the ablation on the reproduction page, from their packs.

At ``builder-inited`` it reads ``published_pack`` (default ``results/published``), the packs of
:data:`EXTRA_STUDIES` and ``ablation_pack`` (default ``results/ablation``), runs
:mod:`evoprune.report.published`, and writes ``docs/_generated/published.inc`` (included by
``reproduction.rst``).  The published figures below (read off the paper's plots, ±0.005; the plots' files are
named as ``paper_plots.ipynb`` of the published code saves them) are the only typed numbers; every other number
comes from the packs at build time.
"""

from __future__ import annotations

import os
from pathlib import Path

from reproduction_page import ROOT, _span, _table, fmt, fmt_a12, fmt_p, write_if_changed

INCLUDE = "published.inc"
L1_FIG = {"canonical": "best_of_canonical_L1_line.png (notebook cell 12)",
          "grid": "best_of_lipi_L1_line.png (notebook cell 10)"}
KEPT_FIG = "box_capacity.png (notebook cell 31)"


def figures():
    """The published figures, each with the group of studies/published.toml that runs its configuration."""
    from evoprune.report.published import Figure

    c, g = "canonical", "grid"
    return [
        Figure(c, "none", "unpruned", 0.268, 1.0, L1_FIG[c]),
        Figure(c, "random-exponential", "RANDOM, exponential", 0.50, 0.79, f"{L1_FIG[c]}; {KEPT_FIG}"),
        Figure(c, "variance_published-exponential", "VARIANCE, exponential", 0.50, 0.43,
               f"{L1_FIG[c]}; {KEPT_FIG}"),
        Figure(c, "variance_published-exponential@store", "VARIANCE, exponential, published store", 0.50, 0.43,
               f"{L1_FIG[c]}; {KEPT_FIG}"),
        Figure(c, "random-exponential@4000", "RANDOM, exponential, 4000 generations", 0.50, 0.79,
               f"{L1_FIG[c]}; {KEPT_FIG}"),
        Figure(c, "conjunctive_published-exponential@4000", "CONJUNCTIVE, exponential, 4000 generations", 0.271,
               0.75, f"{L1_FIG[c]}; {KEPT_FIG}"),
        Figure(c, "conjunctive_published-exponential", "CONJUNCTIVE, exponential", 0.271, 0.75,
               f"{L1_FIG[c]}; {KEPT_FIG}"),
        Figure(g, "none", "unpruned (5 cells)", 0.145, 1.0, L1_FIG[g]),
        Figure(g, "none@ring10", "unpruned (10 cells)", 0.145, 1.0, L1_FIG[g]),
        Figure(g, "random-exponential", "RANDOM, exponential (5 cells)", 0.104, 0.87, f"{L1_FIG[g]}; {KEPT_FIG}"),
        Figure(g, "conjunctive_published-final_n", "CONJUNCTIVE, final_n (5 cells)", 0.152, 0.80,
               f"{L1_FIG[g]}; {KEPT_FIG}"),
        Figure(g, "variance_published-population@ring10", "VARIANCE, population (10 cells)", 0.157, None, L1_FIG[g]),
    ]


#: Studies that run one published condition more (``studies/published_store.toml``, ``published_4000.toml``), by
#: the suffix their groups take on this page (``<group>@<suffix>``): the Sphinx config value naming the pack, and
#: its default.
EXTRA_STUDIES = {
    "store": ("published_store_pack", "results/published_store"),
    "4000": ("published_4000_pack", "results/published_4000"),
}

#: What was found about a figure the runs do not reproduce, by (setting, group).
NOT_REPRODUCED = {
    ("canonical", "variance_published-exponential"):
        "this row's VARIANCE takes its statistic over one pass of the training rows at pruning time "
        "(``variance_published``'s default ``store = \"pass\"``). The published store holds every training pass "
        "since the last pruning, each with the weights of its own step; the row *published store* runs that "
        "(``studies/published_store.toml``, ``store = \"training\"``, the same seeds).",
}

#: What each condition group of the ablation is, as the published code has it and as evoprune has it.
CONDITIONS = {
    "lr": ("learning-rate regime",
           "lr 1e-5, Adam betas (0.5, 0.999); canonical: StepLR ×0.1 every T/4 epochs; coevolution: lr + N(0, 1e-5) "
           "in [1e-9, 10]",
           "lr 1e-3, betas (0.9, 0.999), no decay; the lr mutated on a log scale (canonical too, σ 0.1)"),
    "reset": ("optimizer reset (coevolution)", "a new Adam for every minibatch (a sign-like step ``lr·g/(|g|+ε)``)",
              "one Adam whose state the genome keeps"),
    "masks": ("masks", "prune.remove right after pruning: zeros that training regrows, Adam's moments kept",
              "permanent: a pruned weight stays zero"),
    "loss": ("loss", "L1 from the start", "binary cross-entropy for the first half, then L1"),
    "variance": ("VARIANCE definition", "prunes the high-variance units, each entry with probability the unit's "
                 "min–max-normalised std, ignoring the amount", "prunes the amount, preferring low-variance units"),
    "conjunctive": ("CONJUNCTIVE definition and rows", "100 test rows drawn with replacement, the output layer "
                    "before its sigmoid, no guard for a layer's last unit", "100 training rows, a layer keeps a unit"),
    "acceptance": ("canonical acceptance", "every epoch's result is kept; pruning after the epoch",
                   "parsimony selection (the child must be within 5%); pruning before the epoch"),
    "pairing": ("coevolution pairing", "the encoder by tournament, the decoder at its index, on 5 training rows",
                "independent tournaments on 100 training rows"),
    "batch": ("canonical minibatch", "5 rows", "32 rows (studies/paper.toml)"),
    "clock": ("schedule clock", "t from 0, divided by T (canonical; prune_after never fires)", "t from 1 to T"),
}


def _mark(ok) -> str:
    return "–" if ok is None else ("yes" if ok else "**no**")


def with_extras(pub, extras: dict):
    """The published pack's results with each extra study's (by suffix; ``None``: no pack), its groups suffixed."""
    import pandas as pd

    frames = [] if pub is None else [pub]
    frames += [df.assign(group=df["group"] + f"@{k}") for k, df in extras.items() if df is not None]
    if not frames:
        return None
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def _verdicts(row) -> list[bool]:
    return [row[c]["reproduced"] for c in ("published_train_l1", "published_kept")
            if c in row and row[c]["reproduced"] is not None]


def _why_missed(f, checked) -> str:
    """What was found about figure ``f`` not reproduced; a 4000-generation row says how its 400 one fares."""
    if f.group.endswith("@4000"):
        group = f.group.removesuffix("@4000")
        base = next(r for r in checked if r["figure"].setting == f.setting and r["figure"].group == group)
        fares = ("reproduces both numbers" if _verdicts(base) and all(_verdicts(base)) else
                 "does not reproduce them either" if base["n"] else "has no runs yet")
        return (f"these runs last the 4000 epochs of the published preset ``base_pruning``; the same configuration "
                f"at the paper's 400 generations (row *{base['figure'].label}*) {fares}.")
    return NOT_REPRODUCED.get((f.setting, f.group), "not explained yet.")


def _figures_part(df, shown: str) -> list[str]:
    from evoprune.report.published import figure_rows

    checked = figure_rows(df, figures())
    rows = []
    for r in checked:
        f = r["figure"]
        l1, kept = r.get("published_train_l1"), r.get("published_kept")
        rows.append([f.setting, f.label, f"{f.train_l1:g} / {'–' if f.kept is None else f'{f.kept:g}'}", str(r["n"]),
                     "no runs yet" if l1 is None else f"{fmt(l1['median'])} [{fmt(l1['q1'])}, {fmt(l1['q3'])}]",
                     "–" if kept is None else f"{fmt(kept['median'])} [{fmt(kept['q1'])}, {fmt(kept['q3'])}]",
                     f"{_mark(None if l1 is None else l1['reproduced'])} / "
                     f"{_mark(None if kept is None else kept['reproduced'])}", f.source])
    missed = [r["figure"] for r in checked if _verdicts(r) and not all(_verdicts(r))]
    notes = [f"* {f.setting}, {f.label}: {_why_missed(f, checked)}" for f in missed]
    return [f"Built from {shown}: **{len(df)} finished runs**. Each published figure beside the runs of its "
            "configuration under the published conditions (``studies/published.toml``; a row ending *published "
            "store* is ``studies/published_store.toml``, one ending *4000 generations* "
            "``studies/published_4000.toml``): the median and "
            "inter-quartile range over trials of the training L1 averaged over every cell, after the last "
            "generation's pruning, and of the fraction kept counted right after each cell's last pruning, biases "
            "included (the published code's ``n_pruned``). *Reproduced* when the published figure lies in the "
            "inter-quartile range or within 0.01 of the median (L1; 0.05 for the fraction kept): the plots are read "
            "to ±0.005, and they show means over cells and trials.", "",
            *_table(["setting", "configuration", "published train L1 / kept", "n", "train L1 median [IQR]",
                     "kept median [IQR]", "reproduced (L1 / kept)", "published figure"], rows,
                    [8, 16, 11, 4, 16, 16, 10, 19]),
            *(["Not reproduced:", "", *notes, ""] if notes else [])]


def _ablation_part(df, rows, shown: str) -> list[str]:
    by_condition: dict[str, list[list[str]]] = {}
    for r in rows:
        pairs = "\n".join(f"{p['a'].split('-')[0]} vs {p['b'].split('-')[0]}: p {fmt_p(p['p_holm'])}, "
                          f"A12 {fmt_a12(p['a12'])}" for p in r["pairs"])
        by_condition.setdefault(r["switched"] or "", []).append(
            [r["setting"], r["variant"], r["label"].split(" (")[0], f"{pairs}\n({_span(r['trials'])})", r["verdict"]])
    if not by_condition:
        return [f"``{shown}`` holds no ablation runs yet.", ""]
    out = [f"Built from ``{shown}``: **{len(df)} finished runs** of ``studies/ablation.toml``. A variant is "
           "*published* or *evoprune* (the two baselines), *published-X* (the published conditions with condition "
           "group X switched to evoprune's) or *evoprune-X* (the reverse). The claim of the setting is tested as on "
           "this page: each guided operator against RANDOM at the exponential schedule, Wilcoxon signed-rank over "
           "the trials (paired by seed), Holm over the two pairs; A12 is the chance that the claimed winner does "
           "better (RANDOM in coevolution, the guided operator in canonical training). Two metrics: the published "
           "figures' training L1 and this page's trade-off hypervolume.", ""]
    out += _summary(rows)
    for key in ["", *CONDITIONS]:
        rows = by_condition.get(key)
        if not rows:
            continue
        title = "the baselines" if not key else f"{CONDITIONS[key][0]} switched"
        out += [f".. _ablation-{key or 'baselines'}:", "", f".. rubric:: Ablation: {title}", ""]
        out += _table(["setting", "variant", "metric", "the claimed winner against the other", "verdict"], rows,
                      [9, 18, 14, 38, 21])
    return out


def _summary(rows) -> list[str]:
    """Which switched conditions change the verdict of the claim on the published figures' training L1."""
    from evoprune.report.published import deciding_conditions

    lines = []
    for d in deciding_conditions(rows):
        name = {"published": "the published conditions", "evoprune": "evoprune's defaults"}[d["baseline"]]
        changed = "; ".join(f"{CONDITIONS[c][0]} (:ref:`{v} <ablation-{c}>`)" for c, v in d["changed"])
        same = ", ".join(CONDITIONS[c][0] for c in d["same"])
        few = ", ".join(f"{CONDITIONS[c][0]} (n = {n})" for c, n in d["undecided"])
        lines.append((f"* **{d['setting']}, from {name}**: the claim is {d['verdict']}. "
                     + (f"Switching one of these changes that: {changed}. " if changed else
                        "No single switched condition changes that. ")
                     + (f"Switching {same} leaves it. " if same else "")
                     + (f"Too few trials yet to tell: {few}." if few else "")).rstrip())
    return ["Which condition decides each claim, on the published figures' training L1 (each variant's "
            "verdict against its baseline's):", "", *lines, ""] if lines else []


def _why(rows) -> list[str]:
    """The "why the numbers differ" table, every condition with the ablation's verdicts where it was measured."""
    verdicts: dict[str, list[str]] = {}
    for r in rows:
        if r["switched"] and r["metric"] == "published_train_l1":
            verdicts.setdefault(r["switched"], []).append(f"{r['setting']} from {r['baseline']}: {r['verdict']}")
    rows = [[name, published, ours, "\n".join([*verdicts[key], f":ref:`the ablation <ablation-{key}>`"])
             if key in verdicts else "not measured yet"] for key, (name, published, ours) in CONDITIONS.items()]
    return _table(["condition", "published code", "evoprune", "the claim with only this switched (training L1)"],
                  rows, [14, 30, 26, 30])


def page(published: Path, ablation: Path, shown: tuple[str, str], extras: dict | None = None) -> str:
    """The generated part of the page (``extras``: by suffix, each extra study's pack folder and its name shown)."""
    from evoprune.report.published import ablation_rows
    from evoprune.study import load_results
    from evoprune.study.store.shards import is_pack

    head = [".. This part of the page is generated at build time by docs/_ext/published_page.py; do not edit.", ""]
    pub = load_results(published) if is_pack(published) else None
    more = {k: load_results(p) if is_pack(p) else None for k, (p, _) in (extras or {}).items()}
    ab = load_results(ablation) if is_pack(ablation) else None
    out = [*head, "The published conditions", "-" * len("The published conditions"), ""]
    both = with_extras(pub, more)
    named = [(shown[0], pub), *((extras[k][1], d) for k, d in more.items())]
    packs = ", ".join(f"``{p}``" for p, d in named if d is not None)
    out += _figures_part(both, packs) if both is not None else [f"``{shown[0]}`` holds no pack yet.", ""]
    out += ["Ablation: which condition decides each claim", "-" * len("Ablation: which condition decides each claim"),
            ""]
    rows = ablation_rows(ab) if ab is not None else []
    out += _ablation_part(ab, rows, shown[1]) if ab is not None else [f"``{shown[1]}`` holds no pack yet.", ""]
    out += ["Why the numbers differ", "-" * len("Why the numbers differ"), ""]
    out += _why(rows)
    return "\n".join(out).rstrip() + "\n"


def _folder(configured: str, env: str) -> tuple[Path, str]:
    shown = os.environ.get(env) or configured
    path = Path(shown)
    return (path if path.is_absolute() else ROOT / path), shown


def generate(app) -> None:
    """``builder-inited``: write ``_generated/published.inc`` from the packs."""
    pub, pub_shown = _folder(app.config.published_pack, "EVOPRUNE_PUBLISHED_PACK")
    ab, ab_shown = _folder(app.config.ablation_pack, "EVOPRUNE_ABLATION_PACK")
    extras = {k: _folder(getattr(app.config, key), f"EVOPRUNE_{key.upper()}") for k, (key, _) in EXTRA_STUDIES.items()}
    write_if_changed(Path(app.srcdir) / "_generated" / INCLUDE, page(pub, ab, (pub_shown, ab_shown), extras))


def setup(app):
    app.add_config_value("published_pack", "results/published", "env")
    app.add_config_value("ablation_pack", "results/ablation", "env")
    for key, default in EXTRA_STUDIES.values():
        app.add_config_value(key, default, "env")
    app.connect("builder-inited", generate)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
