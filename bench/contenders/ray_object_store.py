"""ray-object-store: a real peer (benchmark-only, bench/requirements.txt), ray.put / ray.get
through Ray's object store, driven by bench/ray_peer.py in a process of its own."""
from __future__ import annotations

import json
import select
import subprocess
import sys
import tempfile

from harness import ROOT, warmup_for


class RayPeer:
    """bench/ray_peer.py, started on first use and kept for the whole throughput section: a Ray
    driver (the producer) and its local cluster, in a process of its own because a Ray driver
    does not survive the fork()s this process makes for the other contenders. Its stderr goes to
    a temporary file, quoted when something fails, removed at shutdown."""

    def __init__(self):
        self.process = None
        self.log = None

    def _fail(self, what: str):
        tail = ""
        if self.log is not None:
            self.log.flush()
            self.log.seek(0)
            tail = self.log.read().decode(errors="replace").strip().splitlines()[-3:]
        self.shutdown()
        raise RuntimeError(f"ray_peer.py {what}: {' | '.join(tail)}")

    def _reply(self, timeout: float = 900) -> dict:
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not ready:
            self._fail(f"gave no reply within {timeout:.0f} s")
        line = self.process.stdout.readline()
        if not line:
            self._fail("ended")
        return json.loads(line)

    def measure(self, size: int, count: int) -> dict:
        if self.process is None:
            self.log = tempfile.TemporaryFile()
            self.process = subprocess.Popen([sys.executable, str(ROOT / "bench" / "ray_peer.py")], stdin=subprocess.PIPE,
                                            stdout=subprocess.PIPE, stderr=self.log, text=True)
            if not self._reply().get("ready"):
                self._fail("did not start")
        self.process.stdin.write(json.dumps({"size": size, "count": count, "warm": warmup_for(size)}) + "\n")
        self.process.stdin.flush()
        reply = self._reply()
        if "error" in reply:
            raise RuntimeError(reply["error"])
        return reply

    def shutdown(self):
        if self.process is not None:
            process, self.process = self.process, None
            try:
                process.stdin.close()  # ray_peer.py shuts its cluster down at end of input
                process.wait(timeout=120)
            except (OSError, subprocess.TimeoutExpired):
                process.kill()  # (its cluster's folder stays then; the error says so above)
                process.wait()
        if self.log is not None:
            self.log.close()
            self.log = None


RAY = RayPeer()


def case_ray_object_store(size: int, count: int) -> dict:
    """ray.put of the table in the producer (one copy into the node's plasma store; small objects
    stay in Ray's in-process store and travel with the call), ray.get in a consumer actor
    (zero-copy from plasma); up to 4 tables in flight, like the rings' 4 tables."""
    return RAY.measure(size, count)
