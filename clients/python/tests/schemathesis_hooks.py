"""Schemathesis hooks for the contract test: `PUT /v1/plugins` takes raw WebAssembly bytes
(`application/wasm`), which Schemathesis has no serializer for; generated values are sent as
bytes (the server must reject anything that is not a valid module with a documented 4xx)."""

import schemathesis


@schemathesis.serializer("application/wasm")
def wasm(ctx, value):
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    return str(value).encode("utf-8", "surrogatepass")
