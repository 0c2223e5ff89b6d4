"""Tests of the developer scripts' Python parts."""
