"""Pure functions from a stage spec to pod parts: resources, security context, volumes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_aiinfra.plan.model import SecretPlan, VolumePlan

if TYPE_CHECKING:  # type hints only: spec models are built when a spec needs them (spec/model/root.py)
    from airflow_aiinfra.spec.model.pod import SecurityContext
    from airflow_aiinfra.spec.model.training import Resources, Stage

# The extended resource each GPU vendor's device plugin advertises (what pods request and taint keys name).
GPU_RESOURCE = {"nvidia": "nvidia.com/gpu", "amd": "amd.com/gpu"}
_K8S_KEY = {"cpu": "cpu", "memory": "memory", "ephemeral_storage": "ephemeral-storage"}


def resource_maps(res: Resources, gpu_vendor: str) -> tuple[dict[str, str], dict[str, str], str | None]:
    """(requests, limits, gpu resource name). Plain values set requests and equal limits;
    explicit requests/limits override per key; GPUs go into limits and equal requests."""
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}
    for key, k8s_key in _K8S_KEY.items():
        value = getattr(res, key)
        if value is not None:
            requests[k8s_key] = limits[k8s_key] = value
    for target, explicit in ((requests, res.requests), (limits, res.limits)):
        if explicit is not None:
            for key, k8s_key in _K8S_KEY.items():
                value = getattr(explicit, key)
                if value is not None:
                    target[k8s_key] = value
    gpu_resource = None
    if res.gpu:
        gpu_resource = GPU_RESOURCE[res.gpu_vendor or gpu_vendor]
        requests[gpu_resource] = limits[gpu_resource] = str(res.gpu)
    return requests, limits, gpu_resource


def security_contexts(sc: SecurityContext, default_uid: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """(pod, container) security context kwargs for the profile; see SecurityContext.profile."""
    pod: dict[str, Any] = {}
    container: dict[str, Any] = {}
    seccomp = {"type": "RuntimeDefault"}
    if sc.profile == "restricted":
        pod.update(run_as_non_root=True, run_as_user=sc.run_as_user if sc.run_as_user is not None else default_uid,
                   seccomp_profile=seccomp)
        container.update(allow_privilege_escalation=False, capabilities={"drop": ["ALL"]}, run_as_non_root=True,
                         seccomp_profile=seccomp)
    elif sc.profile == "baseline":
        pod.update(seccomp_profile=seccomp)
        container.update(allow_privilege_escalation=False)
        if sc.run_as_user is not None:
            pod["run_as_user"] = sc.run_as_user
    elif sc.run_as_user is not None:
        pod["run_as_user"] = sc.run_as_user
    if sc.run_as_group is not None:
        pod["run_as_group"] = sc.run_as_group
    if sc.fs_group is not None:
        pod["fs_group"] = sc.fs_group
    if sc.read_only_root_filesystem:
        container["read_only_root_filesystem"] = True
    return pod, container


def volumes(stage: Stage) -> tuple[VolumePlan, ...]:
    out = []
    for v in stage.volumes:
        if v.pvc is not None:
            out.append(VolumePlan(v.name, v.mount_path, "pvc", v.pvc, v.read_only, v.sub_path))
        elif v.config_map is not None:
            out.append(VolumePlan(v.name, v.mount_path, "config_map", v.config_map, v.read_only, v.sub_path))
        elif v.secret is not None:
            out.append(VolumePlan(v.name, v.mount_path, "secret", v.secret, True, v.sub_path))
        elif v.empty_dir is not None:
            out.append(VolumePlan(v.name, v.mount_path, "empty_dir", None, v.read_only, v.sub_path,
                                  v.empty_dir.medium, v.empty_dir.size_limit))
    if stage.resources.shm_size:
        out.append(VolumePlan("dshm", "/dev/shm", "empty_dir", medium="Memory", size_limit=stage.resources.shm_size))
    return tuple(out)


def secrets(stage: Stage) -> tuple[SecretPlan, ...]:
    return tuple(SecretPlan(s.secret, s.key, s.env, s.mount_path) for s in stage.secrets)


def gpu_toleration(gpu_resource: str) -> dict[str, Any]:
    return {"key": gpu_resource, "operator": "Exists", "effect": "NoSchedule"}
