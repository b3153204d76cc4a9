"""Review, correct and sign a scored run (``assaykit review``)."""
