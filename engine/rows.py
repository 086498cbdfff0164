"""Write what changed on a loaded row with one Core UPDATE, as the unit of work would, for less CPU.

The hot path (start a case, complete a task) changes an instance and a task row and nothing else
the ORM tracks. A flush costs several times the statement it sends; this sends the same
statement, with the same optimistic version check, and tells the session the row is written.
"""
from __future__ import annotations

from sqlalchemy import bindparam, inspect, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

_STATEMENTS: dict[tuple, object] = {}


def write_changes(session: Session, obj) -> bool:
    """UPDATE the changed columns of a persistent object now; False if the session must flush it.

    Only plain column changes are written here (relationships, primary keys and objects not
    yet inserted are left to the flush). A mapper's version counter is checked and bumped
    exactly as the ORM does, raising StaleDataError when another transaction got there first.
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
    for key in tuple(committed):
        set_committed_value(obj, key, dict_[key])
    if changed and version_col is not None:
        set_committed_value(obj, version_key, params[f"v_{version_key}"])
    if not state.committed_state:
        # Clean now: what a flush does after writing it, so the next flush need not visit it.
        state._commit_all(state.dict, session.identity_map)
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
