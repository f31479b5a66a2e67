"""What the verbs' typer signatures share."""

from typing import Any

#: typer's mark of a required option given as a parameter's default (``...``); typed Any so
#: that it stands as the default of a ``str`` parameter (a required option has no default).
REQUIRED: Any = ...
