"""Studies: study files, the runner, checkpoints and the report (``load_results`` gives a study's results)."""

__all__ = ["load_results"]


def __getattr__(name: str):
    if name == "load_results":  # pandas is imported only when results are read
        from .store.load import load_results

        return load_results
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
