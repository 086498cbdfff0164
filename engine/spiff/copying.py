"""Copy workflow data fast: JSON-shaped values by hand, anything else through ``copy.deepcopy``."""
from __future__ import annotations

import copy

SCALARS = (str, int, float, bool, type(None))  # immutable: shared, never copied


def copy_data(value):
    """Return a deep copy of ``value``.

    Stored states and case data are dicts, lists and scalars; copying those directly is about
    four times cheaper than ``copy.deepcopy``, which a load, a step and a dump each did several
    times. Other values (dates, decimals a script made) are deep-copied as before.
    """
    kind = type(value)
    if kind is dict:
        return {k: copy_data(v) for k, v in value.items()}
    if kind is list:
        return [copy_data(v) for v in value]
    if kind in SCALARS:
        return value
    return copy.deepcopy(value)
