"""Loopback receivers for the SIEM and chat formats and the syslog channel.

Each binds 127.0.0.1 port 0, checks what the real service checks, answers like it
(status and body), keeps accepted payloads in `.received` and refused ones, with the
reason, in `.rejected`, and has `.url` (or `.host`/`.port`) and `.close()`:

- `SplunkHEC(token)`: POST /services/collector/event, `Authorization: Splunk <token>`,
  the HEC event shape; answers `{"text":"Success","code":0}` or HEC's error bodies.
- `Elastic(api_key, index)`: POST /<index>/_create/<id> (or /_doc), `Authorization:
  ApiKey <key>`, the ECS fields vahti's documents must have; 201, 409 on a repeat id.
- `Slack(path)`: an incoming webhook: `text` or `blocks`, Block Kit's limits; `ok`.
- `Teams(path)`: a Workflows webhook: a message with an Adaptive Card; 202.
- `SyslogListener(transport)`: udp, tcp or tls (RFC 6587 octet counting on streams);
  parses RFC 5424 strictly (SD escaping) and CEF (header and extension escaping).

`statuses` (HTTP receivers) scripts failures first: e.g. [503] answers the service's
own "busy" error once. Fixture `formats_receivers` (import `formats_receivers_fixture`):
a factory of receivers, closed after the test.
`.requests` keeps every raw request (headers, body) for signature checks.
"""

from __future__ import annotations

import json
import re
import socket
import ssl
import threading
from collections.abc import Callable
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

Answer = tuple[int, bytes]
HEC_TOKEN = "1c0d5c7e-hec-token-7a1f"
ELASTIC_KEY = "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw=="
SLACK_PATH = "/services/T0001/B0002/s1ackS3cretPath"
TEAMS_PATH = "/workflows/abc123/triggers/manual/paths/invoke?sig=t3amsS1g"


