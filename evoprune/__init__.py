"""evoprune: evolve and prune autoencoders with DEAP and PyTorch."""

from .architecture import Architecture, HalfSpec
from .genome import AutoencoderGenome
from .half import Half
from .models import load_model
from .schedules import SCHEDULES, Schedule, get_schedule

__all__ = ["Architecture", "AutoencoderGenome", "Half", "HalfSpec", "SCHEDULES", "Schedule", "get_schedule",
           "load_model"]
__version__ = "0.1.0"
