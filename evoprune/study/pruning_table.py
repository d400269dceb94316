"""The pruning tables of study files: ``[run.pruning]``, ``[settings.X.pruning]`` and per-method tables."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..pruning import METHODS, get_method
from ..runs.config import METHOD_FIELDS
from .errors import _fail


def merge_pruning(base: dict, over: dict) -> dict:
    """A ``[settings.X.pruning]`` table over the ``[run.pruning]`` table (method tables merged key by key)."""
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in base.items()}
    for k, v in over.items():
        out[k] = {**out.get(k, {}), **v} if isinstance(v, dict) else v
    return out


def method_fields(table: dict, operator: str) -> dict[str, Any]:
    """The RunConfig fields one operator gets from a pruning table: ``amount``/``n_cases`` as run fields,
    the method's other parameters (shared keys it takes, then its own table) as ``pruning``."""
    if operator not in METHODS:
        return {"pruning": {}}
    valid = METHODS[operator].hyper_parameters()
    params = {k: v for k, v in table.items() if not isinstance(v, dict) and k in valid}
    params.update(table.get(operator, {}))
    out: dict[str, Any] = {k: params.pop(k) for k in METHOD_FIELDS if k in params}
    out["pruning"] = params
    return out


def _pruning_keys() -> dict[str, list[str]]:
    """Every parameter name a pruning table may set, with the methods that take it."""
    keys: dict[str, list[str]] = {k: ["run field"] for k in METHOD_FIELDS}
    for name, cls in METHODS.items():
        for k in cls.hyper_parameters():
            keys.setdefault(k, []).append(name)
    return keys


def _check_method_value(path, key: str, name: str, params: dict) -> None:
    try:
        get_method(name, **params)
    except (ValueError, TypeError) as e:
        raise _fail(path, key, str(e)) from e


def check_pruning_table(path, prefix: str, table: Any, check_value: Callable) -> dict[str, Any]:
    """Check a ``[run.pruning]`` / ``[settings.X.pruning]`` table: shared keys and per-method tables.

    ``check_value(path, key, field, value)`` checks a value of a RunConfig field (``amount``, ``n_cases``).
    """
    if not isinstance(table, dict):
        raise _fail(path, prefix, f"expected a table of pruning parameters, got {table!r}")
    keys = _pruning_keys()
    for k, v in table.items():
        key = f"{prefix}.{k}"
        if k in METHODS:
            if not isinstance(v, dict):
                raise _fail(path, key, f"expected a table of parameters of method {k!r}, got {v!r}")
            valid = METHODS[k].hyper_parameters()
            for kk, vv in v.items():
                if kk not in valid:
                    raise _fail(path, f"{key}.{kk}", f"unknown parameter of pruning method {k!r}; "
                                                     f"valid: {', '.join(valid) or '(none)'}")
                if isinstance(vv, dict | list):
                    raise _fail(path, f"{key}.{kk}", f"expected a single value, got {vv!r}")
                if kk in METHOD_FIELDS:
                    check_value(path, f"{key}.{kk}", kk, vv)
                _check_method_value(path, f"{key}.{kk}", k, {kk: vv})
        elif k in keys:
            if isinstance(v, dict | list):
                raise _fail(path, key, f"expected a single value, got {v!r}")
            if k in METHOD_FIELDS:
                check_value(path, key, k, v)
            for name in keys[k]:
                if name in METHODS:
                    _check_method_value(path, key, name, {k: v})
        else:
            raise _fail(path, key, f"unknown key; valid: {', '.join(sorted(keys))}, "
                                   f"or a table per method: {', '.join(METHODS)}")
    return dict(table)
