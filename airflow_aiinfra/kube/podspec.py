"""PodPlan → the pieces of a pod spec as plain camelCase dicts (what a custom resource embeds).

The single-pod path builds kubernetes client models for the KubernetesPodOperator
(wiring/k8s.py); custom resources embed the same pod as JSON. One place computes it so a
TrainJob node, a PyTorchJob replica and a single-pod stage get the same resources,
tolerations, node selector, security contexts, volumes and secrets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from airflow_aiinfra.plan.model import PodPlan, SecretPlan, VolumePlan

# A secret exposed as all of its keys (envFrom) cannot be written as per-key env, which is all a
# TrainJob's runtime patch allows. For the credentials secret the MLflow integration adds, the keys
# are known (hooks/mlflow.py): each becomes an optional secretKeyRef.
KNOWN_SECRET_KEYS: dict[str, tuple[str, ...]] = {
    "MLFLOW_TRACKING_*": (
        "MLFLOW_TRACKING_USERNAME",
        "MLFLOW_TRACKING_PASSWORD",
        "MLFLOW_TRACKING_TOKEN",
        "MLFLOW_TRACKING_INSECURE_TLS",
    ),
}


def camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def camel_keys(value: Any) -> Any:
    """snake_case keys (kubernetes client kwargs, as PodPlan keeps security contexts) → camelCase."""
    if isinstance(value, dict):
        return {camel(k): camel_keys(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [camel_keys(v) for v in value]
    return value


def _dns_name(text: str) -> str:
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return name[:63].rstrip("-") or "vol"


@dataclass
class PodParts:
    """The pod-level and container-level fields of one node's pod, camelCase, empty ones omitted."""

    env: list[dict[str, Any]] = field(default_factory=list)
    env_from: list[dict[str, Any]] = field(default_factory=list)
    volumes: list[dict[str, Any]] = field(default_factory=list)
    volume_mounts: list[dict[str, Any]] = field(default_factory=list)
    resources: dict[str, dict[str, str]] = field(default_factory=dict)
    pod_security: dict[str, Any] = field(default_factory=dict)
    container_security: dict[str, Any] = field(default_factory=dict)
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: list[dict[str, Any]] = field(default_factory=list)
    affinity: dict[str, Any] | None = None
    image_pull_secrets: list[dict[str, str]] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)


def _volume(v: VolumePlan) -> dict[str, Any]:
    if v.kind == "pvc":
        src: dict[str, Any] = {"persistentVolumeClaim": {"claimName": v.source}}
        if v.read_only:
            src["persistentVolumeClaim"]["readOnly"] = True
    elif v.kind == "config_map":
        src = {"configMap": {"name": v.source}}
    elif v.kind == "secret":
        src = {"secret": {"secretName": v.source}}
    elif v.kind == "empty_dir":
        empty: dict[str, Any] = {}
        if v.medium:
            empty["medium"] = v.medium
        if v.size_limit:
            empty["sizeLimit"] = v.size_limit
        src = {"emptyDir": empty}
    else:
        raise ValueError(f"volume {v.name!r} has kind {v.kind!r}: use pvc, config_map, secret or empty_dir")
    return {"name": v.name, **src}


def _mount(name: str, path: str, read_only: bool, sub_path: str | None = None) -> dict[str, Any]:
    m: dict[str, Any] = {"name": name, "mountPath": path}
    if read_only:
        m["readOnly"] = True
    if sub_path:
        m["subPath"] = sub_path
    return m


