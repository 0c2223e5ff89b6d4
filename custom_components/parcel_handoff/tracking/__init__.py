"""Parcel tracking engine: canonical stages, normalizers, timeline merge, policy, clients.

This package has no Home Assistant import: it could be published as its own library.
"""

from __future__ import annotations
