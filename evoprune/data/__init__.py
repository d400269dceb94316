"""Data sets: built-in data (binary clustering, digits), a user's files (:mod:`~evoprune.data.files`), and
the container every one is returned as (:class:`~evoprune.data.Dataset`)."""

from .builtin import DATASETS, binary_clustering, digits, load_dataset
from .dataset import Dataset, check_data, check_row_shape
from .files import load_array, load_idx, read_idx

__all__ = ["DATASETS", "Dataset", "binary_clustering", "check_data", "check_row_shape", "digits", "load_array",
           "load_dataset", "load_idx", "read_idx"]
