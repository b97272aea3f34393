"""Loopback MISP- and TheHive-shaped servers for the misp and thehive channels.

`MispServer` answers what pymisp's PyMISP calls: on login `servers/getVersion`,
`users/view/me`, `attributes/describeTypes.json` (pymisp's own copy); then
`HEAD|GET events/view/<uuid>`, `POST events/add`, `POST events/edit/<id>`,
`HEAD attributes/view/<uuid>`, `POST tags/attachTagToObject` and
`POST tags/removeTagFromObject`. It checks `Authorization` is the key and that requests
send and accept JSON (MISP answers 403 otherwise), validates every posted event against
the JSON schema pymisp ships (data/schema.json) and loads it with pymisp's `MISPEvent`;
an event UUID that exists already is refused with 403 "Event already exists", like MISP.

`TheHiveServer` answers `POST /api/v1/alert` (Bearer key, the required fields type,
source, sourceRef, title, description; a repeated (type, source, sourceRef) is refused with
400 CreateError "Alert already exists", as TheHive does), `POST /api/v1/query?name=alerts`
(the listAlert + filter query thehive4py's `alert.find` sends; only `_eq`),
`PATCH /api/v1/alert/<id>` (tags, addTags, removeTags) and `GET /api/v1/user/current`.

Both: 127.0.0.1, port 0, `.url`, `.received` (accepted request bodies), `.rejected`
(reason, body), `.requests` (method, path), `.close()`; `statuses` scripts failures
(e.g. [503] answers the first request 503; an item (200, b"<html>") answers those
bytes). Fixtures `misp_server` and `thehive_server` (import `misp_server_fixture`,
`thehive_server_fixture`): factories taking `statuses` and `tls` (certificate and key
paths: the server speaks https).
"""

from __future__ import annotations

import copy
import json
import ssl
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jsonschema
import pymisp
import pytest

MISP_KEY = "misp-auth-key-3f1c9a7e0d2b4c6a8e1f3a5c7e9b0d2f4a6c8e0a"
HIVE_KEY = "hive-api-key-71c0e9d5a3b8f2e6"
PYMISP_DATA = Path(pymisp.__file__).parent / "data"


