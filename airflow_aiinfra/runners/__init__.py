"""Local runners (``[aiinfra] runner = local``): a distributed or Spark stage as real processes on the worker.

Airflow-free classes with keyword APIs, like operators.local_runner.LocalStageRun: the
operators decide when to use them; these only run, stream output and clean up.
"""
