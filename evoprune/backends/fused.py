"""The fused C++ CPU kernel: all full minibatches of an epoch in one call, and decoder error sums.

Each full minibatch runs forward, loss gradient, backward pass, gradient masking and the Adam update
(:func:`~evoprune.backends.adam_update`'s math) in one pass per layer, member by member.  Results equal the
dense torch backend's within float tolerance (another summation order, polynomial ``exp``/``log``, denormals
flushed to zero).

The set-up builds the extension (``make install`` calls :func:`build`).  A process that finds no binary builds
it (waiting at most ``EVOPRUNE_KERNEL_WAIT`` seconds, default 60, for another process's build); one that cannot
get a working kernel warns once and the torch path runs.  ``EVOPRUNE_FUSED``: ``"0"`` off, ``"1"``/unset/``"auto"`` on.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch

from ..activations import kernel_codes
from ..losses import LOSSES
from .base import Stack, TrainOptions, adam_coefficients
from .build import Outcome, load_or_build
from .torch_dense import TorchDense, step_config

__all__ = ["Fused", "backend", "build", "decoder_error_sums", "extension", "fused_enabled", "kernel_source"]

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
    """:meth:`Backend.decoder_errors <evoprune.backends.Backend.decoder_errors>` in the kernel, or ``None`` if
    it cannot run (off, unavailable, not CPU float32, an activation or metric without a kernel code)."""
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


class Fused(TorchDense):
    """The fused C++ CPU kernel for dense float32 halves (the rest, a short last minibatch too, runs as torch)."""

    name = "fused"
    records = False  # the kernel keeps no activity: a recorded epoch runs on the torch path

    def claims(self, specs, device, loss) -> str | None:
        why = super().claims(specs, device, loss)
        if why is not None:
            return why
        if torch.device(device).type != "cpu":
            return f"the fused kernel runs on the CPU, not {device}"
        acts = {a for s in specs for a in s.activations}
        missing = sorted(acts - kernel_codes().keys())
        if missing:
            return f"the fused kernel lacks the activation(s) {', '.join(missing)}"
        if LOSSES[loss].kernel is None:
            return f"the fused kernel lacks the loss {loss!r}"
        name, why = backend()
        return None if name == "fused" else why

    def train_epoch(self, stack: Stack, data: torch.Tensor, orders: torch.Tensor, batch_size: int,
                    options: TrainOptions, recorder=None) -> torch.Tensor:
        full = orders.shape[1] // batch_size
        ext = extension()
        if full == 0 or ext is None or data.dtype != torch.float32 or data.dim() != 2 or recorder is not None:
            return super().train_epoch(stack, data, orders, batch_size, options, recorder)
        cfg = step_config(stack, options)
        n_steps = -(-orders.shape[1] // batch_size)
        total = torch.zeros(stack.n, dtype=torch.float64)
        with torch.no_grad():
            coefs = adam_coefficients(stack.lr, stack.steps, n_steps, cfg.betas, options.eps)
            masks = [m.float() for m in stack.masks]
            ext.fused_epoch(
                stack.params, stack.exp_avg, stack.exp_avg_sq, masks, total, data.contiguous(), orders,
                batch_size, full, coefs[:full].float().contiguous(),
                [kernel_codes()[a] for a in cfg.activations], list(cfg.transposed), cfg.n_enc,
                LOSSES[cfg.loss].kernel, *cfg.betas,
            )
        return self._epoch(stack, data, orders, batch_size, options, first=full, total=total, coefs=coefs)

    def _masked_decoder(self, dec):
        return [p * m for p, m in zip(*dec, strict=True)]

    def _cpu_decoder_sums(self, dec_spec, dec, dec_masked, z, x, index, metric) -> torch.Tensor:
        sums = self.decoder_errors(dec_spec, dec_masked, None, z[:, None, None], x.unsqueeze(0), index, metric)
        return sums.view(-1)

    def decoder_errors(self, spec, params, masks, z, target, index, metric) -> torch.Tensor:
        sums = decoder_error_sums(spec, params, masks, z, target, index, metric)
        if sums is None:  # a tensor the kernel does not take (not CPU float32): the torch path
            return super().decoder_errors(spec, params, masks, z, target, index, metric)
        return sums


def build(force: bool = True) -> bool:
    """Build (or load) the extension now, as the set-up (``make install``) does, and say how it went."""
    outcome = _outcome(force=force)
    state = "ready" if outcome.module is not None else "not available (the torch path is used)"
    print(f"evoprune.backends.fused: {state}, {outcome.how} in {outcome.seconds:.1f} s: {outcome.detail}")
    return outcome.module is not None
