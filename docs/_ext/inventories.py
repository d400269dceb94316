"""Offline intersphinx inventories for the external names the API reference links to.

The docs build has no network, so instead of downloading each project's ``objects.inv`` this
module holds the few external names the docs actually reference, with their real addresses on
each project's site, and writes a small Sphinx inventory (format version 2) per project.
``conf.py`` points ``intersphinx_mapping`` at those files.

Each table row is ``(name, role, uri)``; ``uri`` is relative to the project's base URL.
``ALIASES`` maps the module paths Python reports at runtime (what autodoc writes for a type
hint, e.g. ``torch.nn.modules.module.Module``) to the documented name, and is written as
extra inventory lines with the documented name's address.
"""

from __future__ import annotations

import zlib
from pathlib import Path

#: Project -> (base URL, display name, [(name, domain:role, uri), ...]).
PROJECTS: dict[str, tuple[str, str, list[tuple[str, str, str]]]] = {
    "python": ("https://docs.python.org/3/", "Python", [
        ("None", "py:data", "library/constants.html#None"),
        ("bool", "py:class", "library/functions.html#bool"),
        ("int", "py:class", "library/functions.html#int"),
        ("float", "py:class", "library/functions.html#float"),
        ("str", "py:class", "library/stdtypes.html#str"),
        ("bytes", "py:class", "library/stdtypes.html#bytes"),
        ("list", "py:class", "library/stdtypes.html#list"),
        ("tuple", "py:class", "library/stdtypes.html#tuple"),
        ("dict", "py:class", "library/stdtypes.html#dict"),
        ("object", "py:class", "library/functions.html#object"),
        ("type", "py:class", "library/functions.html#type"),
        ("ValueError", "py:exception", "library/exceptions.html#ValueError"),
        ("pathlib.Path", "py:class", "library/pathlib.html#pathlib.Path"),
        ("os.PathLike", "py:class", "library/os.html#os.PathLike"),
        ("argparse.ArgumentParser", "py:class", "library/argparse.html#argparse.ArgumentParser"),
        ("concurrent.futures.ProcessPoolExecutor", "py:class",
         "library/concurrent.futures.html#concurrent.futures.ProcessPoolExecutor"),
        ("collections.abc.Callable", "py:class", "library/collections.abc.html#collections.abc.Callable"),
        ("collections.abc.Generator", "py:class", "library/collections.abc.html#collections.abc.Generator"),
        ("collections.abc.Iterable", "py:class", "library/collections.abc.html#collections.abc.Iterable"),
        ("collections.abc.Iterator", "py:class", "library/collections.abc.html#collections.abc.Iterator"),
        ("collections.abc.Mapping", "py:class", "library/collections.abc.html#collections.abc.Mapping"),
        ("collections.abc.Sequence", "py:class", "library/collections.abc.html#collections.abc.Sequence"),
        ("typing.Any", "py:data", "library/typing.html#typing.Any"),
        ("types.ModuleType", "py:class", "library/types.html#types.ModuleType"),
        ("time.monotonic", "py:function", "library/time.html#time.monotonic"),
        ("concurrent.futures.Future", "py:class", "library/concurrent.futures.html#concurrent.futures.Future"),
    ]),
    "numpy": ("https://numpy.org/doc/stable/", "NumPy", [
        ("numpy.ndarray", "py:class", "reference/generated/numpy.ndarray.html#numpy.ndarray"),
        ("numpy.integer", "py:class", "reference/arrays.scalars.html#numpy.integer"),
        ("numpy.random.Generator", "py:class", "reference/random/generator.html#numpy.random.Generator"),
        ("numpy.random.SeedSequence", "py:class",
         "reference/random/bit_generators/generated/numpy.random.SeedSequence.html#numpy.random.SeedSequence"),
    ]),
    "scipy": ("https://docs.scipy.org/doc/scipy/", "SciPy", [
        ("scipy.stats.friedmanchisquare", "py:function",
         "reference/generated/scipy.stats.friedmanchisquare.html#scipy.stats.friedmanchisquare"),
        ("scipy.stats.wilcoxon", "py:function", "reference/generated/scipy.stats.wilcoxon.html#scipy.stats.wilcoxon"),
        ("scipy.stats.mannwhitneyu", "py:function",
         "reference/generated/scipy.stats.mannwhitneyu.html#scipy.stats.mannwhitneyu"),
        ("scipy.stats.kruskal", "py:function", "reference/generated/scipy.stats.kruskal.html#scipy.stats.kruskal"),
    ]),
    "torch": ("https://docs.pytorch.org/docs/stable/", "PyTorch", [
        ("torch.Tensor", "py:class", "tensors.html#torch.Tensor"),
        ("torch.device", "py:class", "tensor_attributes.html#torch.device"),
        ("torch.dtype", "py:class", "tensor_attributes.html#torch.dtype"),
        ("torch.nn.Module", "py:class", "generated/torch.nn.Module.html#torch.nn.Module"),
        ("torch.nn.Sequential", "py:class", "generated/torch.nn.Sequential.html#torch.nn.Sequential"),
        ("torch.nn.utils.prune", "py:module", "nn.html#module-torch.nn.utils.prune"),
    ]),
    "deap": ("https://deap.readthedocs.io/en/master/", "DEAP", [
        ("deap.base.Toolbox", "py:class", "api/base.html#deap.base.Toolbox"),
        ("deap.tools.Statistics", "py:class", "api/tools.html#deap.tools.Statistics"),
        ("deap.tools.MultiStatistics", "py:class", "api/tools.html#deap.tools.MultiStatistics"),
        ("deap.tools.Logbook", "py:class", "api/tools.html#deap.tools.Logbook"),
        ("deap.tools.HallOfFame", "py:class", "api/tools.html#deap.tools.HallOfFame"),
        ("deap.tools.selBest", "py:function", "api/tools.html#deap.tools.selBest"),
        ("deap.tools.selNSGA2", "py:function", "api/tools.html#deap.tools.selNSGA2"),
        ("deap.algorithms.eaMuPlusLambda", "py:function", "api/algo.html#deap.algorithms.eaMuPlusLambda"),
        ("deap.benchmarks.tools.hypervolume", "py:function", "api/benchmarks.html#deap.benchmarks.tools.hypervolume"),
    ]),
    "pandas": ("https://pandas.pydata.org/docs/", "pandas", [
        ("pandas.DataFrame", "py:class", "reference/api/pandas.DataFrame.html#pandas.DataFrame"),
    ]),
}

