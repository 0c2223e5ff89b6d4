"""Tests for Parcel Handoff."""
