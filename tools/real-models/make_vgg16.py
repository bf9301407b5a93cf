"""Write a VGG-16-shaped ONNX network (3x224x224, random weights) for the big-network checks of issue 13.

torchvision.models.vgg16(weights=None), eval(), torch.onnx.export opset 13. The file is ~550 MB and is NOT
committed; run this script to make it (then: dtd-lens explain OUT.onnx --max-model-size 600 ...):

    /usr/bin/python3 tools/real-models/make_vgg16.py OUT.onnx [--input OUT_INPUT.npy]

--width-div N divides every channel count by N (kaiming-normal weights, zero biases), --hidden H and --classes K
set the classifier: a network of the same shape (13 convs, 5 max pools, 224x224 input) that is small. The committed
fixture test/fixtures/real/big/vgg16_w16.onnx (the bounded-result tests of test/unit/bounded-result.test.ts) is

    /usr/bin/python3 tools/real-models/make_vgg16.py test/fixtures/real/big/vgg16_w16.onnx --width-div 16 --hidden 64 --classes 10

and next to it vgg16_w16.expected.json: torch's float32 output for the input x[i] = ((i * 7919) % 1000) / 1000
(i over the flat 1x3x224x224 input, C-major), the input the tests explain.
"""
import json
import os
import argparse

import numpy as np
import torch
import torchvision

p = argparse.ArgumentParser()
p.add_argument('out')
p.add_argument('--width-div', type=int, default=1)
p.add_argument('--input', default=None, help='also write a 1x3x224x224 float32 input here')
p.add_argument('--seed', type=int, default=0)
p.add_argument('--hidden', type=int, default=None, help='classifier width (default 4096 / width-div)')
p.add_argument('--classes', type=int, default=1000)
a = p.parse_args()
torch.manual_seed(a.seed)
if a.width_div == 1:
    model = torchvision.models.vgg16(weights=None)
else:
    d = a.width_div
    cfg = [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M']
    layers, c = [], 3
    for v in cfg:
        if v == 'M':
            layers.append(torch.nn.MaxPool2d(2, 2))
        else:
            layers += [torch.nn.Conv2d(c, v // d, 3, padding=1), torch.nn.ReLU(inplace=True)]
            c = v // d
    hidden = a.hidden or 4096 // d
    model = torch.nn.Sequential(
        torch.nn.Sequential(*layers), torch.nn.Flatten(),
        torch.nn.Linear(c * 7 * 7, hidden), torch.nn.ReLU(inplace=True),
        torch.nn.Linear(hidden, hidden), torch.nn.ReLU(inplace=True),
        torch.nn.Linear(hidden, a.classes))
    # kaiming-like init keeps the activations in range through 13 convs
    for m in model.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
            torch.nn.init.kaiming_normal_(m.weight, nonlinearity='relu')
            torch.nn.init.zeros_(m.bias)
model.eval()
x = torch.rand(1, 3, 224, 224)
torch.onnx.export(model, x, a.out, opset_version=13, input_names=['input'], output_names=['logits'])
if a.input:
    np.save(a.input, x.numpy().astype(np.float32))
if a.width_div != 1:
    n = 3 * 224 * 224
    pattern = torch.tensor([((i * 7919) % 1000) / 1000 for i in range(n)], dtype=torch.float32).reshape(1, 3, 224, 224)
    with torch.no_grad():
        out = model(pattern)[0].tolist()
    with open(os.path.splitext(a.out)[0] + '.expected.json', 'w') as f:
        json.dump({'input': 'x[i] = ((i * 7919) % 1000) / 1000, i over the flat 1x3x224x224 input (C-major)', 'output': out,
                   'torch': torch.__version__, 'opset': 13,
                   'export': 'torch.onnx.export(model, x, f, opset_version=13)', 'width_div': a.width_div, 'hidden': a.hidden,
                   'classes': a.classes, 'notes': 'VGG-16-shaped at 224x224, narrow: its full result is ~50 MB of JSON, the bounded one under 20 MB'}, f, indent=1)
print('wrote', a.out)
