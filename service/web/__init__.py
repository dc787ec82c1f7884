"""HTTP layer: thin handlers that parse, call domain code and render."""
