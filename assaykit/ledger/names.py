"""Where the ledger is found when none is named: the file beside the reports, and the environment
variable that names another (a module of its own, so that the store imports them without
importing its own package)."""

DEFAULT_NAME = "assaykit-ledger.sqlite"
ENVIRONMENT = "ASSAYKIT_LEDGER"