def _secret(s: SecretPlan, parts: PodParts, *, expand_env_from: bool) -> None:
    if s.env is not None and s.key is not None:
        parts.env.append({"name": s.env, "valueFrom": {"secretKeyRef": {"name": s.secret, "key": s.key}}})
    elif s.env is not None:
        if not expand_env_from:
            parts.env_from.append({"secretRef": {"name": s.secret}})
            return
        keys = KNOWN_SECRET_KEYS.get(s.env)
        if keys is None:
            raise ValueError(
                f"secret {s.secret!r} is exposed as all of its keys (env {s.env!r}), which this job kind cannot "
                "express (only per-key env): list each key with `key:` and `env:`, or use `job: pytorchjob`"
            )
        parts.env.extend(
            {"name": k, "valueFrom": {"secretKeyRef": {"name": s.secret, "key": k, "optional": True}}}
            for k in keys
        )
    else:
        name = _dns_name(f"secret-{s.secret}")
        vol: dict[str, Any] = {"secretName": s.secret}
        if s.key is not None:
            vol["items"] = [{"key": s.key, "path": s.key}]
        if not any(v["name"] == name for v in parts.volumes):
            parts.volumes.append({"name": name, "secret": vol})
        parts.volume_mounts.append(_mount(name, s.mount_path or f"/var/secrets/{s.secret}", True))


def pod_parts(
    pod: PodPlan, *, extra_env: dict[str, str] | None = None, expand_env_from: bool = False
) -> PodParts:
    """Everything of ``pod`` but image and command. ``extra_env`` (launcher variables) goes first:
    the stage's own env cannot shadow it because the spec layer reserves those names."""
    parts = PodParts()
    parts.env = [{"name": k, "value": str(v)} for k, v in {**(extra_env or {}), **pod.env}.items()]
    for s in pod.secrets:
        _secret(s, parts, expand_env_from=expand_env_from)
    for v in pod.volumes:
        parts.volumes.append(_volume(v))
        parts.volume_mounts.append(_mount(v.name, v.mount_path, v.read_only, v.sub_path))
    if pod.requests:
        parts.resources["requests"] = dict(pod.requests)
    if pod.limits:
        parts.resources["limits"] = dict(pod.limits)
    parts.pod_security = camel_keys(dict(pod.pod_security))
    parts.container_security = camel_keys(dict(pod.container_security))
    parts.node_selector = dict(pod.node_selector)
    parts.tolerations = [camel_keys(dict(t)) for t in pod.tolerations]
    parts.affinity = dict(pod.affinity) if pod.affinity else None
    parts.image_pull_secrets = [{"name": n} for n in pod.image_pull_secrets]
    parts.labels = dict(pod.labels)
    parts.annotations = dict(pod.annotations)
    return parts


def pod_spec_fields(parts: PodParts, pod: PodPlan) -> dict[str, Any]:
    """The pod-level fields of a full PodSpec (for job kinds that embed a whole pod template)."""
    spec: dict[str, Any] = {}
    if parts.volumes:
        spec["volumes"] = parts.volumes
    if parts.node_selector:
        spec["nodeSelector"] = parts.node_selector
    if parts.tolerations:
        spec["tolerations"] = parts.tolerations
    if parts.affinity:
        spec["affinity"] = parts.affinity
    if parts.pod_security:
        spec["securityContext"] = parts.pod_security
    if parts.image_pull_secrets:
        spec["imagePullSecrets"] = parts.image_pull_secrets
    if pod.service_account:
        spec["serviceAccountName"] = pod.service_account
    if pod.priority_class:
        spec["priorityClassName"] = pod.priority_class
    return spec


def container_fields(parts: PodParts) -> dict[str, Any]:
    """The container-level fields shared by every job kind (env, envFrom, mounts, resources, security)."""
    c: dict[str, Any] = {}
    if parts.env:
        c["env"] = parts.env
    if parts.env_from:
        c["envFrom"] = parts.env_from
    if parts.volume_mounts:
        c["volumeMounts"] = parts.volume_mounts
    if parts.resources:
        c["resources"] = parts.resources
    if parts.container_security:
        c["securityContext"] = parts.container_security
    return c


def template_metadata(parts: PodParts, labels: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    merged = {**parts.labels, **(labels or {})}
    if merged:
        meta["labels"] = merged
    if parts.annotations:
        meta["annotations"] = parts.annotations
    return meta
