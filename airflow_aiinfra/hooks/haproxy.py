"""HAProxy runtime API hook (connection type ``haproxy``): read the real split, change it with no reload.

Every caller reads the router's actual state (``show servers state``) before acting, so a retried or
restarted task continues from where traffic really is. Commands go over the stats socket declared
``level admin`` (TCP ``host:port`` or a unix socket), one command per connection (HAProxy's
non-interactive mode answers and closes).

Errors are mapped once, by type, in :func:`router_errors`::

    TimeoutError, ConnectionError, OSError (cannot connect, socket missing)  → RouterTransientError
    HaproxyRefused ("No such backend.", "No such server.", "Permission denied", unknown command) → RouterPermanentError

Names are checked before they are sent, so no value can smuggle a second command (``;`` or a newline).
"""

from __future__ import annotations

import re
import socket
from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

from airflow.sdk import BaseHook

from airflow_aiinfra.errors import AiinfraError, RouterPermanentError, RouterTransientError, map_errors
from airflow_aiinfra.hooks._connections import get_connection

AdminState = Literal["ready", "drain", "maint"]
_SAFE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
MAX_WEIGHT = 256
# srv_admin_state bits (HAProxy include/haproxy/server-t.h): forced/inherited/config/resolver/hostname maint,
# forced/inherited drain.
_MAINT_BITS = 0x01 | 0x02 | 0x04 | 0x20 | 0x40
_DRAIN_BITS = 0x08 | 0x10
_OP_STATES = {0: "stopped", 1: "starting", 2: "running", 3: "stopping"}


class HaproxyRefused(Exception):
    """HAProxy answered a command with an error message instead of doing it."""


_ERROR_MAP = {HaproxyRefused: RouterPermanentError, OSError: RouterTransientError}  # socket errors are OSErrors
_HINTS = {RouterTransientError: "unreachable: is HAProxy running with 'stats socket ... level admin'?"}


def router_errors(action: str, address: str) -> AbstractContextManager[None]:
    """Map socket and HAProxy failures into the package's router errors (table above)."""
    return map_errors(_ERROR_MAP, f"HAProxy runtime API at {address}: {action}", _HINTS)


@dataclass(frozen=True)
class ServerState:
    """One server as HAProxy sees it now (a row of ``show servers state``)."""

    backend: str
    name: str
    address: str
    port: int
    weight: int  # current weight (srv_uweight): what set weight changed
    initial_weight: int  # weight from the config file (srv_iweight)
    operational: str  # stopped / starting / running / stopping (health)
    admin: AdminState  # ready / drain / maint (what set server state changed)

    @property
    def receives_weighted_traffic(self) -> bool:
        return self.admin == "ready" and self.operational == "running" and self.weight > 0


def parse_servers_state(text: str) -> list[ServerState]:
    """Parse ``show servers state`` output (format version 1: a version line, a ``#`` header, rows)."""
    lines = [line for line in text.splitlines() if line.strip()]
    header = next((line[1:].split() for line in lines if line.startswith("#")), None)
    if header is None:
        raise HaproxyRefused(text.strip() or "empty answer to 'show servers state'")
    out = []
    for line in lines:
        if line.startswith("#") or line.strip() == "1":
            continue
        row = dict(zip(header, line.split(), strict=False))
        admin_bits = int(row["srv_admin_state"])
        admin: AdminState = (
            "maint" if admin_bits & _MAINT_BITS else "drain" if admin_bits & _DRAIN_BITS else "ready"
        )
        out.append(ServerState(
            backend=row["be_name"], name=row["srv_name"], address=row["srv_addr"],
            port=int(row.get("srv_port", 0) or 0), weight=int(row["srv_uweight"]),
            initial_weight=int(row["srv_iweight"]), operational=_OP_STATES.get(int(row["srv_op_state"]), "unknown"),
            admin=admin,
        ))
    return out


def _checked(value: str, what: str) -> str:
    if not _SAFE_NAME.fullmatch(value):
        raise RouterPermanentError(f"{what} {value!r} is not a HAProxy name: use 1-64 characters of [A-Za-z0-9_.-]")
    return value


