"""Inference backends: torch, ONNX Runtime and TensorRT behind one interface (`base.Backend`)."""
