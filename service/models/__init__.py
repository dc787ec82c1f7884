"""Domain types: frozen dataclasses and constants, no I/O. Only `service.storage` maps them to
MongoDB documents; every other layer passes them around."""
