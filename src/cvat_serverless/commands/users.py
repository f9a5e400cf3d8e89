"""``cvat-serverless users``: the gateway's accounts, managed by the administrator from the command line.

Works on the same ``--data-dir`` as ``platform`` (a running gateway sees the change at once), like
CVAT's ``manage.py createsuperuser``; passwords follow the rules of ``POST /api/auth/register``.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from pathlib import Path

from cvat_serverless.commands.platform import DEFAULT_DATA_DIR


def run(args: argparse.Namespace) -> int:
    from cvat_serverless.gateway.errors import ValidationFailed
    from cvat_serverless.gateway.users import ROLES, UserStore

    users = UserStore(Path(args.data_dir))
    try:
        if args.action == "list":
            for user in users.all():
                print(f"{user.id:5d}  {user.username:30s} {user.role:7s} {user.email}")
            return 0
        if args.action == "delete":
            found = users.find(args.username)
            if found is None:
                print(f"error: no user {args.username!r}", file=sys.stderr)
                return 1
            users.delete(found.id)
            print(f"deleted {found.username} (id {found.id})")
            return 0
        if args.role not in ROLES:
            print(f"error: --role must be one of {', '.join(ROLES)}", file=sys.stderr)
            return 2
        password = args.password or os.environ.get("CVAT_NEW_PASSWORD") or getpass.getpass("password: ")
        body = {"username": args.username, "email": args.email or "", "password1": password, "password2": password}
        try:
            fields = users.validate_new({k: v for k, v in body.items() if v != "" or k != "email"})
        except ValidationFailed as error:
            print(f"error: {json.dumps(error.body)}", file=sys.stderr)
            return 1
        user = users.create(fields, role=args.role)
        print(f"created {user.username} (id {user.id}, role {user.role})")
        return 0
    finally:
        users.close()


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``users`` command."""
    parser = subparsers.add_parser("users", help="add, list or delete the local gateway's accounts")
    parser.add_argument("action", choices=["add", "list", "delete"])
    parser.add_argument("username", nargs="?", default="", help="the account (add, delete)")
    parser.add_argument("--email", default="")
    parser.add_argument("--password", default=None, help="else CVAT_NEW_PASSWORD, else asked for")
    parser.add_argument("--role", default="user", help="admin, user (default) or worker, as CVAT's groups")
    parser.add_argument("--data-dir", default=str(DEFAULT_DATA_DIR), help="the platform's --data-dir")
    parser.set_defaults(run=run)
