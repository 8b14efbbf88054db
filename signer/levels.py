"""The AdES baseline levels that PAdES (ETSI EN 319 142-1 6.2-6.5) and XAdES (ETSI EN 319 132-1
6.2-6.5) share: B-B signed, B-T with a signature time-stamp, B-LT with the validation data,
B-LTA with an archive (document) time-stamp over it."""
from __future__ import annotations

import enum


class Level(str, enum.Enum):
    B_B = "B-B"
    B_T = "B-T"
    B_LT = "B-LT"
    B_LTA = "B-LTA"

    @property
    def timestamped(self) -> bool:
        return self is not Level.B_B

    @property
    def long_term(self) -> bool:
        return self in (Level.B_LT, Level.B_LTA)
