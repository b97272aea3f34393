"""Collections, their indexes and the schema version.

Created idempotently at every open: `create_index` with the same spec is a
no-op, so a new index added here simply appears on the next start.
"""

from __future__ import annotations

from dataclasses import dataclass

from pymongo import ASCENDING, DESCENDING, IndexModel

# 2: page content named by a keyed content id instead of its plain SHA-256
# (storage/migrations.py converts a schema 1 database with the key)
# 3: every keyed document names its key (`key_id`: storage/keyids.py), so that after a
# key rotation documents under the old key are told apart until they expire
# 4: alerts have a triage state (`state`, `history`: storage/alert_states.py) and a false
# positive is remembered per page content and person (`false_positives`)
SCHEMA_VERSION = 4

WATCHLIST = "watchlist"
SOURCES = "sources"
PAGES = "pages"
SIGHTINGS = "sightings"
ALERTS = "alerts"
RUNS = "runs"
OUTBOX = "outbox"  # alert deliveries per channel: at least once, retried, dead-lettered
LEASES = "leases"  # who runs a job now (several daemons on one database)
JOB_COMMANDS = "job_commands"  # vahti jobs run/pause/resume/reload, for the daemon
JOBS = "jobs"  # APScheduler's MongoDBJobStore
CANDIDATES = "candidates"  # keyed candidates of every page, for retro-hunts (storage/candidates.py)
# people's candidate keys under a retired key, for `vahti forget` (storage/retired_people.py)
RETIRED_PEOPLE = "retired_people"
# (keyed page content id, ref) pairs an analyst marked false positive (storage/false_positives.py)
FALSE_POSITIVES = "false_positives"
META = "meta"

META_ID = "meta"


@dataclass(frozen=True)
class CollectionSpec:
    name: str
    indexes: tuple[IndexModel, ...]


COLLECTIONS: tuple[CollectionSpec, ...] = (
    CollectionSpec(META, ()),
    CollectionSpec(
        WATCHLIST,
        # _id is the ref (unique by the primary key). No secondary indexes: each
        # one halves enrolment speed on the embedded server, and lookups by
        # digest go through the in-memory watchlist index instead.
        (),
    ),
    CollectionSpec(SOURCES, (IndexModel([("name", ASCENDING)], unique=True, name="name_unique"),)),
    CollectionSpec(
        PAGES,
        (
            IndexModel([("url", ASCENDING)], unique=True, name="url_unique"),
            IndexModel([("content_id", ASCENDING)], name="content_id"),
            IndexModel([("source", ASCENDING), ("last_seen", DESCENDING)], name="source_last_seen"),
        ),
    ),
    CollectionSpec(
        SIGHTINGS,
        (
            # one sighting per occurrence: re-scanning the same page adds nothing
            IndexModel(
                [("page_url", ASCENDING), ("ref", ASCENDING), ("id_type", ASCENDING),
                 ("start", ASCENDING)],
                unique=True,
                name="occurrence_unique",
            ),
            IndexModel([("ref", ASCENDING), ("first_seen", DESCENDING)], name="ref_first_seen"),
            IndexModel([("first_seen", DESCENDING)], name="first_seen"),
            IndexModel(
                [("source", ASCENDING), ("first_seen", DESCENDING)], name="source_first_seen"
            ),
            # sightings no alert has covered yet (see scheduler/alerting.py)
            IndexModel([("alerted", ASCENDING), ("page_url", ASCENDING)], name="alerted_page"),
        ),
    ),
    CollectionSpec(
        ALERTS,
        (
            IndexModel([("alert_key", ASCENDING)], unique=True, name="alert_key_unique"),
            IndexModel([("created", DESCENDING)], name="created"),
            # `vahti alerts list --state`, the weekly report's open alerts
            IndexModel([("state", ASCENDING), ("created", DESCENDING)], name="state_created"),
        ),
    ),
    CollectionSpec(
        OUTBOX,
        (
            IndexModel([("delivery_key", ASCENDING)], unique=True, name="delivery_key_unique"),
            IndexModel([("state", ASCENDING), ("next_attempt", ASCENDING)], name="state_due"),
        ),
    ),
    CollectionSpec(
        CANDIDATES,
        # one document per page content (keyed content id) and type; keys are found
        # through the local candidate index (storage/candidate_index.py), not a database index
        (
            IndexModel([("content_id", ASCENDING)], name="content_id"),
            # what was written lately (the candidate index's freshness check); a compound
            # key, so that it never clashes with the TTL index on seen_at alone
            IndexModel([("seen_at", ASCENDING), ("_id", ASCENDING)], name="seen_at_id"),
        ),
    ),
    CollectionSpec(LEASES, ()),  # _id is the lease name
    CollectionSpec(RETIRED_PEOPLE,  # _id "<key id>:<ref>"
                   (IndexModel([("ref", ASCENDING)], name="ref"),)),
    CollectionSpec(FALSE_POSITIVES,  # _id "<key id>:<content id>:<ref>"
                   (IndexModel([("ref", ASCENDING)], name="ref"),
                    IndexModel([("alert_key", ASCENDING)], name="alert_key"),
                    IndexModel([("marked", DESCENDING)], name="marked"))),
    CollectionSpec(
        JOB_COMMANDS,
        (IndexModel([("state", ASCENDING), ("created", ASCENDING)], name="state_created"),),
    ),
    CollectionSpec(
        RUNS,
        (
            IndexModel([("run_id", ASCENDING)], unique=True, name="run_id_unique"),
            IndexModel([("source", ASCENDING), ("started", DESCENDING)], name="source_started"),
        ),
    ),
)

COLLECTION_NAMES: tuple[str, ...] = tuple(spec.name for spec in COLLECTIONS)
