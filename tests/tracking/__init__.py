"""Tests for the tracking engine."""
