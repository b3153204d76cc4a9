"""The keywords that put a channel's values on their scale ($PnG gain, $PnE log amplification,
$PnR range of a log channel): a value that cannot be one is refused naming the keyword, never
silently ignored (issue 28, hostile finding 13); every readable value is applied."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from assaykit import FCSFormatError, read_fcs

from ..fcs_builder import build_fcs

VALUES = np.array([[100, 512, 7], [40, 256, 9]])
BAD_GAINS = ["0", "0.0", "-1", "-0.5", "nan", "NaN", "inf", "-inf", "1e400", "abc", "2,5", "0x10"]
GOOD_GAINS = ["2", "0.5", "1", "1e3", " 4 "]
BAD_AMPLIFICATIONS = ["abc", "4", "1,2,3", "nan,1", "4,nan", "inf,0", "-1,0", "4,-1", "-0.5,1", ","]
GOOD_AMPLIFICATIONS = {"0,0": None, "0,1": None, "4,0": (4.0, 1.0), "4,1": (4.0, 1.0), "3,2": (3.0, 2.0)}
BAD_RANGES = ["0", "-5", "nan", "abc", "inf"]


def _file(tmp_path: Path, channel: int, gain: str | None = None, amplification: str | None = None,
          range_: str = "1024") -> Path:
    ranges = ["1024", "1024", "1024"]
    ranges[channel - 1] = range_
    extra = [(f"$P{channel}G", gain)] if gain is not None else []
    # written as $pNe: the builder's omit drops its default $PNE (keywords are read case-blind)
    extra += [(f"$p{channel}e", amplification)] if amplification is not None else []
    blob = build_fcs(VALUES, datatype="I", widths=[16] * 3, ranges=ranges, extra=extra,
                     omit=[f"$P{channel}E"] if amplification is not None else [])
    path = tmp_path / "x.fcs"
    path.write_bytes(blob)
    return path


@pytest.mark.parametrize("channel", [1, 2, 3])
@pytest.mark.parametrize("gain", BAD_GAINS)
def test_a_gain_that_is_not_a_finite_positive_number_is_refused(tmp_path: Path, channel: int, gain: str) -> None:
    with pytest.raises(FCSFormatError, match=rf"\$P{channel}G = .* is not a gain") as raised:
        read_fcs(_file(tmp_path, channel, gain=gain))
    assert "\n" not in str(raised.value) and "x.fcs" in str(raised.value)


@pytest.mark.parametrize("channel", [1, 2, 3])
@pytest.mark.parametrize("gain", GOOD_GAINS)
def test_every_readable_gain_is_applied(tmp_path: Path, channel: int, gain: str) -> None:
    sample = read_fcs(_file(tmp_path, channel, gain=gain))
    np.testing.assert_allclose(sample.events[:, channel - 1], VALUES[:, channel - 1] / float(gain))
    others = [j for j in range(3) if j != channel - 1]
    np.testing.assert_allclose(sample.events[:, others], VALUES[:, others])


@pytest.mark.parametrize("channel", [1, 3])
@pytest.mark.parametrize("amplification", BAD_AMPLIFICATIONS)
def test_an_amplification_that_is_not_two_numbers_is_refused(tmp_path: Path, channel: int,
                                                             amplification: str) -> None:
    with pytest.raises(FCSFormatError, match=rf"\$P{channel}E = .* is not two numbers"):
        read_fcs(_file(tmp_path, channel, amplification=amplification))


@pytest.mark.parametrize(("amplification", "decoded"), list(GOOD_AMPLIFICATIONS.items()))
def test_every_readable_amplification_is_applied(tmp_path: Path, amplification: str,
                                                 decoded: tuple[float, float] | None) -> None:
    sample = read_fcs(_file(tmp_path, 2, amplification=amplification))
    column = VALUES[:, 1].astype(float)
    expected = column if decoded is None else decoded[1] * 10 ** (decoded[0] * column / 1024)
    np.testing.assert_allclose(sample.events[:, 1], expected)


@pytest.mark.parametrize("range_", BAD_RANGES)
def test_a_log_channel_without_a_usable_range_is_refused(tmp_path: Path, range_: str) -> None:
    with pytest.raises(FCSFormatError, match=r"\$P2E is logarithmic but \$P2R is missing or not a number"):
        read_fcs(_file(tmp_path, 2, amplification="4,1", range_=range_))


@pytest.mark.parametrize("range_", BAD_RANGES)
def test_a_linear_channel_with_an_odd_range_keeps_its_values(tmp_path: Path, range_: str) -> None:
    sample = read_fcs(_file(tmp_path, 2, range_=range_))  # $PnR only masks high bits and tops the axis
    np.testing.assert_allclose(sample.events, VALUES)
