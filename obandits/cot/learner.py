"""The linear-softmax learner and its pretraining (Spec 2 §3).

``p_theta(o_{l+1} | o_l) = softmax(theta_l e_{o_l})``: with one-hot features this is one logit
row ``theta[l, s, :]`` per state, stored ``(L-1, Mx, M)`` like the chain's transitions.
Pretraining is SGD on the cross-entropy of paths drawn from the true chain (start uniform over
layer 0), in two phases (``T1`` steps at ``eta``, ``T2`` at ``eta / 2``), all in one compiled
loop; the max absolute error of the transition probabilities on the support is recorded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np
from numba.extending import register_jitable

from .. import _validate as v
from ..nbrng import categorical_cdf, randint, uniform
from ..options import option
from .chain import TreeChain

# Decorator of the kernels' helpers: compiled inside the kernels that call them, without the
# CPython and C wrappers of an ``njit`` function (compile time at cold start); from Python they
# run as plain Python. Cheaper to compile than ``inline="always"`` (Numba IR inlining copies the
# callee's IR at every call site): cachegrind of a cold cot cell.
jit_helper = register_jitable(no_cfunc_wrapper=True)


def policy(theta: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Transition probabilities ``softmax(theta / T)`` per row, ``(L-1, Mx, M)``."""
    t = v.finite_scalar("temperature", temperature, min_value=0.0, strict_min=True)
    z = theta / t
    z = z - z.max(axis=2, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=2, keepdims=True)


def support_error(chain: TreeChain, Q: np.ndarray) -> float:
    """``max |Q - P|`` over every edge of the chain (all edges have positive weight)."""
    err = 0.0
    for l in range(chain.L - 1):
        n = chain.n_states[l]
        err = max(err, float(np.abs(Q[l, :n] - chain.P[l, :n]).max()))
    return err


@register_jitable(no_cfunc_wrapper=True, forceinline=True)
def row_softmax(theta, l, s, inv_t, out):
    """``out = softmax(theta[l, s, :] * inv_t)``. Typed and lowered once per signature, then
    inlined by LLVM (``forceinline``) at every call: the inner loops stay as fast as with
    ``inline="always"``, which compiled a copy per call site (cold start)."""
    M = out.shape[0]
    mx = -np.inf
    for j in range(M):
        z = theta[l, s, j] * inv_t
        if z > mx:  # max(mx, z) exactly, without compiling the builtin's overload
            mx = z
    tot = 0.0
    for j in range(M):
        out[j] = np.exp(theta[l, s, j] * inv_t - mx)
        tot += out[j]
    for j in range(M):
        out[j] /= tot


@jit_helper
def draw(st, p):
    """Index drawn from probabilities ``p`` (sum 1) by inversion."""
    u = uniform(st)
    acc = 0.0
    M = p.shape[0]
    for j in range(M - 1):
        acc += p[j]
        if u < acc:
            return j
    return M - 1


@nb.njit(cache=True, no_cfunc_wrapper=True)
def sample_path(theta, start, inv_t, st, p, path):
    """One CoT from ``start`` under ``softmax(theta * inv_t)``, written into ``path``.
    An ``njit`` function, not a :data:`jit_helper`: a helper is compiled once per set of
    caller flags, and the kernels (``njit``) call :func:`row_softmax` too (cold start)."""
    path[0] = start
    for l in range(path.shape[0] - 1):
        row_softmax(theta, l, path[l], inv_t, p)
        path[l + 1] = draw(st, p)


# Loops instead of ``a[:] = x`` / ``a += k * b`` in the kernels: NumPy slice assignments and
# array expressions cost seconds of compilation (their shape-error messages alone ~3 CPU-s).
@jit_helper
def apply_grad3(a, grad, theta):
    """``theta += a * grad`` elementwise, then ``grad = 0`` for the next accumulation (so the
    kernels need no separate zeroing function: one fewer to compile)."""
    for i in range(grad.shape[0]):
        for j in range(grad.shape[1]):
            for k in range(grad.shape[2]):
                theta[i, j, k] += a * grad[i, j, k]
                grad[i, j, k] = 0.0


@jit_helper
def _max_err(theta, P, n_states, p):
    """``max |p_theta - P|`` over the chain's rows (the support error)."""
    err = 0.0
    for l in range(theta.shape[0]):
        for s in range(n_states[l]):
            row_softmax(theta, l, s, 1.0, p)
            for j in range(p.shape[0]):
                d = abs(p[j] - P[l, s, j])
                err = max(err, d)
    return err


