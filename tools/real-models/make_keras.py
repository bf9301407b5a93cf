#!/usr/bin/python3
"""Writes Keras .h5 / HDF5-.keras files and TensorFlow.js Layers models the way
Keras 2.1-2.4 and the tensorflowjs converter write them, plus the reference
output of each model computed with PyTorch, for test/unit/real-keras.test.ts.

KERAS ITSELF WAS NOT AVAILABLE (no pip, no network; Debian has no
python3-keras / python3-tensorflow). The files are therefore written with
h5py + numpy, reproducing byte layout and attribute types of the real writers:

* Keras 2.4 (tf.keras, TF 2.4, h5py 2.10) `model.save("m.h5")`,
  tensorflow/python/keras/saving/hdf5_format.py: root attributes `backend`,
  `keras_version` (variable-length str), `model_config` and `training_config`
  (json.dumps(...).encode('utf8'): fixed-length byte strings); group
  `model_weights` with `layer_names` (list of name.encode('utf8') -> numpy 'S..'
  array: fixed-length, NUL-padded), `backend`, `keras_version` (bytes); one group
  per layer, created in sorted name order, with `weight_names` (NUL-padded 'S..'
  array, or an empty float64 array for layers without weights) and the datasets
  `model_weights/<layer>/<layer>/kernel:0`. The Sequential config lists an
  InputLayer first (as TF >= 2.2 does), layer names are `dense`, `dense_1`, ...
* Keras 2.2.4 (keras-team/keras keras/engine/saving.py, H5Dict): every root
  attribute a fixed-length byte string, layer groups in model.layers order,
  names `conv2d_1`, `batch_normalization_1`, ... (1-based).
* Keras 2.1.6 (keras/engine/topology.py): as 2.2, but Sequential.get_config()
  is the bare list of layer configs (the "list form").
* An HDF5 file named `.keras` (model.save("m.keras") with Keras 2).
* tensorflowjs_converter --input_format keras (converters/keras_h5_conversion.py,
  write_weights.py): model.json {format: "layers-model", generatedBy,
  convertedBy, modelTopology: {keras_version, backend, model_config,
  training_config}, weightsManifest: [{paths: ["group1-shard1of1.bin"], weights:
  [{name: "dense/kernel", shape, dtype: "float32"}]}]}, weights in the order of
  the h5 `model_weights` groups (sorted), ":0" stripped; with
  --quantize_uint8 each weight gets `quantization: {dtype: "uint8", min, scale,
  original_dtype: "float32"}` and is stored as round((w - min)/scale) with the
  TF-Lite "nudged" range of quantization.py.

The reference output (`<name>.expected.json`) is computed with PyTorch 1.13
(torch.nn.functional, float64) from the same weights: Keras' channels-last
tensors are run channels-first (kernels HWIO -> OIHW, depthwise kernels as a
grouped conv, TF "same" padding with the extra pixel at the bottom/right,
Flatten/Reshape done in channels-last order by permuting to NHWC first). For the
quantized TF.js model the weights are dequantized as TensorFlow.js does
(float32(q*scale + min)). Each file records the input both as Keras sees it
(NHWC, nested) and flat channels-first (DTD Lens' order), the logits (before a
final softmax/sigmoid, which DTD Lens drops) and the probabilities.

Run: /usr/bin/python3 tools/real-models/make_keras.py  (writes test/fixtures/real/{keras,tfjs}/)
"""

import json
import os

import h5py
import numpy as np
import torch
import torch.nn.functional as F

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
KERAS_DIR = os.path.join(ROOT, 'test', 'fixtures', 'real', 'keras')
TFJS_DIR = os.path.join(ROOT, 'test', 'fixtures', 'real', 'tfjs')

rng = np.random.RandomState(20240611)


def f32(*shape, scale=0.3):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


# ---------------------------------------------------------------- layer configs

