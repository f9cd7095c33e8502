"""Export and fast backends' artefacts: ONNX graphs (fp32 and fp16) and TensorRT engines, cached in the model
directory and rebuilt when stale."""
