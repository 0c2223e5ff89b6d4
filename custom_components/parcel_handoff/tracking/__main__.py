"""`python -m custom_components.parcel_handoff.tracking`: see cli.py."""

from __future__ import annotations

import sys

from .cli import main

sys.exit(main())
