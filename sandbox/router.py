"""The sandbox: one router in front of the providers' stand-ins, reachable two ways with the same
code: as an `httpx.BaseTransport` (tests mount it in-process) and as a WSGI application (the
server, `python -m sandbox`). It sends each request to the stand-in that serves its path, logs it,
and serves the control API under `/_sandbox/`:

    GET    /_sandbox/health         {"status": "ok", "providers": [...]}
    GET    /_sandbox/faults         every stand-in's fault switches
    POST   /_sandbox/faults         {"daraja": {"b2c_reject": 1}}: set some, answer all
    DELETE /_sandbox/faults         every switch back to normal
    POST   /_sandbox/release-held   deliver the callbacks held back ({"provider": ...} optional)
    POST   /_sandbox/deliver-pending  take every step and deliver what is waiting to go, now
    GET    /_sandbox/requests       the requests seen, newest first (?limit=50&provider=daraja)
    GET    /_sandbox/deliveries     the callbacks sent or waiting, newest first (?limit=50)
    POST   /_sandbox/reset          forget everything (tokens, payments, registrations, logs)
    POST   /_sandbox/<action>       a stand-in's own actions, e.g. /_sandbox/pay-bill (Daraja),
                                    /_sandbox/intasend/webhook (IntaSend's dashboard)"""

import contextlib
import dataclasses
import json
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

import httpx

from sandbox.deliver import Deliveries, Immediate, Scheduler
from sandbox.http import LostAnswer, json_response, parse_json, serve_wsgi
from sandbox.store import Store

SCHEMA = """
create table if not exists requests (
    id integer primary key,
    at real not null,
    provider text not null,
    method text not null,
    path text not null,
    status integer not null,  -- 0: the answer was lost (a fault switch)
    error_code text not null default '',
    handled integer not null default 0,  -- reached the stand-in's handler (authenticated, read)
    body text not null default ''
);
"""
HANDLED = "sandbox.handled"  # request extension a stand-in sets once its handler runs
Control = Callable[[dict[str, Any]], tuple[int, object]]


class StandIn(Protocol):
    """A provider's stand-in: the paths it serves, its fault switches, its own control actions."""

    name: str
    faults: Any  # a dataclass of switches, each a bool or an int
    controls: dict[str, Control]

    def attach(self, sandbox: "Sandbox") -> None: ...

    def serves(self, path: str) -> bool: ...

    def handle(self, request: httpx.Request) -> httpx.Response: ...

    def reset(self) -> None: ...


class Switches:
    """Fault switches shared by a server's threads: counters are taken one at a time."""

    def __init__(self, faults: Any) -> None:
        self.faults = faults
        self._lock = threading.Lock()

    def take(self, name: str) -> bool:
        """True (and one fewer left) if the counter `name` is above zero."""
        with self._lock:
            left = getattr(self.faults, name)
            if left:
                setattr(self.faults, name, left - 1)
            return bool(left)


def update_switches(faults: Any, changes: dict[str, Any]) -> None:
    """Set fault switches by name, refusing unknown names and values of the wrong type."""
    known = {f.name: f for f in dataclasses.fields(faults)}
    for name, value in changes.items():
        if name not in known:
            raise ValueError(f"unknown switch {name!r}; known: {', '.join(known)}")
        current = getattr(faults, name)
        wrong = isinstance(value, bool) != isinstance(current, bool) or not isinstance(value, int)
        if wrong:
            raise ValueError(f"{name} takes a {type(current).__name__}")
    for name, value in changes.items():
        setattr(faults, name, value)


def error_code(answer: object) -> str:
    """The code in a refusal, in whichever provider's shape: Daraja's `errorCode`, IntaSend's
    `errors[0].code`."""
    if not isinstance(answer, dict):
        return ""
    if "errorCode" in answer:
        return str(answer["errorCode"])
    errors = answer.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return str(errors[0].get("code", ""))
    return ""


