"""The durable log: impressions and events in SQLite under the data dir (`logs/feedback.sqlite3`).

WAL journal; events are written with `synchronous = FULL` (the commit is fsynced before
`/feedback` answers), impressions with `NORMAL` (a search does not wait for an fsync; a
power cut may lose the last impressions, and feedback for them is then refused as unknown).
Idempotency is the `events.event_key` UNIQUE constraint, so retries and concurrent posts —
from threads or processes — count once. Schema in docs/feedback.md; `meta.schema_version`
is checked at open.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Iterator, Sequence

from ..common.analysis import q2e_key
from .events import Event
from .evidence import ANONYMOUS, KeySearch
from .impression import Impression

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS impressions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    served_at REAL NOT NULL,
    query TEXT NOT NULL,
    normalized TEXT NOT NULL,
    q2e_key TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS impressions_q2e_key ON impressions (q2e_key);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_key TEXT NOT NULL UNIQUE,
    query_id TEXT NOT NULL,
    action_name TEXT NOT NULL,
    object_id TEXT,
    object_id_field TEXT NOT NULL,
    client_id TEXT,
    timestamp TEXT NOT NULL,
    position INTEGER,
    dwell_ms REAL,
    weight REAL NOT NULL,
    received_at REAL NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_query ON events (query_id);
CREATE TABLE IF NOT EXISTS q2e_priors (
    key TEXT NOT NULL,
    entity TEXT NOT NULL,
    prior REAL NOT NULL,
    PRIMARY KEY (key, entity)
);
CREATE TABLE IF NOT EXISTS q2e_writes (
    key TEXT NOT NULL,
    entity TEXT NOT NULL,
    written_at REAL NOT NULL,
    value REAL
);
CREATE INDEX IF NOT EXISTS q2e_writes_pair ON q2e_writes (key, entity, written_at);
"""


#: What to do with a damaged log: it is the record of feedback, so nothing can rebuild it.
DAMAGED = ("the file is damaged and cannot be rebuilt (it is the record of feedback): move it aside to start "
           "a new log, and salvage its events with `sqlite3 <file> .recover`")


class StoreError(RuntimeError):
    """The log cannot be opened or written (another schema version, a read-only or full disk)."""


