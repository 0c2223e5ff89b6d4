"""End-to-end tests: a real Home Assistant process with the local carrier server."""
