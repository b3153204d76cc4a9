"""``python -m assaykit.cli``: the ``assaykit`` command."""

from . import main

main()
