"""Tests of the polling benchmark (corpus, simulator, runner)."""
