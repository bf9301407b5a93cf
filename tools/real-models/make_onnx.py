"""Writes the real-exporter ONNX test models of DTD Lens (test/fixtures/real/onnx/).

Run with the Debian python that has torch 1.13 and onnx 1.12 (not the pyenv one):

    /usr/bin/python3 tools/real-models/make_onnx.py

Every model is a small torch.nn.Module with random weights (fixed seeds), put in
eval mode and written by torch.onnx.export (dynamic batch axis on input and
output). Next to each NAME.onnx the script writes NAME.expected.json:

    {"input": {"shape": [1, ...], "values": [...]},   # the fixed input, float32 values
     "output": [...],           # torch's own float32 forward of that input
     "output_float64": [...],   # the same module in float64 (information only)
     "explained_output": [...], # what DTD Lens explains: the output, or the logit before a final Sigmoid (torch float32)
     "layout": "NCHW" | "NHWC" | "flat",
     "torch": "1.13...", "onnx": "1.12.0", "opset": 13,
     "export": "torch.onnx.export(model, x, f, opset_version=13, ...)",
     "ops": [op types in node order],
     "notes": "what the model is meant to exercise"}

Models:
- mlp_opsetN[_nofold], cnn_opsetN[_nofold] for N in 9, 11, 13, 17 (17 is the
  highest opset torch 1.13 exports): an MLP, and a small CNN ending in
  x.view(x.size(0), -1) (Shape/Gather/Unsqueeze/Concat/Reshape when exported
  without constant folding), each with and without do_constant_folding.
- mlp_external: the MLP saved with onnx.save_model(save_as_external_data=True,
  all_tensors_to_one_file=True, location='mlp_external.onnx.data', size_threshold=0).
- linear_nobias_opset9: Linear(bias=False) layers, opset 9 without folding
  (Transpose of the weight + MatMul).
- bn1d_after_linear, bn1d_before_linear: BatchNorm1d on [batch, features].
- act_leaky_prelu, act_relu6_opset9, act_relu6_opset13, act_sigmoid_tanh_elu,
  cnn_prelu_channels: activation networks (LeakyReLU, PReLU scalar and per channel,
  ReLU6 as Clip with attributes (opset 9) or inputs (opset 13), Sigmoid, Tanh, ELU).
- final_sigmoid: an MLP ending in Sigmoid.
- channels_last: the input is NHWC; the model starts with x.permute(0, 3, 1, 2).
- conv_transpose: Conv, ConvTranspose2d(stride 2, padding 1, output_padding 1), ...
- residual_small, concat_small, depthwise_small: graph networks.
- resnet18_w16: torchvision's ResNet(BasicBlock, [2, 2, 2, 2]) topology at
  3x64x64, 10 classes, opset 13. torchvision's default widths (64..512) give an
  .onnx of about 45 MB, too big to commit, and torchvision's ResNet has no width
  parameter for BasicBlock: the classes below are torchvision 0.14's BasicBlock and
  ResNet, copied, with base width 16 instead of 64 (16, 32, 64, 128 channels),
  same topology. About 2.8 MB.
"""

import json
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn as nn

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'test', 'fixtures', 'real', 'onnx')
OUT = os.path.normpath(OUT)


def r32(a):
    """float32 values as Python floats (exact: repr of a float64 holding the float32)."""
    return [float(v) for v in np.asarray(a, dtype=np.float32).reshape(-1)]


