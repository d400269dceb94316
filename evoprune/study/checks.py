"""Checks of a study file's tables (``[run]``, ``[settings.X]``, their pruning tables, ``[data]``), and the error a
study that cannot be run raises, naming the file and the key."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import Any

from ..data import DATASETS
from ..pruning import METHODS, get_method
from ..runs import SETTINGS, RunConfig
from ..runs.config import METHOD_FIELDS

__all__ = ["StudyError", "check_data_table", "check_factors", "check_groups", "check_pruning_table", "check_run_table",
           "check_settings", "check_value", "fail", "merge_pruning", "method_fields"]

RUN_FIELDS = {f.name: f for f in dataclasses.fields(RunConfig)}  # "pruning" is a table, checked on its own


class StudyError(ValueError):
    """A study file that cannot be run; the message names the file and the key."""


def fail(path, key: str, msg: str) -> StudyError:
    """The error for ``key`` of the study file ``path``."""
    return StudyError(f"{path}: {key}: {msg}")


#: Python types a TOML value may have for each RunConfig field type, and how to say it.
_TYPES: dict[str, tuple[type | tuple[type, ...], str]] = {
    "int": (int, "int"),
    "int | None": (int, "int"),  # None (the default) cannot be written in TOML: leave the key out
    "float": ((int, float), "float"),
    "float | None": ((int, float), "float"),
    "str": (str, "str"),
    "str | None": (str, "str"),  # None (the default) cannot be written in TOML: leave the key out
    "bool": (bool, "true or false"),
    "bool | None": (bool, "true or false"),  # None (the default) cannot be written in TOML: leave the key out
}


def check_type(path, key: str, value: Any, field: dataclasses.Field) -> None:
    expected = _TYPES.get(str(field.type))
    if expected is None:
        return
    types, words = expected
    if (isinstance(value, bool) and types is not bool) or not isinstance(value, types):
        raise fail(path, key, f"expected {words}, got {type(value).__name__} {value!r}")


def check_value(path, key: str, field: str, value: Any) -> None:
    """Type-check one RunConfig value and let RunConfig (or, for a setting's own field, the setting) validate it
    alone (names, ranges)."""
    check_type(path, key, value, RUN_FIELDS[field])
    owner = next((s for s in SETTINGS.values() if field in s.fields), None)
    try:
        if owner is not None:
            owner.check_field(field, value)
        else:
            RunConfig(**{field: value})
    except (ValueError, TypeError) as e:
        raise fail(path, key, str(e)) from e


def check_run_table(path, prefix: str, table: Any) -> dict[str, Any]:
    """``table`` (``[run]`` or ``[settings.X]``) as a dict, every key a RunConfig field with a valid value."""
    if not isinstance(table, dict):
        raise fail(path, prefix, f"expected a table, got {table!r}")
    for k, v in table.items():
        if k not in RUN_FIELDS:
            raise fail(path, f"{prefix}.{k}", f"unknown key; valid: {', '.join(sorted(RUN_FIELDS))}")
        if k == "pruning":
            check_pruning_table(path, f"{prefix}.pruning", v, check_value)
            continue
        check_value(path, f"{prefix}.{k}", k, v)
    for k in METHOD_FIELDS:
        if k in table and k in table.get("pruning", {}):
            raise fail(path, f"{prefix}.pruning.{k}", f"also set as {prefix}.{k}: set it in one place")
    return dict(table)


def check_data_table(path, table: Any) -> dict[str, Any]:
    """The ``[data]`` table as a dict: a dataset name (or file path) and that dataset's own arguments."""
    if not isinstance(table, dict) or "name" not in table:
        raise fail(path, "data", "needs a table with at least 'name' (a dataset or a .npy/.npz/IDX path)")
    name = table["name"]
    if not isinstance(name, str) or not name:
        raise fail(path, "data.name", f"expected a dataset name or a file path (a string), got {name!r}")
    func = DATASETS.get(name)
    if func is not None:
        params = set(inspect.signature(func).parameters)
        for k in table:
            if k != "name" and k not in params:
                raise fail(
                    path, f"data.{k}", f"unknown argument of dataset {name!r}; valid: {', '.join(sorted(params))}"
                )
    return dict(table)


def merge_pruning(base: dict, over: dict) -> dict:
    """A ``[settings.X.pruning]`` table over the ``[run.pruning]`` table (method tables merged key by key)."""
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in base.items()}
    for k, v in over.items():
        out[k] = {**out.get(k, {}), **v} if isinstance(v, dict) else v
    return out


