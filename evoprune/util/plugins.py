"""Plugins: modules that register pruning methods (or settings) before a study is read.

Three routes lead to the same import: a study file's ``imports = ["my_pruning"]`` (looked for next to the
study file, then on ``sys.path``), ``evoprune run --import my_pruning`` (also in the current folder), and an
installed package's entry points in the ``evoprune.pruning`` group.  Workers get the module names and folders
with each job.  A study's ``model = "my_models:conv_ae"`` names a function of such a module that returns a user
model's ``(encoder, decoder)`` (:func:`user_model`).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

__all__ = ["ENTRY_POINT_GROUP", "PluginError", "import_plugins", "load_entry_points", "model_function",
           "split_model_entry", "user_model"]

#: The entry-point group an installed package registers its pruning methods (or settings) in.
ENTRY_POINT_GROUP = "evoprune.pruning"

_entry_points_loaded = False


class PluginError(ValueError):
    """A plugin module (or entry point) that cannot be imported."""


def load_entry_points() -> list[str]:
    """Import every entry point of the ``evoprune.pruning`` group (once per process); returns their names."""
    global _entry_points_loaded
    if _entry_points_loaded:
        return []
    _entry_points_loaded = True
    names = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            ep.load()
        except Exception as e:  # noqa: BLE001 -- any failure of third-party code is reported the same way
            raise PluginError(f"entry point {ep.name!r} ({ep.value}) of group {ENTRY_POINT_GROUP!r} cannot be "
                              f"imported: {type(e).__name__}: {e}") from e
        names.append(ep.name)
    return names


def _folder_of(name: str, folders: Iterable[Path]) -> Path | None:
    """The first folder holding module ``name`` (``name.py`` or a package ``name/``), if any."""
    top = name.split(".")[0]
    for folder in folders:
        if (folder / f"{top}.py").is_file() or (folder / top / "__init__.py").is_file():
            return folder.resolve()
    return None


def import_plugins(names: Sequence[str], folders: Sequence[str | Path] = ()) -> tuple[str, ...]:
    """Import the modules ``names`` (``folders`` first, then ``sys.path``); the folders they were found in."""
    load_entry_points()
    found: list[str] = []
    for name in names:
        if not isinstance(name, str) or not name or not all(p.isidentifier() for p in name.split(".")):
            raise PluginError(f"not a module name: {name!r} (expected a dotted name such as 'my_pruning')")
        folder = _folder_of(name, [Path(f) for f in folders])
        if folder is not None:
            if str(folder) not in sys.path:
                sys.path.insert(0, str(folder))
            found.append(str(folder))
        try:
            importlib.import_module(name)
        except Exception as e:  # noqa: BLE001 -- a missing module, or one that fails while running
            where = ", ".join(str(f) for f in folders)
            hint = f" (looked next to {where} and on sys.path)" if isinstance(e, ModuleNotFoundError) and where else ""
            detail = " ".join(str(e).split())
            raise PluginError(f"cannot import module {name!r}{hint}: {type(e).__name__}: {detail}") from e
    return tuple(dict.fromkeys(found))


def split_model_entry(entry: Any) -> tuple[str, str]:
    """``"module:function"`` as ``(module, function)``; PluginError for anything else."""
    parts = entry.split(":") if isinstance(entry, str) else []
    if len(parts) != 2 or not parts[1].isidentifier() or not all(p.isidentifier() for p in parts[0].split(".")):
        raise PluginError(f"model {entry!r} is not of the form 'module:function' (e.g. 'my_models:conv_ae')")
    return parts[0], parts[1]


def model_function(entry: str, folders: Sequence[str | Path] = ()) -> tuple[Callable[[], Any], tuple[str, ...]]:
    """The function a model entry ``"module:function"`` names, and the folder its module was found in."""
    module, name = split_model_entry(entry)
    try:
        found = import_plugins([module], folders)
    except PluginError as e:
        raise PluginError(f"model {entry!r}: {e}") from e
    func = getattr(sys.modules[module], name, None)
    if not callable(func):
        what = "no such function" if func is None else f"{name!r} is a {type(func).__name__}, not a function"
        raise PluginError(f"model {entry!r}: module {module!r} ({sys.modules[module].__file__}) has {what}"
                          + (f" {name!r}" if func is None else ""))
    return func, found


def user_model(entry: str, folders: Sequence[str | Path] = ()) -> tuple[Any, Any]:
    """The ``(encoder, decoder)`` a model entry's function returns (torch's global random state untouched)."""
    import torch
    from torch import nn

    func, _ = model_function(entry, folders)
    try:
        with torch.random.fork_rng(devices=[]):  # the modules' own initialisation leaves torch's global RNG as it was
            out = func()
    except Exception as e:  # noqa: BLE001 -- any failure of user code is reported the same way
        raise PluginError(f"model {entry!r}: calling it failed: {type(e).__name__}: {e}") from e
    if not (isinstance(out, tuple | list) and len(out) == 2 and all(isinstance(m, nn.Module) for m in out)):
        got = (f"a {type(out).__name__} of {len(out)}" if isinstance(out, tuple | list)
               else f"a {type(out).__name__}")
        raise PluginError(f"model {entry!r} did not return two modules (encoder, decoder); it returned {got}")
    return out[0], out[1]
