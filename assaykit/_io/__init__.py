"""Private file-system and configuration helpers shared by every subpackage (no public API).

- :mod:`.atomic`   outputs appear whole: a file written atomically, a folder of outputs swapped
  in as one unit under a lock, the listing (size, sha256) a manifest records
- :mod:`.read`     bounded reads of user input files (regular files only, size checked first)
- :mod:`.shipped`  the strategies and bead lots assaykit ships (``assaykit._defaults``)
- :mod:`.config`   configuration files (YAML) parsed safely, read by path or by shipped name
- :mod:`.xmlnumbers` numbers in XML documents by the XML Schema rules (``xs:double``, ``xs:integer``):
                   never Python's ``1_000``, Unicode digits or ``infinity``
- :mod:`.validate` the one validator: typed checks of parsed YAML and of JSON read back
- :mod:`.names`    names as data: one reversible escape (escape / unescape), table cells (cell / read_cell),
                   file stems from user text (safe_stems)

These modules import nothing of assaykit but :mod:`assaykit.errors`.
"""