def init(v24):
    if v24:
        return {'kernel_initializer': {'class_name': 'GlorotUniform', 'config': {'seed': None}},
                'bias_initializer': {'class_name': 'Zeros', 'config': {}}}
    return {'kernel_initializer': {'class_name': 'VarianceScaling', 'config': {'scale': 1.0, 'mode': 'fan_avg', 'distribution': 'uniform', 'seed': None}},
            'bias_initializer': {'class_name': 'Zeros', 'config': {}}}


REG = {'kernel_regularizer': None, 'bias_regularizer': None, 'activity_regularizer': None, 'kernel_constraint': None, 'bias_constraint': None}


def base(name, v24, batch_input_shape=None):
    c = {'name': name, 'trainable': True}
    if batch_input_shape is not None:
        c['batch_input_shape'] = [None] + list(batch_input_shape)
    if v24 or batch_input_shape is not None:
        c['dtype'] = 'float32'
    return c


def dense(name, units, activation='linear', v24=True, bis=None):
    return {'class_name': 'Dense', 'config': {**base(name, v24, bis), 'units': units, 'activation': activation, 'use_bias': True, **init(v24), **REG}}


def conv2d(name, filters, k, strides=1, padding='valid', activation='linear', v24=True, bis=None, cls='Conv2D'):
    c = {**base(name, v24, bis), 'filters': filters, 'kernel_size': [k, k], 'strides': [strides, strides], 'padding': padding,
         'data_format': 'channels_last', 'dilation_rate': [1, 1]}
    if v24:
        c['groups'] = 1
    c.update({'activation': activation, 'use_bias': True, **init(v24), **REG})
    return {'class_name': cls, 'config': c}


def depthwise(name, k, padding='same', multiplier=1):
    c = {**base(name, True), 'kernel_size': [k, k], 'strides': [1, 1], 'padding': padding, 'data_format': 'channels_last',
         'dilation_rate': [1, 1], 'groups': 1, 'activation': 'linear', 'use_bias': True,
         'bias_initializer': {'class_name': 'Zeros', 'config': {}}, 'bias_regularizer': None, 'activity_regularizer': None, 'bias_constraint': None,
         'depth_multiplier': multiplier, 'depthwise_initializer': {'class_name': 'GlorotUniform', 'config': {'seed': None}},
         'depthwise_regularizer': None, 'depthwise_constraint': None}
    return {'class_name': 'DepthwiseConv2D', 'config': c}


def separable(name, filters, k, padding='same'):
    c = {**base(name, True), 'filters': filters, 'kernel_size': [k, k], 'strides': [1, 1], 'padding': padding, 'data_format': 'channels_last',
         'dilation_rate': [1, 1], 'groups': 1, 'activation': 'linear', 'use_bias': True,
         'bias_initializer': {'class_name': 'Zeros', 'config': {}}, 'bias_regularizer': None, 'activity_regularizer': None, 'bias_constraint': None,
         'depth_multiplier': 1,
         'depthwise_initializer': {'class_name': 'GlorotUniform', 'config': {'seed': None}}, 'pointwise_initializer': {'class_name': 'GlorotUniform', 'config': {'seed': None}},
         'depthwise_regularizer': None, 'pointwise_regularizer': None, 'depthwise_constraint': None, 'pointwise_constraint': None}
    return {'class_name': 'SeparableConv2D', 'config': c}


def batchnorm(name, v24=True):
    c = {**base(name, v24), 'axis': [3] if v24 else -1, 'momentum': 0.99, 'epsilon': 0.001, 'center': True, 'scale': True,
         'beta_initializer': {'class_name': 'Zeros', 'config': {}}, 'gamma_initializer': {'class_name': 'Ones', 'config': {}},
         'moving_mean_initializer': {'class_name': 'Zeros', 'config': {}}, 'moving_variance_initializer': {'class_name': 'Ones', 'config': {}},
         'beta_regularizer': None, 'gamma_regularizer': None, 'beta_constraint': None, 'gamma_constraint': None}
    return {'class_name': 'BatchNormalization', 'config': c}