class _Server:
    """A threading http.server whose handler calls `self.handle(method, path, headers, body)`
    -> (status, json body or None)."""

    def __init__(self, statuses: list[Any] | None = None,
                 tls: tuple[Path, Path] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.received: list[dict[str, Any]] = []
        self.rejected: list[tuple[str, Any]] = []
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                with server.lock:
                    server.requests.append((self.command, self.path))
                    scripted = server.statuses.pop(0) if server.statuses else None
                if isinstance(scripted, tuple):  # (status, raw answer): a broken server
                    status, data = scripted
                elif scripted is not None:
                    status, data = scripted, json.dumps({"message": "scripted"}).encode()
                else:
                    with server.lock:
                        status, body = server.handle(self.command, self.path, self.headers, raw)
                    data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_POST = do_HEAD = do_PATCH = _any  # noqa: N815 - http.server's names

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        scheme = "http"
        if tls:  # (certificate, key): https, e.g. from receivers.self_signed
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def refuse(self, status: int, reason: str, body: Any) -> tuple[int, dict]:
        self.rejected.append((reason, body))
        return status, {"type": "BadRequest", "message": reason}

    def handle(self, method: str, path: str, headers: Any, raw: bytes
               ) -> tuple[int, Any]:
        raise NotImplementedError

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class MispServer(_Server):
    def __init__(self, statuses: list[int] | None = None, perm_add: bool = True,
                 tls: tuple[Path, Path] | None = None) -> None:
        self.events: dict[str, dict[str, Any]] = {}  # uuid -> event JSON (as MISP stores)
        self.perm_add = perm_add
        self.schema = json.loads((PYMISP_DATA / "schema.json").read_text())
        self.describe = json.loads((PYMISP_DATA / "describeTypes.json").read_text())
        super().__init__(statuses, tls)

    def handle(self, method: str, path: str, headers: Any, raw: bytes) -> tuple[int, Any]:
        if headers.get("Authorization") != MISP_KEY:
            self.rejected.append(("bad key", path))
            return 403, {"name": "Authentication failed.", "message": "Authentication failed.",
                         "url": path}
        if "application/json" not in (headers.get("Accept") or "") or (
                raw and "application/json" not in (headers.get("Content-Type") or "")):
            return self.refuse(403, "not JSON", path)
        route = urlsplit(path).path.strip("/")
        body = json.loads(raw) if raw else None
        if route == "servers/getVersion":
            return 200, {"version": "2.5.5", "pymisp_recommended_version": pymisp.__version__}
        if route == "users/view/me":
            return 200, {"User": {"id": "7", "email": "vahti@example.org", "org_id": "1"},
                         "Role": {"id": "3", "name": "User", "perm_add": self.perm_add,
                                  "perm_modify": True, "perm_tagger": True},
                         "UserSetting": {}}
        if route == "attributes/describeTypes.json":
            return 200, self.describe
        parts = route.split("/")
        if route.startswith("events/view/"):
            event = self.events.get(parts[2])
            if event is None:
                return 404, {"name": "Invalid event", "message": "Invalid event"}
            return 200, {"Event": event}
        if route.startswith("attributes/view/"):
            found = self._attribute(parts[2])
            return (200, {"Attribute": found}) if found else (404, {"message": "Invalid attribute"})
        if route == "events/add" and method == "POST":
            return self._add(body)
        if route.startswith("events/edit/") and method == "POST":
            return self._edit(parts[2], body)
        if route in ("tags/attachTagToObject", "tags/removeTagFromObject"):
            return self._tag(route.endswith("attachTagToObject"), body)
        return self.refuse(404, f"no route {method} {route}", body)

    def _valid(self, body: Any) -> str:
        """Why MISP would refuse this event ("" if it would not)."""
        try:
            jsonschema.validate({"Event": body.get("Event", body)}, self.schema)
            pymisp.MISPEvent().load(copy.deepcopy(body))  # load() consumes its dict
        except Exception as exc:  # noqa: BLE001 - any failure is the reason
            return f"invalid event: {type(exc).__name__}: {str(exc)[:200]}"
        event = body.get("Event", body)
        for attr in event.get("Attribute", []):
            if attr["type"] not in self.describe["result"]["category_type_mappings"].get(
                    attr.get("category"), []):
                return f"type {attr['type']} not allowed in category {attr.get('category')}"
        if not event.get("info"):
            return "no info"
        return ""

    def _add(self, body: Any) -> tuple[int, Any]:
        if reason := self._valid(body):
            return self.refuse(403, reason, body)
        event = dict(body.get("Event", body))
        if event["uuid"] in self.events:
            self.rejected.append(("duplicate uuid", event["uuid"]))
            return 403, {"name": "Event already exists, if you would like to edit it, use the "
                                 "url in the location header.", "message": "Event already exists",
                         "url": f"/events/view/{self.events[event['uuid']]['id']}",
                         "errors": ["Event already exists"]}
        event["id"] = str(len(self.events) + 1)
        self.events[event["uuid"]] = event
        self.received.append({"route": "events/add", "body": body})
        return 200, {"Event": event}

    def _edit(self, ident: str, body: Any) -> tuple[int, Any]:
        current = next((e for u, e in self.events.items() if ident in (u, e["id"])), None)
        if current is None:
            return 404, {"message": "Invalid event"}
        if reason := self._valid(body):
            return self.refuse(403, reason, body)
        event = {**body.get("Event", body), "id": current["id"], "uuid": current["uuid"]}
        self.events[current["uuid"]] = event
        self.received.append({"route": "events/edit", "body": body})
        return 200, {"Event": event}

    def _attribute(self, uid: str) -> dict[str, Any] | None:
        for event in self.events.values():
            for attr in event.get("Attribute", []):
                if attr.get("uuid") == uid:
                    return attr
        return None

    def _tag(self, attach: bool, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict) or not body.get("uuid") or not body.get("tag"):
            return self.refuse(403, "uuid and tag required", body)
        target = self.events.get(body["uuid"]) or self._attribute(body["uuid"])
        if target is None:
            return self.refuse(404, "Invalid target", body)
        tags = target.setdefault("Tag", [])
        names = [t["name"] for t in tags]
        if attach:
            self.received.append({"route": "tag", "body": body})
            if body["tag"] not in names:
                tags.append({"name": body["tag"]})
            return 200, {"saved": True, "success": "Tag attached.", "check_publish": True}
        if body["tag"] not in names:
            return 404, {"name": "Invalid tag", "message": "Invalid tag"}
        target["Tag"] = [t for t in tags if t["name"] != body["tag"]]
        self.received.append({"route": "untag", "body": body})
        return 200, {"saved": True, "success": "Tag removed."}

    def event(self, uid: str) -> pymisp.MISPEvent:
        """The stored event as pymisp loads it."""
        event = pymisp.MISPEvent()
        event.load({"Event": copy.deepcopy(self.events[uid])})
        return event

    def tags_of(self, uid: str) -> list[str]:
        target = self.events.get(uid) or self._attribute(uid) or {}
        return sorted(t["name"] for t in target.get("Tag", []))


ALERT_REQUIRED = ("type", "source", "sourceRef", "title", "description")


class TheHiveServer(_Server):
    def __init__(self, statuses: list[int] | None = None,
                 tls: tuple[Path, Path] | None = None) -> None:
        self.alerts: dict[str, dict[str, Any]] = {}  # _id -> alert
        super().__init__(statuses, tls)

    def handle(self, method: str, path: str, headers: Any, raw: bytes) -> tuple[int, Any]:
        if headers.get("Authorization") != f"Bearer {HIVE_KEY}":
            self.rejected.append(("bad key", path))
            return 401, {"type": "AuthenticationError", "message": "Authentication failure"}
        if raw and "application/json" not in (headers.get("Content-Type") or ""):
            return self.refuse(400, "not JSON", path)
        parts = urlsplit(path)
        body = json.loads(raw) if raw else None
        if parts.path == "/api/v1/user/current" and method == "GET":
            return 200, {"_id": "~1", "login": "vahti@example.org", "organisation": "soc"}
        if parts.path == "/api/v1/alert" and method == "POST":
            return self._create(body)
        if parts.path == "/api/v1/query" and method == "POST":
            return self._query(parse_qs(parts.query).get("name", [""])[0], body)
        if parts.path.startswith("/api/v1/alert/") and method == "PATCH":
            return self._patch(parts.path.rsplit("/", 1)[1], body)
        return self.refuse(404, f"no route {method} {parts.path}", body)

    def _create(self, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict):
            return self.refuse(400, "not an object", body)
        missing = [k for k in ALERT_REQUIRED if not isinstance(body.get(k), str) or not body[k]]
        if missing:
            return self.refuse(400, f"missing {', '.join(missing)}", body)
        for obs in body.get("observables", []):
            if not obs.get("dataType") or not obs.get("data"):
                return self.refuse(400, "observable without dataType or data", body)
        for key, top in (("tlp", 4), ("pap", 3), ("severity", 4)):
            if key in body and not (isinstance(body[key], int) and 0 <= body[key] <= top):
                return self.refuse(400, f"bad {key}", body)
        same = (body["type"], body["source"], body["sourceRef"])
        if any((a["type"], a["source"], a["sourceRef"]) == same for a in self.alerts.values()):
            self.rejected.append(("duplicate sourceRef", body["sourceRef"]))
            return 400, {"type": "CreateError", "message": "Alert already exists"}
        alert = {**body, "_id": "~" + uuid.uuid4().hex[:8], "_type": "Alert",
                 "status": "New", "stage": "New", "tags": list(body.get("tags", []))}
        self.alerts[alert["_id"]] = alert
        self.received.append({"route": "alert", "body": body})
        return 201, alert

    def _query(self, name: str, body: Any) -> tuple[int, Any]:
        query = (body or {}).get("query") or []
        if not query or query[0].get("_name") != "listAlert":
            return self.refuse(400, "only listAlert queries", body)
        found = list(self.alerts.values())
        for step in query[1:]:
            if step.get("_name") == "filter":
                cond = step.get("_eq")
                if not cond:
                    return self.refuse(400, "only _eq filters", body)
                found = [a for a in found if a.get(cond["_field"]) == cond["_value"]]
        self.received.append({"route": f"query {name}", "body": body})
        return 200, found

    def _patch(self, alert_id: str, body: Any) -> tuple[int, Any]:
        alert = self.alerts.get(alert_id)
        if alert is None:
            return 404, {"type": "NotFoundError", "message": f"Alert {alert_id} not found"}
        allowed = {"tags", "addTags", "removeTags", "status", "title", "description",
                   "severity", "tlp", "pap", "follow", "summary", "assignee"}
        if not isinstance(body, dict) or set(body) - allowed:
            return self.refuse(400, "unknown fields", body)
        tags = list(body.get("tags", alert["tags"]))
        tags = [t for t in tags if t not in body.get("removeTags", [])]
        tags += [t for t in body.get("addTags", []) if t not in tags]
        alert.update({k: v for k, v in body.items() if k not in ("addTags", "removeTags")})
        alert["tags"] = tags
        self.received.append({"route": "patch", "body": body})
        return 204, None


@pytest.fixture(name="misp_server")
def misp_server_fixture():
    made: list[MispServer] = []

    def make(statuses: list[int] | None = None, perm_add: bool = True,
             tls: tuple[Path, Path] | None = None) -> MispServer:
        made.append(MispServer(statuses, perm_add, tls))
        return made[-1]

    yield make
    for server in made:
        server.close()


@pytest.fixture(name="thehive_server")
def thehive_server_fixture():
    made: list[TheHiveServer] = []

    def make(statuses: list[int] | None = None,
             tls: tuple[Path, Path] | None = None) -> TheHiveServer:
        made.append(TheHiveServer(statuses, tls))
        return made[-1]

    yield make
    for server in made:
        server.close()
