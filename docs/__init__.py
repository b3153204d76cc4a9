"""The user documentation (these Markdown pages), shipped in the wheel as the package
``assaykit._docs`` and printed by ``assaykit docs TOPIC``."""
