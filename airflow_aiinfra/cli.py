"""``aiinfra``: validate specs, print the JSON Schema, render DAGs and pods, manage pools and shards.

``validate`` and ``schema`` never import Airflow, so they are fast enough for editors and pre-commit.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path


def cmd_validate(args: argparse.Namespace) -> int:
    from airflow_aiinfra import config
    from airflow_aiinfra.errors import SpecError
    from airflow_aiinfra.plan.build import build_plans
    from airflow_aiinfra.spec.files import expand_paths
    from airflow_aiinfra.spec.load import load_spec

    bad = 0
    owners: dict[str, str] = {}
    options = config.spec_options()
    paths = expand_paths(args.paths)
    if not paths:
        print(f"no spec files (*.yaml, *.yml) under {' '.join(args.paths)}", file=sys.stderr)
        return 1
    for path in paths:
        try:
            loaded = load_spec(path, options)
        except SpecError as exc:
            bad += 1
            for issue in exc.issues:
                print(issue)
            continue
        for plan in build_plans(loaded):
            if plan.dag_id in owners:
                bad += 1
                print(f"{loaded.file}:1:1: name: DAG id {plan.dag_id!r} is already produced by "
                      f"{owners[plan.dag_id]}; give this spec another name")
            owners.setdefault(plan.dag_id, loaded.file)
        if not args.quiet:
            print(f"{loaded.file}: ok", file=sys.stderr)
    return 1 if bad else 0


def cmd_schema(args: argparse.Namespace) -> int:
    from airflow_aiinfra.spec.schema import json_schema

    print(json.dumps(json_schema(), indent=2, ensure_ascii=False))
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")  # keep stdout pure YAML
    from airflow_aiinfra.errors import SpecError
    from airflow_aiinfra.wiring.render import render_spec

    try:
        sys.stdout.write(render_spec(args.spec))
    except SpecError as exc:
        for issue in exc.issues:
            print(issue)
        return 1
    return 0


def cmd_pools(args: argparse.Namespace) -> int:
    from airflow_aiinfra.wiring.pools import sync_pools

    return sync_pools(args.paths, dry_run=args.dry_run)


def cmd_shards(args: argparse.Namespace) -> int:
    from airflow_aiinfra.wiring.shards import write_shard_files

    for path in write_shard_files(Path(args.dags_dir), args.count):
        print(path)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="aiinfra", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("validate", help="check spec files or folders; exit 1 if any is invalid")
    p.add_argument("paths", nargs="+")
    p.add_argument("-q", "--quiet", action="store_true", help="print errors only")
    p.set_defaults(func=cmd_validate)
    p = sub.add_parser("schema", help="print the JSON Schema of a spec")
    p.set_defaults(func=cmd_schema)
    p = sub.add_parser("render", help="print each DAG's tasks, dependencies and pods (no cluster needed)")
    p.add_argument("spec")
    p.set_defaults(func=cmd_render)
    p = sub.add_parser("pools", help="create or update the Airflow pools the specs need")
    p.add_argument("paths", nargs="+")
    p.add_argument("--dry-run", action="store_true")
    p.set_defaults(func=cmd_pools)
    p = sub.add_parser("shards", help="write dags/aiinfra_dags_<i>.py loader files for N parse units")
    p.add_argument("count", type=int)
    p.add_argument("--dags-dir", default="dags")
    p.set_defaults(func=cmd_shards)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
