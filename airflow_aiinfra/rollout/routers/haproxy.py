"""HAProxy as the canary router: weights through the runtime API, slots loaded through their admin API.

Keyword arguments (the spec's ``rollout.router`` block without ``type``, plus the slots from ``versions[]``):

===========================  ==================================================================================
``conn_id``                  Airflow connection (type ``haproxy``) of HAProxy's runtime API (``host:port`` or
                             extra ``socket``)
``backend``                  the backend holding both slots' servers (``model_serving``)
``model_server_conn_id``     connection whose password is the model servers' admin token (may be empty; a
                             missing connection means no token)
``stable_server``            HAProxy server name of the stable slot (the spec's non-canary ``versions[]``
                             entry: its ``server``, else its ``version``)
``canary_server``            HAProxy server name of the canary slot (the ``canary: true`` entry)
``runtime_api``              optional: ``host:port`` of the runtime API instead of ``conn_id`` (tests, demo)
``admin_token``              optional: the admin token instead of ``model_server_conn_id``
===========================  ==================================================================================

The model servers are found at the addresses HAProxy itself reports for the two slot servers (``show
servers state``), so there is one source of truth for where a slot lives.

How the split maps to HAProxy (``serving/haproxy_config.py``, ``docs/serving.md``):

* canary weight ``w`` % → server weights ``stable = 100 - w``, ``canary = w`` (``set weight``; no reload);
* header-matched requests go to the canary while its server is ``ready`` (also at weight 0); with the canary
  in ``maint`` HAProxy's ``use-server`` skips it and they fall back to the weighted split, i.e. stable.

Every method reads the real state first and sends only the commands that change something, so calling it
again (a retry, a restarted worker) sends nothing; :attr:`commands` lists what this instance sent.
"""

from __future__ import annotations

import logging
from functools import cached_property
from typing import Any

from airflow_aiinfra.errors import RouterPermanentError, ServingTransientError
from airflow_aiinfra.hooks._connections import get_connection
from airflow_aiinfra.rollout.traffic import SlotState, Split

log = logging.getLogger(__name__)


