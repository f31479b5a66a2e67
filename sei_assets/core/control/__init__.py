"""The release control plane of process profiles (seed 002): profiles, plane, ledger, suites.

No Dagster, typer or rich here: the CLI (`sei control`, `sei profile`), the scenario dialect
`profiles` and its Dagster assets are fronts over this package.
"""

from sei_assets.core.control.ledger import Ledger, ledger_path, ledger_state
from sei_assets.core.control.plane import ANSWER_FIELDS, Submission, submit
from sei_assets.core.control.profile import LoadedProfile, Profile, ProfileError, load_profile

__all__ = [
    "ANSWER_FIELDS",
    "Ledger",
    "LoadedProfile",
    "Profile",
    "ProfileError",
    "Submission",
    "ledger_path",
    "ledger_state",
    "load_profile",
    "submit",
]