def export(name, model, x, opset=13, fold=True, notes='', layout=None, external=False, explained=None, training=None):
    model.eval()
    path = os.path.join(OUT, name + '.onnx')
    in_axes = {0: 'batch'}
    call = (f"torch.onnx.export(model, x, '{name}.onnx', opset_version={opset}, do_constant_folding={fold}, "
            f"input_names=['x'], output_names=['y'], dynamic_axes={{'x': {{0: 'batch'}}, 'y': {{0: 'batch'}}}})")
    kw = {}
    if training is not None:
        kw['training'] = training
        call = call[:-1] + f', training={training})'
    torch.onnx.export(model, x, path, opset_version=opset, do_constant_folding=fold,
                      input_names=['x'], output_names=['y'], dynamic_axes={'x': in_axes, 'y': {0: 'batch'}}, **kw)
    if external:
        m = onnx.load(path)
        data = name + '.onnx.data'
        if os.path.exists(os.path.join(OUT, data)):
            os.remove(os.path.join(OUT, data))
        onnx.save_model(m, path, save_as_external_data=True, all_tensors_to_one_file=True, location=data, size_threshold=0)
        call += f"; onnx.save_model(onnx.load(f), f, save_as_external_data=True, all_tensors_to_one_file=True, location='{data}', size_threshold=0)"
    m = onnx.load(path, load_external_data=False)
    with torch.no_grad():
        y = model(x)
        y64 = model.double()(x.double())
        model.float()
        z = explained(model, x) if explained else y
    if layout is None:
        layout = 'NCHW' if x.dim() == 4 else 'flat'
    doc = {
        'input': {'shape': list(x.shape), 'values': r32(x)},
        'output': r32(y),
        'output_float64': [float(v) for v in y64.reshape(-1)],
        'explained_output': r32(z),
        'layout': layout,
        'torch': torch.__version__,
        'onnx': onnx.__version__,
        'opset': opset,
        'do_constant_folding': fold,
        'export': call,
        'ops': [n.op_type for n in m.graph.node],
        'notes': notes,
    }
    with open(os.path.join(OUT, name + '.expected.json'), 'w') as f:
        json.dump(doc, f, indent=1)
        f.write('\n')
    size = os.path.getsize(path)
    print(f'{name}: {size} bytes, ops {sorted(set(doc["ops"]))}')


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(8, 16)
        self.fc2 = nn.Linear(16, 12)
        self.fc3 = nn.Linear(12, 4)

    def forward(self, x):
        return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(4)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(4, 8, 3)
        self.fc = nn.Linear(8 * 3 * 3, 5)

    def forward(self, x):
        x = self.pool(torch.relu(self.bn1(self.conv1(x))))
        x = torch.relu(self.conv2(x))
        x = x.view(x.size(0), -1)
        return self.fc(x)


class LinearNoBias(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(6, 10, bias=False)
        self.fc2 = nn.Linear(10, 3, bias=False)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


class BNAfter(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(6, 10)
        self.bn = nn.BatchNorm1d(10)
        self.fc2 = nn.Linear(10, 3)

    def forward(self, x):
        return self.fc2(torch.relu(self.bn(self.fc1(x))))


class BNBefore(nn.Module):
    def __init__(self):
        super().__init__()
        self.bn = nn.BatchNorm1d(6)
        self.fc1 = nn.Linear(6, 10)
        self.fc2 = nn.Linear(10, 3)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(self.bn(x))))


