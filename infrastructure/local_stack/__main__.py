"""``python -m infrastructure.local_stack up|down|status``: the commands behind ``make up`` / ``make down``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from infrastructure.local_stack._config import write_config_dir
from infrastructure.local_stack._stack import (
    UP_TIMEOUT_S,
    ServerStatus,
    adopt_openbao,
    destroy,
    down,
    reset_openbao,
    status,
    up,
)
from infrastructure.local_stack._state import Layout
from mlops.errors import LocalStackError


def _table(rows: list[ServerStatus]) -> str:
    width = max(len(r.state) for r in rows)
    return "\n".join(
        f"  {r.name:<9} {r.state:<{width}}  {r.endpoint:<30} {r.detail}".rstrip()
        + (f"  (pid {r.pid})" if r.pid else "")
        for r in rows
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infrastructure.local_stack",
        description="The local reference deployment: S3 (SeaweedFS), PostgreSQL, Redis, OpenBao, MLflow on 127.0.0.1.",
    )
    parser.add_argument(
        "command", choices=["up", "down", "status", "config", "destroy", "openbao-reset", "openbao-adopt"]
    )
    parser.add_argument(
        "--state",
        type=Path,
        default=Path(os.environ.get("MLOPS_STATE") or ".mlops"),
        help="state folder (default $MLOPS_STATE, else .mlops)",
    )
    parser.add_argument("--purge", action="store_true", help="down: delete the data as well")
    parser.add_argument("--yes", action="store_true", help="destroy: yes, delete every server's data")
    parser.add_argument(
        "--keep-bucket", action="append", default=None, help="destroy: a bucket to keep (default: backups, datasets)"
    )
    parser.add_argument("--init", type=Path, help="openbao-adopt: the escrowed init.json (unseal key, root token)")
    parser.add_argument("--out", type=Path, help="config: the config folder to write (for --config-dir)")
    parser.add_argument(
        "--timeout", type=float, default=UP_TIMEOUT_S, help="up: seconds each server may take to answer"
    )
    args = parser.parse_args(argv)
    if args.purge and args.command != "down":
        parser.error("--purge goes with down")
    if (args.out is None) == (args.command == "config"):
        parser.error("--out goes with config, and config needs it")
    if (args.init is None) == (args.command == "openbao-adopt"):
        parser.error("--init goes with openbao-adopt, and openbao-adopt needs it")
    if args.command == "destroy" and not args.yes:
        parser.error("destroy deletes every server's data (all buckets but the kept ones): add --yes")
    layout = Layout(args.state)
    try:
        if args.command == "up":
            rows = up(args.state, timeout_s=args.timeout)
            print(f"local stack in {layout.root}:\n{_table(rows)}")
            print(
                f"credentials: {layout.record} (mode 600); OpenBao unseal key and root token: "
                f"{layout.server_dir('openbao') / 'init.json'} (mode 600); logs: {layout.root}/<server>/<server>.log"
            )
        elif args.command == "destroy":
            lost = destroy(args.state, **({"keep_buckets": args.keep_bucket} if args.keep_bucket else {}))
            print(f"destroyed: {', '.join(lost)}; kept {layout.record} and {layout.escrow}")
        elif args.command == "openbao-reset":
            reset_openbao(args.state)
            print("OpenBao replaced by a fresh, empty one (new keys); restore its snapshot, then openbao-adopt")
        elif args.command == "openbao-adopt":
            adopt_openbao(args.state, args.init)
            print(f"OpenBao unsealed with the keys of {args.init} after a restart; its token file is updated")
        elif args.command == "config":
            out = write_config_dir(args.state, args.out)
            print(f"wrote {out}: use `mlops … --env local-stack --config-dir {out}`")
        elif args.command == "down":
            existed = layout.root.exists()
            rows = down(args.state, purge=args.purge)
            if rows:
                print(f"local stack in {layout.root}:\n{_table(rows)}")
            if not existed:
                print(f"no local stack in {layout.root}")
            else:
                print(f"deleted {layout.root}" if args.purge else "data kept")
        else:
            rows = status(args.state)
            if not rows:
                print(f"no local stack in {layout.root} (`make up` starts one)")
                return 3
            print(f"local stack in {layout.root}:\n{_table(rows)}")
            # Non-zero unless every server runs and answers, for scripts that wait on it.
            return 0 if all(r.state == "running" for r in rows) else 3
    except LocalStackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
