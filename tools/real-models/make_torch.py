#!/usr/bin/python3
"""Writes small real PyTorch state dicts for DTD Lens's tests (run with Debian's
/usr/bin/python3, torch 1.13):

  test/fixtures/real/torch/NAME_legacy.pt   torch.save(..., _use_new_zipfile_serialization=False)
  test/fixtures/real/torch/NAME_zip.pt      torch.save(...) (zip archive, PyTorch >= 1.6)
  test/fixtures/real/torch/NAME_*.dtd.json  the sidecar a model needs (architecture, activations)
  test/fixtures/real/torch/NAME.expected.json  {"input": [...], "output": [...]}: torch's own forward
                                               (float64 copies of the float32 weights, so the
                                               reference is exact) for a fixed input

Models:
  mlp        Linear(5,8) ReLU Linear(8,6) ReLU Linear(6,3)          no sidecar: ReLU is what DTD Lens assumes
  mlp_leaky  Linear(4,7) LeakyReLU(0.2) Linear(7,5) LeakyReLU(0.2) Linear(5,2)   sidecar {"activation": "leakyrelu", "negativeSlope": 0.2}
  cnn        Conv2d(1,4,3,p=1) BatchNorm2d(4) PReLU(4) MaxPool2d(2) Conv2d(4,6,3) ReLU6
             Flatten Linear(24,8) ELU(0.7) Linear(8,5) Tanh Linear(5,3)   sidecar "layers"
  mlp784     Flatten Linear(784,6) ReLU Linear(6,3)                  sidecar {"inputShape": [1, 28, 28]}: an MNIST-sized
             MLP whose input the visualizer draws as a 28×28 image

  make_torch.py [NAME...]   writes only the named models (default: all)
"""
import json
import os
import sys

import torch
from torch import nn

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'test', 'fixtures', 'real', 'torch')


def mlp():
    torch.manual_seed(11)
    return nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 3)), [5], None


def mlp_leaky():
    torch.manual_seed(12)
    m = nn.Sequential(nn.Linear(4, 7), nn.LeakyReLU(0.2), nn.Linear(7, 5), nn.LeakyReLU(0.2), nn.Linear(5, 2))
    return m, [4], {'activation': 'leakyrelu', 'negativeSlope': 0.2}


def cnn():
    torch.manual_seed(13)
    m = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.PReLU(4), nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3), nn.ReLU6(), nn.Flatten(), nn.Linear(24, 8), nn.ELU(0.7), nn.Linear(8, 5), nn.Tanh(), nn.Linear(5, 3),
    )
    # Non-trivial BatchNorm statistics (eval mode uses them) and PReLU slopes.
    with torch.no_grad():
        m[1].running_mean.copy_(torch.tensor([0.1, -0.2, 0.05, 0.3]))
        m[1].running_var.copy_(torch.tensor([0.5, 1.5, 0.8, 2.0]))
        m[1].weight.copy_(torch.tensor([1.2, 0.7, -0.9, 1.1]))
        m[1].bias.copy_(torch.tensor([0.05, -0.1, 0.2, 0.0]))
        m[2].weight.copy_(torch.tensor([0.25, -0.1, 0.5, 0.05]))
    sidecar = {
        'inputShape': [1, 8, 8],
        'layers': [
            {'type': 'conv2d', 'module': '0', 'padding': 1},
            {'type': 'batchnorm', 'module': '1', 'eps': 1e-5},
            {'type': 'prelu', 'module': '2'},
            {'type': 'maxpool2d', 'kernel': 2},
            {'type': 'conv2d', 'module': '4'},
            {'type': 'relu6'},
            {'type': 'flatten'},
            {'type': 'linear', 'module': '7'},
            {'type': 'elu', 'alpha': 0.7},
            {'type': 'linear', 'module': '9'},
            {'type': 'tanh'},
            {'type': 'linear', 'module': '11'},
        ],
    }
    return m, [1, 8, 8], sidecar


def mlp784():
    torch.manual_seed(14)
    m = nn.Sequential(nn.Flatten(), nn.Linear(784, 6), nn.ReLU(), nn.Linear(6, 3))
    return m, [1, 28, 28], {'inputShape': [1, 28, 28]}


def main():
    os.makedirs(OUT, exist_ok=True)
    models = [('mlp', mlp), ('mlp_leaky', mlp_leaky), ('cnn', cnn), ('mlp784', mlp784)]
    wanted = sys.argv[1:]
    for name, make in models:
        if wanted and name not in wanted:
            continue
        model, shape, sidecar = make()
        model.eval()
        sd = model.state_dict()
        torch.save(sd, os.path.join(OUT, f'{name}_legacy.pt'), _use_new_zipfile_serialization=False)
        torch.save(sd, os.path.join(OUT, f'{name}_zip.pt'))
        if sidecar is not None:
            for kind in ('legacy', 'zip'):
                with open(os.path.join(OUT, f'{name}_{kind}.dtd.json'), 'w') as f:
                    json.dump(sidecar, f, indent=1)
                    f.write('\n')
        g = torch.Generator().manual_seed(100)
        x = torch.randn([1] + shape, generator=g, dtype=torch.float64)
        with torch.no_grad():
            y = model.double()(x)
        with open(os.path.join(OUT, f'{name}.expected.json'), 'w') as f:
            json.dump({'torch': torch.__version__, 'input': x.flatten().tolist(), 'output': y.flatten().tolist()}, f)
            f.write('\n')
        print(name, [tuple(v.shape) for v in sd.values()], file=sys.stderr)


if __name__ == '__main__':
    main()
