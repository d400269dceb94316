"""A fused C++ CPU kernel for :meth:`evoprune.stack.GenomeStack.train_epoch`: all full minibatches of an epoch.

For every member of the stack, and every full minibatch of the epoch, one
pass per layer does the forward, the loss gradient, the backward pass, the
gradient masking and the Adam update (``kernels_train.adam_update``'s math,
applied to each weight row right after its gradient is formed, inside the
backward pass).  Members are independent, so the loop is member-outer: one
member's parameters, moments and (byte-packed) masks are reused, from cache,
by all the steps of the epoch before the next member's are touched, and one
call runs the epoch (no per-step Python).  Results equal the torch path within float tolerance: the
summation order differs, ``exp`` (sigmoid, BCE) and ``log`` (BCE from logits)
are vectorized polynomials good to about an ulp, and denormals are flushed to
zero while the kernel runs (Adam's division and square root are exact).

The extension is compiled by the set-up (``make install`` calls :func:`build`)
into the environment, by :func:`evoprune.backends.build.load_or_build` (no
build tool, no lock that can hang; a key over everything the binary depends on).
A process that finds no binary builds it (waiting at most
``EVOPRUNE_KERNEL_WAIT`` seconds, default 60, for another process's build of
the same binary); a process that cannot get a working kernel warns once, with
the reason, and runs the torch path.  :func:`backend` says which path is in
use and why.  ``EVOPRUNE_FUSED``: ``"0"`` off, ``"1"``/unset/``"auto"`` on.

Supported: CPU, float32, the activations and losses with a ``kernel`` code in
:data:`evoprune.activations.ACTIVATIONS` and :data:`evoprune.losses.LOSSES`.

Evaluation (:func:`decoder_error_sums`, used by :mod:`evoprune.kernels`): a stack of decoders run over latents,
with the elementwise error against target rows summed per (member, group, candidate) while the last layer's
outputs are formed, 16 at a time in registers: the decoder output is never stored.  Same activations; metrics
``l1``, ``mse``, ``bce`` (as ``kernels._bce``: output clamped to [1e-7, 1 - 1e-7], logs clamped at -100).
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch

from .activations import kernel_codes
from .backends.build import Outcome, load_or_build
from .kernels_train import StepConfig
from .losses import LOSSES

__all__ = [
    "backend", "build", "decoder_error_sums", "extension", "fused_enabled", "kernel_source",
    "supported", "train_full_steps",
]

_FLAGS = ["-O3", "-march=native", "-fopenmp-simd", "-fno-math-errno"]
_LOG = logging.getLogger(__name__)
_STATE: dict[str, object] = {}  # "outcome": how the first extension() call went


def kernel_source() -> str:
    """The kernel's C++ source (``fused_kernel.cpp`` beside this module) after the generated name codes:
    ``A_<ACTIVATION>`` and ``L_<LOSS>`` from the activation and loss tables, ``A_COUNT`` and ``L_COUNT``."""
    acts = kernel_codes()
    losses = {name: loss.kernel for name, loss in LOSSES.items() if loss.kernel is not None}
    lines = ["// generated from evoprune.activations.ACTIVATIONS and evoprune.losses.LOSSES"]
    for prefix, codes in (("A", acts), ("L", losses)):
        items = [f"{prefix}_{n.upper()} = {c}" for n, c in sorted(codes.items(), key=lambda kv: kv[1])]
        lines.append(f"enum {{ {', '.join(items)}, {prefix}_COUNT = {max(codes.values()) + 1} }};")
    cpp = (Path(__file__).with_name("fused_kernel.cpp")).read_text(encoding="utf-8")
    return "\n".join(lines) + "\n" + cpp


def _wait_seconds() -> float:
    value = os.environ.get("EVOPRUNE_KERNEL_WAIT", "60")
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(f"EVOPRUNE_KERNEL_WAIT must be a number of seconds, got {value!r}") from None
    if not seconds >= 0:
        raise ValueError(f"EVOPRUNE_KERNEL_WAIT must be >= 0, got {value!r}")
    return seconds


def _outcome(force: bool = False) -> Outcome:
    if "outcome" not in _STATE or force:
        _LOG.info("loading (or building) the fused C++ training kernel")
        try:
            outcome = load_or_build("evoprune_fused", kernel_source(), _FLAGS, force=force, wait=_wait_seconds())
        except Exception as err:  # noqa: BLE001 - anything at all: the torch path still works
            outcome = Outcome(None, "failed", f"{type(err).__name__}: {err}", 0.0)
        if outcome.module is None:
            warnings.warn(f"evoprune fused CPU kernel unavailable ({outcome.how}: {outcome.detail}); "
                          "using the torch path", RuntimeWarning, stacklevel=3)
        _STATE["outcome"] = outcome
    return _STATE["outcome"]  # type: ignore[return-value]


def extension():
    """The compiled extension, loaded (or built) on first call; ``None`` if it cannot be had (warned once)."""
    return _outcome().module


def backend() -> tuple[str, str]:
    """``(backend, why)``: ``("fused", "loaded <path>")`` or ``("fused", "built <path>")`` when the kernel runs,
    else ``("torch", reason)`` (turned off by ``EVOPRUNE_FUSED``, or why the kernel is unavailable)."""
    if not fused_enabled():
        return "torch", f"the fused kernel is turned off (EVOPRUNE_FUSED={os.environ.get('EVOPRUNE_FUSED')})"
    outcome = _outcome()
    if outcome.module is None:
        return "torch", f"fused kernel {outcome.how}: {outcome.detail}"
    return "fused", f"{outcome.how} {outcome.detail}"


def fused_enabled() -> bool:
    """Whether ``EVOPRUNE_FUSED`` allows the fused kernel: ``"0"`` off, ``"1"``/unset/``"auto"`` on."""
    value = os.environ.get("EVOPRUNE_FUSED", "auto").strip().lower()
    if value in ("0", "false", "no", "off"):
        return False
    if value in ("", "auto", "1", "true", "yes", "on"):
        return True
    raise ValueError(f"EVOPRUNE_FUSED must be '0', '1' or 'auto', got {value!r}")


def supported(cfg: StepConfig, tensors: Sequence[torch.Tensor], data: torch.Tensor) -> bool:
    """Whether the fused kernel handles this step configuration and these tensors (CPU, float32).

    Parameters
    ----------
    cfg
        The training step's configuration.
    tensors
        The stacked tensors the step updates.
    data
        The training data.
    """
    return (
        set(cfg.activations) <= kernel_codes().keys()
        and LOSSES[cfg.loss].kernel is not None
        and data.device.type == "cpu"
        and data.dtype == torch.float32
        and data.dim() == 2
        and all(t.device.type == "cpu" and t.dtype == torch.float32 and t.is_contiguous() for t in tensors)
    )


def train_full_steps(
    cfg: StepConfig,
    params: list[torch.Tensor],
    exp_avg: list[torch.Tensor],
    exp_avg_sq: list[torch.Tensor],
    masks: list[torch.Tensor],
    total: torch.Tensor,
    data: torch.Tensor,
    orders: torch.Tensor,
    batch_size: int,
    n_steps: int,
    coefs: torch.Tensor,
) -> bool:
    """Run the first ``n_steps`` (full) minibatches of an epoch fused; ``False`` (nothing done) if not possible.

    Same contract as ``n_steps`` calls of ``evoprune.kernels_train.train_step`` with
    ``idx = orders[:, s * batch_size : (s + 1) * batch_size]`` and ``coefs[s]``
    (``total`` is float64).  Float masks (0/1).

    Parameters
    ----------
    cfg
        The training step's configuration.
    params, exp_avg, exp_avg_sq, masks
        The stacked weights, Adam's moments and the 0/1 masks (updated in place).
    total
        Per member, the running loss sum (float64, updated in place).
    data
        Training data, ``(samples, features)``.
    orders
        Per member, a permutation of the rows, ``(N, samples)``.
    batch_size
        Rows per minibatch.
    n_steps
        Full minibatches to run.
    coefs
        Adam's per-step, per-member coefficients (``evoprune.kernels_train.adam_coefficients``).
    """
    if n_steps <= 0 or not fused_enabled():
        return False
    if total.dtype != torch.float64 or not supported(cfg, [*params, *exp_avg, *exp_avg_sq, *masks], data):
        return False
    ext = extension()
    if ext is None:
        return False
    ext.fused_epoch(
        params, exp_avg, exp_avg_sq, masks, total, data.contiguous(), orders.to(torch.long),
        batch_size, n_steps, coefs[:n_steps].float().contiguous(),
        [kernel_codes()[a] for a in cfg.activations], list(cfg.transposed), cfg.n_enc,
        LOSSES[cfg.loss].kernel, *cfg.betas,
    )
    return True


def decoder_error_sums(
    spec,
    params: Sequence[torch.Tensor],
    masks: Sequence[torch.Tensor] | None,
    z: torch.Tensor,
    target: torch.Tensor,
    index: torch.Tensor,
    metric: str,
    final_activation: bool = True,
) -> torch.Tensor | None:
    """Per (member, group, candidate) error sums of a stack of decoders, or ``None`` if the kernel cannot run.

    ``spec``: the decoders' ``HalfSpec``; ``params``/``masks``: ``[W0, b0, ...]`` stacked ``(N, out, in)`` /
    ``(N, out)`` (genome layout; masks multiply the params, ``None`` when pruned entries are already zero);
    ``z``: latents ``(N, G, K, B, L)``; ``target``: ``(T, B, D)``; ``index``: ``(N, G)`` rows of ``target``.
    Returns float64 ``(N, G, K)``: ``sums[n, g, k] = sum_{b, j} err(decoder_n(z[n, g, k, b])[j],
    target[index[n, g], b, j])``; NaN where a NaN arose in the decoder.  ``None`` (nothing done) when
    ``EVOPRUNE_FUSED`` is off, the extension is unavailable, a tensor is not CPU float32, or an activation or
    the metric is not supported.

    Parameters
    ----------
    spec
        The decoders' ``HalfSpec``.
    params
        ``[W0, b0, ...]`` stacked ``(N, out, in)`` / ``(N, out)``.
    masks
        The masks, or ``None`` when pruned entries are already zero.
    z
        Latents ``(N, G, K, B, L)``.
    target
        Target rows ``(T, B, D)``.
    index
        ``(N, G)`` rows of ``target``.
    metric
        A name of :data:`evoprune.losses.METRICS` with a kernel code.
    final_activation
        Whether the last layer's activation is applied.
    """
    codes = kernel_codes()
    if not fused_enabled() or LOSSES[metric].kernel is None or not set(spec.activations) <= codes.keys():
        return None
    if not all(t.device.type == "cpu" and t.dtype == torch.float32 for t in [*params, z, target]):
        return None
    if masks is not None and not all(m.device.type == "cpu" for m in masks):
        return None
    ext = extension()
    if ext is None:
        return None
    if masks is not None:
        params = [p * m for p, m in zip(params, masks, strict=True)]
    return ext.decoder_error_sums(
        [p.contiguous() for p in params], z.contiguous(), target.contiguous(), index.to(torch.long).contiguous(),
        [codes[a] for a in spec.activations], bool(final_activation), LOSSES[metric].kernel,
    )


def build(force: bool = True) -> bool:
    """Build (or load) the extension now, as the set-up (``make install``) does, and say how it went.

    Parameters
    ----------
    force
        Compile again even if an earlier compile failed (and was recorded).
    """
    outcome = _outcome(force=force)
    state = "ready" if outcome.module is not None else "not available (the torch path is used)"
    print(f"evoprune.fused: {state}, {outcome.how} in {outcome.seconds:.1f} s: {outcome.detail}")
    return outcome.module is not None
