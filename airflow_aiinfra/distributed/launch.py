"""How a stage's command is put under PyTorch's launcher (torchrun), the same way everywhere.

On a cluster the job controller sets ``PET_NNODES``, ``PET_NPROC_PER_NODE``, ``PET_NODE_RANK``
and the master address, which torchrun reads as defaults for its flags, so the container
runs ``torchrun <script>``. Locally the runner passes the same flags explicitly. Both start
from ``script_argv``: what follows torchrun's own options.
"""

from __future__ import annotations

from collections.abc import Sequence

PYTHONS = ("python", "python3")
# Commands that already are the launcher: left as they are.
_LAUNCHERS = (
    ("torchrun",),
    ("python", "-m", "torch.distributed.run"),
    ("python3", "-m", "torch.distributed.run"),
)


def already_launched(argv: Sequence[str]) -> bool:
    return any(tuple(argv[: len(prefix)]) == prefix for prefix in _LAUNCHERS)


def script_argv(cmds: Sequence[str] | None, args: Sequence[str] | None) -> list[str]:
    """The part of torchrun's command line after its options, for a stage command.

    ``python train.py A`` → ``train.py A``; ``python -m pkg A`` → ``-m pkg A``;
    any other executable ``x A`` → ``--no-python x A`` (torchrun runs it as it is)."""
    argv = [*(cmds or ()), *(args or ())]
    if not argv:
        raise ValueError(
            "a distributed stage needs a `command` (its image's entrypoint cannot be put under torchrun): "
            "add `command: python train.py` to the stage"
        )
    if already_launched(argv):
        raise ValueError(
            f"the stage command {argv[:3]} already starts torchrun: give the training script itself "
            "(`python train.py`); nodes and procs_per_node come from `distributed:`"
        )
    if argv[0] in PYTHONS:
        rest = argv[1:]
        if rest[:1] == ["-m"] and len(rest) >= 2:
            return ["-m", *rest[1:]]
        if rest and not rest[0].startswith("-"):
            return rest
        raise ValueError(
            f"cannot put {argv} under torchrun: use `python SCRIPT ...` or `python -m MODULE ...`"
        )
    return ["--no-python", *argv]


def cluster_command(cmds: Sequence[str] | None, args: Sequence[str] | None) -> list[str]:
    """The container command of every node on a cluster (torchrun reads the controller's PET_* env)."""
    return ["torchrun", *script_argv(cmds, args)]
