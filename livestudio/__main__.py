"""The `livestudio` command: serve, and manage shows, tokens and admins from a shell."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import sqlite3
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from livestudio import config
from livestudio.store import NotFoundError, Store, ValidationError, generate_password

ADMIN_PASSWORD_ENV = "LIVESTUDIO_ADMIN_PASSWORD"

StoreCommand = Callable[[Store, config.Settings, argparse.Namespace], Awaitable[int]]


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the process exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help(sys.stderr)
        return 2
    try:
        result: int = args.run(args)
    except (UsageError, ValidationError, NotFoundError) as exc:
        print(f"livestudio: error: {_message(exc)}", file=sys.stderr)
        return 2
    return result


class UsageError(Exception):
    """Bad settings or arguments: reported in one line, exit code 2."""


def _message(exc: Exception) -> str:
    # LookupError's str() is the repr of its argument; show the message itself.
    return str(exc.args[0]) if len(exc.args) == 1 else str(exc)


def _parser() -> argparse.ArgumentParser:
    settings_flags = argparse.ArgumentParser(add_help=False)
    config.add_arguments(settings_flags)

    parser = argparse.ArgumentParser(
        prog="livestudio",
        description="Self-hosted live-shopping studio.",
        epilog="Every --flag is also a LIVESTUDIO_* environment variable: `livestudio settings`.",
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        parents=[settings_flags],
        help="run the server",
        description="Run the server. `livestudio settings` describes every flag.",
    )
    serve.set_defaults(run=_serve)

    show = commands.add_parser("show", help="create and list shows").add_subparsers(
        title="show commands", metavar="COMMAND", required=True
    )
    create = show.add_parser("create", parents=[settings_flags], help="create a show")
    create.add_argument("title")
    create.add_argument("--starts-at", metavar="ISO", help="announced start, ISO 8601")
    create.set_defaults(run=_with_store(_show_create))
    show.add_parser("list", parents=[settings_flags], help="list shows").set_defaults(
        run=_with_store(_show_list)
    )

    token = commands.add_parser("token", help="API tokens").add_subparsers(
        title="token commands", metavar="COMMAND", required=True
    )
    token_create = token.add_parser("create", parents=[settings_flags], help="create a token")
    token_create.add_argument("--name", default="cli", help="what the token is for")
    token_create.set_defaults(run=_with_store(_token_create))
    token.add_parser("list", parents=[settings_flags], help="list tokens").set_defaults(
        run=_with_store(_token_list)
    )
    revoke = token.add_parser("revoke", parents=[settings_flags], help="revoke a token")
    revoke.add_argument("id", type=int)
    revoke.set_defaults(run=_with_store(_token_revoke))

    admin = commands.add_parser("admin", help="studio admin users").add_subparsers(
        title="admin commands", metavar="COMMAND", required=True
    )
    reset = admin.add_parser(
        "reset-password",
        parents=[settings_flags],
        help="set a new random password and log the admin out everywhere "
        "(creates the admin if there is none)",
    )
    reset.add_argument("--username")
    reset.set_defaults(run=_with_store(_admin_reset_password))
    admin_create = admin.add_parser(
        "create",
        parents=[settings_flags],
        help=f"add an admin (password from {ADMIN_PASSWORD_ENV}, or generated)",
    )
    admin_create.add_argument("--username", required=True)
    admin_create.set_defaults(run=_with_store(_admin_create))
    admin_delete = admin.add_parser(
        "delete",
        parents=[settings_flags],
        help="remove an admin (their sessions end at once; not the last admin)",
    )
    admin_delete.add_argument("--username", required=True)
    admin_delete.set_defaults(run=_with_store(_admin_delete))

    commands.add_parser("settings", help="describe every setting").set_defaults(run=_settings)
    return parser


def _load_settings(args: argparse.Namespace) -> config.Settings:
    flags = {f.name: getattr(args, f.name, None) for f in dataclasses.fields(config.Settings)}
    try:
        return config.load_settings(overrides=flags)
    except ValueError as exc:
        # The message already names the variable or flag: `livestudio: error: <it>`.
        raise UsageError(str(exc)) from None


def _serve(args: argparse.Namespace) -> int:
    settings = _load_settings(args)
    # Imported here: the store commands must not pay for (or depend on) aiortc and PyAV.
    from livestudio.app import run_server

    run_server(settings)
    return 0


def _with_store(command: StoreCommand) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        settings = _load_settings(args)

        async def with_store() -> int:
            async with await Store.open(settings.database_path) as store:
                return await command(store, settings, args)

        try:
            return asyncio.run(with_store())
        except sqlite3.OperationalError as exc:
            # Typically "database is locked": another writer held it past busy_timeout.
            print(f"livestudio: database error: {exc}", file=sys.stderr)
            return 1

    return run


def links_base(settings: config.Settings, args: argparse.Namespace) -> str:
    """The base URL for printed links: the address given to this command (flag or
    environment), else that of the server running on the same data directory, else the
    default one."""
    given = any(getattr(args, name, None) is not None for name in config.ADDRESS_SETTINGS) or any(
        config.env_name(name) in os.environ for name in config.ADDRESS_SETTINGS
    )
    if not given:
        running = config.running_server_url(settings.data_dir)
        if running:
            return running
    return settings.base_url


async def _show_create(store: Store, settings: config.Settings, args: argparse.Namespace) -> int:
    show, stream_key = await store.create_show(args.title, args.starts_at)
    base = links_base(settings, args)
    print(f"Show: {show.id}")
    print(f"WHIP URL: {base}/whip/{show.id}")
    print(f"Stream key: {stream_key}")
    print(f"Viewer link: {base}/live/{show.id}")
    print(f"Studio: {base}/studio/shows/{show.id}")
    return 0


async def _show_list(store: Store, settings: config.Settings, args: argparse.Namespace) -> int:
    for show in await store.list_shows():
        print(f"{show.id}  {show.state:<12} {show.title}")
    return 0


async def _token_create(store: Store, settings: config.Settings, args: argparse.Namespace) -> int:
    token = await store.create_api_token(args.name)
    print(f"API token: {token}")
    print("Shown once: copy it now (only a hash is kept). Use it as `Authorization: Bearer`.")
    return 0


async def _token_list(store: Store, settings: config.Settings, args: argparse.Namespace) -> int:
    for token in await store.list_api_tokens():
        used = _when(token.last_used_at) if token.last_used_at else "never used"
        print(f"{token.id:>4}  {token.name}  created {_when(token.created_at)}, {used}")
    return 0


async def _token_revoke(store: Store, settings: config.Settings, args: argparse.Namespace) -> int:
    if not await store.revoke_api_token(args.id):
        raise NotFoundError(f"no API token with id {args.id}")
    print(f"Revoked API token {args.id}.")
    return 0


async def _admin_reset_password(
    store: Store, settings: config.Settings, args: argparse.Namespace
) -> int:
    username, password = await store.reset_admin_password(args.username)
    print(f"Username: {username}")
    print(f"Password: {password}")
    print("Every browser logged in as this admin is logged out.")
    return 0


async def _admin_delete(store: Store, settings: config.Settings, args: argparse.Namespace) -> int:
    await store.delete_admin(args.username.strip())
    print(f"Deleted admin {args.username.strip()}; their browsers are logged out.")
    return 0


async def _admin_create(store: Store, settings: config.Settings, args: argparse.Namespace) -> int:
    password = os.environ.get(ADMIN_PASSWORD_ENV)
    generated = not password
    if not password:
        password = generate_password()
    await store.create_admin(args.username, password)
    print(f"Username: {args.username.strip()}")
    print(f"Password: {password}" if generated else f"Password: (from {ADMIN_PASSWORD_ENV})")
    return 0


def _settings(args: argparse.Namespace) -> int:
    for name, default, description in config.settings_help():
        shown = "(none)" if default in ("", "()", "None") else default
        print(f"--{name.replace('_', '-')}  LIVESTUDIO_{name.upper()}  default: {shown}")
        print(f"    {description}")
    return 0


def _when(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%d %H:%M UTC")


if __name__ == "__main__":
    sys.exit(main())
