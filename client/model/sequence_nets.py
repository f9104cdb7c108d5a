"""Float sequence classifiers in numpy, with hand-written backpropagation (no torch).

Three models over a ``(batch, T, F)`` window, each ending in a linear layer to the classes:

- ``GRUNet``: ``nn.GRU(F, H, batch_first=True)`` semantics (gates r, z, n; the reset gate
  multiplies ``W_hn h + b_hn``, i.e. ONNX ``linear_before_reset=1``), last hidden state ->
  ``nn.Linear(H, K)``;
- ``LSTMNet``: ``nn.LSTM(F, H, batch_first=True)`` (gates i, f, g, o), last hidden state ->
  ``nn.Linear(H, K)``;
- ``ConvNet``: ``x.transpose(1, 2)`` -> ``nn.Conv1d(F, C, K)`` -> ``ReLU`` ->
  ``nn.MaxPool1d(P)`` -> ``nn.Flatten()`` (channel-major: index ``c * L + l``) ->
  ``nn.Linear(C * L, K)``.

Parameters carry PyTorch's names and layouts (``gru.weight_ih_l0`` (3H, F), ``fc.weight`` (K, H),
``conv.weight`` (C, F, K), ...), so ``client.model.sequence_onnx`` writes exactly what
``torch.onnx.export`` would. ``forward`` is the float reference the ONNX files are checked
against; ``loss_grads`` returns the mean cross-entropy and its exact gradient (BPTT).
``fold_input_affine`` folds a per-feature standardisation into the first layer, so a model trained
on standardised windows takes the raw features.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

F32 = NDArray[np.float32]
Arr = NDArray[np.floating]
Params = dict[str, F32]


def sigmoid(x: Arr) -> Arr:
    out: Arr = 0.5 * (1.0 + np.tanh(0.5 * x))  # no overflow warning for large |x|
    return out


def softmax_xent(logits: Arr, y: NDArray[np.int64]) -> tuple[float, Arr]:
    """Mean cross-entropy and its gradient with respect to the logits."""
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    p = e / e.sum(axis=1, keepdims=True)
    n = len(y)
    loss = float(-np.mean(np.log(p[np.arange(n), y] + 1e-12)))
    g = p.copy()
    g[np.arange(n), y] -= 1.0
    return loss, g / n


def _uniform(rng: np.random.Generator, bound: float, shape: tuple[int, ...]) -> F32:
    return rng.uniform(-bound, bound, size=shape).astype(np.float32)


class SequenceNet(ABC):
    """A classifier over ``(batch, T, F)`` windows with named float32 parameters."""

    kind: ClassVar[str]

    def __init__(self, params: Params, window: int, n_features: int) -> None:
        self.params = params
        self.window = window
        self.n_features = n_features

    @property
    def n_classes(self) -> int:
        return int(self.params["fc.bias"].shape[0])

    @abstractmethod
    def forward(self, x: Arr) -> Arr:
        """Logits ``(batch, classes)`` for windows ``(batch, T, F)``."""

    @abstractmethod
    def loss_grads(self, x: Arr, y: NDArray[np.int64]) -> tuple[float, Params]:
        """Mean cross-entropy on ``(x, y)`` and the gradient of every parameter."""

    @abstractmethod
    def fold_input_affine(self, mean: Arr, std: Arr) -> SequenceNet:
        """A model on raw features equal to this one on ``(x - mean) / std``."""

    def predict(self, x: Arr, batch: int = 1024) -> NDArray[np.int64]:
        out = [np.argmax(self.forward(x[i : i + batch]), axis=1) for i in range(0, len(x), batch)]
        return np.concatenate(out).astype(np.int64)

    def n_params(self) -> int:
        return int(sum(p.size for p in self.params.values()))

    def _linear_head(self, h: Arr) -> Arr:
        out: Arr = h @ self.params["fc.weight"].T + self.params["fc.bias"]
        return out


@dataclass(frozen=True)
class _Folded:
    """First-layer input weights and bias after folding ``(x - mean) / std``."""

    w: F32
    b: F32


def _fold_rows(w_in: F32, b_in: F32, mean: Arr, std: Arr) -> _Folded:
    """``w (rows, F)`` on ``(x - m) / s`` == ``w / s`` on ``x`` with bias ``b - (w / s) @ m``."""
    w = (w_in.astype(np.float64) / std[None, :]).astype(np.float32)
    b = (b_in.astype(np.float64) - w.astype(np.float64) @ mean).astype(np.float32)
    return _Folded(w, b)


class GRUNet(SequenceNet):
    kind = "gru"

    @classmethod
    def init(cls, n_features: int, hidden: int, n_classes: int, window: int, seed: int) -> GRUNet:
        """PyTorch's default initialisation: U(-1/sqrt(H), 1/sqrt(H)) everywhere."""
        rng = np.random.default_rng(seed)
        k = 1.0 / np.sqrt(hidden)
        p = {
            "gru.weight_ih_l0": _uniform(rng, k, (3 * hidden, n_features)),
            "gru.weight_hh_l0": _uniform(rng, k, (3 * hidden, hidden)),
            "gru.bias_ih_l0": _uniform(rng, k, (3 * hidden,)),
            "gru.bias_hh_l0": _uniform(rng, k, (3 * hidden,)),
            "fc.weight": _uniform(rng, k, (n_classes, hidden)),
            "fc.bias": _uniform(rng, k, (n_classes,)),
        }
        return cls(p, window, n_features)

    @property
    def hidden(self) -> int:
        return int(self.params["gru.weight_hh_l0"].shape[1])

    def _run(self, x: Arr, keep: bool) -> tuple[Arr, list[tuple[Arr, ...]]]:
        p, hd = self.params, self.hidden
        w_hh, b_hh = p["gru.weight_hh_l0"], p["gru.bias_hh_l0"]
        gx = x @ p["gru.weight_ih_l0"].T + p["gru.bias_ih_l0"]  # (B, T, 3H)
        h = np.zeros((x.shape[0], hd), dtype=gx.dtype)
        cache: list[tuple[Arr, ...]] = []
        for t in range(x.shape[1]):
            gh = h @ w_hh.T + b_hh
            r = sigmoid(gx[:, t, :hd] + gh[:, :hd])
            z = sigmoid(gx[:, t, hd : 2 * hd] + gh[:, hd : 2 * hd])
            ghn = gh[:, 2 * hd :]
            n = np.tanh(gx[:, t, 2 * hd :] + r * ghn)
            h_prev = h
            h = (1.0 - z) * n + z * h_prev
            if keep:
                cache.append((h_prev, r, z, n, ghn))
        return h, cache

    def forward(self, x: Arr) -> Arr:
        h, _ = self._run(x, keep=False)
        return self._linear_head(h)

    def loss_grads(self, x: Arr, y: NDArray[np.int64]) -> tuple[float, Params]:
        p, hd = self.params, self.hidden
        h, cache = self._run(x, keep=True)
        loss, dlogits = softmax_xent(self._linear_head(h), y)
        w_hh = p["gru.weight_hh_l0"]
        g: Params = {k: np.zeros_like(v) for k, v in p.items()}
        g["fc.weight"] = (dlogits.T @ h).astype(np.float32)
        g["fc.bias"] = dlogits.sum(axis=0).astype(np.float32)
        dh = dlogits @ p["fc.weight"]
        dgx = np.empty((x.shape[0], x.shape[1], 3 * hd), dtype=dh.dtype)
        dw_hh = np.zeros(w_hh.shape, dtype=np.float64)
        db_hh = np.zeros(3 * hd, dtype=np.float64)
        for t in range(x.shape[1] - 1, -1, -1):
            h_prev, r, z, n, ghn = cache[t]
            dn = dh * (1.0 - z)
            dz = dh * (h_prev - n)
            dan = dn * (1.0 - n * n)
            dar = dan * ghn * r * (1.0 - r)
            daz = dz * z * (1.0 - z)
            dgh = np.concatenate([dar, daz, dan * r], axis=1)
            dgx[:, t, :] = np.concatenate([dar, daz, dan], axis=1)
            dw_hh += dgh.T @ h_prev
            db_hh += dgh.sum(axis=0)
            dh = dh * z + dgh @ w_hh
        g["gru.weight_hh_l0"] = dw_hh.astype(np.float32)
        g["gru.bias_hh_l0"] = db_hh.astype(np.float32)
        flat = dgx.reshape(-1, 3 * hd)
        g["gru.weight_ih_l0"] = (flat.T @ x.reshape(-1, x.shape[2])).astype(np.float32)
        g["gru.bias_ih_l0"] = flat.sum(axis=0).astype(np.float32)
        return loss, g

    def fold_input_affine(self, mean: Arr, std: Arr) -> GRUNet:
        f = _fold_rows(self.params["gru.weight_ih_l0"], self.params["gru.bias_ih_l0"], mean, std)
        p = dict(self.params) | {"gru.weight_ih_l0": f.w, "gru.bias_ih_l0": f.b}
        return GRUNet(p, self.window, self.n_features)


