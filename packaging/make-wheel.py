#!/usr/bin/env python3
"""make wheel: supervisor-haproxy VERSION as a Python wheel that carries the static binary and
installs a `supervisor-haproxy` console script which execs it, so that the seed's users keep
installing with pip or buildout (`plugins += supervisor-haproxy`) while the listener that runs
is the Swift binary. Written by hand with zipfile: nothing to install to build it.

usage: make-wheel.py STATIC_BINARY VERSION OUTDIR
"""
import base64
import hashlib
import os
import sys
import zipfile

binary, version, outdir = sys.argv[1], sys.argv[2], sys.argv[3]
name, pkg = "supervisor-haproxy", "supervisor_haproxy"
# A fully static binary runs on any x86_64 Linux, glibc or musl.
arch = os.uname().machine
platforms = [f"manylinux_2_17_{arch}", f"manylinux2014_{arch}", f"musllinux_1_1_{arch}"]
tag = "py3-none-" + ".".join(platforms)
dist = f"{pkg}-{version}.dist-info"
readme = open(os.path.join(os.path.dirname(__file__), "..", "README.md"), encoding="utf-8").read()

init = f'''"""supervisor-haproxy {version}: runs the static binary this wheel carries."""
import os
import sys

BINARY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bin", "supervisor-haproxy")


def main():
    if not os.access(BINARY, os.X_OK):
        os.chmod(BINARY, 0o755)
    os.execv(BINARY, [BINARY] + sys.argv[1:])
'''

files = {
    f"{pkg}/__init__.py": (init.encode(), 0o644),
    f"{pkg}/bin/supervisor-haproxy": (open(binary, "rb").read(), 0o755),
    f"{dist}/METADATA": (f"""Metadata-Version: 2.1
Name: {name}
Version: {version}
Summary: Tells HAProxy when the programs behind its servers start, stop or die (supervisord event listener, graceful stops, rolling restarts)
License: GPL-2.0
Requires-Python: >=3.6
Description-Content-Type: text/markdown

{readme}""".encode(), 0o644),
    f"{dist}/WHEEL": (("Wheel-Version: 1.0\nGenerator: supervisor-haproxy make-wheel\nRoot-Is-Purelib: false\n"
                       + "".join(f"Tag: py3-none-{p}\n" for p in platforms)).encode(), 0o644),
    f"{dist}/entry_points.txt": (f"[console_scripts]\n{name} = {pkg}:main\n".encode(), 0o644),
    f"{dist}/top_level.txt": (f"{pkg}\n".encode(), 0o644),
}

os.makedirs(outdir, exist_ok=True)
path = os.path.join(outdir, f"{pkg}-{version}-{tag}.whl")
record = []
with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
    for arcname, (data, mode) in files.items():
        info = zipfile.ZipInfo(arcname, date_time=(2026, 1, 1, 0, 0, 0))
        info.external_attr = (0o100000 | mode) << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        z.writestr(info, data)
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{arcname},sha256={digest},{len(data)}")
    record.append(f"{dist}/RECORD,,")
    info = zipfile.ZipInfo(f"{dist}/RECORD", date_time=(2026, 1, 1, 0, 0, 0))
    info.external_attr = 0o100644 << 16
    z.writestr(info, "\n".join(record) + "\n")
print(path)
