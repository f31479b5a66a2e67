"""Where evidence and manifests live in a system's repository: every name in one place.

Light on purpose (no imports): the read-only verbs use it too.
"""

#: The manifest, by the names this engine and the reference's earlier releases used.
MANIFEST_NAMES = ("sei.yaml", "venth.yaml", "froga.yaml")
#: The evidence folder this engine writes; the reference's earlier folders are read as history.
EVIDENCE_DIR = ".sei"
LEGACY_DIRS = (".venth", ".froga")
EVIDENCE_DIRS = (EVIDENCE_DIR, *LEGACY_DIRS)
#: Files of the evidence folder.
BUNDLE = "bundle.json"
BOM = "bom.cdx.json"
#: The run's evidence as an OSCAL assessment-results document (see assessment_results).
ASSESSMENT_RESULTS = "assessment-results.oscal.json"
PUBKEY = "PUBKEY.txt"
#: The signed evidence index: every file of the set with its sha256 (see evidence_set).
INDEX = "index.json"
#: A committed evidence write not yet applied (see evidence_set); never evidence itself.
COMMIT_DIR = ".commit"
RECONSTRUCT = "reconstruct.json"
CONFORMANCE_DIR = "conformance"
IMPACT = "impact.json"
BACKLOG = "risk_backlog.json"
RELEASE = "release.json"
SIG_SUFFIX = ".sig"
#: The compiled OSCAL plan when the manifest's `oscal.assessment_plan` names none.
PLAN_DEFAULT = "assessment_plan.oscal.yaml"
#: The lock at the repository root, by this engine's and the reference's earlier names.
LOCK_NAME = "sei.lock"
LOCK_NAMES = ("sei.lock", "venth.lock", "froga.lock")
#: Set by the scenario runner for its commands: evidence made in a scenario's sandbox is
#: signed with that scenario's throwaway key and says so (the bundle's `sandbox`).
SANDBOX_ENV = "SEI_SCENARIO_SANDBOX"