class FeedbackStore:
    """One SQLite file; safe to share between threads (one connection per kind, each locked)
    and between processes (SQLite's locks; writers wait up to `busy_timeout_ms`)."""

    def __init__(self, path: Path, busy_timeout_ms: int = 10_000):
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._events = self._connect("FULL", busy_timeout_ms)
            self._impressions = self._connect("NORMAL", busy_timeout_ms)
            with self._events:
                self._events.executescript(_SCHEMA)
                self._events.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
                self._events.execute("INSERT OR IGNORE INTO meta VALUES ('duplicates_ignored', '0')")
            version = self._events.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]
        except sqlite3.Error as exc:
            damaged = isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError)
            raise StoreError(f"cannot open the feedback log {path}: {exc}" + (f"; {DAMAGED}" if damaged else "")) from exc
        if version != str(SCHEMA_VERSION):
            raise StoreError(f"{path} has schema version {version}, this es-ltrr reads {SCHEMA_VERSION}")
        self._add_columns()
        self._lock = threading.Lock()

    def _add_columns(self) -> None:
        """Columns added to schema version 1 since (nullable, so an older es-ltrr still reads
        the file): the impression's UBI client and session, the event's session."""
        try:
            with self._events:
                for table, column in (("impressions", "client_id"), ("impressions", "session_id"),
                                      ("events", "session_id")):
                    have = {row[1] for row in self._events.execute(f"PRAGMA table_info({table})")}
                    if column not in have:
                        self._events.execute(f"ALTER TABLE {table} ADD COLUMN {column} TEXT")
                self._events.execute("CREATE INDEX IF NOT EXISTS impressions_session"
                                     " ON impressions (session_id, client_id, served_at)")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the feedback log {self.path}: {exc}") from exc

    def _connect(self, synchronous: str, busy_timeout_ms: int) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=busy_timeout_ms / 1000)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        conn.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")
        # exponential decay in SQL without relying on SQLite's optional math functions
        conn.create_function("decay", 2, lambda age, rate: 0.5 ** (max(age, 0.0) * rate), deterministic=True)
        return conn

    def add_impression(self, impression: Impression) -> None:
        with self._lock:
            try:
                self._impressions.execute(
                    "INSERT OR IGNORE INTO impressions (id, served_at, query, normalized, q2e_key, body,"
                    " client_id, session_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (impression.id, impression.served_at, impression.query, impression.normalized,
                     q2e_key(impression.query), impression.to_json(), impression.client_id, impression.session_id))
            except sqlite3.Error as exc:
                raise StoreError(f"cannot write the feedback log {self.path}: {exc}") from exc

    def impression(self, impression_id: str) -> Impression | None:
        rows = self._read("SELECT body FROM impressions WHERE id = ?", (impression_id,))
        return Impression.from_json(rows[0][0]) if rows else None

    def known_impressions(self, ids: Sequence[str]) -> set[str]:
        """Which of `ids` are logged impressions (one query for a batch)."""
        if not ids:
            return set()
        marks = ",".join("?" * len(ids))
        return {r[0] for r in self._read(f"SELECT id FROM impressions WHERE id IN ({marks})", tuple(ids))}

    def add_events(self, events: Sequence[Event]) -> tuple[list[tuple[int, Event]], int]:
        """Insert in one fsynced transaction: (the new events with their seq, duplicates)."""
        now = time.time()
        return self._insert([(e, now) for e in events], count_duplicates=True)

    def import_events(self, events: Sequence[tuple[Event, float]]) -> list[tuple[int, Event]]:
        """Insert events another replica logged (with their received time); ones already here
        are skipped without counting as client duplicates."""
        return self._insert(events, count_duplicates=False)[0]

    def newest_received_at(self) -> float:
        return float(self._read("SELECT COALESCE(MAX(received_at), 0) FROM events", ())[0][0])

    def _insert(self, events: Sequence[tuple[Event, float]], count_duplicates: bool) -> tuple[list[tuple[int, Event]], int]:
        inserted: list[tuple[int, Event]] = []
        with self._lock:
            conn = self._events
            try:
                conn.execute("BEGIN IMMEDIATE")
                for e, received_at in events:
                    cur = conn.execute(
                        "INSERT OR IGNORE INTO events (event_key, query_id, action_name, object_id, object_id_field,"
                        " client_id, timestamp, position, dwell_ms, weight, received_at, body, session_id)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (e.key, e.query_id, e.action_name, e.object_id, e.object_id_field, e.client_id, e.timestamp,
                         e.position, e.dwell_ms, e.weight, received_at, e.body, e.session_id))
                    if cur.rowcount:
                        inserted.append((int(cur.lastrowid), e))
                duplicates = len(events) - len(inserted)
                if duplicates and count_duplicates:
                    conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + ? WHERE key = 'duplicates_ignored'",
                                 (duplicates,))
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise StoreError(f"cannot write the feedback log {self.path}: {exc}") from exc
        return inserted, duplicates

    def events_after(self, seq: int) -> Iterator[tuple[int, str, str, str | None, float]]:
        """(seq, query_id, action_name, object_id, weight) of every event after `seq`, in log order."""
        yield from self._read("SELECT seq, query_id, action_name, object_id, weight FROM events WHERE seq > ? "
                              "ORDER BY seq", (seq,))

    def last_impression_seq(self) -> int:
        return int(self._read("SELECT COALESCE(MAX(seq), 0) FROM impressions", ())[0][0])

    def last_event_before_impression(self, seq: int) -> int:
        """The last event seq before the first event of an impression logged after `seq` (the
        log position where a policy had learned only from the searches up to `seq`)."""
        first = self._read("SELECT MIN(e.seq) FROM events e JOIN impressions i ON i.id = e.query_id WHERE i.seq > ?",
                           (seq,))[0][0]
        if first is None:
            return int(self._read("SELECT COALESCE(MAX(seq), 0) FROM events", ())[0][0])
        return int(first) - 1

    def unengaged_impressions(self, after_seq: int, served_before: float) -> tuple[list[str], int]:
        """The impressions after `after_seq` served before `served_before` that no event names
        (not even a no-engagement one), and the last impression seq served before then."""
        ids = [row[0] for row in self._read(
            "SELECT id FROM impressions i WHERE seq > ? AND served_at < ? AND NOT EXISTS "
            "(SELECT 1 FROM events e WHERE e.query_id = i.id) ORDER BY seq", (after_seq, served_before))]
        last = self._read("SELECT COALESCE(MAX(seq), ?) FROM impressions WHERE seq > ? AND served_at < ?",
                          (after_seq, after_seq, served_before))[0][0]
        return ids, int(last)

    def q2e_prior(self, key: str, entity: str, default: float) -> float:
        """The pair's cold-start prior, recorded with `default` (read from the index) the first time."""
        with self._lock:
            try:
                self._events.execute("INSERT OR IGNORE INTO q2e_priors VALUES (?, ?, ?)", (key, entity, default))
                return self._events.execute("SELECT prior FROM q2e_priors WHERE key = ? AND entity = ?",
                                            (key, entity)).fetchone()[0]
            except sqlite3.Error as exc:
                raise StoreError(f"cannot write the feedback log {self.path}: {exc}") from exc

    def add_memory_writes(self, writes: Sequence[tuple[str, str, float, float | None]]) -> None:
        """Record (key, entity, written_at, value) rows of the memory's writes — value None: the
        pair held no value then — so training reads the memory as a page saw it (`memory_at`)."""
        if not writes:
            return
        with self._lock:
            try:
                with self._events:
                    self._events.executemany("INSERT INTO q2e_writes VALUES (?, ?, ?, ?)", writes)
            except sqlite3.Error as exc:
                raise StoreError(f"cannot write the feedback log {self.path}: {exc}") from exc

    def memory_at(self, key: str, entities: Sequence[str], when: float) -> dict[str, float | None]:
        """The memory's value of (key, entity) as it stood at `when` (None: no value), for the
        entities it ever wrote on `key`; the others still hold what the catalog gave them."""
        if not entities:
            return {}
        marks = ",".join("?" * len(entities))
        rows = self._read(f"SELECT entity, value FROM q2e_writes WHERE key = ? AND entity IN ({marks})"
                          " AND written_at < ? ORDER BY written_at, rowid", (key, *entities, when))
        return dict(rows)

    def memory_keys(self) -> list[str]:
        """Every key the memory learned a pair on (its priors are kept)."""
        return [row[0] for row in self._read("SELECT DISTINCT key FROM q2e_priors ORDER BY key", ())]

    def learned_entities(self, key: str) -> list[str]:
        """The entities the memory learned `key` for before (their priors are kept)."""
        return [row[0] for row in self._read("SELECT entity FROM q2e_priors WHERE key = ?", (key,))]

    def has_prior(self, key: str, entity: str) -> bool:
        return bool(self._read("SELECT 1 FROM q2e_priors WHERE key = ? AND entity = ?", (key, entity)))

    def key_searches(self, key: str, now: float, half_life_days: float, window_s: float) -> list[KeySearch]:
        """Every search whose Q2E key is `key`, as the memory reads it (`evidence.py`): its
        client, decay, engagement and skips per entity, and — when it earned no positive
        engagement — what the same session's next search (another key, within `window_s`)
        engaged."""
        rate = 1.0 / (half_life_days * 86400.0)
        impressions = self._read("SELECT id, served_at, client_id, session_id FROM impressions WHERE q2e_key = ?"
                                 " ORDER BY seq", (key,))
        events: dict[str, list[tuple[str, float, str | None]]] = {}
        for query_id, object_id, weight, client in self._read(
                "SELECT e.query_id, e.object_id, e.weight, e.client_id FROM events e JOIN impressions i"
                " ON i.id = e.query_id WHERE i.q2e_key = ? AND e.object_id IS NOT NULL ORDER BY e.seq", (key,)):
            events.setdefault(query_id, []).append((object_id, float(weight), client))
        searches = []
        for impression_id, served_at, own, session in impressions:
            client = own
            engaged: dict[str, float] = {}
            negative: dict[str, float] = {}
            for object_id, weight, event_client in events.get(impression_id, ()):
                client = client or event_client
                if weight > 0:
                    engaged[object_id] = max(engaged.get(object_id, 0.0), weight)
                elif weight < 0:
                    negative[object_id] = min(negative.get(object_id, 0.0), weight)
            skipped = {e: w for e, w in negative.items() if e not in engaged}
            reformulated = {} if engaged or session is None else self._next_engaged(
                key, session, own, served_at, window_s)
            searches.append(KeySearch(client or ANONYMOUS, 0.5 ** (max(0.0, now - served_at) * rate), engaged,
                                      skipped, reformulated))
        return searches

    def _next_engaged(self, key: str, session: str, client: str | None, served_at: float,
                      window_s: float) -> dict[str, float]:
        """Entity → positive weight engaged on the session's next search, if it is for
        another key and within `window_s`."""
        rows = self._read("SELECT id, q2e_key FROM impressions WHERE session_id = ? AND client_id IS ?"
                          " AND served_at > ? AND served_at <= ? ORDER BY served_at, seq LIMIT 1",
                          (session, client, served_at, served_at + window_s))
        if not rows or rows[0][1] == key:
            return {}
        return {object_id: float(weight) for object_id, weight in self._read(
            "SELECT object_id, MAX(weight) FROM events WHERE query_id = ? AND weight > 0 AND object_id IS NOT NULL"
            " GROUP BY object_id", (rows[0][0],))}

    def previous_in_session(self, impression_id: str, window_s: float) -> str | None:
        """The query of the search before `impression_id` in its session (same client and
        `session_id`), within `window_s`; None when it is the session's first, or has none."""
        rows = self._read("SELECT session_id, client_id, served_at, seq FROM impressions WHERE id = ?",
                          (impression_id,))
        if not rows or rows[0][0] is None:
            return None
        session, client, served_at, seq = rows[0]
        previous = self._read("SELECT query FROM impressions WHERE session_id = ? AND client_id IS ? AND"
                              " served_at >= ? AND (served_at < ? OR (served_at = ? AND seq < ?))"
                              " ORDER BY served_at DESC, seq DESC LIMIT 1",
                              (session, client, served_at - window_s, served_at, served_at, seq))
        return previous[0][0] if previous else None

    def sessions(self) -> Iterator[tuple[str, list[str], set[str]]]:
        """(normalized query, page ids in rank order, ids engaged with a positive weight) per
        logged impression: what a click model reads."""
        engaged = self._engaged()
        for impression_id, normalized, body in self._read("SELECT id, normalized, body FROM impressions ORDER BY seq", ()):
            yield normalized, list(json.loads(body)["page"]), engaged.get(impression_id, set())

    def interleavings(self) -> Iterator[tuple[str, dict[str, str], set[str], str]]:
        """(challenger, id → team, ids engaged with a positive weight, the serving ranker) per
        interleaved impression."""
        engaged = self._engaged()
        for impression_id, body in self._read(
                "SELECT id, body FROM impressions WHERE instr(body, ?) > 0 ORDER BY seq", ('"challenger":',)):
            doc = json.loads(body)
            if doc.get("challenger"):
                yield doc["challenger"], doc.get("teams", {}), engaged.get(impression_id, set()), doc.get("champion", "")

    def engaged_impressions(self, after_seq: int = 0,
                            until_seq: int | None = None) -> Iterator[tuple[Impression, dict[str, float]]]:
        """Every logged impression in log order (after `after_seq`, up to `until_seq`) with its
        engagement (entity → the largest positive weight logged for it): what off-policy
        evaluation reads."""
        until = (1 << 62) if until_seq is None else until_seq
        weights: dict[str, dict[str, float]] = {}
        for query_id, object_id, weight in self._read(
                "SELECT e.query_id, e.object_id, MAX(e.weight) FROM events e JOIN impressions i ON i.id = e.query_id"
                " WHERE e.weight > 0 AND e.object_id IS NOT NULL AND i.seq > ? AND i.seq <= ?"
                " GROUP BY e.query_id, e.object_id", (after_seq, until)):
            weights.setdefault(query_id, {})[object_id] = float(weight)
        for impression_id, body in self._read("SELECT id, body FROM impressions WHERE seq > ? AND seq <= ? ORDER BY seq",
                                              (after_seq, until)):
            yield Impression.from_json(body), weights.get(impression_id, {})

    def _engaged(self) -> dict[str, set[str]]:
        """Impression id → ids of the entities engaged with a positive weight."""
        engaged: dict[str, set[str]] = {}
        for query_id, object_id in self._read("SELECT query_id, object_id FROM events WHERE weight > 0", ()):
            engaged.setdefault(query_id, set()).add(object_id)
        return engaged

    def counts(self) -> dict[str, int]:
        impressions = self._read("SELECT COUNT(*) FROM impressions", ())[0][0]
        events = self._read("SELECT COUNT(*) FROM events", ())[0][0]
        dups = self._read("SELECT value FROM meta WHERE key = 'duplicates_ignored'", ())[0][0]
        return {"impressions": impressions, "events": events, "duplicates_ignored": int(dups)}

    def _read(self, sql: str, args: tuple) -> list[tuple]:
        with self._lock:
            try:
                return self._impressions.execute(sql, args).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"cannot read the feedback log {self.path}: {exc}") from exc

    def close(self) -> None:
        self._events.close()
        self._impressions.close()
