"""Cross-field checks per section, beyond what pydantic's per-field validation expresses.

Each module's ``issues(spec, options)`` yields ``(path, message)``; :mod:`airflow_aiinfra.spec.semantics`
runs them all and :mod:`airflow_aiinfra.spec.load` turns paths into file positions. Every message names
the bad value and, where one is likely, the fix. Empty on purpose (importing one section's checks must
not import the others).
"""
