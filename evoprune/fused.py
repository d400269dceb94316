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

The extension is built on first use with
:func:`torch.utils.cpp_extension.load_inline` into torch's extension cache
(``TORCH_EXTENSIONS_DIR``, default ``~/.cache/torch_extensions``), so it is
compiled once per machine; if the build fails, training warns once and runs
the torch path.  ``EVOPRUNE_FUSED``: ``"0"`` off, ``"1"``/unset/``"auto"`` on
when the extension builds.

Supported: CPU, float32, activations identity/relu/sigmoid/tanh/leaky_relu/elu,
losses ``l1``, ``mse``, ``bce``, ``bce_logits`` (see :data:`kernels_train.STEP_LOSSES`).

Evaluation (:func:`decoder_error_sums`, used by :mod:`evoprune.kernels`): a stack of decoders run over latents,
with the elementwise error against target rows summed per (member, group, candidate) while the last layer's
outputs are formed, 16 at a time in registers: the decoder output is never stored.  Same activations; metrics
``l1``, ``mse``, ``bce`` (as ``kernels._bce``: output clamped to [1e-7, 1 - 1e-7], logs clamped at -100).
"""

from __future__ import annotations

import hashlib
import logging
import os
import platform
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch

from .kernels_train import StepConfig

__all__ = [
    "FUSED_ACTIVATIONS", "build_seconds", "decoder_error_sums", "extension", "fused_enabled", "supported",
    "train_full_steps",
]

FUSED_ACTIVATIONS = {"identity": 0, "relu": 1, "sigmoid": 2, "tanh": 3, "leaky_relu": 4, "elu": 5}
_LOSS_CODES = {"l1": 0, "mse": 1, "bce": 2, "bce_logits": 3}

#: The kernel's C++ source, shipped beside this module.
_CPP = (Path(__file__).with_name("fused_kernel.cpp")).read_text(encoding="utf-8")

_LOG = logging.getLogger(__name__)
_STATE: dict[str, object] = {}  # "ext": the module, or None after a failed build; "seconds": build/load time


def _cpu_tag() -> str:
    """A short tag of this CPU's model and instruction sets: ``-march=native`` builds must not be shared across CPUs
    (a home directory, hence torch's extension cache, may be shared by a cluster's different nodes)."""
    text = platform.machine() + platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            text += "".join(sorted({ln for ln in f if ln.startswith(("model name", "flags", "Features"))}))
    except OSError:
        pass
    return hashlib.sha1(text.encode()).hexdigest()[:10]


def extension():
    """The compiled extension, built (or loaded from torch's cache) on first call; ``None`` if the build failed."""
    if "ext" in _STATE:  # lock-free fast path; a racing first build is serialized by torch's own file lock
        return _STATE["ext"]
    t = time.perf_counter()
    try:
        from torch.utils.cpp_extension import load_inline

        _LOG.info("building (or loading from torch's extension cache) the fused C++ training kernel")
        ext = load_inline(
            name=f"evoprune_fused_{_cpu_tag()}",
            cpp_sources=_CPP,
            functions=["fused_epoch", "decoder_error_sums"],
            extra_cflags=["-O3", "-march=native", "-fopenmp-simd", "-fno-math-errno"],
            verbose=False,
        )
    except Exception as err:  # noqa: BLE001 - any build failure: warn once, use the torch path
        warnings.warn(f"evoprune fused CPU kernel unavailable ({type(err).__name__}: {err}); using the torch path",
                      RuntimeWarning, stacklevel=2)
        ext = None
    _STATE["seconds"] = time.perf_counter() - t
    _STATE["ext"] = ext
    return ext


def build_seconds() -> float | None:
    """Seconds the first :func:`extension` call took in this process (build or cache load), or ``None``."""
    return _STATE.get("seconds")  # type: ignore[return-value]


def fused_enabled() -> bool:
    """Whether ``EVOPRUNE_FUSED`` allows the fused kernel: ``"0"`` off, ``"1"``/unset/``"auto"`` on."""
    value = os.environ.get("EVOPRUNE_FUSED", "auto").strip().lower()
    if value in ("0", "false", "no", "off"):
        return False
    if value in ("", "auto", "1", "true", "yes", "on"):
        return True
    raise ValueError(f"EVOPRUNE_FUSED must be '0', '1' or 'auto', got {value!r}")


def supported(cfg: StepConfig, tensors: Sequence[torch.Tensor], data: torch.Tensor) -> bool:
    """Whether the fused kernel handles this step configuration and these tensors (CPU, float32)."""
    return (
        set(cfg.activations) <= FUSED_ACTIVATIONS.keys()
        and cfg.loss in _LOSS_CODES
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

    Same contract as ``n_steps`` calls of :func:`evoprune.kernels_train.train_step` with
    ``idx = orders[:, s * batch_size : (s + 1) * batch_size]`` and ``coefs[s]``
    (``total`` is float64).  Float masks (0/1).
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
        [FUSED_ACTIVATIONS[a] for a in cfg.activations], list(cfg.transposed), cfg.n_enc,
        _LOSS_CODES[cfg.loss], *cfg.betas,
    )
    return True


_EVAL_LOSSES = {"l1": 0, "mse": 1, "bce": 2}


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
    """
    if not fused_enabled() or metric not in _EVAL_LOSSES or not set(spec.activations) <= FUSED_ACTIVATIONS.keys():
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
        [FUSED_ACTIVATIONS[a] for a in spec.activations], bool(final_activation), _EVAL_LOSSES[metric],
    )


def build() -> bool:
    """Build (or load) the extension now, as the set-up (``make install``) does; say how it went."""
    ok = extension() is not None
    state = "ready" if ok else "not available (the torch path is used)"
    print(f"evoprune.fused: {state} ({build_seconds() or 0:.1f} s)")
    return ok