def method_fields(table: dict, operator: str) -> dict[str, Any]:
    """The RunConfig fields one operator gets from a pruning table (``amount``, ``n_cases``, ``pruning``)."""
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
        raise fail(path, key, str(e)) from e


def check_pruning_table(path, prefix: str, table: Any, check_value: Callable) -> dict[str, Any]:
    """Check a ``[run.pruning]`` / ``[settings.X.pruning]`` table (``check_value`` checks run fields' values)."""
    if not isinstance(table, dict):
        raise fail(path, prefix, f"expected a table of pruning parameters, got {table!r}")
    keys = _pruning_keys()
    for k, v in table.items():
        key = f"{prefix}.{k}"
        if k in METHODS:
            if not isinstance(v, dict):
                raise fail(path, key, f"expected a table of parameters of method {k!r}, got {v!r}")
            valid = METHODS[k].hyper_parameters()
            for kk, vv in v.items():
                if kk not in valid:
                    raise fail(path, f"{key}.{kk}", f"unknown parameter of pruning method {k!r}; "
                                                     f"valid: {', '.join(valid) or '(none)'}")
                if isinstance(vv, dict | list):
                    raise fail(path, f"{key}.{kk}", f"expected a single value, got {vv!r}")
                if kk in METHOD_FIELDS:
                    check_value(path, f"{key}.{kk}", kk, vv)
                _check_method_value(path, f"{key}.{kk}", k, {kk: vv})
        elif k in keys:
            if isinstance(v, dict | list):
                raise fail(path, key, f"expected a single value, got {v!r}")
            if k in METHOD_FIELDS:
                check_value(path, key, k, v)
            for name in keys[k]:
                if name in METHODS:
                    _check_method_value(path, key, name, {k: v})
        else:
            raise fail(path, key, f"unknown key; valid: {', '.join(sorted(keys))}, "
                                   f"or a table per method: {', '.join(METHODS)}")
    return dict(table)


def check_settings(path, raw: dict) -> dict[str, dict[str, Any]]:
    """The ``[settings.X]`` tables, each a known setting's RunConfig fields."""
    settings = raw.get("settings", {})
    if not isinstance(settings, dict):
        raise fail(path, "settings", "expected tables [settings.canonical] / [settings.grid]")
    for name, table in settings.items():
        if name not in SETTINGS:
            raise fail(path, f"settings.{name}", f"unknown setting; valid: {', '.join(SETTINGS)}")
        settings[name] = check_run_table(path, f"settings.{name}", table)
    return settings


def _check_key(path, key: str, k: str) -> None:
    if k not in RUN_FIELDS or k == "pruning":
        raise fail(path, key, f"unknown key; valid: {', '.join(sorted(RUN_FIELDS))}")


def check_factors(path, raw: dict) -> dict[str, list]:
    """The ``[factors]`` table: RunConfig fields, each with a non-empty list of valid values."""
    factors = raw.get("factors", {})
    if not isinstance(factors, dict):
        raise fail(path, "factors", "expected a table of lists")
    for k, values in factors.items():
        _check_key(path, f"factors.{k}", k)
        if not isinstance(values, list) or not values:
            raise fail(path, f"factors.{k}", f"expected a non-empty list, got {values!r}")
        for v in values:
            check_value(path, f"factors.{k}", k, v)
    return factors


def check_groups(path, raw: dict) -> list[dict[str, Any]]:
    """The ``[[groups]]`` tables: RunConfig fields of one group each, and an optional ``variant`` name."""
    groups = raw.get("groups", [])
    if not isinstance(groups, list) or not all(isinstance(g, dict) and g for g in groups):
        raise fail(path, "groups", "expected [[groups]] tables, each with the fields of one group")
    for i, g in enumerate(groups):
        for k, v in g.items():
            if k != "variant":
                _check_key(path, f"groups[{i}].{k}", k)
                check_value(path, f"groups[{i}].{k}", k, v)
            elif not (isinstance(v, str) and v and all(c.isalnum() or c in "-_." for c in v)):
                raise fail(path, f"groups[{i}].variant", f"expected a name of letters, digits, - _ or ., got {v!r}")
    return groups
