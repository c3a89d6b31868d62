"""Model configuration: config.pbtxt parsing, completion from the ONNX file, typed settings."""