class HttpReceiver:
    """The common part: a server, the records, scripted failures."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.received: list[Any] = []
        self.rejected: list[tuple[str, bytes]] = []  # (reason, body)
        self.requests: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver.requests.append({"path": self.path, "headers": headers, "body": body})
                status, answer, ctype = receiver.answer(self.path, headers, body)
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host, self.port = self.server.server_address[:2]
        self.base = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def answer(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes, str]:
        if self.statuses:
            status = self.statuses.pop(0)
            self.rejected.append((f"scripted {status}", body))
            return (status, *self.failure(status))
        try:
            status, answer = self.check(path, headers, body)
        except Refused as refused:
            self.rejected.append((refused.reason, body))
            return (refused.status, refused.body, self.content_type)
        return status, answer, self.content_type

    content_type = "application/json"

    def check(self, path: str, headers: dict[str, str], body: bytes) -> Answer:
        raise NotImplementedError

    def failure(self, status: int) -> tuple[bytes, str]:
        return b"", self.content_type

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Refused(Exception):
    def __init__(self, status: int, reason: str, body: bytes = b"") -> None:
        super().__init__(reason)
        self.status, self.reason, self.body = status, reason, body


def _json(body: bytes, status: int, error: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        raise Refused(status, "not JSON", error) from None


# --- Splunk HTTP Event Collector ---------------------------------------------------------


def hec_error(text: str, code: int) -> bytes:
    return json.dumps({"text": text, "code": code}).encode()


class SplunkHEC(HttpReceiver):
    """What HEC checks of an /event request, with its answers (status, text, code)."""

    PATH = "/services/collector/event"

    def __init__(self, token: str = HEC_TOKEN, indexes: tuple[str, ...] = ("main", "vahti"),
                 statuses: list[int] | None = None) -> None:
        self.token, self.indexes = token, indexes
        super().__init__(statuses)
        self.url = self.base  # vahti adds the event path to a bare server URL
        self.seen_tokens: list[str] = []

    def failure(self, status: int) -> tuple[bytes, str]:
        return hec_error("Server is busy", 9), self.content_type

    def check(self, path: str, headers: dict[str, str], body: bytes) -> Answer:
        if path.split("?")[0] not in (self.PATH, self.PATH + "/1.0"):
            raise Refused(404, f"path {path}", hec_error("The requested URL was not found "
                                                         "on this server.", 404))
        auth = headers.get("authorization", "")
        if not auth:
            raise Refused(401, "no token", hec_error("Token is required", 2))
        scheme, _, token = auth.partition(" ")
        if scheme != "Splunk" or not token:
            raise Refused(401, "authorization not 'Splunk <token>'",
                          hec_error("Invalid authorization", 3))
        self.seen_tokens.append(token)
        if token != self.token:
            raise Refused(403, "wrong token", hec_error("Invalid token", 4))
        event = _json(body, 400, hec_error("Invalid data format", 6))
        if not isinstance(event, dict) or "event" not in event:
            raise Refused(400, "no event field", hec_error("Event field is required", 12))
        if event["event"] in ("", None, {}):
            raise Refused(400, "blank event", hec_error("Event field cannot be blank", 13))
        if "time" in event and not isinstance(event["time"], int | float):
            raise Refused(400, "time not epoch seconds", hec_error("Invalid data format", 6))
        for key in ("host", "source", "sourcetype", "index"):
            if key in event and not isinstance(event[key], str):
                raise Refused(400, f"{key} not a string", hec_error("Invalid data format", 6))
        if "index" in event and event["index"] not in self.indexes:
            raise Refused(400, "index not allowed for the token", hec_error("Incorrect index", 7))
        fields = event.get("fields", {})
        if not isinstance(fields, dict) or not all(
                isinstance(v, str) or (isinstance(v, list) and all(isinstance(x, str) for x in v))
                for v in fields.values()):
            raise Refused(400, "indexed fields not flat strings",
                          hec_error("Error in handling indexed fields", 15))
        self.received.append(event)
        return 200, hec_error("Success", 0)


# --- Elasticsearch --------------------------------------------------------------------------

ECS_KINDS = {"alert", "asset", "enrichment", "event", "metric", "state", "pipeline_error",
             "signal"}
ECS_CATEGORIES = {"api", "authentication", "configuration", "database", "driver", "email",
                  "file", "host", "iam", "intrusion_detection", "library", "malware", "network",
                  "package", "process", "registry", "session", "threat", "vulnerability", "web"}
ECS_TYPES = {"access", "admin", "allowed", "change", "connection", "creation", "deletion",
             "denied", "end", "error", "group", "indicator", "info", "installation", "protocol",
             "start", "user"}


def es_error(status: int, kind: str, reason: str) -> bytes:
    return json.dumps({"error": {"root_cause": [{"type": kind, "reason": reason}],
                                 "type": kind, "reason": reason}, "status": status}).encode()


class Elastic(HttpReceiver):
    """An index API: ApiKey auth, _create (409 on a repeat id) or _doc, and the ECS fields
    vahti's documents carry (a mapping's date and keyword checks)."""

    def __init__(self, api_key: str = ELASTIC_KEY, index: str = "vahti-alerts",
                 statuses: list[int] | None = None) -> None:
        self.api_key, self.index = api_key, index
        super().__init__(statuses)
        self.url = f"{self.base}/{index}/_doc"
        self.docs: dict[str, Any] = {}

    def failure(self, status: int) -> tuple[bytes, str]:
        return es_error(status, "es_rejected_execution_exception", "rejected"), self.content_type

    def check(self, path: str, headers: dict[str, str], body: bytes) -> Answer:
        auth = headers.get("authorization", "")
        if not auth:
            raise Refused(401, "no credentials", es_error(
                401, "security_exception", "missing authentication credentials for REST request"))
        if auth != f"ApiKey {self.api_key}":
            raise Refused(401, "wrong api key", es_error(
                401, "security_exception", "unable to authenticate with provided credentials"))
        m = re.fullmatch(rf"/{re.escape(self.index)}/(_create|_doc)(?:/([^/?]+))?(\?.*)?", path)
        if not m or (m.group(1) == "_create" and not m.group(2)):
            raise Refused(405 if m else 404, f"path {path}", es_error(
                404, "index_not_found_exception", "no such index"))
        doc = _json(body, 400, es_error(400, "parse_exception", "request body is required"))
        problem = ecs_problem(doc)
        if problem:
            raise Refused(400, problem, es_error(400, "document_parsing_exception", problem))
        doc_id = unquote(m.group(2) or f"auto-{len(self.docs)}")
        if doc_id in self.docs and m.group(1) == "_create":
            raise Refused(409, "repeat id", es_error(
                409, "version_conflict_engine_exception",
                f"[{doc_id}]: version conflict, document already exists"))
        self.docs[doc_id] = doc
        self.received.append(doc)
        return 201, json.dumps({"_index": self.index, "_id": doc_id, "_version": 1,
                                "result": "created", "_shards": {"total": 1, "successful": 1,
                                                                 "failed": 0},
                                "_seq_no": len(self.docs) - 1, "_primary_term": 1}).encode()


def ecs_problem(doc: Any) -> str:
    """What a strict ECS mapping would refuse in a vahti document, or ""."""
    if not isinstance(doc, dict):
        return "not an object"
    try:
        datetime.fromisoformat(doc["@timestamp"])
    except (KeyError, TypeError, ValueError):
        return "@timestamp missing or not a date"
    event = doc.get("event")
    if not isinstance(event, dict):
        return "no event object"
    if event.get("kind") not in ECS_KINDS:
        return "event.kind not an ECS value"
    if not event.get("category") or not set(event["category"]) <= ECS_CATEGORIES:
        return "event.category not ECS values"
    if not event.get("type") or not set(event["type"]) <= ECS_TYPES:
        return "event.type not ECS values"
    if event.get("dataset") != "vahti.alert" or not isinstance(event.get("id"), str):
        return "event.dataset or event.id missing"
    if not isinstance(doc.get("ecs"), dict) or "version" not in doc["ecs"]:
        return "ecs.version missing"
    if "url" in doc and (not isinstance(doc["url"], dict) or "full" not in doc["url"]
                         or not isinstance(doc["url"].get("port", 0), int)):
        return "url.* not ECS"
    if not isinstance(doc.get("vahti"), dict):
        return "no vahti object"
    labels = doc.get("labels", {})
    if not all(isinstance(v, str) and "." not in k for k, v in labels.items()):
        return "labels must be flat keyword values"
    return ""


# --- Slack --------------------------------------------------------------------------------

SLACK_BLOCK_TYPES = {"section", "header", "context", "divider", "image", "actions"}


class Slack(HttpReceiver):
    """An incoming webhook: the path is the secret; Block Kit's limits are checked."""

    content_type = "text/html"

    def __init__(self, path: str = SLACK_PATH, statuses: list[int] | None = None) -> None:
        self.path = path
        super().__init__(statuses)
        self.url = self.base + path

    def failure(self, status: int) -> tuple[bytes, str]:
        return b"rate_limited" if status == 429 else b"internal_error", self.content_type

    def check(self, path: str, headers: dict[str, str], body: bytes) -> Answer:
        if path != self.path:
            raise Refused(403, "wrong webhook path", b"invalid_token")
        message = _json(body, 400, b"invalid_payload")
        if not isinstance(message, dict):
            raise Refused(400, "not an object", b"invalid_payload")
        if not message.get("text") and not message.get("blocks"):
            raise Refused(400, "neither text nor blocks", b"no_text")
        problem = slack_blocks_problem(message.get("blocks", []))
        if problem:
            raise Refused(400, problem, b"invalid_blocks")
        self.received.append(message)
        return 200, b"ok"