class LSTMNet(SequenceNet):
    kind = "lstm"

    @classmethod
    def init(cls, n_features: int, hidden: int, n_classes: int, window: int, seed: int) -> LSTMNet:
        """PyTorch's default initialisation, plus a forget-gate bias of 1 (a common choice that
        keeps the cell's memory early in training)."""
        rng = np.random.default_rng(seed)
        k = 1.0 / np.sqrt(hidden)
        b_ih = _uniform(rng, k, (4 * hidden,))
        b_ih[hidden : 2 * hidden] += 1.0
        p = {
            "lstm.weight_ih_l0": _uniform(rng, k, (4 * hidden, n_features)),
            "lstm.weight_hh_l0": _uniform(rng, k, (4 * hidden, hidden)),
            "lstm.bias_ih_l0": b_ih,
            "lstm.bias_hh_l0": _uniform(rng, k, (4 * hidden,)),
            "fc.weight": _uniform(rng, k, (n_classes, hidden)),
            "fc.bias": _uniform(rng, k, (n_classes,)),
        }
        return cls(p, window, n_features)

    @property
    def hidden(self) -> int:
        return int(self.params["lstm.weight_hh_l0"].shape[1])

    def _run(self, x: Arr, keep: bool) -> tuple[Arr, list[tuple[Arr, ...]]]:
        p, hd = self.params, self.hidden
        w_hh, b_hh = p["lstm.weight_hh_l0"], p["lstm.bias_hh_l0"]
        gx = x @ p["lstm.weight_ih_l0"].T + p["lstm.bias_ih_l0"]  # (B, T, 4H)
        h: Arr = np.zeros((x.shape[0], hd), dtype=gx.dtype)
        c: Arr = np.zeros_like(h)
        cache: list[tuple[Arr, ...]] = []
        for t in range(x.shape[1]):
            a = gx[:, t, :] + h @ w_hh.T + b_hh
            i = sigmoid(a[:, :hd])
            f = sigmoid(a[:, hd : 2 * hd])
            gg = np.tanh(a[:, 2 * hd : 3 * hd])
            o = sigmoid(a[:, 3 * hd :])
            c_prev, h_prev = c, h
            c = f * c_prev + i * gg
            tc = np.tanh(c)
            h = o * tc
            if keep:
                cache.append((h_prev, c_prev, i, f, gg, o, tc))
        return h, cache

    def forward(self, x: Arr) -> Arr:
        h, _ = self._run(x, keep=False)
        return self._linear_head(h)

    def loss_grads(self, x: Arr, y: NDArray[np.int64]) -> tuple[float, Params]:
        p, hd = self.params, self.hidden
        h, cache = self._run(x, keep=True)
        loss, dlogits = softmax_xent(self._linear_head(h), y)
        w_hh = p["lstm.weight_hh_l0"]
        g: Params = {k: np.zeros_like(v) for k, v in p.items()}
        g["fc.weight"] = (dlogits.T @ h).astype(np.float32)
        g["fc.bias"] = dlogits.sum(axis=0).astype(np.float32)
        dh = dlogits @ p["fc.weight"]
        dc = np.zeros_like(dh)
        da_all = np.empty((x.shape[0], x.shape[1], 4 * hd), dtype=dh.dtype)
        dw_hh = np.zeros(w_hh.shape, dtype=np.float64)
        for t in range(x.shape[1] - 1, -1, -1):
            h_prev, c_prev, i, f, gg, o, tc = cache[t]
            do = dh * tc
            dct = dc + dh * o * (1.0 - tc * tc)
            da = np.concatenate(
                [
                    dct * gg * i * (1.0 - i),
                    dct * c_prev * f * (1.0 - f),
                    dct * i * (1.0 - gg * gg),
                    do * o * (1.0 - o),
                ],
                axis=1,
            )
            da_all[:, t, :] = da
            dw_hh += da.T @ h_prev
            dc = dct * f
            dh = da @ w_hh
        flat = da_all.reshape(-1, 4 * hd)
        db = flat.sum(axis=0).astype(np.float32)
        g["lstm.weight_hh_l0"] = dw_hh.astype(np.float32)
        g["lstm.bias_hh_l0"] = db
        g["lstm.weight_ih_l0"] = (flat.T @ x.reshape(-1, x.shape[2])).astype(np.float32)
        g["lstm.bias_ih_l0"] = db.copy()
        return loss, g

    def fold_input_affine(self, mean: Arr, std: Arr) -> LSTMNet:
        f = _fold_rows(self.params["lstm.weight_ih_l0"], self.params["lstm.bias_ih_l0"], mean, std)
        p = dict(self.params) | {"lstm.weight_ih_l0": f.w, "lstm.bias_ih_l0": f.b}
        return LSTMNet(p, self.window, self.n_features)


