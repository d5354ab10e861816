"""ITU-T G.722 decoding (64 kbit/s, 16 kHz), for the Asterisk prompts of the real-voice set.

Pure Python integer arithmetic as in spandsp's ``g722.c``: low band 6-bit and high band 2-bit
ADPCM, then the 24-tap receive QMF. libsndfile reads no G.722, hence this decoder.
"""

from __future__ import annotations

import numpy as np

_WL = (-60, -30, 58, 172, 334, 538, 1198, 3042)
_RL42 = (0, 7, 6, 5, 4, 3, 2, 1, 7, 6, 5, 4, 3, 2, 1, 0)
_ILB = (2048, 2093, 2139, 2186, 2233, 2282, 2332, 2383, 2435, 2489, 2543, 2599, 2656, 2714,
        2774, 2834, 2896, 2960, 3025, 3091, 3158, 3228, 3298, 3371, 3444, 3520, 3597, 3676,
        3756, 3838, 3922, 4008)
_WH = (0, -214, 798)
_RH2 = (2, 1, 2, 1)
_QM2 = (-7408, -1616, 7408, 1616)
_QM4 = (0, -20456, -12896, -8968, -6288, -4240, -2584, -1200,
        20456, 12896, 8968, 6288, 4240, 2584, 1200, 0)
_QM6 = (-136, -136, -136, -136, -24808, -21904, -19008, -16704, -14984, -13512, -12280,
        -11192, -10232, -9360, -8576, -7856, -7192, -6576, -6000, -5456, -4944, -4464, -4008,
        -3576, -3168, -2776, -2400, -2032, -1688, -1360, -1040, -728, 24808, 21904, 19008,
        16704, 14984, 13512, 12280, 11192, 10232, 9360, 8576, 7856, 7192, 6576, 6000, 5456,
        4944, 4464, 4008, 3576, 3168, 2776, 2400, 2032, 1688, 1360, 1040, 728, 432, 136,
        -432, -136)
_QMF = (3, -11, 12, 32, -210, 951, 3876, -805, 362, -156, 53, -11)


def _sat(x: int) -> int:
    return 32767 if x > 32767 else (-32768 if x < -32768 else x)


class _Band:
    """One sub-band's ADPCM state (ITU-T G.722 blocks 4L/4H), integer arithmetic."""

    def __init__(self, det: int):
        self.s = self.sz = self.nb = 0
        self.det = det
        self.r = [0, 0, 0]
        self.p = [0, 0, 0]
        self.a = [0, 0, 0]
        self.d = [0] * 7
        self.b = [0] * 7

    def scale(self, nb: int, shift: int):
        v = _ILB[(nb >> 6) & 31]
        e = shift - (nb >> 11)
        self.det = (v << -e if e < 0 else v >> e) << 2

    def update(self, d: int):
        r0 = _sat(self.s + d)
        p0 = _sat(self.sz + d)
        a1, a2 = self.a[1], self.a[2]
        sg0, sg1, sg2 = p0 >> 15, self.p[1] >> 15, self.p[2] >> 15
        wd2 = -_sat(a1 << 2) if sg0 == sg1 else _sat(a1 << 2)  # UPPOL2
        wd2 = min(wd2, 32767)
        ap2 = (128 if sg0 == sg2 else -128) + (wd2 >> 7) + ((a2 * 32512) >> 15)
        ap2 = max(-12288, min(12288, ap2))
        ap1 = _sat((192 if sg0 == sg1 else -192) + ((a1 * 32640) >> 15))  # UPPOL1
        lim = _sat(15360 - ap2)
        ap1 = max(-lim, min(lim, ap1))
        step = 0 if d == 0 else 128  # UPZERO
        sgd = d >> 15
        b = [0] + [_sat((step if (self.d[i] >> 15) == sgd else -step)
                        + ((self.b[i] * 32640) >> 15)) for i in range(1, 7)]
        self.d = [d, d] + self.d[1:6]  # DELAYA
        self.b = b
        self.r = [r0, r0, self.r[1]]
        self.p = [p0, p0, self.p[1]]
        self.a = [0, ap1, ap2]
        sp = _sat(((ap1 * _sat(r0 + r0)) >> 15)  # FILTEP
                  + ((ap2 * _sat(self.r[2] + self.r[2])) >> 15))
        sz = 0  # FILTEZ
        for i in range(6, 0, -1):
            sz += (b[i] * _sat(self.d[i] + self.d[i])) >> 15
        self.sz = _sat(sz)
        self.s = _sat(sp + self.sz)  # PREDIC


def decode_g722(data: bytes) -> np.ndarray:
    """Decode 64 kbit/s G.722 (one byte per pair of 16 kHz samples) to int16 at 16 kHz.

    The ITU-T G.722 decoder (as in spandsp's g722.c): low band 6-bit and high band 2-bit
    ADPCM, then the 24-tap receive QMF. Pure Python, about 0.1 s per second of audio.
    """
    lo, hi = _Band(32), _Band(8)
    n = len(data)
    rl = np.empty(n, dtype=np.int64)
    rh = np.empty(n, dtype=np.int64)
    for j, code in enumerate(data):
        low, ihigh = code & 0x3F, (code >> 6) & 0x03
        rl[j] = max(-16384, min(16383, lo.s + ((lo.det * _QM6[low]) >> 15)))
        low >>= 2
        dlow = (lo.det * _QM4[low]) >> 15
        lo.nb = max(0, min(18432, ((lo.nb * 127) >> 7) + _WL[_RL42[low]]))
        lo.scale(lo.nb, 8)
        lo.update(dlow)
        dhigh = (hi.det * _QM2[ihigh]) >> 15
        rh[j] = max(-16384, min(16383, dhigh + hi.s))
        hi.nb = max(0, min(22528, ((hi.nb * 127) >> 7) + _WH[_RH2[ihigh]]))
        hi.scale(hi.nb, 10)
        hi.update(dhigh)
    buf = np.zeros(2 * n + 22, dtype=np.int64)  # the QMF's delay line, 2 samples a step
    buf[22::2] = rl + rh
    buf[23::2] = rl - rh
    q = np.array(_QMF, dtype=np.int64)
    out = np.empty(2 * n, dtype=np.int64)
    out[0::2] = np.correlate(buf[1::2], q[::-1], "valid") >> 11
    out[1::2] = np.correlate(buf[0::2], q, "valid") >> 11
    return np.clip(out, -32768, 32767).astype(np.int16)
