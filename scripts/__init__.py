"""Developer scripts of Parcel Handoff (the Python parts are importable for the tests)."""