class Sandbox(httpx.BaseTransport):
    def __init__(
        self,
        path: Path | str,
        stand_ins: Iterable[StandIn] = (),
        scheduler: Scheduler | None = None,
    ) -> None:
        self.store = Store(path, SCHEMA)
        self.deliveries = Deliveries(self.store, scheduler or Immediate())
        self.stand_ins: dict[str, StandIn] = {}
        for stand_in in stand_ins:
            self.mount(stand_in)

    def mount(self, stand_in: StandIn) -> None:
        stand_in.attach(self)
        self.stand_ins[stand_in.name] = stand_in

    def __getattr__(self, name: str) -> StandIn:
        """`sandbox.daraja`: a mounted stand-in by name."""
        try:
            return self.__dict__["stand_ins"][name]
        except KeyError:
            raise AttributeError(name) from None

    # --- the two ways in ---------------------------------------------------------------------

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """httpx transport: a lost answer is the caller's read timeout."""
        try:
            return self.respond(request)
        except LostAnswer:
            raise httpx.ReadTimeout("no answer (sandbox fault switch)", request=request) from None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., object]) -> Any:
        return serve_wsgi(self.respond, environ, start_response)

    def respond(self, request: httpx.Request) -> httpx.Response:
        request.read()
        path = request.url.path
        if path.startswith("/_sandbox/"):
            return self._control(request, path.removeprefix("/_sandbox/").strip("/"))
        stand_in = next((s for s in self.stand_ins.values() if s.serves(path)), None)
        if stand_in is None:
            return json_response(404, {"error": f"nothing is served at {path}"})
        try:
            response = stand_in.handle(request)
        except LostAnswer:
            self._log(stand_in.name, request, 0)
            raise
        self._log(stand_in.name, request, response.status_code, response)
        return response

    def _log(
        self,
        provider: str,
        request: httpx.Request,
        status: int,
        response: httpx.Response | None = None,
    ) -> None:
        code = ""
        if response is not None and status >= 400:
            with contextlib.suppress(ValueError):
                code = error_code(json.loads(response.content))
        with self.store.write() as db:
            db.execute(
                "insert into requests (at, provider, method, path, status, error_code, handled,"
                " body) values (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    time.time(),
                    provider,
                    request.method,
                    request.url.path,
                    status,
                    code,
                    int(bool(request.extensions.get(HANDLED))),
                    request.content.decode("utf-8", "replace")[:20000],
                ),
            )

    def requests_seen(self, provider: str | None = None, limit: int = 0) -> list[dict[str, Any]]:
        """Requests in the order they came (with `limit`, the newest that many)."""
        where = " where provider = ?" if provider else ""
        sql = f"select * from requests{where}"  # noqa: S608 - fixed text, values bound
        args: tuple = (provider,) if provider else ()
        if limit:
            sql, args = f"{sql} order by id desc limit ?", (*args, limit)
        rows = self.store.all(sql, *args)
        if limit:
            rows.reverse()
        return [
            {
                "id": row["id"],
                "at": row["at"],
                "provider": row["provider"],
                "method": row["method"],
                "path": row["path"],
                "status": row["status"],
                "error_code": row["error_code"],
                "handled": bool(row["handled"]),
                "body": row["body"],
            }
            for row in rows
        ]

    def reset(self) -> None:
        for stand_in in self.stand_ins.values():
            stand_in.reset()
        with self.store.write() as db:
            db.execute("delete from requests")
            db.execute("delete from deliveries")
            db.execute("delete from steps")

    # --- the control API ---------------------------------------------------------------------

    def _control(self, request: httpx.Request, action: str) -> httpx.Response:
        try:
            body = parse_json(request) if request.content else {}
        except ValueError:
            return json_response(400, {"error": "the body must be JSON"})
        if not isinstance(body, dict):
            return json_response(400, {"error": "the body must be a JSON object"})
        params = dict(request.url.params)
        method = request.method
        try:
            if action == "health" and method == "GET":
                return json_response(200, {"status": "ok", "providers": list(self.stand_ins)})
            if action == "faults":
                return self._faults(method, body)
            if action == "release-held" and method == "POST":
                released = self.deliveries.release_held(body.get("provider"))
                return json_response(200, {"released": released})
            if action == "deliver-pending" and method == "POST":
                return json_response(200, {"delivered": self.deliveries.deliver_pending()})
            if action == "requests" and method == "GET":
                limit = int(params.get("limit") or 50)
                seen = self.requests_seen(params.get("provider"), limit)
                return json_response(200, {"requests": seen[::-1]})
            if action == "deliveries" and method == "GET":
                limit = int(params.get("limit") or 50)
                return json_response(200, {"deliveries": self.deliveries.recent(limit)})
            if action == "reset" and method == "POST":
                self.reset()
                return json_response(200, {"reset": True})
            if control := self._stand_in_control(action):
                if method != "POST":
                    return json_response(405, {"error": f"POST /_sandbox/{action}"})
                status, answer = control(body)
                return json_response(status, answer)
        except ValueError as exc:
            return json_response(400, {"error": str(exc)})
        return json_response(404, {"error": f"no control action {method} /_sandbox/{action}"})

    def _stand_in_control(self, action: str) -> Control | None:
        provider, _, name = action.partition("/")
        if name and provider in self.stand_ins:
            return self.stand_ins[provider].controls.get(name)
        return next(
            (s.controls[action] for s in self.stand_ins.values() if action in s.controls), None
        )

    def faults(self) -> dict[str, dict[str, Any]]:
        return {name: dataclasses.asdict(s.faults) for name, s in self.stand_ins.items()}

    def _faults(self, method: str, body: dict[str, Any]) -> httpx.Response:
        if method == "POST":
            unknown = set(body) - set(self.stand_ins)
            if unknown:
                raise ValueError(f"no stand-in named {', '.join(sorted(unknown))}")
            for name, changes in body.items():
                if not isinstance(changes, dict):
                    raise ValueError(f"{name}: give an object of switches")
                update_switches(self.stand_ins[name].faults, changes)
        elif method == "DELETE":
            for stand_in in self.stand_ins.values():
                stand_in.faults.__init__()
        elif method != "GET":
            return json_response(405, {"error": "GET, POST or DELETE /_sandbox/faults"})
        return json_response(200, self.faults())
