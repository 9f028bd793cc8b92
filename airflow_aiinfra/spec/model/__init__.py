"""Pydantic models of a spec, one module per section; the root is ``root.Spec``.

Empty on purpose: importing a section module must not import the others (see root.py).
"""
