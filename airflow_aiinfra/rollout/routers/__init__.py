"""Router implementations of :class:`airflow_aiinfra.rollout.traffic.Router`, one module per router type."""
