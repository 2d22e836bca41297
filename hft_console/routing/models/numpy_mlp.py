"""The MLP's forward pass in numpy, for the live engine, where one JAX dispatch costs more than the
whole numpy forward (see the reference notes on single-observation latency). JAX-free: a session
routing with ``inference = "numpy"`` decides without it. Held equal to ``nets.MLP`` by a parity test."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from hft_console.routing.models.checkpoint import Params

NP_ACTIVATIONS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "relu": lambda x, out: np.maximum(x, 0.0, out=out),
    "tanh": lambda x, out: np.tanh(x, out=out),
}


def dense_layers(params: Params) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(kernel, bias)`` per layer in order, as contiguous float32 numpy arrays, from linen's
    ``{"params": {"Dense_i": {"kernel", "bias"}}}`` (or its inner dict)."""
    inner = params.get("params", params)
    names = sorted((k for k in inner if k.startswith("Dense_")), key=lambda k: int(k.split("_")[1]))
    return [
        (
            np.ascontiguousarray(np.asarray(inner[k]["kernel"], dtype=np.float32)),
            np.ascontiguousarray(np.asarray(inner[k]["bias"], dtype=np.float32)),
        )
        for k in names
    ]


class NumpyMLP:
    """The MLP's forward pass for one observation in numpy, into preallocated buffers. Each layer's
    bias is folded into its weight matrix against a constant 1 carried at the end of every buffer, so
    a layer is one ``np.dot`` (plus the activation): on a decision path every numpy call counts. Not
    thread-safe: one instance per caller thread."""

    def __init__(self, params: Params, activation: str = "relu") -> None:
        layers = dense_layers(params)
        self.act = NP_ACTIVATIONS[activation]
        self.weights = [np.ascontiguousarray(np.vstack([w, b[None, :]]), dtype=np.float32) for w, b in layers]
        self.x = np.ones(layers[0][0].shape[0] + 1, dtype=np.float32)
        self.x_in = self.x[:-1]
        self.bufs = [np.ones(b.shape[0] + 1, dtype=np.float32) for _, b in layers]
        self.outs = [buf[:-1] for buf in self.bufs]  # views made once: slicing per call costs too

    def _run(self, x: np.ndarray) -> np.ndarray:
        self.x_in[:] = x
        h = self.x
        last = len(self.weights) - 1
        for i, (w, buf, out) in enumerate(zip(self.weights, self.bufs, self.outs, strict=True)):
            np.dot(h, w, out=out)
            if i < last:
                self.act(out, out)
            h = buf
        return self.outs[-1]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """The output layer's values for one observation ``(in,)`` -> ``(out,)``, a fresh array."""
        return self._run(x).copy()

    def as_list(self, x: np.ndarray) -> list[float]:
        """The output as a Python list, without an intermediate array: a decision reads it in Python."""
        out: list[float] = self._run(x).tolist()
        return out
