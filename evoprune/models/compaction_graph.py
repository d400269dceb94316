"""The analysis behind :func:`~evoprune.models.compaction.compact` (internal): which units of a masked autoencoder go.

The autoencoder is read as one chain of *stages* (parametric layers, encoder's then decoder's) joined by
*links* (the parameter-free layers between two stages, the encoder/decoder boundary included).  A link's
elements are grouped: every element belongs to one unit of the stage before it (a Linear output, a
convolution's output channel; before the first stage, an input element), and a multi-dimensional tensor
in the link is only ever cut along its first (channel) axis, so the units feeding one channel slice of any
tensor of the link form one group.  Groups are removed whole, so reshapes, pools and upsampling keep
working on the smaller tensors.  Everything runs in float64 on the CPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import torch

from ..layers import Act, Flatten, Layer, Linear, Unflatten

__all__: list[str] = []

#: Largest spread over positions of a folded constant's contribution to a convolution's output channel.
FOLD_TOL = 1e-10


@dataclass
class Stage:
    """One parametric layer: its layer spec, its half, and its float64 weight and bias (removed parts zero)."""

    layer: Layer
    half: str
    w: torch.Tensor
    b: torch.Tensor

    @property
    def out_axis(self) -> int:
        """Weight axis of the units (output neurons or channels)."""
        return self.layer.neuron_axis

    @property
    def in_axis(self) -> int:
        """Weight axis of the input slots (features or channels)."""
        return 1 - self.layer.neuron_axis

    def _any(self, axis: int) -> torch.Tensor:
        w = self.w.movedim(axis, 0)
        return w.reshape(w.shape[0], -1).ne(0).any(1)

    def unit_live(self) -> torch.Tensor:
        """Units with at least one nonzero incoming weight."""
        return self._any(self.out_axis)

    def slot_used(self) -> torch.Tensor:
        """Input slots with at least one nonzero outgoing weight."""
        return self._any(self.in_axis)

    def contribution(self, v: torch.Tensor) -> torch.Tensor:
        """What the input ``v`` (one row, no bias) adds to this layer's output."""
        return self.layer.forward(v[None, None], [self.w[None], torch.zeros_like(self.b)[None]])[0, 0]


@dataclass
class Link:
    """The parameter-free ops between two stages, the shape of every tensor along them, and their groups."""

    ops: list[tuple[str, Layer]]
    shapes: list[tuple[int, ...]]
    flat_input: bool = False
    gids: list[torch.Tensor] = field(default_factory=list)
    unit_gid: torch.Tensor | None = None
    slot_gid: torch.Tensor | None = None
    alive: torch.Tensor | None = None

    def kept(self, j: int) -> torch.Tensor:
        """Indices along the first axis of tensor ``j`` that stay."""
        g = self.gids[j]
        return torch.nonzero(self.alive[g.reshape(g.shape[0], -1)[:, 0]]).flatten()

    def new_shape(self, j: int) -> tuple[int, ...]:
        """Shape of tensor ``j`` after the removal."""
        return (len(self.kept(j)), *self.shapes[j][1:])


def build_chain(genome) -> tuple[list[Stage], list[Link]]:
    """The stages and links of ``genome`` (one more link than stages: before each stage, then the tail)."""
    enc, dec = genome.arch.encoder, genome.arch.decoder
    items = [("encoder", layer) for layer in enc.as_layers]
    if enc.out_shape != dec.in_shape:  # rows travel flat between halves
        items += [("decoder", Flatten())] if len(enc.out_shape) > 1 else []
        items += [("decoder", Unflatten(1, dec.in_shape))] if len(dec.in_shape) > 1 else []
    items += [("decoder", layer) for layer in dec.as_layers]
    params = [(p * m).detach().to("cpu", torch.float64) for half in genome.halves
              for p, m in zip(half.params, half.masks, strict=True)]
    stages: list[Stage] = []
    links: list[Link] = []
    shape = tuple(enc.in_shape)
    ops: list[tuple[str, Layer]] = []
    shapes = [shape]
    for half, layer in items:
        shape = layer.out_shape(shape)
        if layer.parametric:
            k = 2 * len(stages)
            links.append(Link(ops, shapes))
            stages.append(Stage(layer, half, params[k].clone(), params[k + 1].clone()))
            ops, shapes = [], [shape]
        else:
            ops.append((half, layer))
            shapes.append(shape)
    links.append(Link(ops, shapes))
    first = links[0]
    if isinstance(stages[0].layer, Linear) and all(isinstance(op, Act | Flatten | Unflatten) for _, op in first.ops):
        n = math.prod(first.shapes[0])  # only reshapes before a Linear layer: read the input as flat rows
        acts = [(h, op) for h, op in first.ops if isinstance(op, Act)]
        links[0] = Link(acts, [(n,)] * (len(acts) + 1), flat_input=True)
    for i, link in enumerate(links[:-1]):
        _group(link, stages[i - 1] if i else None)
    return stages, links


def _roots(parent: torch.Tensor) -> torch.Tensor:
    while True:
        nxt = parent[parent]
        if torch.equal(nxt, parent):
            return parent
        parent = nxt


