"""The tutorials' reading order in the gallery (sphinx-gallery sorts by this key)."""

ORDER = ["quickstart.py", "toolbox.py", "grid.py", "study.py", "custom_pruning.py", "own_autoencoder.py"]


class TutorialOrder:
    """Sort key for ``within_subsection_order``: the position in :data:`ORDER`."""

    def __init__(self, src_dir: str):
        self.src_dir = src_dir

    def __call__(self, filename: str) -> tuple[int, str]:
        return (ORDER.index(filename) if filename in ORDER else len(ORDER), filename)

    def __repr__(self) -> str:
        return f"TutorialOrder({ORDER})"
