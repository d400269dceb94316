"""The error of a study file that cannot be run."""

from __future__ import annotations


class StudyError(ValueError):
    """A study file that cannot be run; the message names the file and the key."""


def _fail(path, key: str, msg: str) -> StudyError:
    return StudyError(f"{path}: {key}: {msg}")
