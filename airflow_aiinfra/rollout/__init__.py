"""Canary rollout building blocks with no Airflow in them: PromQL (:mod:`.promql`), the verdict on an
analysis window (:mod:`.judge`) and the chart of a finished rollout (:mod:`.chart`)."""
