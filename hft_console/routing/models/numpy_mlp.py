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
}  # the activations by name (``NumpyMLP`` runs them in place, unrolled)

# bound once: on a decision path each module attribute lookup is a dictionary lookup more
_dot, _maximum, _tanh = np.dot, np.maximum, np.tanh


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
    bias is folded into its weight matrix ``(in + 1, out)`` against a constant 1 carried at the end of
    every buffer, so a layer is one ``np.dot`` and one in-place activation, and nothing is allocated
    per call: on a decision path every numpy call counts (measured on two cores: ``np.maximum``
    against a preallocated zero vector 0.3 µs, against the scalar 0.0 about 1 µs). Not thread-safe:
    one instance per caller thread. ``activation``: ``"relu"`` or ``"tanh"`` between hidden layers
    (``KeyError`` otherwise), none on the output."""

    def __init__(self, params: Params, activation: str = "relu") -> None:
        if activation not in NP_ACTIVATIONS:
            raise KeyError(activation)
        layers = dense_layers(params)
        self.relu = activation == "relu"
        self.weights = [np.ascontiguousarray(np.vstack([w, b[None, :]]), dtype=np.float32) for w, b in layers]
        self.n_in = layers[0][0].shape[0]
        self.x = np.ones(self.n_in + 1, dtype=np.float32)
        self.x_in = self.x[:-1]
        self.bufs = [np.ones(b.shape[0] + 1, dtype=np.float32) for _, b in layers]
        self.outs = [buf[:-1] for buf in self.bufs]  # views made once: slicing per call costs too
        zeros = [np.zeros_like(out) for out in self.outs[:-1]]  # relu's other operand
        self._hidden = list(zip(self.weights[:-1], self.bufs[:-1], self.outs[:-1], zeros, strict=True))
        self._w_out, self._out = self.weights[-1], self.outs[-1]

    def run_augmented(self, xa: np.ndarray) -> np.ndarray:
        """The output layer's values ``(out,)`` for an observation already laid out with its constant
        1: ``xa`` is ``(in + 1,)`` float32 with ``xa[-1] == 1`` (a caller's own buffer, read in place,
        never written). Returns this instance's output buffer: read it before the next call."""
        h = xa
        if self.relu:
            for w, buf, out, zero in self._hidden:
                _dot(h, w, out=out)
                _maximum(out, zero, out=out)
                h = buf
        else:
            for w, buf, out, _ in self._hidden:
                _dot(h, w, out=out)
                _tanh(out, out=out)
                h = buf
        out = self._out
        _dot(h, self._w_out, out=out)
        return out

    def _run(self, x: np.ndarray | list[float]) -> np.ndarray:
        self.x_in[:] = x
        return self.run_augmented(self.x)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """The output layer's values for one observation ``(in,)`` -> ``(out,)``, a fresh array."""
        return self._run(x).copy()

    def as_list(self, x: np.ndarray | list[float]) -> list[float]:
        """The output as a Python list, without an intermediate array: a decision reads it in Python.
        ``x``: ``(in,)`` values, an array or a list (converted straight into the input buffer)."""
        out: list[float] = self._run(x).tolist()
        return out

    def as_list_augmented(self, xa: np.ndarray) -> list[float]:
        """``run_augmented`` as a Python list."""
        out: list[float] = self.run_augmented(xa).tolist()
        return out
