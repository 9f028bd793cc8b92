"""Deferrable triggers: async waits that hold no worker slot."""
