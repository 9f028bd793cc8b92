"""A local HTTP server standing in for the Kubernetes API, for tests of code that talks to a cluster.

No API server can run on these machines, so this one speaks enough of the real protocol for
the real ``kubernetes`` / ``kubernetes_asyncio`` clients and the provider's ``KubernetesHook``
(through a kubeconfig file or an Airflow connection pointing at it, plain http):

- namespaced custom objects: create (uid, resourceVersion, generation, creationTimestamp
  filled; 409 AlreadyExists; 422 Invalid when the body fails its CRD in tests/fixtures/crds),
  get, list (labelSelector), replace, delete (cascading to pods it owns), PATCH as JSON merge
  patch (RFC 7386, also for strategic-merge) or JSON patch (RFC 6902) (422 when the result fails
  its CRD), and the ``status``
  subresource (status is ignored on create and on main-resource writes, like the server);
- pods: create, get, list by label and simple field selectors, delete, and ``/log``;
- behaviour: ``on_read`` scripts that change an object's status as it is polled
  (tests.support.k8s_jobs.job_lifecycle), ``set_status``/``patch`` from the test, ``fail_next`` for faults;
- a journal of every request (method, path, query, body, response code) to assert on.

Start it with ``with FakeKubeAPI() as api:`` (or the ``k8s_api`` fixture in tests/conftest.py).
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

Obj = dict[str, Any]
# on_read(obj, reads) -> a new status for the object, or None to leave it; ``reads`` counts GETs of it.
OnRead = Callable[[Obj, int], Obj | None]

_CUSTOM = re.compile(
    r"^/apis/(?P<group>[^/]+)/(?P<version>[^/]+)/namespaces/(?P<ns>[^/]+)/(?P<plural>[^/]+)"
    r"(?:/(?P<name>[^/]+)(?:/(?P<sub>status|scale))?)?$"
)
_CORE = re.compile(
    r"^/api/v1/namespaces/(?P<ns>[^/]+)/(?P<plural>pods|events|configmaps|secrets|services)"
    r"(?:/(?P<name>[^/]+)(?:/(?P<sub>log|status))?)?$"
)


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge recursively, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def _pointer(path: str) -> list[str]:
    return [p.replace("~1", "/").replace("~0", "~") for p in path.lstrip("/").split("/")] if path else []


def json_patch(doc: Any, ops: list[Obj]) -> Any:
    """RFC 6902 JSON patch (add, replace, remove, test). Raises ValueError on a failed op."""
    doc = copy.deepcopy(doc)
    for op in ops:
        *parents, last = _pointer(op["path"])
        node = doc
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node[p]
        kind = op["op"]
        if kind == "test":
            current = node[int(last)] if isinstance(node, list) else node.get(last)
            if current != op["value"]:
                raise ValueError(f"test failed at {op['path']}")
        elif kind in ("add", "replace"):
            if isinstance(node, list):
                node.insert(
                    len(node) if last == "-" else int(last), op["value"]
                ) if kind == "add" else node.__setitem__(int(last), op["value"])
            else:
                if kind == "replace" and last not in node:
                    raise ValueError(f"replace of missing {op['path']}")
                node[last] = op["value"]
        elif kind == "remove":
            del node[int(last) if isinstance(node, list) else last]
        else:
            raise ValueError(f"unsupported JSON patch op {kind!r}")
    return doc


def _selector_terms(selector: str) -> list[tuple[str, str, set[str]]]:
    terms: list[tuple[str, str, set[str]]] = []
    for raw in re.split(r",(?![^()]*\))", selector or ""):
        term = raw.strip()
        if not term:
            continue
        if m := re.match(r"^([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)$", term):
            terms.append((m.group(1), m.group(2), {v.strip() for v in m.group(3).split(",") if v.strip()}))
        elif m := re.match(r"^([^\s!=]+)\s*(==|=|!=)\s*(.*)$", term):
            terms.append((m.group(1), "!=" if m.group(2) == "!=" else "=", {m.group(3).strip()}))
        elif term.startswith("!"):
            terms.append((term[1:], "!exists", set()))
        else:
            terms.append((term, "exists", set()))
    return terms


def matches_labels(labels: dict[str, str], selector: str) -> bool:
    """Kubernetes label selector semantics: =, ==, !=, in, notin, existence and !existence."""
    for key, op, values in _selector_terms(selector):
        present = key in labels
        if (op == "=" and labels.get(key) not in values) or (
            op == "!=" and present and labels[key] in values
        ):
            return False
        if (op == "in" and labels.get(key) not in values) or (
            op == "notin" and present and labels[key] in values
        ):
            return False
        if (op == "exists" and not present) or (op == "!exists" and present):
            return False
    return True


def _field(obj: Obj, path: str) -> Any:
    node: Any = obj
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def matches_fields(obj: Obj, selector: str) -> bool:
    for key, op, values in _selector_terms(selector):
        value = _field(obj, key)
        if (op == "=" and value not in values) or (op == "!=" and value in values):
            return False
    return True


@dataclass
class Request:
    """One request as it arrived, and what the server answered."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    content_type: str
    code: int = 0

    def __repr__(self) -> str:
        return f"{self.method} {self.path} -> {self.code}"