class HaproxyRouter:
    def __init__(
        self,
        *,
        conn_id: str = "aiinfra_router",
        backend: str = "model_serving",
        model_server_conn_id: str = "aiinfra_model_server",
        stable_server: str = "stable",
        canary_server: str = "canary",
        runtime_api: str | None = None,
        admin_token: str | None = None,
        load_timeout: float = 300.0,
    ) -> None:
        if stable_server == canary_server:
            raise RouterPermanentError(f"stable and canary slots are the same HAProxy server {stable_server!r}")
        self.conn_id = conn_id
        self.backend = backend
        self.model_server_conn_id = model_server_conn_id
        self.stable_server = stable_server
        self.canary_server = canary_server
        self.runtime_api = runtime_api
        self._admin_token = admin_token
        self.load_timeout = load_timeout
        self.commands: list[str] = []  # what this instance changed, in order (tests count them)

    # --- plumbing -------------------------------------------------------------------------------------
    @cached_property
    def hook(self) -> Any:
        from airflow_aiinfra.hooks.haproxy import HaproxyHook

        if self.runtime_api:
            return HaproxyHook(None, address=self.runtime_api)
        return HaproxyHook(self.conn_id)

    @cached_property
    def admin_token(self) -> str | None:
        if self._admin_token is not None:
            return self._admin_token or None
        conn = get_connection(self.model_server_conn_id, error=RouterPermanentError, conn_type="http",
                              example='{"conn_type": "http", "password": "<token>"}', optional=True)
        if conn is None:
            log.info("no connection %r: model servers' admin API used without a token", self.model_server_conn_id)
            return None
        return conn.password or None

    def _servers(self) -> dict[str, Any]:
        servers = self.hook.servers(self.backend)
        for name in (self.stable_server, self.canary_server):
            if name not in servers:
                raise RouterPermanentError(
                    f"HAProxy backend {self.backend!r} has no server {name!r} (it has {', '.join(sorted(servers))}); "
                    f"the spec's versions[].server must name the servers of the rendered haproxy.cfg"
                )
        return servers

    def _client(self, server: Any) -> Any:
        from airflow_aiinfra.serving.client import ModelServerClient

        return ModelServerClient(f"http://{server.address}:{server.port}", admin_token=self.admin_token,
                                 timeout=30.0)

    def _served(self, server: Any) -> str | None:
        client = self._client(server)
        try:
            return client.model().model_version
        except ServingTransientError as exc:  # a dead slot serves nothing; the router state is still real
            log.warning("slot server %s: %s", server.name, exc)
            return None
        finally:
            client.close()

    def _load(self, server: Any, model_uri: str, version: str) -> None:
        client = self._client(server)
        try:
            result = client.load(model_uri, timeout=self.load_timeout)
        finally:
            client.close()
        if result.model.model_version != version:
            raise RouterPermanentError(
                f"slot server {server.name} loaded {model_uri} but serves {result.model.model_version!r}, "
                f"not {version!r}"
            )
        self.commands.append(f"load {server.name} {model_uri}")
        log.info("slot %s (%s:%s) now serves %s (%s)", server.name, server.address, server.port, version,
                 "loaded" if result.changed else "already served")

    def _set_weight(self, server: Any, weight: int) -> None:
        if server.weight != weight:
            self.hook.set_weight(self.backend, server.name, weight)
            self._sent(f"set weight {self.backend}/{server.name} {weight}")

    def _set_state(self, server: Any, state: str) -> None:
        if server.admin != state:
            self.hook.set_state(self.backend, server.name, state)
            self._sent(f"set server {self.backend}/{server.name} state {state}")

    def _sent(self, command: str) -> None:
        self.commands.append(command)
        log.info("router command: %s", command)

    @property
    def weight_commands(self) -> list[str]:
        return [c for c in self.commands if c.startswith("set weight")]

    # --- the Router protocol ----------------------------------------------------------------------------
    def read(self) -> Split:
        servers = self._servers()
        return self._split(servers, with_versions=True)

    def _split(self, servers: dict[str, Any], *, with_versions: bool) -> Split:
        stable, canary = servers[self.stable_server], servers[self.canary_server]
        s = stable.weight if stable.receives_weighted_traffic else 0
        c = canary.weight if canary.receives_weighted_traffic else 0
        canary_pct = 0 if s + c == 0 else round(100 * c / (s + c))
        header = canary.admin != "maint" and canary.operational == "running"
        return Split(
            stable=SlotState(100 - canary_pct if s + c else 0, self._served(stable) if with_versions else None),
            canary=SlotState(canary_pct, self._served(canary) if with_versions else None),
            header_routes_to_canary=header,
        )

    def initial_deploy(self, model_uri: str, version: str) -> Split:
        servers = self._servers()
        stable, canary = servers[self.stable_server], servers[self.canary_server]
        if self._served(stable) != version:
            self._load(stable, model_uri, version)
        self._set_state(stable, "ready")
        self._set_weight(canary, 0)
        self._set_state(canary, "maint")
        self._set_weight(stable, 100)
        return self.read()

    def deploy_canary(self, model_uri: str, version: str, weight: int) -> Split:
        self._check_weight(weight)
        servers = self._servers()
        canary = servers[self.canary_server]
        if self._served(canary) != version:
            # drained out of every route while it loads: header-matched requests fall back to stable
            self._set_weight(canary, 0)
            self._set_state(canary, "maint")
            self._load(canary, model_uri, version)
            servers = self._servers()
            canary = servers[self.canary_server]
        self._set_state(canary, "ready")
        return self._apply(weight)

    def set_canary_weight(self, weight: int) -> Split:
        self._check_weight(weight)
        return self._apply(weight)

    def _apply(self, weight: int) -> Split:
        servers = self._servers()
        stable, canary = servers[self.stable_server], servers[self.canary_server]
        # the side gaining traffic first, so the sum never drops to 0 on the way
        if weight >= canary.weight:
            self._set_weight(canary, weight)
            self._set_weight(stable, 100 - weight)
        else:
            self._set_weight(stable, 100 - weight)
            self._set_weight(canary, weight)
        return self.read()

    def promote(self, model_uri: str, version: str) -> Split:
        servers = self._servers()
        stable, canary = servers[self.stable_server], servers[self.canary_server]
        if self._served(stable) != version:
            # the slot swaps its model with zero failed requests (serving/app.py); stable keeps its weight
            self._load(stable, model_uri, version)
        self._set_state(stable, "ready")
        self._set_weight(stable, 100)
        self._set_weight(canary, 0)
        self._set_state(canary, "maint")
        return self.read()

    def rollback(self) -> Split:
        servers = self._servers()
        stable, canary = servers[self.stable_server], servers[self.canary_server]
        self._set_state(stable, "ready")
        self._set_weight(stable, 100)
        self._set_weight(canary, 0)
        self._set_state(canary, "maint")
        return self.read()

    def describe(self) -> str:
        where = self.runtime_api or f"connection {self.conn_id!r}"
        return (f"haproxy backend {self.backend!r} at {where} (stable server {self.stable_server!r}, "
                f"canary server {self.canary_server!r})")

    @staticmethod
    def _check_weight(weight: int) -> None:
        if isinstance(weight, bool) or not isinstance(weight, int) or not 0 <= weight <= 100:
            raise RouterPermanentError(f"canary weight {weight!r} must be an integer percent 0..100")
