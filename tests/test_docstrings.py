"""Docs by value: every public callable on the API pages has a docstring, and those of the README's surface
describe each of their parameters.

The public modules are those of the ``.. automodule::`` directives in ``docs/api/*.rst``; their public
names are their ``__all__``.  On the surface (:data:`SURFACE`: what the README teaches a user to call),
for each function, each class's ``__init__`` (described in the class docstring, numpy style) and each
public method a class defines itself, every parameter of the signature except ``self``/``cls`` must be
named in the docstring's ``Parameters`` section; internals need a docstring (one line will do).  ``*args``/``**kwargs``
must be named too (as ``*args``/``**kwargs``, or without the stars).  A dataclass field may instead be
described by its ``#:`` doc comment (autodoc shows it as an attribute) or under ``Attributes``.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import re
from pathlib import Path

import pytest
from sphinx.pycode import ModuleAnalyzer

API_DIR = Path(__file__).resolve().parents[1] / "docs" / "api"
_AUTOMODULE = re.compile(r"^\.\. automodule:: (\S+)", re.MULTILINE)
_HEADER = re.compile(r"^(\S[^\n]*)\n(-{3,})\s*$", re.MULTILINE)


#: The README's surface: the modules a user builds a toolbox, a study or a model from.
SURFACE = {
    "evoprune.genome", "evoprune.half", "evoprune.architecture", "evoprune.layers", "evoprune.models",
    "evoprune.models.compaction", "evoprune.pruning", "evoprune.schedules", "evoprune.selection", "evoprune.training",
    "evoprune.evaluation", "evoprune.algorithms", "evoprune.data", "evoprune.data.files", "evoprune.testing",
    "evoprune.metrics", "evoprune.parallel", "evoprune.runs", "evoprune.study",
}


def api_modules() -> list[str]:
    """Module names of the ``automodule`` directives on the API pages."""
    return sorted({m for page in API_DIR.glob("*.rst") for m in _AUTOMODULE.findall(page.read_text())})


def documented_names(doc: str | None, sections: tuple[str, ...] = ("Parameters",)) -> set[str]:
    """Names listed in the given numpy-style sections of ``doc`` (``a, b : type`` lines count as ``a`` and ``b``)."""
    doc = inspect.cleandoc(doc or "")
    headers = list(_HEADER.finditer(doc))
    names: set[str] = set()
    for i, h in enumerate(headers):
        if h.group(1).strip() not in sections or len(h.group(2)) < len(h.group(1).strip()):
            continue
        end = headers[i + 1].start() if i + 1 < len(headers) else len(doc)
        for line in doc[h.end():end].splitlines():
            if line and not line[0].isspace():
                for name in re.split(r"\s*:(?:\s|$)", line)[0].split(","):
                    names.add(name.strip().strip("`").lstrip("*"))
    return names


_AS = re.compile(r"[Pp]arameters: as :func:`~?([\w.]+)`|other parameters: as :func:`~?([\w.]+)`")


def _delegated(func, doc: str | None) -> set[str]:
    """Parameters a twin's docstring leaves to another function's ("Parameters: as :func:`eaToroidalGrid`")."""
    m = _AS.search(" ".join((doc or "").split()))
    if not m:
        return set()
    name = m.group(1) or m.group(2)
    module = importlib.import_module(func.__module__)
    other = getattr(module, name.rsplit(".", 1)[-1], None)
    return documented_names(other.__doc__) if other is not None else set()


def missing_parameters(func, doc: str | None, extra: set[str] = frozenset()) -> list[str]:
    """Parameters of ``func``'s signature that ``doc`` (or the function it defers to) does not describe."""
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature
        return []
    named = documented_names(doc) | extra | _delegated(func, doc)
    return [p.name for p in params if p.name not in ("self", "cls") and p.name not in named]


