#!/usr/bin/python3
"""The README's quickstart, word for word: the commands between the quickstart markers run in a
shell from the repository's root against a real mmsgate on the built-in scenario.

One substitution, because a test must not take fixed ports or rebuild: instead of `tools/run.sh`
(a Release build started on 127.0.0.1:50051), the already built mmsgate starts on free ports,
`MMSGATE_ADDR` tells mmsctl where it is (a documented setting), and `build-release/tools/mmsctl`
is the build's mmsctl. Everything else runs as written.

Usage: /usr/bin/python3 quickstart_test.py --readme README.md --mmsgate PATH --mmsctl PATH
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time


def quickstart_commands(readme):
    text = open(readme, encoding="utf-8").read()
    match = re.search(r"<!-- quickstart:begin.*?-->\s*```sh\n(.*?)```\s*<!-- quickstart:end -->",
                      text, re.S)
    if not match:
        sys.exit("quickstart_test: no quickstart block between the markers in " + readme)
    return [line for line in match.group(1).splitlines() if line.strip() and
            not line.strip().startswith("#")]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--readme", required=True)
    parser.add_argument("--mmsgate", required=True)
    parser.add_argument("--mmsctl", required=True)
    args = parser.parse_args()
    root = os.path.dirname(os.path.abspath(args.readme))
    commands = quickstart_commands(args.readme)
    print(f"quickstart: {len(commands)} commands")

    work = tempfile.mkdtemp(prefix="quickstart-")
    gateway = subprocess.Popen(
        [args.mmsgate, "--data-dir", os.path.join(work, "data"), "--grpc", "127.0.0.1:0",
         "--http", "127.0.0.1:0"],
        stdout=subprocess.PIPE, stderr=open(os.path.join(work, "mmsgate.log"), "w"), text=True)
    failures = 0
    try:
        grpc_address = None
        deadline = time.time() + 60
        while time.time() < deadline:
            line = gateway.stdout.readline()
            if not line:
                break
            ready = re.match(r"mmsgate ready grpc=(\S+) http=(\S+)", line)
            if ready:
                grpc_address = ready.group(1)
                break
        if grpc_address is None:
            sys.exit("quickstart_test: mmsgate did not start: " +
                     open(os.path.join(work, "mmsgate.log")).read())

        # The commands run in a copy of the tree's docs (they write picture.png where they run).
        shell_dir = os.path.join(work, "tree")
        os.makedirs(os.path.join(shell_dir, "build-release", "tools"))
        os.symlink(os.path.abspath(args.mmsctl),
                   os.path.join(shell_dir, "build-release", "tools", "mmsctl"))
        shutil.copytree(os.path.join(root, "docs"), os.path.join(shell_dir, "docs"))
        environment = dict(os.environ, MMSGATE_ADDR=grpc_address, NO_COLOR="1")
        outputs = []
        for command in commands:
            result = subprocess.run(["bash", "-c", "set -o pipefail; " + command], cwd=shell_dir,
                                    env=environment, capture_output=True, text=True, timeout=120)
            outputs.append(result.stdout)
            ok = result.returncode == 0
            failures += not ok
            print(("ok   " if ok else "FAIL ") + command)
            if not ok:
                print(f"  exit {result.returncode}\n  stdout: {result.stdout}\n"
                      f"  stderr: {result.stderr}")

        # What the quickstart promises a newcomer sees.
        def check(what, condition):
            nonlocal failures
            print(("ok   " if condition else "FAIL ") + what)
            failures += not condition
        if len(outputs) == 4:
            check("the MMS abroad was delivered as an SMS with a link",
                  "delivered as   SMS_WITH_LINK" in outputs[0] and "DELIVERED" in outputs[0])
            check("the inbox shows the text and the link",
                  "  a picture\n" in outputs[1] and re.search(r"\n  http://\S+/m/\S+\n", outputs[1]))
            check("the link served the picture that was sent",
                  "the link serves the picture that was sent" in outputs[3])
        else:
            check("the quickstart has its four commands", False)
    finally:
        gateway.terminate()
        gateway.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
    print(f"quickstart: {'all passed' if failures == 0 else str(failures) + ' failed'}")
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
