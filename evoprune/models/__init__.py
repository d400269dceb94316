"""Saved models and compact models: a run's genome as a safetensors file, and pruned genomes as small modules.

:func:`load_model` reads a run's model file; :func:`compact` removes what pruning
left dead (:mod:`~evoprune.models.compaction`).
"""

from .compaction import CompactAutoencoder, compact, export_compact
from .files import (
           export_model,
           export_state_dict,
           load_model,
           load_population,
           model_metadata,
           save_model,
           save_population,
)

__all__ = ["CompactAutoencoder", "compact", "export_compact", "export_model", "export_state_dict", "load_model",
           "load_population", "model_metadata", "save_model", "save_population"]
