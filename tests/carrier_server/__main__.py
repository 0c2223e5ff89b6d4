"""Run the carrier server for a demo.

    python -m tests.carrier_server --host 127.0.0.1 --port 8765 \
        --journeys tests/fixtures/journeys --advance-on-poll

Point the integration's clients at `http://127.0.0.1:8765`; change the clock, inject
faults and read counters through `/_control/clock`, `/_control/fault`, `/_control/stats`.
"""

from __future__ import annotations

import argparse
from datetime import datetime
import logging
from pathlib import Path

from aiohttp import web

from . import JOURNEYS_DIR
from .app import create_app
from .journeys import load_journeys
from .state import DEFAULT_CREDENTIALS, ServerState


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m tests.carrier_server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--journeys", type=Path, default=JOURNEYS_DIR)
    parser.add_argument(
        "--advance-on-poll",
        action="store_true",
        help="each poll of a number reveals its next event, whatever the clock says",
    )
    parser.add_argument("--now", help="start the clock at this ISO 8601 instant")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    journeys = load_journeys(args.journeys)
    state = ServerState(
        journeys=journeys,
        advance_on_poll=args.advance_on_poll,
        now=datetime.fromisoformat(args.now) if args.now else None,
    )
    print(f"Serving {len(journeys)} journeys on http://{args.host}:{args.port}")
    for name, value in DEFAULT_CREDENTIALS.items():
        print(f"  {name}: {value}")
    web.run_app(
        create_app(state),
        host=args.host,
        port=args.port,
        print=None,
        handler_cancellation=True,
    )


if __name__ == "__main__":
    main()
