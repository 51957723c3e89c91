"""One deploy host: its `deliver_to` layout (layout.py, the only module that knows it), putting a
release there (unpack.py), its node (node.py, release_handler.py) and what surrounds a start
(links.py, health.py)."""
