#!/usr/bin/env python3
"""A small "updater" tested against `bitsim service` (standard library only).

The updater under test downloads an update with BITS and registers a
callback: its JobError handler cancels the job when the server says 404
(the update is gone) and resumes it otherwise (a CDN outage that outlasted
BITS's 14-day no-progress timeout, say). The test drives up to 90 virtual
days of BITS in well under a second and checks what the updater did.

    bitsim service --listen 127.0.0.1:7300 --scenario WORLD.toml &
    python3 updater.py 127.0.0.1:7300

The world must have http://updates.test/app-2.0.msi (behind a 503 outage
of 30 days); http://updates.test/app-1.9.msi must be missing.
"""

import json
import socket
import sys
import time

DAY_MS = 86_400_000


class Bits:
    """A JSON-RPC 2.0 client of `bitsim service`, one message per line.

    Requests from the service (callback notifications) that arrive while a
    call waits for its answer are handed to `on_notification`, which may
    call the service again (as a COM callback calls job methods).
    """

    def __init__(self, address, user):
        host, port = address.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)))
        self.reader = self.sock.makefile("r", encoding="utf-8")
        self.next_id = 1
        self.on_notification = lambda method, params: "S_OK"
        self.call("session.hello", user=user)

    def _send(self, message):
        self.sock.sendall((json.dumps(message) + "\n").encode())

    def call(self, method, **params):
        my_id = self.next_id
        self.next_id += 1
        self._send({"jsonrpc": "2.0", "id": my_id, "method": method, "params": params})
        while True:
            line = self.reader.readline()
            if not line:
                raise ConnectionError("the service closed the connection")
            message = json.loads(line)
            if "method" in message:
                answer = self.on_notification(message["method"], message["params"])
                self._send({"jsonrpc": "2.0", "id": message["id"], "result": answer})
                continue
            if message.get("id") != my_id:
                raise RuntimeError(f"unexpected message {message}")
            if "error" in message:
                raise RuntimeError(f"{method}: {message['error']['message']}")
            return message["result"]

    def bits(self, method, **params):
        """A BITS call: its reply value; raises on a failure HRESULT."""
        result = self.call(method, **params)
        hresult = result["hresult"]
        if hresult["value"] & 0x80000000:
            raise RuntimeError(f"{method}: {hresult['name']}: {result.get('message')}")
        return result.get("value")


class Updater:
    """The code under test."""

    def __init__(self, bits):
        self.bits = bits
        self.log = []
        bits.on_notification = self.notified

    def start(self, url, path):
        job = self.bits.bits("manager.create_job", display_name=url, job_type="download")
        self.bits.bits("job.add_file", job=job, remote=url, local=path)
        self.bits.bits("job.set_notify_interface", job=job)
        self.bits.bits("job.resume", job=job)
        return job

    def notified(self, method, params):
        job = params["job"]
        self.log.append(method)
        if method == "JobTransferred":
            self.bits.bits("job.complete", job=job)
        elif method == "JobError":
            if params["error"]["code"]["name"] == "BG_E_HTTP_ERROR_404":
                self.bits.bits("job.cancel", job=job)
            else:
                self.bits.bits("job.resume", job=job)
        return "S_OK"


def main():
    address = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:7300"
    started = time.monotonic()
    updater = Updater(Bits(address, "alice"))
    update = updater.start("http://updates.test/app-2.0.msi", "C:/Updates/app-2.0.msi")
    gone = updater.start("http://updates.test/app-1.9.msi", "C:/Updates/app-1.9.msi")

    result = updater.bits.call("clock.run_until_idle", max=90 * DAY_MS)
    wall = time.monotonic() - started

    states = {name: updater.bits.bits("job.get_state", job=job)
              for name, job in (("update", update), ("gone", gone))}
    assert states == {"update": "ACKNOWLEDGED", "gone": "CANCELLED"}, states
    assert result["idle"], result
    errors = updater.log.count("JobError")
    assert errors >= 2, updater.log  # the 404, and the outage resumed
    assert result["now"] >= 30 * DAY_MS, result  # the update came after the outage
    assert "JobTransferred" in updater.log, updater.log
    print(f"ok: update ACKNOWLEDGED, missing version CANCELLED; {errors} JobError calls; "
          f"virtual time {result['text']}, wall {wall * 1000:.0f} ms")


if __name__ == "__main__":
    main()
