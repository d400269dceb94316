"""evoprune: evolve and prune autoencoders with DEAP and PyTorch."""

from .genome import Architecture, AutoencoderGenome, Half, HalfSpec
from .schedules import SCHEDULES, Schedule, get_schedule

__all__ = ["Architecture", "AutoencoderGenome", "Half", "HalfSpec", "SCHEDULES", "Schedule", "get_schedule"]
__version__ = "0.1.0"
