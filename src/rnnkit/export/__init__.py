"""ONNX export shared by every task: how a graph is written, named and checked."""
