"""evoprune: evolve and prune autoencoders with DEAP and PyTorch."""

from .genome import Architecture, AutoencoderGenome, Half, HalfSpec
from .models import load_model
from .schedules import SCHEDULES, Schedule, get_schedule

__all__ = ["Architecture", "AutoencoderGenome", "Half", "HalfSpec", "SCHEDULES", "Schedule", "get_schedule",
           "load_model"]
__version__ = "0.1.0"