def _group(link: Link, prev: Stage | None) -> None:
    """Group the link's elements by the units (of ``prev``, or input elements) they may not be cut apart from."""
    shape0 = link.shapes[0]
    if prev is None:
        owner = torch.arange(math.prod(shape0)).reshape(shape0)
    else:
        owner = torch.arange(shape0[0]).view(-1, *[1] * (len(shape0) - 1)).expand(shape0)
    parent = torch.arange(int(owner.max()) + 1)

    def union_slices(o: torch.Tensor) -> None:
        nonlocal parent
        if o.dim() < 2:
            return
        for row in o.reshape(o.shape[0], -1):
            ids = _roots(parent)[row.unique()]
            parent[ids] = ids.min()
        parent = _roots(parent)

    owners = [owner]
    union_slices(owner)
    for _, op in link.ops:
        out_shape = op.out_shape(tuple(owner.shape))
        if isinstance(op, Flatten | Unflatten):
            owner = owner.reshape(out_shape)
        elif isinstance(op, Act):
            pass
        elif owner.dim() >= 2:  # pooling, upsampling: each output channel comes from its input channel
            first = owner.reshape(owner.shape[0], -1)[:, :1]
            owner = first.reshape(-1, *[1] * (len(out_shape) - 1)).expand(out_shape)
        else:  # an op of unknown reach: all of it is one group
            ids = _roots(parent)[owner.unique()]
            parent[ids] = ids.min()
            owner = owner.reshape(-1)[:1].expand(math.prod(out_shape)).reshape(out_shape)
        union_slices(owner)
        owners.append(owner)
    roots = _roots(parent)
    _, relabel = torch.unique(roots, return_inverse=True)
    link.gids = [relabel[o] for o in owners]
    first, last = link.gids[0], link.gids[-1]
    link.unit_gid = first.reshape(-1) if prev is None else first.reshape(first.shape[0], -1)[:, 0]
    link.slot_gid = last.reshape(last.shape[0], -1)[:, 0]
    link.alive = torch.ones(int(relabel.max()) + 1, dtype=torch.bool)


def _per_group(gid: torch.Tensor, flags: torch.Tensor, n: int) -> torch.Tensor:
    """Whether any element of each of ``n`` groups is flagged."""
    return torch.zeros(n, dtype=torch.float64).index_add_(0, gid, flags.double()) > 0


def _link_values(link: Link, prev: Stage) -> torch.Tensor:
    """The link's output when every unit of ``prev`` emits its bias (exact for the units with no live weight)."""
    shape0 = link.shapes[0]
    h = prev.b.view(-1, *[1] * (len(shape0) - 1)).expand(shape0)[None, None]
    for _, op in link.ops:
        h = op.forward(h, [])
    return h[0, 0]


def _step(i: int, stages: list[Stage], links: list[Link]) -> bool:
    """Remove what can go at link ``i`` (before stage ``i``); whether anything went."""
    link, nxt = links[i], stages[i]
    prev = stages[i - 1] if i else None
    n = len(link.alive)
    feeds = _per_group(link.slot_gid, nxt.slot_used(), n)
    const = ~_per_group(link.unit_gid, prev.unit_live(), n) if prev is not None else torch.zeros(n, dtype=torch.bool)
    drop = link.alive & ~feeds
    fold = link.alive & feeds & const
    if fold.any():
        values = _link_values(link, prev)
        for g in torch.nonzero(fold).flatten().tolist():
            sel = (link.slot_gid == g).double().view(-1, *[1] * (values.dim() - 1))
            c = nxt.contribution(values * sel).reshape(len(nxt.b), -1)
            if bool(((c.amax(1) - c.amin(1)) <= FOLD_TOL * (1 + c.abs().amax(1))).all()):
                nxt.b += c.mean(1)
                drop[g] = True
    if not drop.any():
        return False
    slots = torch.nonzero(drop[link.slot_gid]).flatten()
    nxt.w.index_fill_(nxt.in_axis, slots, 0.0)
    if prev is not None:
        units = torch.nonzero(drop[link.unit_gid]).flatten()
        prev.w.index_fill_(prev.out_axis, units, 0.0)
        prev.b[units] = 0.0
    link.alive &= ~drop
    return True


def plan(genome) -> tuple[list[Stage], list[Link]]:
    """Stages and links of ``genome`` with every removable group removed, to a fixed point."""
    stages, links = build_chain(genome)
    changed = True
    while changed:
        changed = False
        for i in range(len(stages)):
            changed |= _step(i, stages, links)
    return stages, links


def constant_output(links: list[Link]) -> bool:
    """Whether some link lost all its groups: no path from the input to the output is left."""
    return any(not bool(link.alive.any()) for link in links[:-1])


def kept_units(stages: list[Stage], links: list[Link], i: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(input slots, units)`` of stage ``i`` that stay (the last stage keeps all its units)."""
    link = links[i]
    slots = torch.nonzero(link.alive[link.slot_gid]).flatten()
    if i + 1 < len(stages):
        nxt = links[i + 1]
        units = torch.nonzero(nxt.alive[nxt.unit_gid]).flatten()
    else:
        units = torch.arange(len(stages[i].b))
    return slots, units


def stage_layer(stage: Stage, n_in: int, n_out: int) -> Layer:
    """The stage's layer spec with ``n_in`` inputs and ``n_out`` outputs."""
    if isinstance(stage.layer, Linear):
        return Linear(n_in, n_out)
    return replace(stage.layer, in_channels=n_in, out_channels=n_out)


def link_op(link: Link, j: int) -> Layer:
    """Op ``j`` of the link with its sizes after the removal (only ``Unflatten`` names sizes)."""
    op = link.ops[j][1]
    if not isinstance(op, Unflatten) or link.alive is None:
        return op
    rank = len(link.shapes[j])
    r = op.dim - 1 if op.dim > 0 else rank + op.dim
    return Unflatten(op.dim, link.new_shape(j + 1)[r : r + len(op.unflattened_size)])