class BNUnsqueeze(nn.Module):
    """BatchNorm1d on [batch, features, 1], as older exporters write BatchNorm1d after a Linear."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(6, 10)
        self.bn = nn.BatchNorm1d(10)
        self.fc2 = nn.Linear(10, 3)

    def forward(self, x):
        h = self.bn(self.fc1(x).unsqueeze(2)).squeeze(2)
        return self.fc2(torch.relu(h))


class AvgPoolPadded(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 3, padding=1)
        self.pool1 = nn.AvgPool2d(3, stride=2, padding=1)  # count_include_pad=True
        self.pool2 = nn.AvgPool2d(2, stride=1, padding=1, count_include_pad=False)
        self.fc = nn.Linear(3 * 5 * 5, 3)

    def forward(self, x):
        x = self.pool2(self.pool1(torch.relu(self.conv(x))))
        return self.fc(torch.flatten(x, 1))


class InputNormalize(nn.Module):
    """(x - mean) / std inside the model, then a conv whose pre-activation is also added back (two readers)."""

    def __init__(self):
        super().__init__()
        self.register_buffer('mean', torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer('std', torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 5 * 5, 3)

    def forward(self, x):
        x = (x - self.mean) / self.std
        y = self.conv(x)
        z = torch.relu(y) + y * 0.5
        return self.fc(torch.flatten(z, 1))


def randomize_bn(m, seed):
    g = torch.Generator().manual_seed(seed)
    for mod in m.modules():
        if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
            n = mod.num_features
            with torch.no_grad():
                mod.weight.copy_(torch.rand(n, generator=g) * 1.5 - 0.25)
                mod.bias.copy_(torch.randn(n, generator=g) * 0.2)
                mod.running_mean.copy_(torch.randn(n, generator=g) * 0.3)
                mod.running_var.copy_(torch.rand(n, generator=g) + 0.5)
    return m


class LeakyPrelu(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(6, 10)
        self.act1 = nn.LeakyReLU(0.1)
        self.fc2 = nn.Linear(10, 8)
        self.act2 = nn.PReLU()  # one scalar slope
        self.fc3 = nn.Linear(8, 3)

    def forward(self, x):
        return self.fc3(self.act2(self.fc2(self.act1(self.fc1(x)))))


class Relu6Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(6, 10)
        self.act = nn.ReLU6()
        self.fc2 = nn.Linear(10, 3)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x) * 1.0))


class SmoothNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(6, 10)
        self.fc2 = nn.Linear(10, 10)
        self.fc3 = nn.Linear(10, 10)
        self.fc4 = nn.Linear(10, 3)
        self.elu = nn.ELU(alpha=0.7)

    def forward(self, x):
        return self.fc4(self.elu(self.fc3(torch.tanh(self.fc2(torch.sigmoid(self.fc1(x)))))))


class PreluConv(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(2, 4, 3, padding=1)
        self.act1 = nn.PReLU(4)
        with torch.no_grad():
            self.act1.weight.copy_(torch.tensor([0.1, 0.25, -0.2, 0.5]))
        self.conv2 = nn.Conv2d(4, 4, 3, stride=2)
        self.act2 = nn.Hardtanh(0.0, 6.0)
        self.fc = nn.Linear(4 * 3 * 3, 3)

    def forward(self, x):
        x = self.act2(self.conv2(self.act1(self.conv1(x))))
        return self.fc(torch.flatten(x, 1))


class FinalSigmoid(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(6, 10)
        self.fc2 = nn.Linear(10, 1)

    def forward(self, x):
        return torch.sigmoid(self.fc2(torch.relu(self.fc1(x))))


class ChannelsLast(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4 * 4 * 4, 3)

    def forward(self, x):  # x: [batch, H, W, C]
        x = x.permute(0, 3, 1, 2)
        x = torch.relu(self.conv(x))
        return self.fc(x.reshape(x.shape[0], -1))


class ConvTransposeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3, stride=2, padding=1)
        self.up = nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1)
        self.bn = nn.BatchNorm2d(3)
        self.fc = nn.Linear(3 * 8 * 8, 4)

    def forward(self, x):
        x = torch.relu(self.conv(x))
        x = torch.relu(self.bn(self.up(x)))
        return self.fc(torch.flatten(x, 1))


class ResidualSmall(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv0 = nn.Conv2d(2, 4, 3, padding=1)
        self.conv1 = nn.Conv2d(4, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        x = torch.relu(self.conv0(x))
        y = self.conv2(torch.relu(self.conv1(x)))
        x = torch.relu(x + y)
        return self.fc(torch.flatten(self.pool(x), 1))


class ConcatSmall(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv0 = nn.Conv2d(1, 3, 3, padding=1)
        self.a = nn.Conv2d(3, 2, 1)
        self.b = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(9 * 4 * 4, 3)

    def forward(self, x):
        x = torch.relu(self.conv0(x))
        y = torch.cat([x, torch.relu(self.a(x)), torch.relu(self.b(x))], dim=1)
        y = nn.functional.max_pool2d(y, 2)
        return self.fc(torch.flatten(y, 1))


class DepthwiseSmall(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv0 = nn.Conv2d(3, 6, 3, padding=1)
        self.dw = nn.Conv2d(6, 6, 3, padding=1, groups=6, bias=False)
        self.bn = nn.BatchNorm2d(6)
        self.pw = nn.Conv2d(6, 4, 1, groups=2)
        self.pool = nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True)  # 8x8 -> 5x5 (4x4 in floor mode)
        self.fc = nn.Linear(4 * 5 * 5, 3)

    def forward(self, x):
        x = torch.relu(self.conv0(x))
        x = nn.functional.relu6(self.bn(self.dw(x)))
        x = self.pool(self.pw(x))
        return self.fc(torch.flatten(x, 1))


# torchvision 0.14's BasicBlock and ResNet (torchvision/models/resnet.py), copied, with
# base width 16 instead of 64 (the 64/128/256/512 channels become 16/32/64/128).
def conv3x3(in_planes, out_planes, stride=1, groups=1, dilation=1):
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=dilation, groups=groups, bias=False, dilation=dilation)


def conv1x1(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x
        out = self.conv1(x)
        out = self.bn1(out)
        out = self.relu(out)
        out = self.conv2(out)
        out = self.bn2(out)
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        out = self.relu(out)
        return out


class ResNet(nn.Module):
    def __init__(self, block, layers, num_classes=1000, width=64):
        super().__init__()
        self.inplanes = width
        self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, width, layers[0])
        self.layer2 = self._make_layer(block, 2 * width, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 4 * width, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 8 * width, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(8 * width * block.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _make_layer(self, block, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(conv1x1(self.inplanes, planes * block.expansion, stride), nn.BatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes))
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.conv1(x)
        x = self.bn1(x)
        x = self.relu(x)
        x = self.maxpool(x)
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.layer4(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        x = self.fc(x)
        return x


class ConstWeights(nn.Module):
    """Weights made inside forward, as exporters of the ONNX backend-test "light" models and the
    model zoo's MNIST leave them without constant folding: a Reshape of an initializer, a
    ConstantOfShape sized from the input's shape (Shape/Gather/Unsqueeze/Concat), a Mul by it,
    a Transpose of the weight, and two Casts of a data tensor."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(4 * 6))
        self.b = nn.Parameter(torch.randn(4))
        self.fc2 = nn.Linear(4, 3)

    def forward(self, x):
        w = self.w.view(4, 6)
        ones = torch.ones(x.shape[0], 4)
        h = torch.relu(x @ w.t() + self.b * ones)
        return self.fc2(h.to(torch.float64).to(x.dtype))


