"""The living demo: a realistic history of the demo county, made by the engine itself (`pingan demo seed`)."""
from .history import MIN_CASES, SeedReport, seed_history
from .play import SeedFailed

__all__ = ["seed_history", "SeedReport", "SeedFailed", "MIN_CASES"]
