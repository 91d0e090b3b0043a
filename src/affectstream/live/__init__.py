"""Live outputs: where a running pipeline's results go while it runs (LSL, OSC, WebSocket).

They are writers registered like the file writers (`live = True`, no suffix): `open(target, ...)`
takes an address or a stream name instead of a path, `close()` returns None. A slow or vanished
consumer never slows the pipeline: what cannot be sent at once is queued up to a bound, the
oldest dropped and counted.
"""
