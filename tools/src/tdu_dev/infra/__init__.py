"""Local infrastructure without Docker: Apache Kafka from its Maven Central jars, FerretDB built with Go."""