@nb.njit(cache=True, no_cfunc_wrapper=True)
def pretrain_steps(theta, P, cdf, n_states, steps1, eta1, steps2, eta2, batch, st, err_every,
                   err_out, grad, p):
    """Compiled two-phase SGD on path cross-entropy (Spec 2 §3); ``theta`` updated in place;
    the support error ``max |p_theta - P|`` every ``err_every`` steps goes to ``err_out``
    (``None``: not recorded).
    ``cdf``: the rows' cumulative sums of ``P``; ``grad`` (like ``theta``, zeros) and ``p``
    (``M``) are scratch (allocated by the caller: array creation in a kernel costs
    compilation); ``grad`` is zeros again on return."""
    Lm1, _, M = theta.shape
    k = 0
    for t in range(steps1 + steps2):
        eta = eta1 if t < steps1 else eta2
        for _b in range(batch):
            s = randint(st, n_states[0])
            for l in range(Lm1):
                s2 = categorical_cdf(st, cdf[l, s])
                row_softmax(theta, l, s, 1.0, p)
                for j in range(M):
                    grad[l, s, j] -= p[j]
                grad[l, s, s2] += 1.0
                s = s2
        apply_grad3(eta / batch, grad, theta)
        if err_out is not None:  # None: no trace, and Numba prunes (does not compile) it
            if (t + 1) % err_every == 0 and k < err_out.shape[0]:
                err_out[k] = _max_err(theta, P, n_states, p)
                k += 1


@nb.njit(cache=True)
def pretrain_nb(theta, P, n_states, steps1, eta1, steps2, eta2, batch, st, err_every, err_out):
    """:func:`pretrain_steps` with its buffers allocated here (kept for callers of this
    signature; :func:`pretrain` calls :func:`pretrain_steps` directly)."""
    Lm1, _, M = theta.shape
    cdf = np.empty_like(P)
    for l in range(Lm1):
        for s in range(n_states[l]):
            acc = 0.0
            for j in range(M):
                acc += P[l, s, j]
                cdf[l, s, j] = acc
    pretrain_steps(theta, P, cdf, n_states, steps1, eta1, steps2, eta2, batch, st, err_every,
                   err_out, np.zeros_like(theta), np.empty(M))


@dataclass(frozen=True)
class PretrainConfig:
    """Pretraining schedule (Spec 2 §3; paper: T1=2000 at eta=0.05, T2=500 at eta/2).

    ``batch`` paths per SGD step (ours: 32); the gradient is their mean."""

    T1: int = option(2000, "pretraining steps at eta")
    T2: int = option(500, "pretraining steps at eta / 2")
    eta: float = option(0.05, "pretraining step size")
    batch: int = option(32, "paths per pretraining step")
    err_every: int = option(10, "record the support error every this many steps")

    def __post_init__(self) -> None:
        v.int_scalar("T1", self.T1, min_value=0)
        v.int_scalar("T2", self.T2, min_value=0)
        v.finite_scalar("eta", self.eta, min_value=0.0, strict_min=True)
        v.int_scalar("batch", self.batch, min_value=1)
        v.int_scalar("err_every", self.err_every, min_value=1)


def pretrain(chain: TreeChain, config: PretrainConfig, state: np.ndarray, trace: bool = True
             ) -> tuple[np.ndarray, np.ndarray | None]:
    """Pretrain from ``theta = 0`` (uniform transitions). ``state``: a uint64[4] stream of
    :mod:`obandits.nbrng` (advanced in place). Returns ``(theta, support_error_trace)``; the
    trace is ``None`` with ``trace=False`` (same ``theta``; its code is then not compiled,
    which saves cold-start time where the trace is not used)."""
    Mx = chain.P.shape[1]
    theta = np.zeros((chain.L - 1, Mx, chain.M))
    n_err = (config.T1 + config.T2) // config.err_every
    err = np.zeros(n_err) if trace else None
    # np.cumsum adds in order along a row, as a loop would (bit-identical sampling)
    cdf = np.cumsum(chain.P, axis=2)
    pretrain_steps(theta, chain.P, cdf, chain.n_states, config.T1, config.eta, config.T2,
                   config.eta / 2, config.batch, state, config.err_every, err,
                   np.zeros_like(theta), np.empty(chain.M))
    return theta, err
