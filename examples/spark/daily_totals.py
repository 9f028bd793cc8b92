"""A Spark stage's application: per-user click totals from a CSV of events, written as CSV.

The same file runs as a SparkApplication on a cluster (``spark: {application: ...}``) and with a
local Spark on a laptop (``[aiinfra] runner = local``). Usage: daily_totals.py INPUT_CSV OUTPUT_DIR.
"""

from __future__ import annotations

import sys

from pyspark.sql import SparkSession
from pyspark.sql import functions as F


def main(input_csv: str, output_dir: str) -> None:
    spark = SparkSession.builder.appName("daily_totals").getOrCreate()
    events = spark.read.csv(input_csv, header=True, inferSchema=True)
    totals = events.groupBy("user_id").agg(F.sum("clicks").alias("clicks"), F.count("*").alias("events"))
    totals.orderBy("user_id").coalesce(1).write.mode("overwrite").csv(output_dir, header=True)
    print(
        f"daily_totals: {events.count()} events, {totals.count()} users, "
        f"application {spark.sparkContext.applicationId}",
        flush=True,
    )
    spark.stop()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
