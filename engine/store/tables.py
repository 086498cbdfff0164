"""Every table Pingan has, gathered for whatever needs them all: Alembic, ``create_all``, tests.

The core tables are engine/store/models.py; each capability keeps its own in its subpackage, importing
the core models it refers to. Add one line here for a new module of tables. Nothing in the engine
imports this module except the schema code: the engine's own code imports the tables it uses.
"""
from __future__ import annotations

from ..board import aggregates as board_aggregates
from ..board import models as board_models
from ..org import calendar
from ..signing import models as signing_models
from ..studio import migration_models, models as studio_models
from . import models
from .db import Base

metadata = Base.metadata

__all__ = ["metadata", "models", "calendar", "board_models", "board_aggregates", "signing_models", "studio_models",
           "migration_models"]
