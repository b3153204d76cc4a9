"""Display/gating transforms (FlowUtils' logicle and asinh, log10, linear), one marker at a time.

Statistics are never computed on transformed values: transforms serve gating and plotting.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KINDS = ("linear", "log", "logicle", "asinh")


@dataclass(frozen=True)
class Transform:
    """``kind`` with its parameters: logicle (t, m, w, a), asinh (t, m, a), log (decades below t),
    linear (t: the top of scale, mapped to 1)."""

    kind: str = "linear"
    t: float = 262144.0
    m: float = 4.5
    w: float = 0.5
    a: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown transform {self.kind!r} (one of {', '.join(KINDS)})")
        if self.t <= 0 or self.m <= 0:
            raise ValueError("transform parameters t and m must be positive")

    def forward(self, values: np.ndarray | float) -> np.ndarray:
        """Scale values -> display coordinates (about 0..1 over the instrument's range)."""
        x = np.atleast_1d(np.asarray(values, dtype=np.float64))
        if self.kind == "linear":
            return x / self.t
        if self.kind == "log":
            return np.log10(np.maximum(x, self.t * 10 ** -self.m) / self.t) / self.m + 1.0
        from flowutils import transforms

        column = x.reshape(-1, 1)
        if self.kind == "logicle":
            return transforms.logicle(column, [0], t=self.t, m=self.m, w=self.w, a=self.a).ravel()
        return transforms.asinh(column, [0], t=self.t, m=self.m, a=self.a).ravel()

    def inverse(self, values: np.ndarray | float) -> np.ndarray:
        """Display coordinates -> scale values."""
        y = np.atleast_1d(np.asarray(values, dtype=np.float64))
        if self.kind == "linear":
            return y * self.t
        if self.kind == "log":
            return self.t * 10 ** ((y - 1.0) * self.m)
        from flowutils import transforms

        column = y.reshape(-1, 1)
        if self.kind == "logicle":
            return transforms.logicle_inverse(column, [0], t=self.t, m=self.m, w=self.w, a=self.a).ravel()
        return transforms.asinh_inverse(column, [0], t=self.t, m=self.m, a=self.a).ravel()