def simple(cls, name, v24=True, bis=None, **extra):
    return {'class_name': cls, 'config': {**base(name, v24, bis), **extra}}


def input_layer(name, shape):
    return {'class_name': 'InputLayer', 'config': {'batch_input_shape': [None] + list(shape), 'dtype': 'float32', 'sparse': False, 'ragged': False, 'name': name}}


TRAINING_24 = {'loss': {'class_name': 'SparseCategoricalCrossentropy', 'config': {'reduction': 'auto', 'name': 'sparse_categorical_crossentropy', 'from_logits': True}},
               'metrics': ['accuracy'], 'weighted_metrics': None, 'loss_weights': None,
               'optimizer_config': {'class_name': 'Adam', 'config': {'name': 'Adam', 'learning_rate': 0.001, 'decay': 0.0, 'beta_1': 0.9, 'beta_2': 0.999, 'epsilon': 1e-07, 'amsgrad': False}}}


# ---------------------------------------------------------------- writers

def fixed(strings):
    """A list of names as Keras 2 stores it: name.encode('utf8') -> numpy 'S..' (fixed length, NUL-padded)."""
    if not strings:
        return np.array([], dtype=np.float64)  # np.asarray([]) of an empty list, as h5py 2 stored it
    return np.array([s.encode('utf8') for s in strings])


def write_h5(path, model_config, weights, style, training_config=None):
    """weights: [(layer name, [(weight name 'layer/kernel:0', array)])] in model.layers order."""
    version = {'2.4': '2.4.0', '2.2': '2.2.4', '2.1': '2.1.6'}[style]
    with h5py.File(path, 'w') as f:
        cfg = json.dumps(model_config).encode('utf8')
        if style == '2.4':
            f.attrs['backend'] = 'tensorflow'  # a Python str: variable-length in h5py 2
            f.attrs['keras_version'] = version
            f.attrs['model_config'] = np.bytes_(cfg)
            if training_config:
                f.attrs['training_config'] = np.bytes_(json.dumps(training_config).encode('utf8'))
        else:
            f.attrs['keras_version'] = np.bytes_(version.encode('utf8'))
            f.attrs['backend'] = np.bytes_(b'tensorflow')
            f.attrs['model_config'] = np.bytes_(cfg)
        g = f.create_group('model_weights')
        g.attrs['layer_names'] = fixed([n for n, _ in weights])
        g.attrs['backend'] = np.bytes_(b'tensorflow')
        g.attrs['keras_version'] = np.bytes_(version.encode('utf8'))
        layers = sorted(weights, key=lambda lw: lw[0]) if style == '2.4' else weights
        for name, ws in layers:
            lg = g.create_group(name)
            lg.attrs['weight_names'] = fixed([wn for wn, _ in ws])
            for wn, val in ws:
                d = lg.create_dataset(wn, val.shape, dtype=val.dtype)
                d[...] = val


def nudged(w, qmax=255):
    lo, hi = float(w.min()), float(w.max())
    if lo == hi:
        return np.zeros(w.shape, np.uint8), 1.0, lo
    scale = (hi - lo) / qmax
    if lo <= 0 <= hi:
        zp = np.round((0 - lo) / scale)
        lo = -zp * scale
        hi = qmax * scale + lo
    q = np.round((np.clip(w, lo, hi) - lo) / scale).astype(np.uint8)
    return q, scale, lo


