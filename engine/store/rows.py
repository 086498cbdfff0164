"""Rows read and written with Core on the hot path, and the session's objects kept true to them.

Starting a case and completing a task read the case, its task and its projections as rows and
write them with prebuilt Core statements: no unit of work, no autoflush, no ORM load. Callers
still get the ``Instance`` and ``HumanTask`` objects they always did: ``attach`` makes them from
the rows (or refreshes the ones the session already holds) and ``put`` sets what a step wrote as
their committed values, so they stay clean and say what the database says, without a query.
Only public SQLAlchemy API is used for this (``InstanceState.dict``, ``set_committed_value``,
``make_transient_to_detached``, ``Session.add``).
"""
from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import NamedTuple

from sqlalchemy import bindparam, insert, inspect, select, union_all, update
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.orm.util import identity_key

_STATEMENTS: dict[tuple, object] = {}


def attach(session: Session, model, values: dict):
    """The session's object for a row read with Core: the one it holds, refreshed, or a new clean one.

    No SQL: what the row did not carry is left expired (loaded when first touched), as a
    refreshed object would have it. A held object takes the row's values, as a query with
    ``populate_existing`` would give them.
    """
    obj = session.identity_map.get(identity_key(model, values["id"]))
    if obj is None:
        if not values.keys() <= _column_keys(model):
            raise TypeError(f"{model.__name__} has no column {sorted(values.keys() - _column_keys(model))}")
        # The row's values go in as loaded ones, into the state's dict, where the ORM's loader
        # puts them: half the cost of passing them to the constructor, whose every attribute
        # set is an event and a change for make_transient_to_detached to commit again.
        obj = model()
        inspect(obj).dict.update(values)
        make_transient_to_detached(obj)  # persistent-to-be and clean: nothing for a flush to do
        session.add(obj)
        return obj
    put(obj, **values)
    return obj


@cache
def _column_keys(model) -> frozenset:
    return frozenset(inspect(model).column_attrs.keys())


def put(obj, **values) -> None:
    """Set values a Core statement wrote (or is about to write in this step) as the object's committed ones."""
    for key, value in values.items():
        set_committed_value(obj, key, value)


def write_changes(session: Session, obj) -> bool:
    """UPDATE the changed columns of a persistent object now; False if the session must flush it.

    For objects other code changed through the ORM before a save (the hot path changes none).
    Only plain column changes are written here (relationships, primary keys and objects not
    yet inserted are left to the flush). A mapper's version counter is checked and bumped
    exactly as the ORM does, raising StaleDataError when another transaction got there first.
    The object keeps no pending change; the session may still list it as modified (a flush
    then finds nothing to write).
    """
    state = inspect(obj)
    if not state.persistent or state.session is not session:
        return False
    mapper = state.mapper
    dict_, committed = state.dict, state.committed_state
    if any(key not in dict_ for key in committed):
        return False
    # As the ORM does: a value set back to what was loaded is not written (a JSON None would
    # otherwise become the JSON text 'null').
    changed = tuple(sorted(key for key in committed
                           if not state.manager[key].impl.is_equal(dict_[key], committed[key])))
    version_col = mapper.version_id_col
    version_key = mapper.get_property_by_column(version_col).key if version_col is not None else None
    if changed:
        columns = mapper.column_attrs
        (pk,) = mapper.primary_key
        if (any(key not in columns or columns[key].columns[0].key != key for key in changed) or pk.key in changed
                or (version_key and (version_key in changed or version_key not in dict_))):
            return False
        params = {f"v_{key}": dict_[key] for key in changed}
        params["w_pk"] = state.identity[0]
        if version_col is not None:
            params["w_version"], params[f"v_{version_key}"] = dict_[version_key], dict_[version_key] + 1
        result = session.connection().execute(_statement(mapper.local_table, pk, version_col, changed), params)
        if result.rowcount != 1:
            raise StaleDataError(f"UPDATE statement on table '{mapper.local_table.name}' expected to update 1 row(s); "
                                 f"{result.rowcount} were matched.")
    put(obj, **{key: dict_[key] for key in tuple(committed)})
    if changed and version_col is not None:
        put(obj, **{version_key: params[f"v_{version_key}"]})
    return True


def _statement(table, pk, version_col, changed: tuple):
    key = (table.name, changed)
    stmt = _STATEMENTS.get(key)
    if stmt is None:
        values = {table.c[k]: bindparam(f"v_{k}") for k in changed}
        stmt = update(table).where(pk == bindparam("w_pk"))
        if version_col is not None:
            values[version_col] = bindparam(f"v_{version_col.key}")
            stmt = stmt.where(version_col == bindparam("w_version"))
        stmt = stmt.values(values)
        _STATEMENTS[key] = stmt
    return stmt


# Rows a step inserts that can go inside its save's one statement (engine/runtime/lifecycle.py,
# write_step, on PostgreSQL); more than this many are inserted at once, on their own.
INSERT_IN_ONE = 8


class Selected(NamedTuple):
    """Rows a SELECT of their own gives (a notice to every holder of a role), inserted like a table's.

    ``row(prefix)`` is the SELECT for one entry, its parameters named ``<prefix><key>`` after the
    keys of the entry's dict; ``statement`` inserts one entry on its own (parameters unprefixed).
    """
    table: object
    columns: tuple[str, ...]
    row: Callable[[str], object]
    statement: object


def insert_rows(target, columns: tuple[str, ...], count: int, prefix: str):
    """An INSERT of ``count`` rows valued by typed parameters ``<prefix><i>_<column>`` (``bound_rows``).

    ``target`` is a table (``columns`` are the rows' keys) or a ``Selected`` (each entry is the
    rows of its SELECT). For a data-modifying CTE of another statement. INSERT … SELECT … UNION
    ALL, not a multi-row VALUES: SQLAlchemy caches the compiled form of this one only.
    """
    if isinstance(target, Selected):
        table, columns = target.table, target.columns
        rows = [target.row(f"{prefix}{i}_") for i in range(count)]
    else:
        table = target
        rows = [select(*(bindparam(f"{prefix}{i}_{c}", type_=table.c[c].type) for c in columns)) for i in range(count)]
    return insert(table).from_select(list(columns), rows[0] if count == 1 else union_all(*rows))


def bound_rows(rows: list[dict], prefix: str) -> dict:
    """The parameters of ``insert_rows`` for ``rows`` (each with the same keys, in the same order)."""
    return {f"{prefix}{i}_{c}": value for i, row in enumerate(rows) for c, value in row.items()}


def insert_now_or_later(connection, target, rows: list[dict], later: list | None) -> None:
    """Insert ``rows`` now, or leave them in ``later`` for the save to send.

    ``target``: a prebuilt INSERT of one table, or a ``Selected``. ``later`` is a step's list of
    inserts its save writes inside its one statement; None where there is none (SQLite, or outside
    a save), and then, as for many rows, they go at once.
    """
    if later is not None and len(rows) <= INSERT_IN_ONE:
        later.append((target if isinstance(target, Selected) else target.table, rows))
    else:
        statement = target.statement if isinstance(target, Selected) else target
        connection.execute(statement, rows if len(rows) > 1 else rows[0])
