"""PodPlan → KubernetesPodOperator keyword arguments.

Every ``V1*`` model is built with one shared client ``Configuration`` (``kube.client_models``): by default
each model deep-copies a fresh one, which is the largest parse-time cost of hand-written KPO DAGs (see
benchmarks/README.md).
"""

from __future__ import annotations

from typing import Any

from kubernetes.client import models as k8s

from airflow_aiinfra.kube.client_models import from_yaml
from airflow_aiinfra.kube.client_models import shared_configuration as _cfg
from airflow_aiinfra.plan.model import PodPlan, VolumePlan


def _volume(v: VolumePlan) -> k8s.V1Volume:
    c = _cfg()
    kw: dict[str, Any] = {}
    if v.kind == "pvc":
        kw["persistent_volume_claim"] = k8s.V1PersistentVolumeClaimVolumeSource(
            claim_name=v.source, read_only=v.read_only or None, local_vars_configuration=c)
    elif v.kind == "config_map":
        kw["config_map"] = k8s.V1ConfigMapVolumeSource(name=v.source, local_vars_configuration=c)
    elif v.kind == "secret":
        kw["secret"] = k8s.V1SecretVolumeSource(secret_name=v.source, local_vars_configuration=c)
    else:
        kw["empty_dir"] = k8s.V1EmptyDirVolumeSource(
            medium=v.medium or None, size_limit=v.size_limit, local_vars_configuration=c)
    return k8s.V1Volume(name=v.name, local_vars_configuration=c, **kw)


def _mount(v: VolumePlan) -> k8s.V1VolumeMount:
    return k8s.V1VolumeMount(name=v.name, mount_path=v.mount_path, read_only=v.read_only or None,
                             sub_path=v.sub_path, local_vars_configuration=_cfg())


def _security(kind: type, spec: dict[str, Any]) -> Any:
    c = _cfg()
    kw = dict(spec)
    if "seccomp_profile" in kw:
        kw["seccomp_profile"] = k8s.V1SeccompProfile(**kw["seccomp_profile"], local_vars_configuration=c)
    if "capabilities" in kw:
        kw["capabilities"] = k8s.V1Capabilities(**kw["capabilities"], local_vars_configuration=c)
    return kind(**kw, local_vars_configuration=c)


def secrets(pod: PodPlan) -> list[Any]:
    from airflow.providers.cncf.kubernetes.secret import Secret

    out = []
    for s in pod.secrets:
        if s.env is not None:
            out.append(Secret("env", s.env if s.key is not None else None, s.secret, s.key))
        else:
            out.append(Secret("volume", s.mount_path, s.secret, s.key))
    return out


def pod_kwargs(pod: PodPlan) -> dict[str, Any]:
    """Keyword arguments for KubernetesPodOperator that build exactly this pod."""
    c = _cfg()
    return {
        "image": pod.image,
        "cmds": list(pod.cmds) if pod.cmds else None,
        "arguments": list(pod.args) if pod.args else None,
        "env_vars": dict(pod.env),
        "secrets": secrets(pod),
        "container_resources": k8s.V1ResourceRequirements(
            requests=dict(pod.requests) or None, limits=dict(pod.limits) or None, local_vars_configuration=c),
        "volumes": [_volume(v) for v in pod.volumes],
        "volume_mounts": [_mount(v) for v in pod.volumes],
        "node_selector": dict(pod.node_selector),
        "tolerations": [k8s.V1Toleration(**t, local_vars_configuration=c) for t in pod.tolerations],
        "affinity": from_yaml(pod.affinity, "V1Affinity") if pod.affinity else None,
        "priority_class_name": pod.priority_class,
        "namespace": pod.namespace,
        "service_account_name": pod.service_account,
        "image_pull_policy": pod.image_pull_policy,
        "image_pull_secrets": [k8s.V1LocalObjectReference(name=n, local_vars_configuration=c)
                               for n in pod.image_pull_secrets],
        "labels": dict(pod.labels),
        "annotations": dict(pod.annotations),
        "security_context": _security(k8s.V1PodSecurityContext, pod.pod_security) if pod.pod_security else None,
        "container_security_context": (
            _security(k8s.V1SecurityContext, pod.container_security) if pod.container_security else None),
        "kubernetes_conn_id": pod.kubernetes_conn_id,
        "startup_timeout_seconds": int(pod.startup_timeout.total_seconds()),
    }
