"""``playlog send``: JSON lines -> batches of JSON events over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterable

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn

from playlog.client import Client
from playlog.errors import BadRequest


def send_lines(client: Client, game: str, lines: Iterable[str], batch: int, out: Console) -> int:
    """Send every event; stop at the first refused batch (nothing after it is sent)."""
    total = 0
    pending: list[object] = []
    # A spinner for a person; piped or redirected, only the result (and errors) print.
    columns = (SpinnerColumn(), TextColumn("{task.description}"))
    with Progress(*columns, console=out, disable=not out.is_terminal) as progress:
        task = progress.add_task("sending", total=None)

        def flush() -> None:
            nonlocal total
            body = json.dumps(pending).encode()
            total += int(client.send(game, body, "application/json")["accepted"])
            pending.clear()
            progress.update(task, description=f"{total} events accepted")

        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                pending.append(json.loads(line))
            except ValueError as exc:
                raise BadRequest(f"line {number} is not JSON: {exc}") from exc
            if len(pending) >= batch:
                flush()
        if pending:
            flush()
    return total
