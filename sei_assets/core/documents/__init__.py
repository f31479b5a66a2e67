"""Documents for people, generated from the signed evidence: the auditor's dossier (EU AI Act
Annex IV technical documentation, model card, declaration of conformity draft) and the
ISO/IEC 42001 Statement of Applicability.

Nothing here invents a fact: every statement comes from the manifest, a signed evidence file
or git history, and names the file and digest it came from; what is missing is said, with what
would fill it. No Dagster, typer or rich (the core's rule); jinja2 templates ship in
``templates/``.
"""