@dataclass
class _Fault:
    method: str
    path: re.Pattern[str]
    code: int
    times: int
    message: str


@dataclass
class _Stored:
    obj: Obj
    reads: int = 0
    on_read: OnRead | None = None
    logs: dict[str, str] = field(default_factory=dict)  # pods: container → log text
    owner: tuple[str, str, str] | None = None  # pods: (plural, namespace, name) of the owning object


class FakeKubeAPI:
    """The stand-in API server; a thread serving real HTTP on 127.0.0.1:<free port>."""

    def __init__(self, *, validate: bool = True) -> None:
        self.validate = validate
        self.journal: list[Request] = []
        self._store: dict[tuple[str, str, str, str], _Stored] = {}  # (group/version, plural, ns, name)
        self._scripts: list[tuple[str, re.Pattern[str], OnRead]] = []  # (plural, name pattern, on_read)
        self._faults: list[_Fault] = []
        self._rv = itertools.count(1000)
        self._lock = threading.RLock()
        self.port = free_port()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-kube-api", daemon=True)

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeKubeAPI:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeKubeAPI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def kubeconfig(self, path: Path, namespace: str = "default") -> Path:
        """Write a kubeconfig that points the real clients at this server."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": "fake",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "fake", "user": {"token": "fake-token"}}],
            "contexts": [
                {"name": "fake", "context": {"cluster": "fake", "user": "fake", "namespace": namespace}}
            ],
        }
        path.write_text(yaml.safe_dump(config))
        return path

    def airflow_connection(self, kubeconfig: Path, namespace: str | None = None) -> str:
        """An ``AIRFLOW_CONN_<ID>`` value (JSON) for a kubernetes connection using ``kubeconfig``."""
        extra: Obj = {"kube_config_path": str(kubeconfig)}
        if namespace:
            extra["namespace"] = namespace
        return json.dumps({"conn_type": "kubernetes", "extra": extra})

    # -- programming it from a test ----------------------------------------------------------
    def script(self, plural: str, on_read: OnRead, name: str = ".*") -> None:
        """Objects of ``plural`` whose name matches ``name`` (regex) get ``on_read`` when created."""
        with self._lock:
            self._scripts.append((plural, re.compile(name), on_read))

    def fail_next(
        self, method: str, path_regex: str, code: int = 500, times: int = 1, message: str = "injected"
    ) -> None:
        """The next ``times`` requests matching method and path answer ``code`` (a fault you cannot cause)."""
        with self._lock:
            self._faults.append(_Fault(method.upper(), re.compile(path_regex), code, times, message))

    def put(self, api_version: str, plural: str, obj: Obj, namespace: str = "default") -> Obj:
        """Store an object as if someone else had created it (an earlier try, another client)."""
        code, out = self._create(api_version, plural, namespace, copy.deepcopy(obj), keep_status=True)
        assert code == 201, out
        return out

    def get(self, api_version: str, plural: str, name: str, namespace: str = "default") -> Obj | None:
        with self._lock:
            s = self._store.get((api_version, plural, namespace, name))
            return copy.deepcopy(s.obj) if s else None

    def objects(self, api_version: str, plural: str, namespace: str | None = None) -> list[Obj]:
        with self._lock:
            return [
                copy.deepcopy(s.obj)
                for (av, p, ns, _), s in sorted(self._store.items())
                if av == api_version and p == plural and namespace in (None, ns)
            ]

    def set_status(
        self, api_version: str, plural: str, name: str, status: Obj, namespace: str = "default"
    ) -> None:
        with self._lock:
            s = self._store[(api_version, plural, namespace, name)]
            errors = self._invalid({**s.obj, "status": status})
            assert not errors, f"status {status} is invalid for {plural}: {errors}"
            s.obj["status"] = copy.deepcopy(status)
            s.obj["metadata"]["resourceVersion"] = str(next(self._rv))

    def add_pod(
        self,
        name: str,
        *,
        namespace: str = "default",
        labels: dict[str, str] | None = None,
        phase: str = "Running",
        logs: dict[str, str] | None = None,
        owner: tuple[str, str] | None = None,
        containers: list[str] | None = None,
    ) -> Obj:
        """A pod (e.g. a job's rank) with per-container logs; ``owner`` (plural, name) deletes it with its owner."""
        names = containers or list(logs or {}) or ["main"]
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": dict(labels or {})},
            "spec": {"containers": [{"name": c, "image": "fake"} for c in names]},
            "status": {"phase": phase},
        }
        code, out = self._create("v1", "pods", namespace, pod, keep_status=True)
        assert code == 201, out
        with self._lock:
            s = self._store[("v1", "pods", namespace, name)]
            s.logs = dict(logs or {})
            s.owner = (owner[0], namespace, owner[1]) if owner else None
        return out

    def set_pod_phase(self, name: str, phase: str, namespace: str = "default") -> None:
        with self._lock:
            self._store[("v1", "pods", namespace, name)].obj["status"]["phase"] = phase

    def requests(self, method: str | None = None, path: str | None = None) -> list[Request]:
        """Journal entries, filtered by method and a regex searched in the path."""
        with self._lock:
            return [
                r
                for r in self.journal
                if (method is None or r.method == method.upper())
                and (path is None or re.search(path, r.path))
            ]

    # -- the API -------------------------------------------------------------------------------
    def _status_error(
        self, code: int, reason: str, message: str, name: str = "", kind: str = ""
    ) -> tuple[int, Obj]:
        return code, {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
            "details": {"name": name, "kind": kind},
            "code": code,
        }

    def _has_status_subresource(self, api_version: str, plural: str) -> bool:
        if api_version == "v1":
            return True
        from tests.support import crds

        group, version = api_version.split("/")
        c = crds.crd_for_plural(group, version, plural)
        return c is None or "status" in c.subresources

    def _invalid(self, obj: Obj) -> str:
        """The CRD validation errors of a custom object ('' if valid, not validating, or no CRD known)."""
        api_version = obj.get("apiVersion", "v1")
        if not self.validate or "/" not in api_version:
            return ""
        from tests.support import crds

        try:
            crds.crd(obj.get("kind", ""), api_version)
        except KeyError:
            return ""
        return "; ".join(crds.check(obj).errors)

    def _create(
        self, api_version: str, plural: str, ns: str, body: Obj, *, keep_status: bool = False
    ) -> tuple[int, Obj]:
        meta = body.setdefault("metadata", {})
        name = meta.get("name")
        if not name and meta.get("generateName"):
            name = meta["generateName"] + uuid.uuid4().hex[:5]
            meta["name"] = name
        if not name:
            return self._status_error(
                422, "Invalid", f"{plural} name: Required value: name or generateName is required"
            )
        if meta.get("namespace", ns) != ns:
            return self._status_error(
                400,
                "BadRequest",
                "the namespace of the provided object does not match the namespace sent on the request",
            )
        if errors := self._invalid(body):
            return self._status_error(422, "Invalid", f'{plural} "{name}" is invalid: {errors}', name, plural)
        key = (api_version, plural, ns, name)
        with self._lock:
            if key in self._store:
                resource = f"{plural}.{api_version.split('/')[0]}" if "/" in api_version else plural
                return self._status_error(
                    409, "AlreadyExists", f'{resource} "{name}" already exists', name, plural
                )
            if not keep_status and self._has_status_subresource(api_version, plural):
                body.pop("status", None)
            meta.update(
                namespace=ns,
                uid=str(uuid.uuid4()),
                resourceVersion=str(next(self._rv)),
                generation=1,
                creationTimestamp=now(),
            )
            stored = _Stored(obj=body)
            for script_plural, pattern, on_read in self._scripts:
                if script_plural == plural and pattern.fullmatch(name):
                    stored.on_read = on_read
            self._store[key] = stored
            return 201, copy.deepcopy(body)

    def _read(self, key: tuple[str, str, str, str]) -> tuple[int, Obj]:
        with self._lock:
            s = self._store.get(key)
            if s is None:
                return self._status_error(404, "NotFound", f'{key[1]} "{key[3]}" not found', key[3], key[1])
            s.reads += 1
            if s.on_read is not None:
                status = s.on_read(copy.deepcopy(s.obj), s.reads)
                if status is not None and status != s.obj.get("status"):
                    if errors := self._invalid({**s.obj, "status": status}):
                        return self._status_error(
                            500, "InternalError", f"the test's scripted status is invalid: {errors}"
                        )
                    s.obj["status"] = status
                    s.obj["metadata"]["resourceVersion"] = str(next(self._rv))
            return 200, copy.deepcopy(s.obj)

    def _delete(self, key: tuple[str, str, str, str]) -> tuple[int, Obj]:
        with self._lock:
            s = self._store.pop(key, None)
            if s is None:
                return self._status_error(404, "NotFound", f'{key[1]} "{key[3]}" not found', key[3], key[1])
            for other_key, other in list(self._store.items()):
                if other.owner == (key[1], key[2], key[3]):
                    del self._store[other_key]
            return 200, {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Success",
                "details": {"name": key[3], "kind": key[1], "uid": s.obj["metadata"]["uid"]},
            }

    def _write(
        self, key: tuple[str, str, str, str], body: Any, content_type: str, sub: str | None, replace: bool
    ) -> tuple[int, Obj]:
        with self._lock:
            s = self._store.get(key)
            if s is None:
                return self._status_error(404, "NotFound", f'{key[1]} "{key[3]}" not found', key[3], key[1])
            old = s.obj
            try:
                if replace:
                    new = copy.deepcopy(body)
                elif "json-patch" in content_type:
                    new = json_patch(old, body)
                else:
                    new = merge_patch(old, body)
            except (ValueError, KeyError, IndexError, TypeError) as exc:
                return self._status_error(422, "Invalid", f"patch failed: {exc}", key[3], key[1])
            if self._has_status_subresource(key[0], key[1]):
                if sub == "status":
                    new = {**old, "status": new.get("status")}
                else:
                    new = (
                        {**new, "status": old.get("status")}
                        if "status" in old
                        else {k: v for k, v in new.items() if k != "status"}
                    )
            new["metadata"] = {
                **new.get("metadata", {}),
                **{k: old["metadata"][k] for k in ("uid", "creationTimestamp", "namespace", "name")},
            }
            if errors := self._invalid(new):  # the server validates the result of every write
                return self._status_error(422, "Invalid", f'{key[1]} "{key[3]}" is invalid: {errors}', key[3], key[1])
            if new.get("spec") != old.get("spec"):
                new["metadata"]["generation"] = old["metadata"].get("generation", 1) + 1
            new["metadata"]["resourceVersion"] = str(next(self._rv))
            s.obj = new
            return 200, copy.deepcopy(new)

    def _list(self, api_version: str, plural: str, ns: str, query: dict[str, list[str]]) -> tuple[int, Obj]:
        labels = query.get("labelSelector", [""])[0]
        fields = query.get("fieldSelector", [""])[0]
        with self._lock:
            items = [
                copy.deepcopy(s.obj)
                for (av, p, n, _), s in sorted(self._store.items())
                if av == api_version
                and p == plural
                and n == ns
                and matches_labels(s.obj["metadata"].get("labels") or {}, labels)
                and matches_fields(s.obj, fields)
            ]
            kind = "PodList" if plural == "pods" else "List"
            return 200, {
                "apiVersion": api_version,
                "kind": kind,
                "items": items,
                "metadata": {"resourceVersion": str(next(self._rv))},
            }

    def _log(self, key: tuple[str, str, str, str], query: dict[str, list[str]]) -> tuple[int, Obj | str]:
        with self._lock:
            s = self._store.get(key)
            if s is None:
                return self._status_error(404, "NotFound", f'pods "{key[3]}" not found', key[3], "pods")
            containers = [c["name"] for c in s.obj["spec"]["containers"]]
            container = query.get("container", [""])[0] or (containers[0] if len(containers) == 1 else "")
            if not container:
                return self._status_error(
                    400,
                    "BadRequest",
                    f"a container name must be specified for pod {key[3]}, choose one of: {containers}",
                )
            if container not in containers:
                return self._status_error(
                    400, "BadRequest", f"container {container} is not valid for pod {key[3]}"
                )
            text = s.logs.get(container, "")
            tail = query.get("tailLines", [None])[0]
            if tail is not None:
                text = "".join(text.splitlines(keepends=True)[-int(tail) :])
            return 200, text

    def handle(self, method: str, raw_path: str, body: Any, content_type: str) -> tuple[int, Obj | str]:
        url = urlsplit(raw_path)
        path, query = url.path.rstrip("/"), parse_qs(url.query)
        request = Request(method, path, query, copy.deepcopy(body), content_type)  # as sent, not as stored
        with self._lock:
            self.journal.append(request)
            for fault in self._faults:
                if fault.times > 0 and fault.method == method and fault.path.search(path):
                    fault.times -= 1
                    request.code, out = self._status_error(fault.code, "InternalError", fault.message)
                    return request.code, out
        request.code, out = self._route(method, path, query, body, content_type)
        return request.code, out

    def _route(
        self, method: str, path: str, query: dict[str, list[str]], body: Any, content_type: str
    ) -> tuple[int, Obj | str]:
        if path == "/version":
            return 200, {"major": "1", "minor": "33", "gitVersion": "v1.33.0-fake", "platform": "linux/amd64"}
        m = _CUSTOM.match(path) or _CORE.match(path)
        if not m:
            return self._status_error(
                404, "NotFound", f"the server could not find the requested resource ({path})"
            )
        g = m.groupdict()
        api_version = f"{g['group']}/{g['version']}" if "group" in g else "v1"
        ns, plural, name, sub = g["ns"], g["plural"], g["name"], g["sub"]
        key = (api_version, plural, ns, name or "")
        if name is None:
            if method == "GET":
                return self._list(api_version, plural, ns, query)
            if method == "POST":
                if not isinstance(body, dict):
                    return self._status_error(
                        400, "BadRequest", "the body of the request was not a JSON object"
                    )
                return self._create(api_version, plural, ns, body)
        elif sub == "log" and method == "GET":
            return self._log(key, query)
        elif method == "GET":
            return self._read(key)
        elif method == "DELETE":
            return self._delete(key)
        elif method in ("PATCH", "PUT"):
            return self._write(key, body, content_type, sub, replace=method == "PUT")
        return self._status_error(405, "MethodNotAllowed", f"{method} is not supported on {path}")


def _handler(api: FakeKubeAPI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            pass

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            content_type = self.headers.get("Content-Type", "")
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
            code, out = api.handle(self.command, self.path, body, content_type)
            payload = out.encode() if isinstance(out, str) else json.dumps(out).encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain" if isinstance(out, str) else "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    return Handler