def seeded(cls, seed, *args, **kw):
    torch.manual_seed(seed)
    return cls(*args, **kw)


def main():
    os.makedirs(OUT, exist_ok=True)
    g = torch.Generator().manual_seed(1234)
    xv = torch.randn(1, 8, generator=g)
    ximg = torch.rand(1, 1, 10, 10, generator=g)
    for opset in (9, 11, 13, 17):
        for fold in (True, False):
            sfx = '' if fold else '_nofold'
            export(f'mlp_opset{opset}{sfx}', seeded(MLP, 1), xv, opset, fold, 'MLP: Gemm or MatMul + Add, Relu')
            export(f'cnn_opset{opset}{sfx}', randomize_bn(seeded(CNN, 2), 3), ximg, opset, fold,
                   'CNN: Conv, BatchNormalization, Relu, MaxPool, x.view(x.size(0), -1), Gemm')
    export('mlp_external', seeded(MLP, 1), xv, 13, True, 'the MLP with its weights in mlp_external.onnx.data', external=True)
    x6 = torch.randn(1, 6, generator=g)
    export('linear_nobias_opset9', seeded(LinearNoBias, 4), x6, 9, False, 'Linear(bias=False): Transpose of the weight + MatMul')
    export('bn1d_after_linear', randomize_bn(seeded(BNAfter, 5), 6), x6, 13, False, 'Linear, BatchNorm1d, ReLU, Linear')
    export('bn1d_before_linear', randomize_bn(seeded(BNBefore, 7), 8), x6, 13, False, 'BatchNorm1d on the input, Linear, ReLU, Linear')
    export('act_leaky_prelu', seeded(LeakyPrelu, 9), x6, 13, True, 'LeakyReLU(0.1), PReLU with one slope')
    export('act_relu6_opset9', seeded(Relu6Net, 10), x6, 9, True, 'ReLU6 as Clip with min/max attributes')
    export('act_relu6_opset13', seeded(Relu6Net, 10), x6, 13, True, 'ReLU6 as Clip with min/max inputs')
    export('act_sigmoid_tanh_elu', seeded(SmoothNet, 11), x6, 13, True, 'Sigmoid, Tanh, ELU(0.7) inside the network')
    export('cnn_prelu_channels', seeded(PreluConv, 12), torch.rand(1, 2, 8, 8, generator=g), 13, True, 'PReLU with one slope per channel, Hardtanh(0, 6)')
    export('final_sigmoid', seeded(FinalSigmoid, 13), x6, 13, True, 'an MLP ending in Sigmoid',
           explained=lambda m, x: m.fc2(torch.relu(m.fc1(x))))
    export('bn1d_unsqueeze', randomize_bn(seeded(BNUnsqueeze, 22), 23), x6, 13, False, 'Linear, Unsqueeze, BatchNorm1d, Squeeze, ReLU, Linear')
    export('bn1d_unsqueeze_opset9', randomize_bn(seeded(BNUnsqueeze, 22), 23), x6, 9, False, 'Linear, Unsqueeze, BatchNorm1d, Squeeze (axes attributes), ReLU, Linear')
    export('avgpool_padded', seeded(AvgPoolPadded, 24), torch.rand(1, 1, 8, 8, generator=g), 13, True,
           'AvgPool2d(3, 2, padding=1) counting the padding, AvgPool2d(2, 1, padding=1, count_include_pad=False)')
    export('avgpool_padded_opset9', seeded(AvgPoolPadded, 24), torch.rand(1, 1, 8, 8, generator=g), 9, True,
           'the same at opset 9 (torch writes Pad + AveragePool for count_include_pad=True)')
    export('input_normalize', seeded(InputNormalize, 25), torch.rand(1, 3, 5, 5, generator=g), 13, True,
           '(x - mean) / std inside the model; relu(y) + 0.5 y reads the conv output twice')
    export('bn_kept_preserve', randomize_bn(seeded(CNN, 2), 3), ximg, 13, False,
           'the CNN with BatchNormalization kept (training=PRESERVE, no constant folding)', training=torch.onnx.TrainingMode.PRESERVE)
    export('channels_last', seeded(ChannelsLast, 14), torch.rand(1, 6, 6, 3, generator=g), 13, False,
           'NHWC input, x.permute(0, 3, 1, 2) first', layout='NHWC')
    export('conv_transpose', randomize_bn(seeded(ConvTransposeNet, 15), 16), torch.rand(1, 2, 8, 8, generator=g), 13, True,
           'ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1) + BatchNorm2d')
    export('residual_small', seeded(ResidualSmall, 17), torch.rand(1, 2, 6, 6, generator=g), 13, True, 'a residual add of two conv branches')
    export('concat_small', seeded(ConcatSmall, 18), torch.rand(1, 1, 8, 8, generator=g), 13, True, 'channel concatenation of three tensors')
    export('depthwise_small', randomize_bn(seeded(DepthwiseSmall, 19), 20), torch.rand(1, 3, 8, 8, generator=g), 13, False,
           'depthwise conv (groups=6) + BN + ReLU6, grouped 1x1 conv (groups=2), MaxPool(3, 2, padding 1, ceil_mode=True)')
    export('const_weights', seeded(ConstWeights, 26), x6, 13, False,
           'weights built in forward: Reshape of an initializer, ConstantOfShape from the input shape, Mul, Transpose, Cast of data')
    export('resnet18_w16', seeded(ResNet, 21, BasicBlock, [2, 2, 2, 2], num_classes=10, width=16),
           torch.rand(1, 3, 64, 64, generator=g), 13, True,
           "torchvision 0.14's ResNet(BasicBlock, [2, 2, 2, 2]) with base width 16, 3x64x64, 10 classes")


if __name__ == '__main__':
    sys.exit(main())
