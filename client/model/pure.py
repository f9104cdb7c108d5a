"""Single-input executor in plain Python (no numpy) that walks the v1 bytes directly.

It reads the file the way the on-chain kernel does: header, op table, then arrays at the
recorded offsets.  Call it on bytes that ``format.decode`` accepted; it trusts the layout.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from .fixedpoint import (
    argmax_first,
    clamp,
    lut16,
    rshift_round,
    sign_extend_21,
    sign_extend_32,
    softmax_q16,
    wrap_i64,
)

_HEADER = struct.Struct("<4sHHIBBBBHHHHiBbHIIIIIIII")
_OP = struct.Struct("<BBBBIIIIIBBHiii6I")
_NODE = struct.Struct("<iHHII")

DENSE, LUT, SOFTMAX, ARGMAX, TREES, CONV1D, POOL = 1, 2, 3, 4, 5, 6, 7
GRU, LSTM = 8, 9
I8 = 1
COMPACT, PACKED, SPARSE, PACKED3 = 1, 2, 3, 4
PROB, DIV = 1, 2
PROBA = 1
LEAF = 0xFFFF


def _a8(offset: int) -> int:
    return (offset + 7) & ~7


@dataclass(frozen=True)
class PureResult:
    input_q: list[int] | None
    layers: list[list[int]]
    outputs: list[int]
    cls: int
    confidence: int


class PureModel:
    """A parsed view of a model file; ``infer`` runs one Q16.16 feature vector."""

    def __init__(self, data: bytes) -> None:
        self.data = bytes(data)
        h = _HEADER.unpack_from(self.data, 0)
        self.input_dtype = h[6]
        self.n_features = h[8]
        self.n_ops = h[11]
        self.input_zp = h[12]
        self.ranges_off, self.affine_off, self.ops_off = h[16], h[17], h[18]

    def _ints(self, fmt: str, off: int, count: int) -> tuple[int, ...]:
        return struct.unpack_from(f"<{count}{fmt}", self.data, off)

    def infer(self, x_fx: Sequence[int]) -> PureResult:
        n = self.n_features
        lo = self._ints("i", self.ranges_off, n)
        hi = self._ints("i", _a8(self.ranges_off + 4 * n), n)
        for j in range(n):
            if not lo[j] <= x_fx[j] <= hi[j]:
                raise ValueError(f"feature {j} = {x_fx[j]} outside [{lo[j]}, {hi[j]}]")
        v: list[int] = list(x_fx)
        input_q = None
        if self.input_dtype:
            qmin, qmax = (-128, 127) if self.input_dtype == I8 else (-32768, 32767)
            c = self._ints("i", self.affine_off, n)
            m_off = _a8(self.affine_off + 4 * n)
            m = self._ints("i", m_off, n)
            s = self._ints("B", _a8(m_off + 4 * n), n)
            v = [
                clamp(self.input_zp + rshift_round((v[j] - c[j]) * m[j], s[j]), qmin, qmax)
                for j in range(n)
            ]
            input_q = list(v)
        layers: list[list[int]] = []
        prev: list[int] = v
        for i in range(self.n_ops):
            rec = _OP.unpack_from(self.data, self.ops_off + 64 * i)
            prev, v = v, self._run(rec, v, x_fx)
            layers.append(v)
        rec = _OP.unpack_from(self.data, self.ops_off + 64 * (self.n_ops - 1))
        if rec[0] == ARGMAX:
            return PureResult(input_q, layers, prev, v[0], v[1])
        return PureResult(input_q, layers, v, 0, 0)

    def _run(self, rec: tuple[int, ...], v: list[int], x_fx: Sequence[int]) -> list[int]:
        kind = rec[0]
        if kind == DENSE:
            return self._dense(rec, v)
        if kind == LUT:
            dtype, _n, off = rec[1], rec[4], rec[15]
            if dtype == I8:
                t8 = self._ints("b", off, 256)
                return [t8[q + 128] for q in v]
            t16 = self._ints("h", off, 513)
            return [lut16(t16, q) for q in v]
        if kind == SOFTMAX:
            logits = [0, v[0]] if rec[3] else v
            return softmax_q16(logits, rec[6], rec[9])
        if kind in (GRU, LSTM):
            return self._recurrent(rec, v)
        if kind == ARGMAX:
            cls = argmax_first(v)
            mode, divisor = rec[3], rec[6]
            conf = v[cls] if mode == PROB else v[cls] // divisor if mode == DIV else 0
            return [cls, conf]
        if kind == CONV1D:
            return self._conv1d(rec, v)
        if kind == POOL:
            return self._pool(rec, v)
        return self._trees(rec, x_fx)

    def _conv1d(self, rec: tuple[int, ...], q: list[int]) -> list[int]:
        _, dtype, _, _, n_in, n_out, p0, p1, p2, shift, _, _, zp, lo, hi = rec[:15]
        offs = rec[15:]
        c_in, c_out = p0 & 0xFFFF, p0 >> 16
        pad = p1 - (1 << 32) if p1 >= 1 << 31 else p1
        k, stride, dil, pad_l = p2 & 0xFF, (p2 >> 8) & 0xFF, (p2 >> 16) & 0xFF, p2 >> 24
        t_in, t_out = n_in // c_in, n_out // c_out
        off8 = 128 if dtype == I8 and rec[2] == COMPACT else 0
        if rec[2] == PACKED:
            lanes: list[int] = []
            for word in self._ints("q", offs[0], c_out // 2 * k * c_in):
                lane = sign_extend_32(word)
                lanes += [lane, (word - lane) >> 32]
            # Pair-major words: rows 2p and 2p + 1 interleaved per column; de-interleave.
            n = k * c_in
            w = [lanes[(o // 2) * 2 * n + 2 * j + o % 2] for o in range(c_out) for j in range(n)]
        else:
            w = list(self._ints("B" if dtype == I8 else "h", offs[0], c_out * k * c_in))
        bias = self._ints("i", offs[1], c_out)
        mult = self._ints("I", offs[2], c_out)
        out = []
        for t in range(t_out):
            for o in range(c_out):
                acc = bias[o]
                for j in range(k):
                    p = t * stride + j * dil - pad_l
                    tap = w[(o * k + j) * c_in : (o * k + j + 1) * c_in]
                    for c in range(c_in):
                        x = q[p * c_in + c] if 0 <= p < t_in else pad
                        acc += (tap[c] - off8) * x
                out.append(clamp(zp + rshift_round(acc * mult[o], shift), lo, hi))
        return out

    def _pool(self, rec: tuple[int, ...], v: list[int]) -> list[int]:
        mode, n_in, _, ch, kernel, mult, shift, _, stride, _, lo, hi = rec[3:15]
        t_out = (n_in // ch - kernel) // stride + 1
        out = []
        for t in range(t_out):
            for c in range(ch):
                win = [v[(t * stride + j) * ch + c] for j in range(kernel)]
                y = max(win) if mode == 1 else rshift_round(sum(win) * mult, shift)
                out.append(clamp(y, lo, hi))
        return out

    def _dense(self, rec: tuple[int, ...], q: list[int]) -> list[int]:
        _, dtype, layout, _, n_in, n_out, nnz, span, _, shift, _, _, zp, lo, hi = rec[:15]
        offs = rec[15:]
        if layout == SPARSE:
            row_ptr = self._ints("I", offs[0], n_out + 1)
            idx = self._ints("H", offs[1], nnz)
            val = self._ints("b" if dtype == I8 else "h", offs[2], nnz)
            bias_off, mult_off = offs[3], offs[4]
            acc = [
                sum(val[k] * q[idx[k]] for k in range(row_ptr[i], row_ptr[i + 1]))
                for i in range(n_out)
            ]
        elif layout == PACKED:
            pairs = (n_out + 1) // 2
            words = self._ints("q", offs[0], pairs * n_in)
            acc = []
            for p in range(pairs):
                s = 0
                for j in range(n_in):
                    s = wrap_i64(s + words[p * n_in + j] * q[j])
                lane_lo = sign_extend_32(s)
                acc += [lane_lo, (s - lane_lo) >> 32]
            acc = acc[:n_out]
            bias_off, mult_off = offs[1], offs[2]
        elif layout == PACKED3:
            acc = self._packed3(offs[0], n_in, n_out, span, q)
            bias_off, mult_off = offs[1], offs[2]
        else:
            w = self._ints("B" if dtype == I8 else "h", offs[0], n_in * n_out)
            corr = -128 * sum(q) if dtype == I8 else 0
            acc = [sum(w[i * n_in + j] * q[j] for j in range(n_in)) + corr for i in range(n_out)]
            bias_off, mult_off = offs[1], offs[2]
        bias = self._ints("i", bias_off, n_out)
        mult = self._ints("I", mult_off, n_out)
        return [
            clamp(zp + rshift_round((acc[i] + bias[i]) * mult[i], shift), lo, hi)
            for i in range(n_out)
        ]

    def _packed3(self, off: int, n_in: int, n_out: int, span: int, q: list[int]) -> list[int]:
        """Groups of 12 rows, four words per column; per chunk of ``span`` columns each word's
        wrapped i64 sum splits into three 21-bit lanes, added over the chunks."""
        groups = -(-n_out // 12)
        words = self._ints("q", off, groups * n_in * 4)
        acc = [0] * (groups * 12)
        for g in range(groups):
            for start in range(0, n_in, span):
                for k in range(4):
                    t = 0
                    for j in range(start, min(start + span, n_in)):
                        t = wrap_i64(t + words[(g * n_in + j) * 4 + k] * q[j])
                    a = sign_extend_21(t)
                    t = (t - a) >> 21
                    b = sign_extend_21(t)
                    r = g * 12 + 3 * k
                    acc[r] = wrap_i64(acc[r] + a)
                    acc[r + 1] = wrap_i64(acc[r + 1] + b)
                    acc[r + 2] = wrap_i64(acc[r + 2] + ((t - b) >> 21))
        return acc[:n_out]

    def _recurrent(self, rec: tuple[int, ...], x: list[int]) -> list[int]:
        """GRU (gates r, z, n) / LSTM (i, f, g, o), Q15 state, as docs/model-format.md
        "GRU and LSTM" states it, on the file's unit-major rows (unit k, gate g: row
        k * G + g)."""
        kind, dtype, layout, seq, _, _, steps, feats, hid, shift, _, gbits = rec[:12]
        offs = rec[15:]
        ng = 3 if kind == GRU else 4
        rows = ng * hid
        prow = -(-rows // 8) * 8
        wx = self._matrix(offs[0], dtype, rows, feats)
        h8 = layout == PACKED3  # speed mode: Wh in PACKED3 words times h rounded to Q7
        wh = [] if h8 else self._matrix(offs[1], dtype, rows, hid)
        cofs = self._ints("q", offs[2], 2 * prow)
        mult = self._ints("I", offs[3], 2 * prow)
        sig = self._ints("h", offs[4], 513)
        tnh = self._ints("h", offs[5], 513)

        def c16(v: int) -> int:
            return clamp(v, -32768, 32767)

        h = [0] * hid
        c = [0] * hid
        out: list[int] = []
        for t in range(steps):
            xt = x[t * feats : (t + 1) * feats]
            px = [
                wrap_i64(int(sum(wx[i][j] * xt[j] for j in range(feats))) * mult[i] + cofs[i])
                >> shift
                for i in range(rows)
            ]
            if h8:
                q7 = [clamp(rshift_round(v, 8), -128, 127) for v in h]
                hsum = self._packed3(offs[1], hid, rows, hid, q7)
            else:
                hsum = [int(sum(wh[i][j] * h[j] for j in range(hid))) for i in range(rows)]
            ph = [wrap_i64(hsum[i] * mult[prow + i] + cofs[prow + i]) >> shift for i in range(rows)]
            new = [0] * hid
            for k in range(hid):
                u = k * ng
                if kind == GRU:
                    r = lut16(sig, c16(px[u] + ph[u]))
                    z = lut16(sig, c16(px[u + 1] + ph[u + 1]))
                    hn = c16(ph[u + 2])
                    n = lut16(tnh, c16(px[u + 2] + rshift_round(r * hn, 15)))
                    new[k] = c16(n + rshift_round(z * (h[k] - n), 15))
                else:
                    ig = lut16(sig, c16(px[u] + ph[u]))
                    fg = lut16(sig, c16(px[u + 1] + ph[u + 1]))
                    gg = lut16(tnh, c16(px[u + 2] + ph[u + 2]))
                    og = lut16(sig, c16(px[u + 3] + ph[u + 3]))
                    c[k] = rshift_round(fg * c[k], 15) + rshift_round(ig * gg, 15)
                    tc = lut16(tnh, c16(rshift_round(c[k], 15 - gbits)))
                    new[k] = c16(rshift_round(og * tc, 15))
            h = new
            if seq:
                out += h
        return out if seq else h

    def _matrix(self, off: int, dtype: int, rows: int, cols: int) -> list[list[int]]:
        """Rows of a recurrent weight array: INT16 row-major, INT8 paired words in groups of
        four pairs (word ``(g * cols + j) * 4 + q`` holds rows ``8g + 2q`` and ``8g + 2q + 1``
        of column j)."""
        if dtype != I8:
            flat = self._ints("h", off, rows * cols)
            return [list(flat[i * cols : (i + 1) * cols]) for i in range(rows)]
        prow = -(-rows // 8) * 8
        words = self._ints("q", off, prow // 2 * cols)
        out = []
        for i in range(rows):
            grp, q, lane = i // 8, (i % 8) // 2, i % 2
            row = []
            for j in range(cols):
                wd = words[(grp * cols + j) * 4 + q]
                lo = sign_extend_32(wd)
                row.append(lo if lane == 0 else (wd - lo) >> 32)
            out.append(row)
        return out

    def _trees(self, rec: tuple[int, ...], x: Sequence[int]) -> list[int]:
        mode, n_out, n_trees, _, _, _, _, max_depth = rec[3], *rec[5:11], rec[11]
        offs = rec[15:]
        roots = self._ints("I", offs[0], n_trees)
        width = n_out if mode == PROBA else 1
        out = [0] * n_out if mode == PROBA else list(self._ints("i", offs[3], n_out))
        leaf_fmt = "I" if mode == PROBA else "i"
        for t in range(n_trees):
            node = roots[t]
            for _ in range(max_depth + 1):
                thr, feat, _, left, right = _NODE.unpack_from(self.data, offs[1] + 16 * node)
                if feat == LEAF:
                    row = self._ints(leaf_fmt, offs[2] + 4 * width * left, width)
                    if mode == PROBA:
                        for k in range(n_out):
                            out[k] += row[k]
                    else:
                        out[t % n_out] += row[0]
                    break
                node = left if x[feat] <= thr else right
        return out


def infer(data: bytes, x_fx: Sequence[int]) -> PureResult:
    return PureModel(data).infer(x_fx)
