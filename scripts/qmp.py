#!/usr/bin/python3
"""A tiny QMP client (stdlib only) for the test scripts.

    qmp.py [-t SECONDS] [-g KEY[.KEY...]] SOCKET COMMAND [JSON-ARGS]

Connects to QEMU's QMP unix socket (waiting for it to appear, up to the
timeout), negotiates capabilities, runs COMMAND with the arguments given
as a JSON object, and prints the return value as JSON - or, with -g, one
field of it (a string printed bare).  Asynchronous events are skipped.
Exit status: 0 on success, 1 when QEMU answers with an error (printed on
stderr as "CLASS: description"), 2 on a usage, connection or timeout
error.
"""

import json
import os
import socket
import sys
import time


class QMPError(Exception):
    pass


class QMP:
    def __init__(self, path, timeout):
        self.deadline = time.monotonic() + timeout
        self.sock = None
        while True:
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.settimeout(self._left())
                s.connect(path)
                self.sock = s
                break
            except (FileNotFoundError, ConnectionRefusedError):
                s.close()
                if time.monotonic() >= self.deadline:
                    raise TimeoutError(f"no QMP server at {path}")
                time.sleep(0.1)
        self.buf = b""
        greeting = self._read()
        if "QMP" not in greeting:
            raise QMPError(f"not a QMP greeting: {greeting}")
        self.cmd("qmp_capabilities")

    def _left(self):
        return max(0.01, self.deadline - time.monotonic())

    def _read(self):
        """The next JSON message (one per line)."""
        while b"\n" not in self.buf:
            self.sock.settimeout(self._left())
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("QEMU closed the QMP connection")
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def cmd(self, name, args=None):
        msg = {"execute": name, "id": name}
        if args:
            msg["arguments"] = args
        self.sock.settimeout(self._left())
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            r = self._read()
            if "event" in r:
                continue
            if "error" in r:
                e = r["error"]
                raise QMPError(f"{e.get('class')}: {e.get('desc')}")
            if "return" in r:
                return r["return"]

    def close(self):
        if self.sock:
            self.sock.close()


def main(argv):
    timeout, get = 30.0, None
    args = argv[1:]
    while args and args[0].startswith("-") and len(args[0]) > 1:
        opt = args.pop(0)
        if opt == "-t" and args:
            timeout = float(args.pop(0))
        elif opt == "-g" and args:
            get = args.pop(0)
        else:
            args = []
            break
    if len(args) not in (2, 3):
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    path, command = args[0], args[1]
    try:
        cargs = json.loads(args[2]) if len(args) == 3 else None
    except json.JSONDecodeError as e:
        print(f"qmp.py: bad JSON arguments: {e}", file=sys.stderr)
        return 2
    q = None
    try:
        q = QMP(path, timeout)
        ret = q.cmd(command, cargs)
    except QMPError as e:
        print(e, file=sys.stderr)
        return 1
    except (OSError, ValueError, TimeoutError) as e:
        # socket.timeout is an OSError; a closed connection a ConnectionError
        print(f"qmp.py: {command}: {e or type(e).__name__}", file=sys.stderr)
        return 2
    finally:
        if q:
            q.close()
    if get is not None:
        for key in get.split("."):
            ret = ret.get(key) if isinstance(ret, dict) else None
        if ret is None:
            return 0
    print(ret if isinstance(ret, str) else json.dumps(ret, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
