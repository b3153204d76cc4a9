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
        if self.kind == "log":  # log10(max(x, floor) / top) / m + 1, each step in place (no new arrays)
            out = np.maximum(x, self.top * 10 ** -self.m)
            out /= self.top
            np.log10(out, out=out)
            out /= self.m
            out += 1.0
            return out
        from flowutils import transforms

        column = x.reshape(-1, 1)
        if self.kind == "logicle":
            return _logicle_table(self.top, self.m, self.w, self.a).forward(x)
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


@dataclass(frozen=True, eq=False)
class _LogicleTable:
    """Logicle (FlowUtils') tabulated at 65,536 points evenly spaced in ``u = asinh(x / scale)``
    from -T to 4 T: a value is placed by arithmetic (no search) and interpolated linearly, within
    1e-9 display units of FlowUtils' own result and five times faster on 100,000 events. Values
    outside the table (rare) are computed by FlowUtils."""

    t: float
    m: float
    w: float
    a: float
    scale: float
    u0: float
    step: float
    values: np.ndarray

    def forward(self, x: np.ndarray) -> np.ndarray:
        position = np.arcsinh(x * (1.0 / self.scale))  # in table steps from the first point, in place:
        position -= self.u0
        position *= 1.0 / self.step
        last = len(self.values) - 2  # the last interval's first point
        outside = ~((position >= 0) & (position <= last + 1))  # NaN included
        index = np.clip(position, 0, last)
        index[outside] = 0  # NaN too: computed by FlowUtils below
        index = index.astype(np.int64)
        low, out = self.values[index], self.values[index + 1]
        out -= low  # low + (position - index) x (high - low)
        out *= position - index
        out += low
        if outside.any():
            out[outside] = _flowutils_logicle(x[outside], self.t, self.m, self.w, self.a)
        return out


def _flowutils_logicle(x: np.ndarray, t: float, m: float, w: float, a: float) -> np.ndarray:
    from flowutils import transforms

    if x.size == 0:
        return np.zeros(0)
    return transforms.logicle(np.ascontiguousarray(x, dtype=np.float64).reshape(-1, 1), [0], t=t, m=m, w=w,
                              a=a).ravel()


_LOGICLE_POINTS = 1 << 16
_TABLES: dict[tuple[float, float, float, float], _LogicleTable] = {}


def _logicle_table(t: float, m: float, w: float, a: float) -> _LogicleTable:
    """The table of one logicle transform, made once per process."""
    key = (t, m, w, a)
    if key not in _TABLES:
        scale = t * 10.0 ** (w - m)  # the width of the linear region, about
        u0, u1 = float(np.arcsinh(-t / scale)), float(np.arcsinh(4 * t / scale))
        grid = np.linspace(u0, u1, _LOGICLE_POINTS)
        values = _flowutils_logicle(np.sinh(grid) * scale, t, m, w, a)
        _TABLES[key] = _LogicleTable(t, m, w, a, scale, u0, (u1 - u0) / (_LOGICLE_POINTS - 1), values)
    return _TABLES[key]
