"""Deprecated: moved to rethinking.rundir (run directories) and rethinking.host (device).
Kept only until every caller has moved; defines nothing of its own."""
from rethinking.host import cpu_description, describe_device, peak_memory_bytes, versions  # noqa: F401
from rethinking.rundir import (RunLock, RunLockedError, atomic_write_json,  # noqa: F401
                               json_fingerprint, read_json)
