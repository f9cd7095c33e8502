"""Convert an fp32 ONNX graph to fp16 compute while keeping fp32 inputs and outputs.

Written against the `onnx` API (no converter package needed). Weights and activations of the ops known to be
safe in half precision become fp16; every other op, and the ops in `keep_fp32` (InstanceNormalization by
default, whose mean and variance need fp32 to stay within one 8-bit level of the fp32 model), keeps fp32,
with Cast nodes where the two meet. Graph inputs and outputs stay fp32, so callers feed and read the same
tensors as with the fp32 export. The result is what TensorRT 11's strongly typed networks build from.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

FLOAT = TensorProto.FLOAT
HALF = TensorProto.FLOAT16
FP16_MAX = float(np.finfo(np.float16).max)

FP16_OPS = frozenset({
    "Add", "BatchNormalization", "Concat", "Conv", "ConvTranspose", "Div", "Identity", "InstanceNormalization",
    "LeakyRelu", "Mul", "Pad", "Relu", "Reshape", "Sigmoid", "Slice", "Sub", "Tanh", "Transpose",
})
"""Ops whose float inputs and outputs all share one type, and that are accurate in fp16 (fp32 accumulation)."""

DEFAULT_KEEP_FP32 = ("InstanceNormalization",)


def convert_to_fp16(model: onnx.ModelProto, *, keep_fp32: Iterable[str] = DEFAULT_KEEP_FP32) -> onnx.ModelProto:
    """A copy of `model` computing in fp16 except for `keep_fp32` ops and ops outside `FP16_OPS`.

    Graph inputs and outputs keep their fp32 type. Raises ValueError for graphs this converter does not
    handle (subgraphs, tensors whose type shape inference cannot determine).
    """
    keep = frozenset(keep_fp32)
    source = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    graph = source.graph
    for node in graph.node:
        if any(attr.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for attr in node.attribute):
            raise ValueError(f"node {node.name or node.op_type}: graphs with subgraphs are not supported")

    elem_type: dict[str, int] = {}
    for value in [*graph.input, *graph.output, *graph.value_info]:
        elem_type[value.name] = value.type.tensor_type.elem_type
    initializers = {init.name: init for init in graph.initializer}
    for init in graph.initializer:
        elem_type[init.name] = init.data_type

    current = dict(elem_type)  # the type each tensor name carries in the converted graph
    aliases: dict[tuple[str, int], str] = {}  # (tensor, wanted type) -> name of a tensor holding it in that type
    new_initializers: list[onnx.TensorProto] = []
    nodes: list[onnx.NodeProto] = []
    graph_outputs = {out.name for out in graph.output}

    def typed(name: str, want: int) -> str:
        if current[name] == want:
            return name
        key = (name, want)
        if key not in aliases:
            suffix = "fp16" if want == HALF else "fp32"
            alias = f"{name}__{suffix}"
            if name in initializers:
                new_initializers.append(_converted_initializer(initializers[name], alias, want))
            else:
                nodes.append(helper.make_node("Cast", [name], [alias], name=f"{alias}__cast", to=want))
            aliases[key] = alias
            current[alias] = want
        return aliases[key]

    for original in graph.node:
        node = onnx.NodeProto()
        node.CopyFrom(original)
        half = node.op_type in FP16_OPS and node.op_type not in keep
        want = HALF if half else FLOAT
        for index, name in enumerate(node.input):
            if name and elem_type.get(name) == FLOAT:
                node.input[index] = typed(name, want)
        nodes.append(node)
        if not half:
            continue
        for index, name in enumerate(node.output):
            if name not in elem_type:
                raise ValueError(f"node {node.name or node.op_type}: the type of output {name!r} is unknown")
            if elem_type[name] != FLOAT:
                continue
            if name in graph_outputs:  # the graph output stays fp32: compute in fp16, then cast
                internal = f"{name}__fp16"
                node.output[index] = internal
                current[internal] = HALF
                aliases[(name, HALF)] = internal
                nodes.append(helper.make_node("Cast", [internal], [name], name=f"{name}__cast", to=FLOAT))
            else:
                current[name] = HALF

    used = {name for node in nodes for name in node.input} | graph_outputs
    kept_initializers = [init for init in graph.initializer if init.name in used]
    converted = onnx.ModelProto()
    converted.CopyFrom(source)
    del converted.graph.node[:]
    converted.graph.node.extend(nodes)
    del converted.graph.initializer[:]
    converted.graph.initializer.extend(kept_initializers + [i for i in new_initializers if i.name in used])
    del converted.graph.value_info[:]
    converted = onnx.shape_inference.infer_shapes(converted, strict_mode=True)
    onnx.checker.check_model(converted)
    return converted


def _converted_initializer(tensor: onnx.TensorProto, name: str, to: int) -> onnx.TensorProto:
    array = numpy_helper.to_array(tensor)
    if to == HALF:
        array = np.clip(array, -FP16_MAX, FP16_MAX).astype(np.float16)
    else:
        array = array.astype(np.float32)
    return numpy_helper.from_array(array, name)

