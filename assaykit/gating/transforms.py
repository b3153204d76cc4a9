"""Display/gating transforms (FlowUtils' logicle and asinh, log10, linear), one marker at a time.

Statistics are never computed on transformed values: transforms serve gating and plotting.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

KINDS = ("linear", "log", "logicle", "asinh")
NOMINAL_TOP = 262144.0  # a FACSCanto II's top of scale: ``t`` of a transform not yet resolved


@dataclass(frozen=True)
class Transform:
    """``kind`` with its parameters: logicle (t, m, w, a), asinh (t, m, a), log (decades below t),
    linear (t: the top of scale, mapped to 1). ``t = None`` means the channel's own top of scale
    (``$PnR``, or 10^decades for a log-amplified channel), set by :meth:`resolve` per file, so
    that one strategy displays a FACSCanto II, a Navios and a FACSCalibur file alike."""

    kind: str = "linear"
    t: float | None = None
    m: float = 4.5
    w: float = 0.5
    a: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown transform {self.kind!r} (one of {', '.join(KINDS)})")
        if (self.t is not None and self.t <= 0) or self.m <= 0:
            raise ValueError("transform parameters t and m must be positive")

    @property
    def top(self) -> float:
        return NOMINAL_TOP if self.t is None else self.t

    def resolve(self, top: float) -> Transform:
        """This transform with ``t`` set to ``top`` where it was left to the channel."""
        return replace(self, t=float(top)) if self.t is None and top > 0 else self

    def forward(self, values: np.ndarray | float) -> np.ndarray:
        """Scale values -> display coordinates (about 0..1 over the instrument's range)."""
        x = np.atleast_1d(np.asarray(values, dtype=np.float64))
        if self.kind == "linear":
            return x / self.top
        if self.kind == "log":
            return np.log10(np.maximum(x, self.top * 10 ** -self.m) / self.top) / self.m + 1.0
        from flowutils import transforms

        column = x.reshape(-1, 1)
        if self.kind == "logicle":
            return transforms.logicle(column, [0], t=self.top, m=self.m, w=self.w, a=self.a).ravel()
        return transforms.asinh(column, [0], t=self.top, m=self.m, a=self.a).ravel()

    def inverse(self, values: np.ndarray | float) -> np.ndarray:
        """Display coordinates -> scale values."""
        y = np.atleast_1d(np.asarray(values, dtype=np.float64))
        if self.kind == "linear":
            return y * self.top
        if self.kind == "log":
            return self.top * 10 ** ((y - 1.0) * self.m)
        from flowutils import transforms

        column = y.reshape(-1, 1)
        if self.kind == "logicle":
            return transforms.logicle_inverse(column, [0], t=self.top, m=self.m, w=self.w, a=self.a).ravel()
        return transforms.asinh_inverse(column, [0], t=self.top, m=self.m, a=self.a).ravel()
