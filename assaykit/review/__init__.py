"""Reviewing, correcting and signing a scored run (``assaykit review``; docs/review.md): the
library under the web app. Pure Python, no web.

- :func:`open_review` opens a scored output folder (one review per run folder at a time:
  :class:`ReviewBusy`); :class:`Review` lists the tubes, gives each tube's monocyte gate as a
  polygon in scale values, re-measures a tube with a new polygon (:meth:`Review.preview`,
  nothing written) through the very functions ``score`` uses, and records changes
  (:meth:`Review.change_gate`, :meth:`Review.exclude`, :meth:`Review.accept`) as run.yaml
  ``gate_overrides:`` entries and audit entries; :meth:`Review.sign` re-scores and signs.
- :func:`verify_audit` checks audit.jsonl's hash chain; :func:`check_signatures` says which
  signatures hold.
"""

from .audit import AUDIT, AuditProblem, verify_audit
from .errors import HandWrittenError, ReviewError
from .lock import ReviewBusy
from .runyaml import RunYamlError
from .session import Remeasured, Review, Tube, open_review, reason_problem
from .signatures import MEANINGS, SignatureCheck, check_signatures, outputs_digest
from .verify import verify_review

__all__ = ["AUDIT", "MEANINGS", "AuditProblem", "HandWrittenError", "Remeasured", "Review", "ReviewBusy", "ReviewError",
           "RunYamlError", "SignatureCheck", "Tube", "check_signatures", "open_review", "outputs_digest",
           "reason_problem", "verify_audit", "verify_review"]
