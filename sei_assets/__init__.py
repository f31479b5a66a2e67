"""sei-assets: an AI-assurance engine, natively in Dagster."""

__version__ = "0.1.0"