#: Runtime module paths (as type hints are written out) -> the documented name.  The two bare names
#: come from class signatures, whose string annotations autodoc does not evaluate.
ALIASES = {
    "Path": "pathlib.Path",
    "nn.Sequential": "torch.nn.Sequential",
    "numpy.random._generator.Generator": "numpy.random.Generator",
    "torch.nn.modules.module.Module": "torch.nn.Module",
    "concurrent.futures._base.Future": "concurrent.futures.Future",
    "torch.nn.modules.container.Sequential": "torch.nn.Sequential",
    "deap.tools.support.Statistics": "deap.tools.Statistics",
    "deap.tools.support.MultiStatistics": "deap.tools.MultiStatistics",
    "deap.tools.support.Logbook": "deap.tools.Logbook",
    "deap.tools.support.HallOfFame": "deap.tools.HallOfFame",
    "pandas.core.frame.DataFrame": "pandas.DataFrame",
}


def inventory_bytes(project: str, entries: list[tuple[str, str, str]]) -> bytes:
    """One project's ``objects.inv`` (version 2): four header lines, then zlib-compressed entry lines."""
    by_name = {name: (role, uri) for name, role, uri in entries}
    lines = [f"{name} {role} 1 {uri} -" for name, role, uri in entries]
    lines += [f"{alias} {by_name[target][0]} 1 {by_name[target][1]} {target}"
              for alias, target in ALIASES.items() if target in by_name]
    header = (f"# Sphinx inventory version 2\n# Project: {project}\n# Version: \n"
              "# The remainder of this file is compressed using zlib.\n")
    return header.encode() + zlib.compress(("\n".join(lines) + "\n").encode())


def write_inventories(folder: Path) -> dict[str, tuple[str, str]]:
    """Write every project's inventory into ``folder``; return an ``intersphinx_mapping`` for them."""
    folder.mkdir(parents=True, exist_ok=True)
    mapping = {}
    for key, (base, title, entries) in PROJECTS.items():
        path = folder / f"{key}.inv"
        data = inventory_bytes(title, entries)
        if not path.exists() or path.read_bytes() != data:
            path.write_bytes(data)
        mapping[key] = (base, str(path))
    return mapping