def write_tfjs(folder, model_config, weights, version, training_config=None, quantize=False):
    """As tensorflowjs_converter 2.x from the h5 of `weights`; returns the weights as TF.js will read them."""
    os.makedirs(folder, exist_ok=True)
    entries, blobs, as_read = [], [], {}
    for layer, ws in sorted(weights, key=lambda lw: lw[0]):  # h5py iterates model_weights groups by name
        for wn, val in ws:
            name = wn[:-2] if wn.endswith(':0') else wn
            e = {'name': name, 'shape': list(val.shape), 'dtype': 'float32'}
            if quantize == 'float16':
                h = val.astype('<f2')
                e['quantization'] = {'dtype': 'float16', 'original_dtype': 'float32'}
                blobs.append(h.tobytes())
                as_read[wn] = h.astype(np.float32)
            elif quantize:
                q, scale, lo = nudged(val)
                e['quantization'] = {'dtype': 'uint8', 'min': lo, 'scale': scale, 'original_dtype': 'float32'}
                blobs.append(q.tobytes())
                as_read[wn] = (q.astype(np.float64) * scale + lo).astype(np.float32)  # JS: Float32Array[i] = q*scale + min
            else:
                blobs.append(val.astype('<f4').tobytes())
                as_read[wn] = val
            entries.append(e)
    with open(os.path.join(folder, 'group1-shard1of1.bin'), 'wb') as f:
        f.write(b''.join(blobs))
    topology = {'keras_version': version, 'backend': 'tensorflow', 'model_config': model_config}
    if training_config:
        topology['training_config'] = training_config
    doc = {'format': 'layers-model', 'generatedBy': 'keras v%s' % version, 'convertedBy': 'TensorFlow.js Converter v2.8.6',
           'modelTopology': topology, 'weightsManifest': [{'paths': ['group1-shard1of1.bin'], 'weights': entries}]}
    with open(os.path.join(folder, 'model.json'), 'w') as f:
        json.dump(doc, f)
    return as_read


# ---------------------------------------------------------------- torch reference

T = lambda a: torch.from_numpy(np.asarray(a, dtype=np.float64))  # noqa: E731