def slack_blocks_problem(blocks: Any) -> str:
    if not isinstance(blocks, list) or len(blocks) > 50:
        return "blocks not a list of at most 50"
    for block in blocks:
        kind = block.get("type")
        if kind not in SLACK_BLOCK_TYPES:
            return f"unknown block type {kind}"
        if kind == "header":
            text = block.get("text", {})
            if text.get("type") != "plain_text" or not 0 < len(text.get("text", "")) <= 150:
                return "header text must be plain_text of 1 to 150 characters"
        if kind == "section":
            text = block.get("text", {})
            if text.get("type") not in ("mrkdwn", "plain_text") or not 0 < len(
                    text.get("text", "")) <= 3000:
                return "section text must be 1 to 3000 characters"
        if kind == "context" and not 0 < len(block.get("elements", [])) <= 10:
            return "context needs 1 to 10 elements"
    return ""


def slack_texts(message: dict[str, Any]) -> list[str]:
    """Every mrkdwn text of a message (the fallback `text` too): what Slack parses."""
    out = [message.get("text", "")]
    for block in message.get("blocks", []):
        if block.get("text", {}).get("type") == "mrkdwn":
            out.append(block["text"]["text"])
        out += [e.get("text", "") for e in block.get("elements", [])
                if e.get("type") == "mrkdwn"]
    return out


