"""The Parcel Handoff integration."""

from __future__ import annotations