class HaproxyHook(BaseHook):
    """HAProxy's runtime API.

    Connection fields: ``host`` and ``port`` of the TCP stats socket (``stats socket ipv4@host:port level
    admin``). Extras: ``socket`` (a unix socket path, used instead of host/port), ``timeout`` (seconds, default 5).
    """

    conn_name_attr = "haproxy_conn_id"
    default_conn_name = "haproxy_default"
    conn_type = "haproxy"
    hook_name = "HAProxy runtime API"

    def __init__(
        self, haproxy_conn_id: str | None = default_conn_name, *, address: str | None = None, timeout: float | None = None
    ) -> None:
        super().__init__()
        self.haproxy_conn_id = haproxy_conn_id
        self._address = address
        self._timeout = timeout

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return {
            "hidden_fields": ["schema", "login", "password"],
            "relabeling": {"host": "Runtime API host", "port": "Runtime API port"},
            "placeholders": {"host": "127.0.0.1", "port": "9999", "extra": '{"socket": "/run/haproxy/admin.sock", "timeout": 5}'},
        }

    @cached_property
    def _settings(self) -> tuple[str, float]:
        if self._address:
            return self._address, self._timeout or 5.0
        conn = get_connection(self.haproxy_conn_id or self.default_conn_name, error=RouterPermanentError,
                              conn_type="haproxy", example="haproxy://127.0.0.1:9999")
        extra = conn.extra_dejson or {}
        timeout = float(self._timeout or extra.get("timeout") or 5.0)
        if extra.get("socket"):
            return str(extra["socket"]), timeout
        if not conn.host or not conn.port:
            raise RouterPermanentError(
                f"connection {conn.conn_id!r} needs host and port of HAProxy's runtime API, or extra 'socket'"
            )
        return f"{conn.host}:{conn.port}", timeout

    @property
    def address(self) -> str:
        return self._settings[0]

    def command(self, command: str) -> str:
        """Send one runtime API command and return HAProxy's whole answer (text)."""
        if "\n" in command or ";" in command:
            raise RouterPermanentError(f"one HAProxy command at a time, without ';' or newlines: {command!r}")
        address, timeout = self._settings
        with router_errors(f"run {command.split(' ', 3)[:3]}", address):
            if address.startswith("/"):
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(timeout)
                sock.connect(address)
            else:
                host, _, port = address.rpartition(":")
                sock = socket.create_connection((host, int(port)), timeout=timeout)
            with sock:
                sock.sendall(command.encode() + b"\n")
                chunks = []
                while chunk := sock.recv(65536):
                    chunks.append(chunk)
            return b"".join(chunks).decode(errors="replace")

    def _do(self, command: str, action: str) -> None:
        """A command that answers nothing on success and an error sentence otherwise."""
        answer = self.command(command).strip()
        if answer:
            with router_errors(action, self.address):
                raise HaproxyRefused(f"{answer.splitlines()[0]} (command: {command!r})")

    # --- reading --------------------------------------------------------------------------------------
    def servers(self, backend: str) -> dict[str, ServerState]:
        """The servers of ``backend`` by name, as HAProxy runs them now."""
        text = self.command(f"show servers state {_checked(backend, 'backend')}")
        with router_errors(f"show the servers of backend {backend!r}", self.address):
            if not text.lstrip().startswith("1"):
                raise HaproxyRefused(f"{text.strip()} (backend {backend!r})")
            return {s.name: s for s in parse_servers_state(text)}

    def weights(self, backend: str) -> dict[str, int]:
        """Current weight per server, with servers not taking weighted traffic (drain/maint/down) at 0."""
        return {n: (s.weight if s.receives_weighted_traffic else 0) for n, s in self.servers(backend).items()}

    # --- changing -------------------------------------------------------------------------------------
    def set_weight(self, backend: str, server: str, weight: int) -> None:
        """``set weight BACKEND/SERVER N``: takes effect within milliseconds, no reload, nothing dropped."""
        if isinstance(weight, bool) or not isinstance(weight, int) or not 0 <= weight <= MAX_WEIGHT:
            raise RouterPermanentError(f"weight {weight!r} for {backend}/{server} must be an integer 0..{MAX_WEIGHT}")
        target = f"{_checked(backend, 'backend')}/{_checked(server, 'server')}"
        self._do(f"set weight {target} {weight}", f"set the weight of {target} to {weight}")

    def set_state(self, backend: str, server: str, state: AdminState) -> None:
        """``ready`` takes traffic; ``drain`` takes no weighted traffic but keeps header-routed requests;
        ``maint`` takes nothing (header rules to it fall back to the weighted split)."""
        if state not in ("ready", "drain", "maint"):
            raise RouterPermanentError(f"server state {state!r} must be one of ready, drain, maint")
        target = f"{_checked(backend, 'backend')}/{_checked(server, 'server')}"
        self._do(f"set server {target} state {state}", f"set {target} to {state}")

    def drain(self, backend: str, server: str) -> None:
        self.set_state(backend, server, "drain")

    def ready(self, backend: str, server: str) -> None:
        self.set_state(backend, server, "ready")

    def maint(self, backend: str, server: str) -> None:
        self.set_state(backend, server, "maint")

    def test_connection(self) -> tuple[bool, str]:
        try:
            info = self.command("show info")
        except AiinfraError as exc:
            return False, str(exc)
        version = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("Version:")), "?")
        return True, f"HAProxy {version} answered at {self.address}"
