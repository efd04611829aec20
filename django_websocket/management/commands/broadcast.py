"""``manage.py broadcast GROUP MESSAGE [--json]``: send a message to a group."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...exceptions import GroupBackendError
from ...groups import broadcast


class Command(BaseCommand):
    help = (
        "Send MESSAGE to every WebSocket in GROUP, through the WEBSOCKET_GROUPS backend. "
        "With the in-memory backend it reaches nobody: no socket lives in this process."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("group", help="the group name")
        parser.add_argument("message", help="the text to send")
        parser.add_argument(
            "--json", action="store_true", help="MESSAGE is JSON: check it and send it compact"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        message: str = options["message"]
        if options["json"]:
            try:
                message = json.dumps(json.loads(message), separators=(",", ":"))
            except ValueError as exc:
                raise CommandError(f"MESSAGE is not valid JSON: {exc}") from exc
        try:
            broadcast(options["group"], message)
        except (ValueError, GroupBackendError) as exc:
            raise CommandError(str(exc)) from exc
        if options["verbosity"] >= 1:
            self.stdout.write(f"Broadcast to group {options['group']!r}.")