def slack_markup(text: str) -> list[str]:
    """What Slack would turn into a link or mention: every `<...>`."""
    return re.findall(r"<[^>]*>", text)


# --- Microsoft Teams ---------------------------------------------------------------------

CARD_ELEMENTS = {"TextBlock", "RichTextBlock", "FactSet", "ColumnSet", "Container", "Image"}


class Teams(HttpReceiver):
    """A Workflows (Power Automate) webhook posting an Adaptive Card: 202 Accepted."""

    def __init__(self, path: str = TEAMS_PATH, statuses: list[int] | None = None) -> None:
        self.path = path
        super().__init__(statuses)
        self.url = self.base + path

    def check(self, path: str, headers: dict[str, str], body: bytes) -> Answer:
        if path != self.path:
            raise Refused(401, "wrong workflow path or sig", json.dumps({"error": {
                "code": "DirectApiAuthorizationRequired", "message": "unauthorized"}}).encode())
        if len(body) > 28 * 1024:
            raise Refused(413, "card over 28 KB", b"")
        message = _json(body, 400, b'{"error":{"code":"InvalidRequestContent"}}')
        problem = teams_problem(message)
        if problem:
            raise Refused(400, problem, json.dumps({"error": {
                "code": "InvalidRequestContent", "message": problem}}).encode())
        self.received.append(message)
        return 202, b""


def teams_problem(message: Any) -> str:
    if not isinstance(message, dict) or message.get("type") != "message":
        return "type must be message"
    attachments = message.get("attachments")
    if not isinstance(attachments, list) or not attachments:
        return "attachments missing"
    for attachment in attachments:
        if attachment.get("contentType") != "application/vnd.microsoft.card.adaptive":
            return "not an Adaptive Card attachment"
        card = attachment.get("content", {})
        if card.get("type") != "AdaptiveCard":
            return "content.type must be AdaptiveCard"
        if not re.fullmatch(r"1\.[0-6]", str(card.get("version", ""))):
            return "content.version must be 1.0 to 1.6"
        if not isinstance(card.get("body"), list) or not card["body"]:
            return "content.body missing"
        for element in card["body"]:
            if element.get("type") not in CARD_ELEMENTS:
                return f"unknown element {element.get('type')}"
            if element["type"] == "RichTextBlock" and not all(
                    run.get("type") == "TextRun" and isinstance(run.get("text"), str)
                    for run in element.get("inlines", [])):
                return "RichTextBlock inlines must be TextRuns"
    return ""


def teams_markdown_texts(message: dict[str, Any]) -> list[str]:
    """Texts Teams reads as markdown (TextBlock, FactSet): links and mentions live there."""
    out: list[str] = []
    for attachment in message.get("attachments", []):
        for element in attachment.get("content", {}).get("body", []):
            if element.get("type") == "TextBlock":
                out.append(element.get("text", ""))
            if element.get("type") == "FactSet":
                out += [f.get("title", "") + f.get("value", "") for f in element["facts"]]
    return out


def teams_runs(message: dict[str, Any]) -> list[str]:
    return [run["text"] for a in message.get("attachments", [])
            for e in a.get("content", {}).get("body", []) for run in e.get("inlines", [])]


# --- syslog ---------------------------------------------------------------------------------

HEADER_RE = re.compile(
    r"<(\d{1,3})>1 (\S+) (\S{1,255}) (\S{1,48}) (\S{1,128}) (\S{1,32}) ", re.ASCII)
