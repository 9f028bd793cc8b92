"""Pure builders of the Kubernetes objects a distributed or Spark stage becomes (plain dicts)."""
