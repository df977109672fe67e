#!/usr/bin/env python3
"""One control call to `bitsim service` (standard library only), for scripts.

    bitsim-call.py 127.0.0.1:PORT METHOD '{"param": 1}'

Says session.hello as the administrator "test", makes the call and prints
its result as JSON; exits 1 on a JSON-RPC error. Used by
scripts/wine-bitsim.sh to drive the virtual clock and read the service's
view of the jobs while a Windows program runs under Wine.
"""

import json
import socket
import sys


def main():
    address, method = sys.argv[1], sys.argv[2]
    params = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
    host, port = address.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=120)
    reader = sock.makefile("r", encoding="utf-8")
    calls = [("session.hello", {"user": "test", "admin": True}), (method, params)]
    result = None
    for i, (m, p) in enumerate(calls, 1):
        sock.sendall((json.dumps({"jsonrpc": "2.0", "id": i, "method": m, "params": p}) + "\n").encode())
        answer = json.loads(reader.readline())
        if "error" in answer:
            print(f"{m}: {answer['error']['message']}", file=sys.stderr)
            sys.exit(1)
        result = answer["result"]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