class ConvNet(SequenceNet):
    kind = "conv"

    def __init__(self, params: Params, window: int, n_features: int, pool: int) -> None:
        super().__init__(params, window, n_features)
        self.pool = pool

    @classmethod
    def init(
        cls,
        n_features: int,
        channels: int,
        kernel: int,
        pool: int,
        n_classes: int,
        window: int,
        seed: int,
    ) -> ConvNet:
        rng = np.random.default_rng(seed)
        k_conv = 1.0 / np.sqrt(n_features * kernel)
        n_flat = channels * ((window - kernel + 1) // pool)
        k_fc = 1.0 / np.sqrt(n_flat)
        p = {
            "conv.weight": _uniform(rng, k_conv, (channels, n_features, kernel)),
            "conv.bias": _uniform(rng, k_conv, (channels,)),
            "fc.weight": _uniform(rng, k_fc, (n_classes, n_flat)),
            "fc.bias": _uniform(rng, k_fc, (n_classes,)),
        }
        return cls(p, window, n_features, pool)

    @property
    def channels(self) -> int:
        return int(self.params["conv.weight"].shape[0])

    @property
    def kernel(self) -> int:
        return int(self.params["conv.weight"].shape[2])

    @property
    def conv_len(self) -> int:
        return self.window - self.kernel + 1

    @property
    def pooled_len(self) -> int:
        return self.conv_len // self.pool

    def _cols(self, x: Arr) -> Arr:
        """im2col: ``(B, L, K * F)`` with column ``k * F + f`` = ``x[b, l + k, f]``."""
        k, L = self.kernel, self.conv_len
        return np.concatenate([x[:, j : j + L, :] for j in range(k)], axis=2)

    def _w_cols(self) -> Arr:
        w = self.params["conv.weight"]  # (C, F, K) -> (K * F, C)
        return w.transpose(2, 1, 0).reshape(-1, w.shape[0])

    def _run(self, x: Arr) -> tuple[Arr, Arr, Arr, Arr]:
        cols = self._cols(x)
        pre = cols @ self._w_cols() + self.params["conv.bias"]  # (B, L, C)
        act = np.maximum(pre, 0.0)
        b, lp, pool, c = x.shape[0], self.pooled_len, self.pool, self.channels
        win = act[:, : lp * pool, :].reshape(b, lp, pool, c)
        pooled = win.max(axis=2)  # (B, Lp, C)
        flat = pooled.transpose(0, 2, 1).reshape(b, c * lp)  # torch Flatten of (B, C, Lp)
        return cols, pre, win, flat

    def forward(self, x: Arr) -> Arr:
        return self._linear_head(self._run(x)[3])

    def loss_grads(self, x: Arr, y: NDArray[np.int64]) -> tuple[float, Params]:
        p = self.params
        cols, pre, win, flat = self._run(x)
        loss, dlogits = softmax_xent(self._linear_head(flat), y)
        g: Params = {}
        g["fc.weight"] = (dlogits.T @ flat).astype(np.float32)
        g["fc.bias"] = dlogits.sum(axis=0).astype(np.float32)
        b, lp, pool, c = x.shape[0], self.pooled_len, self.pool, self.channels
        dpooled = (dlogits @ p["fc.weight"]).reshape(b, c, lp).transpose(0, 2, 1)
        # Max-pool gradient to the first maximum of each window (what torch does).
        first = np.argmax(win, axis=2)  # (B, Lp, C)
        dwin = np.zeros_like(win)
        np.put_along_axis(dwin, first[:, :, None, :], dpooled[:, :, None, :], axis=2)
        dact = np.zeros_like(pre)
        dact[:, : lp * pool, :] = dwin.reshape(b, lp * pool, c)
        dpre = dact * (pre > 0)
        dw_cols = cols.reshape(-1, cols.shape[2]).T @ dpre.reshape(-1, c)  # (K * F, C)
        g["conv.weight"] = (
            dw_cols.reshape(self.kernel, self.n_features, c).transpose(2, 1, 0).astype(np.float32)
        )
        g["conv.bias"] = dpre.sum(axis=(0, 1)).astype(np.float32)
        return loss, g

    def fold_input_affine(self, mean: Arr, std: Arr) -> ConvNet:
        w = self.params["conv.weight"].astype(np.float64)  # (C, F, K)
        w_f = w / std[None, :, None]
        b = self.params["conv.bias"].astype(np.float64) - np.einsum("cfk,f->c", w_f, mean)
        p = dict(self.params) | {
            "conv.weight": w_f.astype(np.float32),
            "conv.bias": b.astype(np.float32),
        }
        return ConvNet(p, self.window, self.n_features, self.pool)


def numeric_grad(
    loss: Callable[[], float], param: F32, idx: tuple[int, ...], eps: float = 1e-3
) -> float:
    """Central difference of ``loss`` in one parameter entry (for gradient tests)."""
    old = float(param[idx])
    param[idx] = old + eps
    up = loss()
    param[idx] = old - eps
    down = loss()
    param[idx] = old
    return (up - down) / (2 * eps)
