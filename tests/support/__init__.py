"""Protocol-level helpers that keep each test a few lines long."""
