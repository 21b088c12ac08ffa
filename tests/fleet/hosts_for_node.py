"""Real sshd test hosts (sshhosts.py) for a test that is not Python (the
web UI's tests/ui/fleet*.test.mjs): makes COUNT hosts under ROOT, prints one
JSON line {"hosts_toml", "known_hosts", "hosts": [{"name", "address",
"srv"}]} (or {"skip": why} where test hosts cannot be made), then keeps them
until its stdin closes, and removes them.

    python3 tests/fleet/hosts_for_node.py ROOT COUNT
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

import sshhosts  # noqa: E402


def main():
    root, count = sys.argv[1], int(sys.argv[2])
    why = sshhosts.available()
    if why:
        print(json.dumps({"skip": why}), flush=True)
        return
    fleet = sshhosts.Fleet(root, count)
    try:
        print(json.dumps({
            "hosts_toml": fleet.hosts_toml(),
            "known_hosts": fleet.known_hosts(),
            "hosts": [{"name": h.name, "address": h.address, "srv": h.srv} for h in fleet.hosts],
        }), flush=True)
        sys.stdin.read()  # until the test ends (or dies: EOF either way)
    finally:
        fleet.close()


if __name__ == "__main__":
    main()
