"""N encoder/decoder pairs stacked into ``(N, ...)`` tensors and trained together, on any device.

:class:`GenomeStack` holds the members' parameters, masks, Adam moments,
learning rates and per-half step counters; :meth:`GenomeStack.train_epoch`
runs one epoch of minibatch Adam with a hand-written backward pass
(``evoprune.kernels_train``), optionally fused into one compiled pass per
minibatch with ``torch.compile``.

Compilation is chosen by the environment variable ``EVOPRUNE_COMPILE``:
``"0"`` eager, ``"1"`` compiled, unset (or ``"auto"``) compiled on CUDA when
Triton is installed and on CPU when a C++ compiler is found.  A compiled step
is built at most once per process for each (architecture, members, minibatch
shape, data shape, device, loss), for at most 16 such shapes; a smaller last
minibatch runs eagerly.  If compiling fails, training warns once and runs
eagerly.

On CPU, the full minibatches of an epoch run instead in one fused C++ kernel
(``evoprune.fused``) when the configuration is supported and the
environment variable ``EVOPRUNE_FUSED`` is not ``"0"``.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import warnings
from collections.abc import Callable, Sequence

import torch

from . import fused
from .activations import ACTIVATIONS
from .architecture import HalfSpec
from .half import Half
from .kernels_train import StepConfig, adam_coefficients, train_step
from .losses import METRICS
from .validation import check_choice

__all__ = ["GenomeStack", "compile_enabled"]

_COMPILED: dict[tuple, Callable | None] = {}
_MAX_COMPILED = 16  # distinct shapes compiled per process; further ones run eagerly (each compile costs seconds)


def compile_enabled(device: torch.device | str = "cpu") -> bool:
    """Whether training steps on ``device`` are compiled, following ``EVOPRUNE_COMPILE`` (see the module doc).

    Parameters
    ----------
    device
        The device training runs on.
    """
    value = os.environ.get("EVOPRUNE_COMPILE", "auto").strip().lower()
    if value in ("0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    if value not in ("", "auto"):
        raise ValueError(f"EVOPRUNE_COMPILE must be '0', '1' or 'auto', got {value!r}")
    kind = torch.device(device).type
    if kind == "cuda":
        return importlib.util.find_spec("triton") is not None
    if kind == "cpu":
        return _has_cxx(os.environ.get("CXX", ""))
    return False


@functools.cache
def _has_cxx(cxx: str) -> bool:
    return any(shutil.which(c) for c in (cxx, "g++", "clang++", "c++") if c)


def _compiled_step(key: tuple) -> Callable | None:
    """The compiled step for ``key``, built once per process; ``None`` after a failed compile or too many shapes."""
    if key not in _COMPILED:
        if len(_COMPILED) >= _MAX_COMPILED:
            return None
        # a fresh code object per key: torch.compile's cache (and its recompile limit) is per code object
        namespace = {"train_step": train_step}
        exec("def step(*args):\n    return train_step(*args)\n", namespace)  # noqa: S102
        _COMPILED[key] = torch.compile(namespace["step"], dynamic=False, fullgraph=True)
    return _COMPILED[key]


def _layouts(spec: HalfSpec) -> list[bool]:
    """Per layer: store the weight transposed, ``(in, out)``, so that the wider dimension is the last one."""
    return [spec.sizes[i + 1] > spec.sizes[i] for i in range(spec.n_layers)]


def _stack(tensors: Sequence[torch.Tensor], transposed: bool, device: torch.device) -> torch.Tensor:
    """Weights ``(out, in)`` -> ``(N, out, in)`` or, transposed, ``(N, in, out)``; biases -> ``(N, 1, out)``."""
    tensors = list(tensors)
    if tensors[0].dim() == 2:  # weights: stacked straight into their layout, one copy
        t = torch.stack([w.t() for w in tensors] if transposed else tensors)
    else:
        t = torch.stack(tensors).unsqueeze(1)
    return t.to(device=device, dtype=torch.float32, memory_format=torch.contiguous_format)


class GenomeStack:
    """Parameters, masks, Adam state, learning rates and step counters of N encoder/decoder pairs.

    Build with :meth:`from_halves`, train with :meth:`train_epoch`, read back
    with :meth:`to_halves`.  Tensors follow the encoder's then the decoder's
    flat ``[W0, b0, W1, b1, ...]`` order; see ``evoprune.kernels_train`` for
    their layout.  Masks are float 0/1 (they vectorize better than bool in
    compiled code); pruned entries of params and moments are kept exactly 0.

    Parameters
    ----------
    enc_spec
        Shape of every encoder.
    dec_spec
        Shape of every decoder.
    params
        Stacked parameters, encoder's then decoder's (layout as :meth:`from_halves` builds them).
    masks
        Float 0/1 masks, same shapes.
    exp_avg
        Adam's first moments, same shapes.
    exp_avg_sq
        Adam's second moments, same shapes.
    lr
        Learning rates, ``(N, 1, 1)``.
    step_enc
        Adam step counters of the encoders, ``(N, 1, 1)``.
    step_dec
        Adam step counters of the decoders, ``(N, 1, 1)``.
    persistent
        Whether :meth:`to_halves` hands Adam's state back.
    """

    def __init__(
        self,
        enc_spec: HalfSpec,
        dec_spec: HalfSpec,
        params: list[torch.Tensor],
        masks: list[torch.Tensor],
        exp_avg: list[torch.Tensor],
        exp_avg_sq: list[torch.Tensor],
        lr: torch.Tensor,
        step_enc: torch.Tensor,
        step_dec: torch.Tensor,
        persistent: bool = True,
    ) -> None:
        self.enc_spec, self.dec_spec = enc_spec, dec_spec
        self.transposed = tuple(_layouts(enc_spec) + _layouts(dec_spec))
        self.params, self.masks, self.exp_avg, self.exp_avg_sq = params, masks, exp_avg, exp_avg_sq
        self.lr, self.step_enc, self.step_dec = lr, step_enc, step_dec
        self.persistent = persistent
        with torch.no_grad():  # the invariant the step relies on: pruned entries are exactly zero everywhere
            for ts in (params, exp_avg, exp_avg_sq):
                for t, m in zip(ts, masks, strict=True):
                    t.mul_(m)

    @property
    def n(self) -> int:
        """Number of members."""
        return self.lr.shape[0]

    @property
    def device(self) -> torch.device:
        """Device of the tensors."""
        return self.lr.device

    @classmethod
    def from_halves(
        cls,
        encoders: Sequence[Half],
        decoders: Sequence[Half],
        lrs: Sequence[float] | torch.Tensor,
        device: torch.device | str | None = None,
        persistent: bool = True,
    ) -> GenomeStack:
        """Stack N members (copies; the halves are not modified) on ``device`` (default CPU).

        With ``persistent=False`` (or a half never trained) Adam starts from zero moments and step 0.

        Parameters
        ----------
        encoders
            The encoder halves (all of one shape).
        decoders
            The decoder halves (all of one shape).
        lrs
            One learning rate per member.
        device
            Device of the stack (default CPU).
        persistent
            Start from the halves' Adam state and keep it.
        """
        n = len(encoders)
        if n == 0 or len(decoders) != n or len(lrs) != n:
            raise ValueError(f"need N >= 1 encoders, decoders and lrs alike, got {n}, {len(decoders)}, {len(lrs)}")
        enc_spec, dec_spec = encoders[0].spec, decoders[0].spec
        if not (enc_spec.dense and dec_spec.dense):
            raise ValueError("GenomeStack holds dense halves (Linear layers); layered halves (convolutions, ...) "
                             "train through evoprune.training.train_halves")
        for what, halves, spec in (("encoder", encoders, enc_spec), ("decoder", decoders, dec_spec)):
            if any(h.spec != spec for h in halves):
                raise ValueError(f"all {what}s of a stack need the same architecture")
        device = torch.device("cpu" if device is None else device)
        layouts = _layouts(enc_spec) + _layouts(dec_spec)
        halves_by_part = (encoders, decoders)
        stacked: dict[str, list[torch.Tensor]] = {"params": [], "masks": [], "exp_avg": [], "exp_avg_sq": []}
        for part, halves in enumerate(halves_by_part):
            offset = 0 if part == 0 else enc_spec.n_layers
            for k in range(len(halves[0].params)):
                tr = layouts[offset + k // 2]
                for attr in stacked:
                    ts = [_state(h, attr, k, persistent) for h in halves]
                    stacked[attr].append(_stack(ts, tr, device))
        steps_dtype = torch.float32 if device.type == "mps" else torch.float64

        def counters(halves):
            values = [float(h.step) if persistent else 0.0 for h in halves]
            return torch.tensor(values, dtype=steps_dtype, device=device).view(n, 1, 1)

        lr = torch.as_tensor(lrs, dtype=torch.float32).reshape(n, 1, 1).to(device)
        return cls(
            enc_spec, dec_spec, **stacked, lr=lr, step_enc=counters(encoders), step_dec=counters(decoders),
            persistent=persistent,
        )

    def to_halves(self) -> tuple[list[Half], list[Half]]:
        """New CPU halves, params ``(out, in)``; with ``persistent`` they carry Adam's moments and step."""
        n_enc = 2 * self.enc_spec.n_layers
        cpu = {a: [t.detach().cpu() for t in getattr(self, a)] for a in ("params", "masks", "exp_avg", "exp_avg_sq")}
        cpu["masks"] = [m.bool() for m in cpu["masks"]]
        steps = (self.step_enc.flatten().tolist(), self.step_dec.flatten().tolist())
        out: tuple[list[Half], list[Half]] = ([], [])
        for part, spec, ks in ((0, self.enc_spec, range(n_enc)), (1, self.dec_spec, range(n_enc, len(self.params)))):
            for i in range(self.n):
                get = {a: [self._unstack(ts[k], i, k) for k in ks] for a, ts in cpu.items()}
                h = Half(spec, get["params"], get["masks"])
                if self.persistent:
                    h.exp_avg, h.exp_avg_sq, h.step = get["exp_avg"], get["exp_avg_sq"], int(round(steps[part][i]))
                out[part].append(h)
        return out

    def _unstack(self, t: torch.Tensor, i: int, k: int) -> torch.Tensor:
        if k % 2:  # bias (N, 1, out)
            return t[i, 0].clone()
        return (t[i].t() if self.transposed[k // 2] else t[i]).clone(memory_format=torch.contiguous_format)

    def step_config(self, loss: str, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> StepConfig:
        """The compiled training step's configuration for ``loss`` (``bce`` on a sigmoid output: ``bce_logits``).

        Parameters
        ----------
        loss
            ``l1``, ``mse`` or ``bce``.
        betas
            Adam's betas.
        eps
            Adam's epsilon.
        """
        check_choice("loss", loss, METRICS)
        if loss == "bce" and self.dec_spec.activations[-1] == "sigmoid":
            loss = "bce_logits"  # binary cross-entropy on a sigmoid output, from the logits: faster and stable
        acts = self.enc_spec.activations + self.dec_spec.activations
        return StepConfig(acts, self.transposed, self.enc_spec.n_layers, loss, tuple(map(float, betas)), float(eps))

    def train_epoch(
        self,
        data: torch.Tensor,
        orders: torch.Tensor,
        batch_size: int = 32,
        loss: str = "l1",
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        compile: bool | None = None,
    ) -> torch.Tensor:
        """One epoch of minibatch Adam for every member; returns each member's mean training loss, ``(N,)`` on CPU.

        Member n's minibatches are consecutive slices of ``orders[n]`` (the last
        may be smaller); ``data (samples, features)`` must be on the stack's
        device (``orders`` is moved there).  ``compile=None`` follows
        :func:`compile_enabled`.

        Parameters
        ----------
        data
            Training data, ``(samples, features)``, on the stack's device.
        orders
            Per member, a permutation of the rows, ``(N, samples)``.
        batch_size
            Rows per minibatch.
        loss
            ``l1``, ``mse`` or ``bce``.
        betas
            Adam's betas.
        eps
            Adam's epsilon.
        compile
            Compile the step (``None``: as :func:`compile_enabled` says).
        """
        cfg = self.step_config(loss, betas, eps)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if data.device != self.device:
            raise ValueError(f"data is on {data.device} but the stack is on {self.device}")
        orders = torch.as_tensor(orders).to(device=self.device, dtype=torch.long)
        if orders.dim() != 2 or orders.shape[0] != self.n:
            raise ValueError(f"orders must have shape ({self.n}, samples), got {tuple(orders.shape)}")
        n_samples = orders.shape[1]
        n_steps, full = -(-n_samples // batch_size), n_samples // batch_size
        total = torch.zeros(self.n, dtype=self.step_enc.dtype, device=self.device)
        state = (cfg, self.params, self.exp_avg, self.exp_avg_sq, self.masks, total, data)
        eager_state = (*state[:4], [m.bool() for m in self.masks], total, data)  # bool masks: fewer eager ops
        use_compile = compile_enabled(self.device) if compile is None else compile
        step = train_step
        if use_compile and full > 0 and all(ACTIVATIONS[a].derivative is not None for a in cfg.activations):
            key = (cfg, self.n, batch_size, tuple(data.shape), str(self.device))
            step = _compiled_step(key) or train_step
        with torch.no_grad():
            coefs = adam_coefficients(self.lr, self.step_enc, self.step_dec, n_steps, cfg.betas, cfg.eps)
            first = full if fused.train_full_steps(*state[:6], data, orders, batch_size, full, coefs) else 0
            for s in range(first, n_steps):
                idx = orders[:, s * batch_size : (s + 1) * batch_size]
                if step is not train_step and s < full:
                    try:
                        step(*state, idx, coefs[s])
                        continue
                    except Exception as err:  # noqa: BLE001 - any compiler failure: warn once, run eagerly
                        if s > 0:
                            raise
                        warnings.warn(f"torch.compile failed ({type(err).__name__}: {err}); training eagerly",
                                      RuntimeWarning, stacklevel=2)
                        _COMPILED[key] = None
                        step = train_step
                train_step(*eager_state, idx, coefs[s])
            self.step_enc.add_(n_steps)
            self.step_dec.add_(n_steps)
        return (total / n_samples).float().cpu()


def _state(h: Half, attr: str, k: int, persistent: bool) -> torch.Tensor:
    if attr in ("params", "masks"):
        return getattr(h, attr)[k]
    ts = getattr(h, attr) if persistent else None
    return torch.zeros_like(h.params[k]) if ts is None else ts[k]
