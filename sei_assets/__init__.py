"""sei-assets: an AI-assurance engine, natively in Dagster."""
