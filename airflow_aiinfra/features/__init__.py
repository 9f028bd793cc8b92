"""Feast at run time: store configuration (pure), Feast objects from plan definitions, value comparison."""
