"""One version for vahti and its database: `vahti --version` is the version recorded in
the database's meta document by the vahti that last opened it, and a database of a
newer schema than this vahti knows is refused with one line naming both versions,
before anything is written to it."""

from __future__ import annotations

import pytest
from pymongo import MongoClient

from vahti import __version__
from vahti.storage import schema

pytestmark = pytest.mark.integration


def test_meta_records_the_vahti_version_of_version_flag(vahti):
    shown = vahti.run("--version")
    assert shown.returncode == 0 and shown.stdout.strip() == f"vahti, version {__version__}"
    assert vahti.run("init").returncode == 0
    (meta,) = vahti.stored(schema.META)
    assert meta["schema_version"] == schema.SCHEMA_VERSION
    assert meta["vahti_version"] == __version__

    with vahti.storage() as st:  # an older vahti wrote it last
        st.db[schema.META].update_one({"_id": schema.META_ID},
                                      {"$set": {"vahti_version": "0.0.1"}})
    assert vahti.run("status", "--json").returncode == 0
    assert vahti.stored(schema.META)[0]["vahti_version"] == __version__


def test_a_newer_schema_is_refused_naming_both_versions(vahti, tmp_path):
    assert vahti.run("init").returncode == 0
    newer = schema.SCHEMA_VERSION + 1
    with vahti.storage() as st:
        st.db[schema.META].update_one({"_id": schema.META_ID}, {"$set": {
            "schema_version": newer, "vahti_version": "9.4.0"}})
        st.db.drop_collection(schema.PAGES)  # a later schema without this collection
    result = vahti.run("db", "dump", "--out", str(tmp_path / "dump"))
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line == (f"vahti: error: the database has schema version {newer} (written by "
                    f"vahti 9.4.0), newer than this vahti's {schema.SCHEMA_VERSION} "
                    f"(vahti {__version__}): upgrade vahti")
    with MongoClient(vahti.env["VAHTI_MONGO_URI"]) as client:  # not through vahti's checks
        db = client[vahti.env["VAHTI_MONGO_DB"]]
        meta = db[schema.META].find_one({"_id": schema.META_ID})
        assert meta["vahti_version"] == "9.4.0"  # the newer vahti's record is kept
        assert schema.PAGES not in db.list_collection_names()  # nothing created


def test_an_ensured_schema_is_not_made_again_on_every_open(storage, mongo_uri):
    """Opening a database this vahti has prepared is two reads: no index is created
    again. A collection dropped behind vahti's back, or an older vahti having written
    last, makes the next open prepare everything again."""
    from pymongo import monitoring

    from vahti.storage.connection import ENSURED_FIELD, ensure_schema, ensured_stamp

    class Commands(monitoring.CommandListener):
        def __init__(self) -> None:
            self.names: list[str] = []

        def started(self, event) -> None:  # noqa: ANN001
            self.names.append(event.command_name)

        def succeeded(self, event) -> None:  # noqa: ANN001
            pass

        def failed(self, event) -> None:  # noqa: ANN001
            pass

    assert storage.meta()[ENSURED_FIELD] == ensured_stamp()
    listener = Commands()
    with MongoClient(mongo_uri, event_listeners=[listener]) as c:
        db = c[storage.db.name]
        c.admin.command("ping")  # logged in
        listener.names.clear()
        ensure_schema(db)
        assert "createIndexes" not in listener.names and "update" not in listener.names
        assert listener.names == ["find", "listCollections"]  # meta, and the collections

        db.drop_collection(schema.SIGHTINGS)
        listener.names.clear()
        ensure_schema(db)
        assert "createIndexes" in listener.names
        assert "ref_first_seen" in db[schema.SIGHTINGS].index_information()

        db[schema.META].update_one({"_id": schema.META_ID}, {"$set": {"vahti_version": "0.0.1"}})
        listener.names.clear()
        ensure_schema(db)
        assert "createIndexes" in listener.names
        assert db[schema.META].find_one({"_id": schema.META_ID})["vahti_version"] == __version__
