"""Live workflows kept between requests, so completing a task need not restore the case's state.

Restoring a workflow from its stored state is most of what a load costs (docs/performance.md).
The workflow a request saved is kept here, keyed by the case's id and the ``lock_version`` its
row got from that save, and the next request that locks the row at that same version takes it
instead of restoring. This is only right because the workflow a save leaves in memory is the one
a restore of the saved state gives (engine/spiff/values.py, ``Runner.dump``;
tests/engine/test_state_round_trip.py proves it on every step of every shipped scenario).

Rules that keep a kept workflow true to the database:

* ``take`` removes the entry: a workflow is used by one transaction at a time, and one that a
  failed transaction changed is never seen again. Only a commit puts a workflow back.
* A workflow goes in only after its transaction committed for good (``keep_after_commit``):
  not on a savepoint's release inside a transaction that may still roll back, never after a
  rollback. Any rollback of the session, even of a savepoint, drops what it was to keep.
* The version must match and so must a fingerprint (the definition and the root task's id), so
  an id a rolled-back or deleted case used again cannot meet another case's workflow.
* A workflow may be kept with a companion: what its saver knew of the case's other rows at that
  version (engine/runtime/sync.py keeps its projection rows so), valid exactly as long as the
  workflow is. The cache never looks inside one.

``DEFAULT_SIZE`` bounds the number of workflows per process (least recently used go first); a
kept workflow costs about what its state costs as Python objects, typically tens of kilobytes.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from sqlalchemy import event
from sqlalchemy.orm import Session

__all__ = ["DEFAULT_SIZE", "WorkflowCache", "keep_after_commit", "live_workflows", "take", "take_kept", "take_kept_if"]

# Workflows kept per process: the cases being worked on right now. A web process of 8 threads
# completes far fewer distinct cases a minute; 128 keeps a few hundred megabytes out of reach.
DEFAULT_SIZE = 128

_PENDING = "pingan.live_workflows"  # session.info: what this session's commit will keep


@dataclass(frozen=True)
class _Entry:
    version: int
    fingerprint: tuple
    workflow: object
    companion: object = None


class WorkflowCache:
    """A bounded, thread-safe LRU of live workflows keyed by case id, valid for one row version."""

    def __init__(self, size: int = DEFAULT_SIZE):
        if size < 0:
            raise ValueError(f"size must be 0 or more, got {size}")
        self.size = size
        self._entries: OrderedDict[int, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def take(self, instance_id: int, *, version: int, fingerprint: tuple = ()) -> object | None:
        """Remove and return the case's workflow if it was kept at exactly this version and fingerprint."""
        kept = self.take_kept(instance_id, version=version, fingerprint=fingerprint)
        return None if kept is None else kept[0]

    def take_kept(self, instance_id: int, *, version: int, fingerprint: tuple = ()) -> tuple[object, object] | None:
        """``take``, returning the workflow with the companion kept beside it."""
        return self.take_kept_if(instance_id, version=version, accept=lambda kept: kept == fingerprint)

    def take_kept_if(self, instance_id: int, *, version: int, accept) -> tuple[object, object] | None:
        """``take_kept`` for a caller that tells a matching fingerprint by ``accept(fingerprint)``.

        For a caller holding the case's state as text, not decoded (engine/runtime/lifecycle.py).
        """
        with self._lock:
            entry = self._entries.pop(instance_id, None)
            if entry is None or entry.version != version or not accept(entry.fingerprint):
                self.misses += 1
                return None
            self.hits += 1
            return entry.workflow, entry.companion

    def put(self, instance_id: int, *, version: int, workflow, fingerprint: tuple = (), companion=None) -> None:
        """Keep the workflow a committed transaction saved at ``version``, dropping the least recently used."""
        if self.size == 0:
            return
        with self._lock:
            self._entries.pop(instance_id, None)
            self._entries[instance_id] = _Entry(version, fingerprint, workflow, companion)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def evict(self, instance_id: int) -> None:
        """Forget the case's workflow."""
        with self._lock:
            self._entries.pop(instance_id, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, instance_id: int) -> bool:
        return instance_id in self._entries


live_workflows = WorkflowCache()


def take(instance_id: int, *, version: int, fingerprint: tuple = (), cache: WorkflowCache | None = None):
    """Return the case's kept workflow for this row version, or None (then restore it from its state)."""
    return (cache or live_workflows).take(instance_id, version=version, fingerprint=fingerprint)


def take_kept(instance_id: int, *, version: int, fingerprint: tuple = (), cache: WorkflowCache | None = None):
    """Return the case's kept workflow and its companion for this row version, or None."""
    return (cache or live_workflows).take_kept(instance_id, version=version, fingerprint=fingerprint)


def take_kept_if(instance_id: int, *, version: int, accept, cache: WorkflowCache | None = None):
    """Return the case's kept workflow and its companion for this row version if ``accept`` takes its fingerprint."""
    return (cache or live_workflows).take_kept_if(instance_id, version=version, accept=accept)


def keep_after_commit(session: Session, *, instance_id: int, version: int, workflow, fingerprint: tuple = (),
                      cache: WorkflowCache | None = None, companion=None) -> None:
    """Keep ``workflow`` as the case's state at ``version`` once this session's transaction commits for good.

    Called after each save; the last save of a case in the transaction wins. A rollback, a
    session closed without commit, or a commit that only releases a savepoint keeps nothing.
    """
    pending = session.info.get(_PENDING)
    if pending is None:
        pending = session.info[_PENDING] = {}
    pending[instance_id] = (cache or live_workflows, session.connection(), version, fingerprint, workflow, companion)


def _committed(session: Session) -> None:
    if _PENDING not in session.info:
        return
    pending = session.info.pop(_PENDING)
    for instance_id, (cache, connection, version, fingerprint, workflow, companion) in pending.items():
        # Still in a transaction after "commit": the session only released a savepoint inside one
        # (a test's, or a sandbox that is rolled back). Not durable, so not kept.
        if connection.closed or connection.in_transaction():
            cache.evict(instance_id)
            continue
        cache.put(instance_id, version=version, workflow=workflow, fingerprint=fingerprint, companion=companion)


def _rolled_back(session: Session, previous_transaction) -> None:
    _discard(session)


def _ended(session: Session, transaction) -> None:
    if transaction.parent is None:  # the session's transaction is over; a commit took its part first
        _discard(session)


def _discard(session: Session) -> None:
    if _PENDING not in session.info:
        return
    pending = session.info.pop(_PENDING)
    for instance_id, (cache, *_rest) in pending.items():
        cache.evict(instance_id)


# Listening on the class, once: every session, each of its commits and rollbacks. Adding the
# three listeners to each session that kept something cost about a tenth of a millisecond a save;
# a session with nothing pending pays one dictionary lookup per event.
event.listen(Session, "after_commit", _committed)
event.listen(Session, "after_soft_rollback", _rolled_back)
event.listen(Session, "after_transaction_end", _ended)
