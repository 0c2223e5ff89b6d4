"""Run Home Assistant with Parcel Handoff: for development, as a demo, and for screenshots.

`scripts/develop [--demo]` and `scripts/screenshots` call `python -m scripts.demo`; the
end-to-end test imports the same pieces (`api`, `processes`, `journeys`, `scenario`).
"""