SD_NAME = r'[!#-<>-\\^-~]{1,32}'  # printable US-ASCII but = ] " and space


class SyslogError(ValueError):
    pass


def parse_rfc5424(data: bytes) -> dict[str, Any]:
    """A strict reading of one RFC 5424 message; raises SyslogError."""
    text = data.decode("utf-8")  # SD values and MSG (after a BOM) are UTF-8
    m = HEADER_RE.match(text)
    if not m:
        raise SyslogError("header is not RFC 5424")
    pri, stamp, host, app, procid, msgid = m.groups()
    if int(pri) > 191 or (len(pri) > 1 and pri.startswith("0")):
        raise SyslogError("PRI out of range")
    if stamp != "-":
        if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?(Z|[+-]\d\d:\d\d)",
                            stamp):
            raise SyslogError("TIMESTAMP not RFC 3339")
        datetime.fromisoformat(stamp)
    sd, rest = _parse_sd(text, m.end())
    msg = ""
    if rest:
        if not rest.startswith(" "):
            raise SyslogError("no space before MSG")
        msg = rest[1:]
    return {"facility": int(pri) // 8, "severity": int(pri) % 8, "timestamp": stamp,
            "hostname": host, "app_name": app, "procid": procid, "msgid": msgid, "sd": sd,
            "msg": msg[1:] if msg.startswith("\ufeff") else msg, "bom": msg.startswith("\ufeff")}


def _parse_sd(text: str, i: int) -> tuple[dict[str, dict[str, str]], str]:
    if text[i:i + 1] == "-":
        return {}, text[i + 1:]
    sd: dict[str, dict[str, str]] = {}
    while text[i:i + 1] == "[":
        m = re.compile(SD_NAME).match(text, i + 1)
        if not m:
            raise SyslogError("bad SD-ID")
        params: dict[str, str] = {}
        sd[m.group()] = params
        i = m.end()
        while text[i:i + 1] == " ":
            p = re.compile(SD_NAME + '="').match(text, i + 1)
            if not p:
                raise SyslogError("bad SD-PARAM name")
            name = text[i + 1:p.end() - 2]
            i, value = p.end(), []
            while True:
                if i >= len(text):
                    raise SyslogError("SD-PARAM value not closed")
                ch = text[i]
                if ch == "\\" and text[i + 1:i + 2] in ('"', "\\", "]"):
                    value.append(text[i + 1])
                    i += 2
                    continue
                if ch == '"':
                    break
                if ch == "]":
                    raise SyslogError("unescaped ] in an SD-PARAM value")
                value.append(ch)
                i += 1
            params[name] = "".join(value)
            i += 1
        if text[i:i + 1] != "]":
            raise SyslogError("SD-ELEMENT not closed")
        i += 1
    if not sd:
        raise SyslogError("no STRUCTURED-DATA")
    return sd, text[i:]


def _split_unescaped(text: str, sep: str, limit: int) -> list[str]:
    parts, cur, i = [], [], 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            cur.append(text[i:i + 2])
            i += 2
            continue
        if text[i] == sep and len(parts) < limit:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(text[i])
        i += 1
    parts.append("".join(cur))
    return parts


def _unescape(text: str, escapes: dict[str, str], where: str) -> str:
    """CEF's escapes, strictly: a backslash only before one of `escapes`; an `=` in an
    extension value only escaped (else it would start a key)."""
    out, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            nxt = text[i + 1:i + 2]
            if nxt not in escapes:
                raise SyslogError(f"bad escape in CEF {where}")
            out.append(escapes[nxt])
            i += 2
            continue
        if ch == "=" and "=" in escapes:
            raise SyslogError(f"unescaped = in the value of {where}")
        out.append(ch)
        i += 1
    return "".join(out)


