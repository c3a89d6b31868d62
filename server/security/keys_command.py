"""`naiad keys new`: a fresh API key, printed once with the [[keys]] entry for the keys file."""

from __future__ import annotations

import argparse
import sys

from naiad.security.api_keys import key_entry, new_secret

DESCRIPTION = (
    "Prints a new random API key and the [[keys]] entry to append to the --api-keys file. "
    "Only the key's SHA-256 goes into the file; the key itself is shown once and never stored."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="keys_command", required=True)
    new = commands.add_parser("new", help="make a key", description=DESCRIPTION)
    new.add_argument("--id", required=True, help="who the key is for (audit lines, limits)")
    new.add_argument(
        "--scope",
        action="append",
        default=[],
        help="ACTION[:MODEL-PATTERN], e.g. infer:fraud* or metadata (repeatable)",
    )


def run(args: argparse.Namespace) -> int:
    secret = new_secret()
    try:
        entry = key_entry(args.id, secret, args.scope)
    except ValueError as exc:
        print(f"naiad keys: {exc}", file=sys.stderr)
        return 2
    # The secret to the terminal, the entry to stdout: `naiad keys new ... >> keys.toml` puts
    # only the hash in the file.
    print(f"key for '{args.id}' (shown once; send 'authorization: Bearer <key>'):", file=sys.stderr)
    print(secret, file=sys.stderr)
    print(entry, end="")
    return 0