def _field_docs(cls) -> set[str]:
    """Dataclass fields with a ``#:`` comment, and names under the class docstring's ``Attributes``."""
    names = documented_names(cls.__doc__, ("Attributes",))
    if dataclasses.is_dataclass(cls):
        try:
            attr_docs = ModuleAnalyzer.for_module(cls.__module__).find_attr_docs()
        except Exception:  # no source
            attr_docs = {}
        names |= {name for (scope, name) in attr_docs if scope == cls.__qualname__}
    return names


def problems(module_name: str) -> list[str]:
    """One line per public callable of ``module_name`` without a docstring or (on the surface) whose docstring
    misses a parameter."""
    module = importlib.import_module(module_name)
    out = []
    if module_name not in SURFACE:
        return [f"{module_name}.{name}: no docstring" for name in getattr(module, "__all__", ())
                if callable(getattr(module, name)) and not (getattr(module, name).__doc__ or "").strip()]
    for name in getattr(module, "__all__", ()):
        obj = getattr(module, name)
        if (inspect.isclass(obj) or inspect.isfunction(obj)) and not (obj.__doc__ or "").strip():
            out.append(f"{module_name}.{name}: no docstring (autodoc would leave it out)")
        if inspect.isclass(obj):
            init = obj.__dict__.get("__init__") or (obj.__init__ if dataclasses.is_dataclass(obj) else None)
            if init is not None and init is not object.__init__:
                miss = missing_parameters(obj, obj.__doc__, _field_docs(obj))
                if miss:
                    out.append(f"{module_name}.{name}: {miss}")
            for attr, member in vars(obj).items():
                if attr.startswith("_"):
                    continue
                func = member.__func__ if isinstance(member, classmethod | staticmethod) else member
                if inspect.isfunction(func):
                    # an override without a docstring shows (and is checked with) the one it inherits, as in autodoc
                    miss = missing_parameters(getattr(obj, attr), inspect.getdoc(getattr(obj, attr)))
                    if miss:
                        out.append(f"{module_name}.{name}.{attr}: {miss}")
        elif callable(obj) and (inspect.isfunction(obj) or inspect.isbuiltin(obj) or hasattr(obj, "__wrapped__")):
            miss = missing_parameters(obj, obj.__doc__)
            if miss:
                out.append(f"{module_name}.{name}: {miss}")
    return out


def test_api_pages_list_modules():
    assert len(api_modules()) > 20


@pytest.mark.parametrize("module_name", api_modules())
def test_every_surface_parameter_is_described_and_every_callable_has_a_docstring(module_name):
    assert not problems(module_name)


def test_the_surface_is_on_the_api_pages():
    assert SURFACE <= set(api_modules())


@pytest.mark.parametrize("module_name", api_modules())
def test_public_module_has_all(module_name):
    module = importlib.import_module(module_name)
    assert isinstance(getattr(module, "__all__", None), list | tuple), f"{module_name} has no __all__"
    for name in module.__all__:
        assert hasattr(module, name), f"{module_name}.__all__ names {name!r}, which it lacks"


def _bad(alpha: int, beta: str = "", *args, gamma: float = 0.0, **kwargs) -> None:
    """A deliberately incomplete docstring.

    Parameters
    ----------
    alpha : int
        Described.
    *args
        Described.

    Returns
    -------
    None
    """


class _Bad:
    """A class whose ``__init__`` parameter ``b`` is not described.

    Parameters
    ----------
    a
        Described.
    """

    def __init__(self, a: int, b: int) -> None:
        self.a, self.b = a, b


def _twin(alpha: int, beta: str = "", *args, gamma: float = 0.0, **kwargs) -> None:
    """A twin. Parameters: as :func:`_bad`."""


def test_checker_catches_undescribed_parameters():
    assert missing_parameters(_twin, _twin.__doc__) == ["beta", "gamma", "kwargs"]  # what _bad lacks
    assert missing_parameters(_bad, _bad.__doc__) == ["beta", "gamma", "kwargs"]
    assert missing_parameters(_Bad, _Bad.__doc__) == ["b"]
    assert missing_parameters(lambda x: x, None) == ["x"]
    assert documented_names("Summary.\n\nParameters\n----------\na, b : int\n    Both.\n") == {"a", "b"}