def same_pad(x, k, s=1):
    """TensorFlow 'same' padding (extra pixel bottom/right) on NCHW x."""
    H, W = x.shape[2], x.shape[3]
    ph = max((-(-H // s) - 1) * s + k - H, 0)
    pw = max((-(-W // s) - 1) * s + k - W, 0)
    return F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))


def conv(x, kernel, bias, padding='valid', groups=1):
    w = T(kernel).permute(3, 2, 0, 1)  # HWIO -> OIHW
    if padding == 'same':
        x = same_pad(x, kernel.shape[0])
    return F.conv2d(x, w, T(bias) if bias is not None else None, groups=groups)


def depthwise_conv(x, dk, bias, padding='same'):
    kh, kw, C, M = dk.shape
    w = T(dk).permute(2, 3, 0, 1).reshape(C * M, 1, kh, kw)  # output channel c*M + m
    if padding == 'same':
        x = same_pad(x, kh)
    return F.conv2d(x, w, T(bias) if bias is not None else None, groups=C)


def bn(x, g, b, m, v, eps=1e-3):
    return F.batch_norm(x, T(m), T(v), T(g), T(b), training=False, eps=eps)


def nhwc_flatten(x):
    return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)


def save_expected(path, x_nhwc, logits, probs, how):
    x = np.asarray(x_nhwc, dtype=np.float32)
    chw = x.transpose(2, 0, 1) if x.ndim == 3 else x[None] if x.ndim == 2 else x
    doc = {'input_keras': x.astype(np.float64).tolist(), 'input_chw_flat': chw.astype(np.float64).reshape(-1).tolist(),
           'logits': [float(v) for v in logits.reshape(-1)], 'probabilities': [float(v) for v in probs.reshape(-1)],
           'how': how + ' Computed with PyTorch %s (torch.nn.functional, float64) from the weights stored in the file; Keras was not available.' % torch.__version__}
    with open(path, 'w') as f:
        json.dump(doc, f, indent=1)


# ---------------------------------------------------------------- models

def mnist_mlp():
    """The TensorFlow beginner tutorial: Flatten(input_shape=(28, 28)), Dense(128, relu), Dropout(0.2), Dense(10)."""
    cfg = {'class_name': 'Sequential', 'config': {'name': 'sequential', 'layers': [
        input_layer('flatten_input', [28, 28]),
        simple('Flatten', 'flatten', bis=[28, 28], data_format='channels_last'),
        dense('dense', 128, 'relu'),
        simple('Dropout', 'dropout', rate=0.2, noise_shape=None, seed=None),
        dense('dense_1', 10)]}}
    k1, b1, k2, b2 = f32(784, 128, scale=0.05), f32(128, scale=0.1), f32(128, 10, scale=0.1), f32(10, scale=0.1)
    weights = [('flatten', []), ('dense', [('dense/kernel:0', k1), ('dense/bias:0', b1)]), ('dropout', []), ('dense_1', [('dense_1/kernel:0', k2), ('dense_1/bias:0', b2)])]
    write_h5(os.path.join(KERAS_DIR, 'mnist_mlp_keras24.h5'), cfg, weights, '2.4', TRAINING_24)
    write_h5(os.path.join(KERAS_DIR, 'mnist_mlp_keras24_hdf5.keras'), cfg, weights, '2.4', TRAINING_24)
    write_tfjs(os.path.join(TFJS_DIR, 'mnist_mlp'), cfg, weights, '2.4.0', TRAINING_24)
    x = rng.uniform(0, 1, (28, 28)).astype(np.float32)
    h = torch.relu(T(x).reshape(1, 784) @ T(k1) + T(b1))
    logits = h @ T(k2) + T(b2)
    how = 'Keras 2.4 (tf.keras) tutorial MLP: logits of Dense(10) (no final activation).'
    for name in ['mnist_mlp_keras24', 'mnist_mlp_keras24_hdf5']:
        save_expected(os.path.join(KERAS_DIR, name + '.expected.json'), x, logits.numpy(), torch.softmax(logits, 1).numpy(), how)
    save_expected(os.path.join(TFJS_DIR, 'mnist_mlp', 'expected.json'), x, logits.numpy(), torch.softmax(logits, 1).numpy(), how)


def small_cnn():
    """Keras 2.2.4: Conv2D(8, 3) + BatchNormalization + Activation('relu') + MaxPooling2D + Flatten + Dense(10, softmax); 12x12x3 input."""
    layers = [
        conv2d('conv2d_1', 8, 3, v24=False, bis=[12, 12, 3]),
        batchnorm('batch_normalization_1', v24=False),
        simple('Activation', 'activation_1', v24=False, activation='relu'),
        simple('MaxPooling2D', 'max_pooling2d_1', v24=False, pool_size=[2, 2], padding='valid', strides=[2, 2], data_format='channels_last'),
        simple('Flatten', 'flatten_1', v24=False, data_format='channels_last'),
        dense('dense_1', 10, 'softmax', v24=False)]
    cfg = {'class_name': 'Sequential', 'config': {'name': 'sequential_1', 'layers': layers}}
    k, b = f32(3, 3, 3, 8), f32(8, scale=0.1)
    g, be, m, v = (1 + f32(8, scale=0.2)), f32(8, scale=0.1), f32(8, scale=0.2), rng.uniform(0.5, 1.5, 8).astype(np.float32)
    kd, bd = f32(200, 10, scale=0.1), f32(10, scale=0.1)
    weights = [('conv2d_1', [('conv2d_1/kernel:0', k), ('conv2d_1/bias:0', b)]),
               ('batch_normalization_1', [('batch_normalization_1/gamma:0', g), ('batch_normalization_1/beta:0', be),
                                          ('batch_normalization_1/moving_mean:0', m), ('batch_normalization_1/moving_variance:0', v)]),
               ('activation_1', []), ('max_pooling2d_1', []), ('flatten_1', []), ('dense_1', [('dense_1/kernel:0', kd), ('dense_1/bias:0', bd)])]
    write_h5(os.path.join(KERAS_DIR, 'small_cnn_keras22.h5'), cfg, weights, '2.2')
    x = rng.uniform(-1, 1, (12, 12, 3)).astype(np.float32)

    def run(w):
        t = T(x).permute(2, 0, 1)[None]
        t = conv(t, w['conv2d_1/kernel:0'], w['conv2d_1/bias:0'])
        t = bn(t, *[w['batch_normalization_1/%s:0' % n] for n in ['gamma', 'beta', 'moving_mean', 'moving_variance']])
        t = F.max_pool2d(torch.relu(t), 2)
        return nhwc_flatten(t) @ T(w['dense_1/kernel:0']) + T(w['dense_1/bias:0'])
    flat = {wn: val for _, ws in weights for wn, val in ws}
    logits = run(flat)
    how = 'Keras 2.2.4 small CNN: logits before the final softmax of dense_1.'
    save_expected(os.path.join(KERAS_DIR, 'small_cnn_keras22.expected.json'), x, logits.numpy(), torch.softmax(logits, 1).numpy(), how)
    # The same model through tensorflowjs_converter --quantize_uint8.
    as_read = write_tfjs(os.path.join(TFJS_DIR, 'small_cnn_uint8'), cfg, weights, '2.2.4', quantize=True)
    logits_q = run(as_read)
    save_expected(os.path.join(TFJS_DIR, 'small_cnn_uint8', 'expected.json'), x, logits_q.numpy(), torch.softmax(logits_q, 1).numpy(),
                  'Keras 2.2.4 small CNN converted with --quantize_uint8: logits before the final softmax, with the weights dequantized as TensorFlow.js does (float32(q*scale + min)).')
    err = float((logits_q - logits).abs().max())
    print('small_cnn: uint8 quantization changes the logits by up to %.4g' % err)


def functional_blocks():
    """Keras 2.4 Functional: ZeroPadding2D, Conv2D + BN + ReLU(max_value=6), DepthwiseConv2D + LeakyReLU, SeparableConv2D,
    Add, Concatenate, MaxPooling2D, Flatten, Dense, Reshape to channels-last, Conv2D, PReLU, GlobalAveragePooling2D, Dense."""
    def node(*srcs):
        return [[[s, 0, 0, {}] for s in srcs]]
    L = []

    def add(layer, *srcs):
        layer = dict(layer)
        layer['name'] = layer['config']['name']
        layer['inbound_nodes'] = node(*srcs) if srcs else []
        L.append(layer)
    add(input_layer('input_1', [10, 10, 3]))
    add(simple('ZeroPadding2D', 'zero_padding2d', padding=[[1, 1], [1, 1]], data_format='channels_last'), 'input_1')
    add(conv2d('conv2d', 8, 3), 'zero_padding2d')
    add(batchnorm('batch_normalization'), 'conv2d')
    add(simple('ReLU', 're_lu', max_value=6.0, negative_slope=0.0, threshold=0.0), 'batch_normalization')
    add(depthwise('depthwise_conv2d', 3), 're_lu')
    add(simple('LeakyReLU', 'leaky_re_lu', alpha=0.1), 'depthwise_conv2d')
    add(separable('separable_conv2d', 8, 3), 're_lu')
    add(simple('Add', 'add'), 're_lu', 'separable_conv2d')
    add(simple('Concatenate', 'concatenate', axis=-1), 'add', 'leaky_re_lu')
    add(conv2d('conv2d_1', 4, 1, activation='relu'), 'concatenate')
    add(simple('MaxPooling2D', 'max_pooling2d', pool_size=[2, 2], padding='valid', strides=[2, 2], data_format='channels_last'), 'conv2d_1')
    add(simple('Flatten', 'flatten', data_format='channels_last'), 'max_pooling2d')
    add(dense('dense', 48, 'relu'), 'flatten')
    add(simple('Reshape', 'reshape', target_shape=[4, 4, 3]), 'dense')
    add(conv2d('conv2d_2', 6, 2), 'reshape')
    add({'class_name': 'PReLU', 'config': {**base('p_re_lu', True), 'alpha_initializer': {'class_name': 'Zeros', 'config': {}}, 'alpha_regularizer': None,
                                           'alpha_constraint': None, 'shared_axes': [1, 2]}}, 'conv2d_2')
    add(simple('GlobalAveragePooling2D', 'global_average_pooling2d', data_format='channels_last'), 'p_re_lu')
    add(dense('dense_1', 3), 'global_average_pooling2d')
    cfg = {'class_name': 'Functional', 'config': {'name': 'model', 'layers': L, 'input_layers': [['input_1', 0, 0]], 'output_layers': [['dense_1', 0, 0]]}}
    w = {
        'conv2d': [f32(3, 3, 3, 8), f32(8, scale=0.1)],
        'batch_normalization': [1 + f32(8, scale=0.2), f32(8, scale=0.1), f32(8, scale=0.2), rng.uniform(0.5, 1.5, 8).astype(np.float32)],
        'depthwise_conv2d': [f32(3, 3, 8, 1), f32(8, scale=0.1)],
        'separable_conv2d': [f32(3, 3, 8, 1), f32(1, 1, 8, 8), f32(8, scale=0.1)],
        'conv2d_1': [f32(1, 1, 16, 4), f32(4, scale=0.1)],
        'dense': [f32(100, 48, scale=0.2), f32(48, scale=0.1)],
        'conv2d_2': [f32(2, 2, 3, 6), f32(6, scale=0.1)],
        'p_re_lu': [rng.uniform(0.05, 0.4, (1, 1, 6)).astype(np.float32)],
        'dense_1': [f32(6, 3), f32(3, scale=0.1)],
    }
    names = {'conv2d': ['kernel', 'bias'], 'batch_normalization': ['gamma', 'beta', 'moving_mean', 'moving_variance'],
             'depthwise_conv2d': ['depthwise_kernel', 'bias'], 'separable_conv2d': ['depthwise_kernel', 'pointwise_kernel', 'bias'],
             'conv2d_1': ['kernel', 'bias'], 'dense': ['kernel', 'bias'], 'conv2d_2': ['kernel', 'bias'], 'p_re_lu': ['alpha'], 'dense_1': ['kernel', 'bias']}
    weights = [(l['name'], [('%s/%s:0' % (l['name'], n), v) for n, v in zip(names.get(l['name'], []), w.get(l['name'], []))]) for l in L if l['class_name'] != 'InputLayer']
    write_h5(os.path.join(KERAS_DIR, 'functional_blocks_keras24.h5'), cfg, weights, '2.4')
    write_tfjs(os.path.join(TFJS_DIR, 'functional_blocks'), cfg, weights, '2.4.0')
    x = rng.uniform(-1, 1, (10, 10, 3)).astype(np.float32)
    t = T(x).permute(2, 0, 1)[None]
    t = F.pad(t, (1, 1, 1, 1))
    t = conv(t, *w['conv2d'])
    a = torch.clamp(bn(t, *w['batch_normalization']), 0, 6)
    b1 = F.leaky_relu(depthwise_conv(a, *w['depthwise_conv2d']), 0.1)
    s = conv(depthwise_conv(a, w['separable_conv2d'][0], None), w['separable_conv2d'][1], w['separable_conv2d'][2])
    c = torch.cat([a + s, b1], 1)
    c = F.max_pool2d(torch.relu(conv(c, *w['conv2d_1'])), 2)
    d = torch.relu(nhwc_flatten(c) @ T(w['dense'][0]) + T(w['dense'][1]))
    r = d.reshape(1, 4, 4, 3).permute(0, 3, 1, 2)  # Keras Reshape((4, 4, 3)): channels-last
    r = conv(r, *w['conv2d_2'])
    r = F.prelu(r, T(w['p_re_lu'][0]).reshape(6))
    logits = r.mean((2, 3)) @ T(w['dense_1'][0]) + T(w['dense_1'][1])
    for p in [os.path.join(KERAS_DIR, 'functional_blocks_keras24.expected.json'), os.path.join(TFJS_DIR, 'functional_blocks', 'expected.json')]:
        save_expected(p, x, logits.numpy(), torch.softmax(logits, 1).numpy(), 'Keras 2.4 Functional model: output of dense_1 (linear).')


def sequential_list_form():
    """Keras 2.1.6: Sequential config as a bare list; Dense(16, relu, input_dim=8), Dense(8, tanh), Dense(1, sigmoid)."""
    layers = [dense('dense_1', 16, 'relu', v24=False, bis=[8]), dense('dense_2', 8, 'tanh', v24=False), dense('dense_3', 1, 'sigmoid', v24=False)]
    cfg = {'class_name': 'Sequential', 'config': layers}
    w = [(f32(8, 16), f32(16, scale=0.1)), (f32(16, 8), f32(8, scale=0.1)), (f32(8, 1), f32(1, scale=0.1))]
    weights = [('dense_%d' % (i + 1), [('dense_%d/kernel:0' % (i + 1), k), ('dense_%d/bias:0' % (i + 1), b)]) for i, (k, b) in enumerate(w)]
    write_h5(os.path.join(KERAS_DIR, 'binary_mlp_keras21_list.h5'), cfg, weights, '2.1')
    write_tfjs(os.path.join(TFJS_DIR, 'binary_mlp_list'), cfg, weights, '2.1.6')
    half = write_tfjs(os.path.join(TFJS_DIR, 'binary_mlp_float16'), cfg, weights, '2.1.6', quantize='float16')
    x = rng.uniform(-1, 1, 8).astype(np.float32)
    h = torch.relu(T(x)[None] @ T(w[0][0]) + T(w[0][1]))
    h = torch.tanh(h @ T(w[1][0]) + T(w[1][1]))
    logits = h @ T(w[2][0]) + T(w[2][1])
    for p in [os.path.join(KERAS_DIR, 'binary_mlp_keras21_list.expected.json'), os.path.join(TFJS_DIR, 'binary_mlp_list', 'expected.json')]:
        save_expected(p, x, logits.numpy(), torch.sigmoid(logits).numpy(), 'Keras 2.1.6 list-form Sequential: the logit before the final sigmoid of dense_3.')
    hw = [(half['dense_%d/kernel:0' % i], half['dense_%d/bias:0' % i]) for i in (1, 2, 3)]
    h = torch.relu(T(x)[None] @ T(hw[0][0]) + T(hw[0][1]))
    h = torch.tanh(h @ T(hw[1][0]) + T(hw[1][1]))
    lh = h @ T(hw[2][0]) + T(hw[2][1])
    save_expected(os.path.join(TFJS_DIR, 'binary_mlp_float16', 'expected.json'), x, lh.numpy(), torch.sigmoid(lh).numpy(),
                  'The Keras 2.1.6 list-form MLP converted with --quantize_float16: the logit before the final sigmoid, weights decoded from float16.')


if __name__ == '__main__':
    os.makedirs(KERAS_DIR, exist_ok=True)
    os.makedirs(TFJS_DIR, exist_ok=True)
    mnist_mlp()
    small_cnn()
    functional_blocks()
    sequential_list_form()
    for d in [KERAS_DIR, TFJS_DIR]:
        for root, _, files in os.walk(d):
            for n in sorted(files):
                print('%8d  %s' % (os.path.getsize(os.path.join(root, n)), os.path.relpath(os.path.join(root, n), ROOT)))
