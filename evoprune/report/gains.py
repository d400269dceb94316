"""What pruning buys: the measured size and speed of each operator's best model per setting, from the
measurement files beside the models (:mod:`evoprune.models.measure`; written when the models are packed, or by
``evoprune measure``).  Nothing is measured here: the report and the reproduction page only read them.
"""

from __future__ import annotations

import os

import pandas as pd

from ..models.measure import BATCHES, ModelMeasurement, measurement_path
from ..runs import SETTINGS
from ..study.store.load import model_path
from ..study.store.shards import packs_of
from .analyse import BASELINE, best_runs, ordered

__all__ = ["COLUMNS", "gains_frame", "gains_markdown", "measured_on"]

#: The columns of :func:`gains_frame`.
COLUMNS = ("setting", "operator", "group", "run_id", "params", "kept", "fraction_kept", "compact_params",
           "file_kB", "unpruned_file_kB", *(f"{k}_{b}" for b in BATCHES for k in ("ms", "unpruned_ms", "speedup")),
           "rows", "inputs", "repeats", "machine", "torch")


def gains_frame(out: str | os.PathLike, df: pd.DataFrame) -> pd.DataFrame:
    """One row per setting and operator whose best run (as the report's masks figure picks it) has a measured
    model: entries kept, parameters and file size (kB) after compaction (and at the architecture's unpruned
    shapes), and milliseconds per :data:`~evoprune.models.measure.ROWS` rows at each batch size, compact and at
    the unpruned shapes, with the speed-up (the second time over the first)."""
    packs = packs_of(out) if len(df) else []
    rows = []
    for setting in ordered(df["setting"].unique(), SETTINGS) if len(df) else []:
        sdf = df[df["setting"] == setting]
        for operator, run_id in best_runs(sdf).items():
            model = model_path(out, run_id, packs)
            if model is None or not measurement_path(model).is_file():
                continue
            m = ModelMeasurement.load(measurement_path(model))
            row = {"setting": setting, "operator": operator, "run_id": run_id,
                   "group": str(sdf.loc[sdf["run_id"] == run_id, "group"].iloc[0]), "params": m.params,
                   "kept": m.kept, "fraction_kept": m.fraction_kept, "compact_params": m.compact_params,
                   "file_kB": m.file_bytes / 1e3, "unpruned_file_kB": m.unpruned_file_bytes / 1e3, "rows": m.rows,
                   "inputs": m.inputs,
                   "repeats": m.repeats, "machine": m.machine, "torch": m.torch}
            for b in BATCHES:
                row[f"ms_{b}"], row[f"unpruned_ms_{b}"] = 1e3 * m.seconds[b], 1e3 * m.unpruned_seconds[b]
                row[f"speedup_{b}"] = m.speedup(b)
            rows.append(row)
    return pd.DataFrame(rows, columns=list(COLUMNS))


def measured_on(frame: pd.DataFrame) -> str:
    """Where and how the measurements were taken, in words (every distinct machine and torch version)."""
    if frame.empty:
        return ""
    where = "; ".join(f"{m} (torch {t})" for m, t in frame[["machine", "torch"]].drop_duplicates().itertuples(
        index=False))
    repeats = sorted(frame["repeats"].unique())
    rows = sorted(frame["rows"].unique())
    inputs = " or ".join(sorted(frame["inputs"].unique()))
    return (f"measured on {where}, one thread, the median of {'/'.join(map(str, repeats))} timed passes of "
            f"{'/'.join(map(str, rows))} rows ({inputs})")


def gains_markdown(frame: pd.DataFrame) -> str:
    """The Markdown table of :func:`gains_frame` for the report (empty text for an empty frame)."""
    if frame.empty:
        return ""
    rows = int(frame["rows"].iloc[0])
    head = ["setting", "operator", "model", "entries kept", "params after compaction", "file kB (unpruned)",
            *(f"ms per {rows} rows, batch {b} (unpruned; speed-up)" for b in BATCHES)]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(":--" if i < 3 else "--:" for i in range(len(head))) + "|"]
    for r in frame.itertuples(index=False):
        cells = [r.setting, "unpruned" if r.operator == BASELINE else r.operator, r.run_id,
                 f"{r.kept} of {r.params} ({r.fraction_kept:.3f})", str(r.compact_params),
                 f"{r.file_kB:.1f} ({r.unpruned_file_kB:.1f})",
                 *(f"{getattr(r, f'ms_{b}'):.3g} ({getattr(r, f'unpruned_ms_{b}'):.3g}; "
                   f"{getattr(r, f'speedup_{b}'):.2f}×)" for b in BATCHES)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
