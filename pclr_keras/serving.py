"""Moved to `pclr_keras.export.serving`; this path re-exports it for one release."""

from pclr_keras.export.serving import (
    RAW_SIGNATURE, SERVING_SIGNATURE, SIGNATURES, WARMUP_FILE, grpc_request, request_inputs,
    rest_body, warmup_requests, write_warmup_file)

__all__ = ["RAW_SIGNATURE", "SERVING_SIGNATURE", "SIGNATURES", "WARMUP_FILE", "grpc_request",
           "request_inputs", "rest_body", "warmup_requests", "write_warmup_file"]