def parse_cef(text: str) -> dict[str, Any]:
    """CEF:Version|Vendor|Product|Version|SignatureID|Name|Severity|Extension, strictly:
    header `|` and `\\` escaped, extension `=` and `\\` escaped, no raw line breaks."""
    if not text.startswith("CEF:0|"):
        raise SyslogError("not CEF:0")
    if "\n" in text or "\r" in text:
        raise SyslogError("a raw line break in CEF")
    parts = _split_unescaped(text[len("CEF:0|"):], "|", 6)
    if len(parts) != 7:
        raise SyslogError("CEF header needs 7 fields")
    header = [_unescape(part, {"|": "|", "\\": "\\"}, "header") for part in parts[:6]]
    if not header[5].isdigit() or not 0 <= int(header[5]) <= 10:
        raise SyslogError("CEF severity not 0..10")
    ext: dict[str, str] = {}
    # key=value pairs: a key is a word before an unescaped "="
    tokens = re.split(r"(?:^| )([A-Za-z0-9_]+)=", parts[6])
    if tokens[0].strip():
        raise SyslogError("extension does not start with key=")
    for key, raw in zip(tokens[1::2], tokens[2::2], strict=True):
        ext[key] = _unescape(raw, {"=": "=", "\\": "\\", "n": "\n", "r": "\r"}, key)
    return {"vendor": header[0], "product": header[1], "version": header[2],
            "signature_id": header[3], "name": header[4], "severity": int(header[5]),
            "extension": ext}


class SyslogListener:
    """A syslog server on 127.0.0.1: udp (one message a datagram), tcp or tls (RFC 6587
    octet counting: `LEN SP MSG`). `.received`: parsed messages (with `cef` when the
    MSG is CEF); `.rejected`: (reason, raw)."""

    def __init__(self, transport: str = "udp", certfile: Path | None = None,
                 keyfile: Path | None = None) -> None:
        self.transport = transport
        self.received: list[dict[str, Any]] = []
        self.rejected: list[tuple[str, bytes]] = []
        self.raw: list[bytes] = []
        self._stop = threading.Event()
        kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
        self.sock = socket.socket(socket.AF_INET, kind)
        self.sock.bind(("127.0.0.1", 0))
        self.host, self.port = self.sock.getsockname()
        self.context = None
        if transport == "tls":
            self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self.context.load_cert_chain(certfile, keyfile)
        if kind == socket.SOCK_STREAM:
            self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _take(self, data: bytes) -> None:
        self.raw.append(data)
        try:
            message = parse_rfc5424(data)
            if message["msg"].startswith("CEF:"):
                message["cef"] = parse_cef(message["msg"])
        except (SyslogError, UnicodeDecodeError, ValueError) as exc:
            self.rejected.append((str(exc), data))
            return
        self.received.append(message)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                if self.transport == "udp":
                    self._take(self.sock.recv(65535))
                    continue
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=self._stream, args=(conn,), daemon=True).start()

    def _stream(self, conn: socket.socket) -> None:
        try:
            if self.context:
                conn = self.context.wrap_socket(conn, server_side=True)
            conn.settimeout(5)
            buf = b""
            while chunk := conn.recv(65536):
                buf += chunk
            while buf:
                length, sep, rest = buf.partition(b" ")
                if not sep or not length.isdigit() or length.startswith(b"0"):
                    self.rejected.append(("not octet-counted", buf))
                    return
                n = int(length)
                if len(rest) < n:
                    self.rejected.append(("frame shorter than its count", buf))
                    return
                self._take(rest[:n])
                buf = rest[n:]
        except (OSError, ssl.SSLError) as exc:
            self.rejected.append((f"connection: {type(exc).__name__}", b""))
        finally:
            conn.close()

    def wait(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        import time

        end = time.monotonic() + timeout
        while len(self.received) + len(self.rejected) < count and time.monotonic() < end:
            time.sleep(0.02)
        return self.received

    def close(self) -> None:
        self._stop.set()
        self.thread.join(2)
        self.sock.close()


@pytest.fixture(name="formats_receivers")
def formats_receivers_fixture():
    """make(cls, *args, **kw) -> a receiver, closed after the test. Import
    `formats_receivers_fixture` into a test module to use `formats_receivers`."""
    made: list[Any] = []

    def make(cls: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        made.append(cls(*args, **kw))
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()
