"""The engine: manifest, compile, evaluation, risk, evidence, signing, lock, governance.

Imports no Dagster, typer or rich; every front calls these modules.
"""
