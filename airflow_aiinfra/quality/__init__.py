"""Data quality at run time: Great Expectations validation (``gx``) and its Data Docs (``data_docs``)."""
