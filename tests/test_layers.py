"""Every layer kind: shapes, stacked forward = its module's forward member by member, files, data rows."""

import numpy as np
import pytest
import torch
from torch import nn

from evoprune.architecture import HalfSpec
from evoprune.layers import (
    LAYER_KINDS,
    Act,
    Conv,
    ConvTranspose,
    Flatten,
    Layer,
    Linear,
    Pool,
    Unflatten,
    Upsample,
    check_rows,
    layer_from_dict,
    layers_from_sequential,
    neuron_activity,
    sequence_forward,
)
from evoprune.testing import architecture_data, conv_architecture

CASES = [  # (module, input shape of one row)
    (nn.Linear(6, 4), (6,)),
    (nn.Conv1d(2, 3, 3, stride=2, padding=1), (2, 9)),
    (nn.Conv2d(2, 3, (3, 2), stride=(2, 1), padding=(1, 0)), (2, 7, 6)),
    (nn.ConvTranspose1d(3, 2, 4, stride=2, padding=1), (3, 5)),
    (nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1), (3, 4, 4)),
    (nn.Flatten(), (2, 3, 4)),
    (nn.Flatten(2, 3), (2, 3, 4)),
    (nn.Unflatten(1, (2, 3)), (6,)),
    (nn.MaxPool1d(2), (3, 8)),
    (nn.MaxPool2d(2, stride=1, padding=1), (3, 5, 5)),
    (nn.AvgPool1d(3, stride=2), (3, 9)),
    (nn.AvgPool2d(2), (3, 6, 4)),
    (nn.Upsample(scale_factor=2), (3, 4)),
    (nn.Upsample(scale_factor=(2, 3)), (3, 2, 2)),
    (nn.GELU(), (5,)),
    (nn.LeakyReLU(), (2, 3)),
]


@pytest.mark.parametrize("module, shape", CASES, ids=lambda c: repr(c) if isinstance(c, nn.Module) else "")
def test_stacked_forward_equals_the_module_member_by_member(module, shape):
    (layer,) = layers_from_sequential(nn.Sequential(module), "encoder")
    assert isinstance(layer, Layer) and LAYER_KINDS[layer.kind] is type(layer)
    assert layer_from_dict(layer.to_dict()) == layer
    g = np.random.default_rng(0)
    n, b = 3, 4
    params = [layer.init(shape, g) for _ in range(n)]
    stacked = [torch.stack(ts) for ts in zip(*params, strict=True)]
    x = torch.randn(n, b, *shape, generator=torch.Generator().manual_seed(1))
    out = layer.forward(x, stacked)
    assert tuple(out.shape) == (n, b, *layer.out_shape(shape))
    for i in range(n):
        m = layer.to_module()
        if layer.parametric:
            assert [p.shape for p in m.parameters()] == [torch.Size(s) for s in layer.param_shapes(shape)]
            with torch.no_grad():
                m.weight.copy_(params[i][0])
                m.bias.copy_(params[i][1])
        with torch.no_grad():
            assert torch.allclose(out[i], m(x[i]), atol=1e-6)
            assert torch.allclose(layer.forward(x[i : i + 1], [p[i : i + 1] for p in stacked])[0], m(x[i]), atol=1e-6)


def test_default_init_bounds_and_neuron_axes():
    conv, convt = Conv(2, 3, 5, 3, 1, 0), ConvTranspose(2, 5, 3, 2, 1, 0)
    assert conv.fan_in((3, 8, 8)) == 27 and convt.fan_in((5, 4, 4)) == 12  # PyTorch's: weight.size(1) * k * k
    assert conv.neuron_axis == 0 and convt.neuron_axis == 1 and Linear(4, 2).neuron_axis == 0
    w, b = conv.init((3, 8, 8), np.random.default_rng(0))
    assert w.shape == (5, 3, 3, 3) and b.shape == (5,) and w.abs().max() <= 27**-0.5
    assert Flatten().init((2, 2), np.random.default_rng(0)) == [] and not Pool("max", 1, 2, 2).parametric


def test_half_spec_of_layers_and_its_forward():
    spec = conv_architecture().encoder
    assert not spec.dense and spec.in_shape == (1, 4, 6) and spec.out_shape == (3,) and spec.n_layers == 2
    assert [pos for pos, _, _ in spec.param_layers] == [0, 4]
    x = architecture_data(conv_architecture(), n=5)
    params = [torch.stack([p]) for p in _init(spec)]
    outs = []
    z = sequence_forward(spec.layers, spec.in_shape, params, None, x.reshape(1, 5, -1), outs)
    assert z.shape == (1, 5, 3) and [o.shape for o in outs] == [(1, 5, 4), (1, 5, 3)]
    with pytest.raises(ValueError, match="either sizes and activations"):
        HalfSpec((3, 2), ("relu",), layers=(Linear(3, 2),), input_shape=(3,))
    with pytest.raises(ValueError, match=r"Unflatten\(1, \(2, 4\)\) cannot split size 6"):
        HalfSpec(layers=(Linear(3, 6), Unflatten(1, (2, 4))), input_shape=(3,))
    with pytest.raises(ValueError, match="Upsample"):
        Upsample((2,)).out_shape((4,))
    with pytest.raises(ValueError, match="activation"):
        Act("softmax")


def _init(spec):
    g = np.random.default_rng(0)
    return [p for _, layer, shape in spec.param_layers for p in layer.init(shape, g)]


def test_neuron_activity_is_the_mean_over_positions():
    h = torch.arange(24.0).view(1, 2, 3, 4)
    assert torch.equal(neuron_activity(h), h.mean(3))
    assert torch.equal(neuron_activity(h[..., 0]), h[..., 0])


def test_check_rows_accepts_shaped_or_flat_rows_and_names_shapes():
    x = torch.rand(5, 1, 4, 6)
    assert check_rows(x, (1, 4, 6)).shape == (5, 24)
    assert torch.equal(check_rows(x.reshape(5, 24), (1, 4, 6)), x.reshape(5, 24))
    assert check_rows(np.zeros((2, 7)), (7,)).shape == (2, 7)
    with pytest.raises(ValueError, match=r"shape \(5, 1, 6, 4\), but the architecture's input is \(1, 4, 6\)"):
        check_rows(x.reshape(5, 1, 6, 4), (1, 4, 6))


