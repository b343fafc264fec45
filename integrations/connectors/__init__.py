"""Vendor connectors: ``base`` is the interface, one module per vendor registers a
``Connector`` subclass (imported by ``base.load_connectors`` when the app is ready)."""
