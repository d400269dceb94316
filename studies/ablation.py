"""Writes studies/ablation.toml: one condition group at a time, from the published conditions and from evoprune's.

Run it from the repository root (``python studies/ablation.py``) after changing a condition group below.
"""
CONDITIONS = {  # group -> (published values, evoprune values), per setting where they differ
    "lr": {"canonical": ({"lr": 1e-5, "adam_betas": [0.5, 0.999], "lr_decay": "step:0.25:0.1", "lr_sigma": 0},
                         {"lr": 1e-3, "adam_betas": [0.9, 0.999], "lr_decay": "none", "lr_sigma": 0.1}),
           "grid": ({"lr": 1e-5, "adam_betas": [0.5, 0.999], "lr_mutation": "additive", "lr_sigma": 1e-5,
                     "lr_bounds": [1e-9, 10]},
                    {"lr": 1e-3, "adam_betas": [0.9, 0.999], "lr_mutation": "log", "lr_sigma": 0.1,
                     "lr_bounds": [1e-5, 0.1]})},
    "reset": {"grid": ({"optimizer_reset": "minibatch"}, {"optimizer_reset": "never"})},
    "masks": {s: ({"masks": "transient"}, {"masks": "permanent"}) for s in ("canonical", "grid")},
    "loss": {s: ({"loss": "l1"}, {"loss": "bce>l1"}) for s in ("canonical", "grid")},
    "acceptance": {"canonical": ({"selection": "always", "prune_first": False},
                                 {"selection": "parsimony", "prune_first": True})},
    "pairing": {"grid": ({"pairing": "same_index", "eval_rows": 5}, {"pairing": "independent", "eval_rows": 100})},
    "batch": {"canonical": ({"batch_size": 5}, {"batch_size": 32})},
    "clock": {"canonical": ({"schedule_clock": "published"}, {"schedule_clock": "evoprune"})},
}
OPERATORS = {"published": {"random": "random", "variance": "variance_published",
                           "conjunctive": "conjunctive_published"},
             "evoprune": {"random": "random", "variance": "variance", "conjunctive": "conjunctive"}}
ROWS = {"published": "test", "evoprune": "train"}  # CONJUNCTIVE's rows go with its definition


def fields(side, setting):
    out = {}
    for cond in CONDITIONS.values():
        if setting in cond:
            out.update(cond[setting][0 if side == "published" else 1])
    return out


def fmt(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, list):
        return "[" + ", ".join(fmt(x) for x in v) + "]"
    return repr(v)


groups = []
for setting, sides in (("canonical", ("published", "evoprune")), ("grid", ("published",))):
    for side in sides:
        other = "evoprune" if side == "published" else "published"
        base = fields(side, setting)
        for op in ("random", "variance", "conjunctive"):
            groups.append((setting, side, OPERATORS[side][op], base, "", op))
        for name, cond in CONDITIONS.items():
            if setting not in cond:
                continue
            switched = {**base, **cond[setting][0 if other == "published" else 1]}
            for op in ("random", "variance", "conjunctive"):
                groups.append((setting, f"{side}-{name}", OPERATORS[side][op], switched, name, op))
        for op in ("variance", "conjunctive"):  # the operator's own definition switched
            f = {**base, "pruning_data": ROWS[other]} if op == "conjunctive" else base
            groups.append((setting, f"{side}-{op}", OPERATORS[other][op], f, op, op))

lines = ['''# Which condition decides each published claim: an ablation (docs/reproduction.rst, "Ablation").
#
# From the published conditions (studies/published.toml), one group of conditions at a time is switched to
# evoprune's; and the reverse, from evoprune's defaults (studies/paper.toml's canonical setting), one group at a
# time switched to the published one. Each variant runs RANDOM, VARIANCE and CONJUNCTIVE at the exponential
# schedule; the VARIANCE and CONJUNCTIVE variants switch that operator's own definition (CONJUNCTIVE's rows go
# with it: the published one reads test rows). Canonical runs go both ways; the grid, ten times dearer, from
# the published conditions only, on the published 5-cell ring. A group is labelled <operator>-exponential@<variant>,
# the variant "published" or "evoprune" (the baseline) or "<baseline>-<condition group switched>".
#
# Written by studies/ablation.py; every group lists all of its conditions.
name = "ablation"
description = "One condition group at a time, published <-> evoprune (RANDOM, VARIANCE, CONJUNCTIVE at exponential)"
seed = 2025
trials = 10
checkpoint_every = 20

[data]                         # the published data (studies/published.toml)
name = "binary_clustering"
n_clusters = 10
dim = 1000
samples_per_cluster = 100
flip = 0.05
density = 0.75
heldout_repeats = 10
seed = 0

[run]                          # shared by every group
generations = 400
hidden = 30
latent = 10
amount = 0.1
schedule = "exponential"
report_metric = "published"    # every run also records the published figures' numbers

[settings.grid]                # the published coevolution's topology and update (lexi_prob)
grid = "ring:5:1"
update = "asynchronous"
replacement = "always"
batch_size = 5
''']
for setting, variant, operator, f, _cond, _op in groups:
    lines.append("[[groups]]")
    lines.append(f'setting = "{setting}"')
    lines.append(f'operator = "{operator}"')
    lines.append(f'variant = "{variant}"')
    side = variant.split("-")[0]
    base_rows = ROWS[side]
    rows = f.get("pruning_data", base_rows)
    f = ({**f, "pruning_data": rows} if "conjunctive" in operator
         else {k: v for k, v in f.items() if k != "pruning_data"})
    if side == "published":
        f = {"schedule_clock": "published", **f} if setting == "grid" else f
    for k, v in f.items():
        lines.append(f"{k} = {fmt(v)}")
    lines.append("")
open("studies/ablation.toml", "w").write("\n".join(lines))
print(len(groups))
