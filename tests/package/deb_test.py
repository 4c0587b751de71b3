#!/usr/bin/python3
"""The .deb and `cmake --install`, checked without touching the system.

  deb_test.py --build BUILD_DIR

Runs `cpack -G DEB` into a temp dir (never installing anything outside it),
then checks with dpkg-deb: the file list (stripped binaries in /usr/bin, the
unit, /etc/default/ketcd), the control data (Depends from the binaries'
shared libraries, the maintainer scripts, the conffile), the scripts
(syntax, the ketcd user and /var/lib/ketcd), the unit's settings, and
`systemd-analyze verify` on the unit (a missing systemd-analyze fails); the
extracted ketcd runs (--version). Then `cmake --install --prefix` lays out
bin/ketcd, bin/ketcdctl, bin/ketcd-bench and nothing under etc/.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

FAILED = []


def check(name, ok, detail=""):
    print("%s %s%s" % ("ok  " if ok else "FAIL", name, (": " + detail) if detail and not ok else ""))
    if not ok:
        FAILED.append(name)


def run(args, timeout=240, **kw):
    r = subprocess.run(args, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL, **kw)
    return r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")


def is_stripped(path):
    code, out, _ = run(["readelf", "-S", "--wide", path], timeout=30)
    return code == 0 and ".debug_info" not in out and ".symtab" not in out


def check_contents(deb):
    code, out, err = run(["dpkg-deb", "-c", deb])
    check("dpkg-deb -c", code == 0, err)
    entries = [line.split() for line in out.splitlines() if line.strip()]
    files = {e[-1].removeprefix("."): e[0] for e in entries if not e[0].startswith("d")}
    dirs = {e[-1].removeprefix(".") for e in entries if e[0].startswith("d")}
    want = {"/usr/bin/ketcd", "/usr/bin/ketcdctl", "/usr/bin/ketcd-bench", "/lib/systemd/system/ketcd.service",
            "/etc/default/ketcd", "/usr/share/doc/ketcd/examples/ketcd.conf.yml"}
    check("files: the binaries, the unit, /etc/default/ketcd, the example", set(files) == want,
          "missing %s, unexpected %s" % (sorted(want - set(files)), sorted(set(files) - want)))
    check("directory /etc/ketcd/", "/etc/ketcd/" in dirs, str(sorted(dirs)))
    for name in ("ketcd", "ketcdctl", "ketcd-bench"):
        check("/usr/bin/%s is rwxr-xr-x" % name, files.get("/usr/bin/" + name) == "-rwxr-xr-x", str(files))
    check("unit and /etc/default/ketcd are rw-r--r--", files.get("/lib/systemd/system/ketcd.service") ==
          "-rw-r--r--" and files.get("/etc/default/ketcd") == "-rw-r--r--", str(files))


def check_control(deb, tmp):
    code, info, err = run(["dpkg-deb", "-I", deb])
    check("dpkg-deb -I", code == 0, err)
    fields = dict(re.findall(r"^ (\w[\w-]*): (.*)$", info, re.M))
    check("Package: ketcd", fields.get("Package") == "ketcd", info)
    depends = fields.get("Depends", "")
    check("Depends: adduser and the shared libraries (dpkg-shlibdeps)", "adduser" in depends
          and "libc6" in depends and "libgrpc++" in depends and "libyaml-cpp" in depends, depends)
    for script in ("postinst", "prerm", "postrm", "conffiles"):
        check("control has %s" % script, re.search(r"\b%s\b" % script, info) is not None, info)
    control = os.path.join(tmp, "control")
    code, _, err = run(["dpkg-deb", "-e", deb, control])
    check("dpkg-deb -e", code == 0, err)
    for script in ("postinst", "prerm", "postrm"):
        path = os.path.join(control, script)
        check("%s is executable" % script, os.access(path, os.X_OK))
        code, _, err = run(["sh", "-n", path])
        check("%s parses (sh -n)" % script, code == 0, err)
    postinst = open(os.path.join(control, "postinst")).read()
    check("postinst creates the ketcd system user",
          re.search(r"adduser --system --group .*ketcd", postinst) is not None, postinst)
    check("postinst creates /var/lib/ketcd owned by ketcd",
          "mkdir -p /var/lib/ketcd" in postinst and "chown ketcd:ketcd /var/lib/ketcd" in postinst, postinst)
    check("conffiles lists /etc/default/ketcd",
          open(os.path.join(control, "conffiles")).read().split() == ["/etc/default/ketcd"])


def check_unit(root):
    unit = os.path.join(root, "lib/systemd/system/ketcd.service")
    text = open(unit).read()
    settings = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            settings.setdefault(k, []).append(v)
    want = {"Type": ["notify"], "User": ["ketcd"], "Restart": ["on-failure"], "LimitNOFILE": ["65536"],
            "EnvironmentFile": ["-/etc/default/ketcd"], "WorkingDirectory": ["/var/lib/ketcd"]}
    for k, v in want.items():
        check("unit %s=%s" % (k, v[0]), settings.get(k) == v, str(settings.get(k)))
    exec_start = settings.get("ExecStart", [""])[0]
    check("unit starts /usr/bin/ketcd with the config file if present, else $DAEMON_ARGS",
          "[ -f /etc/ketcd/ketcd.conf.yml ]" in exec_start
          and "exec /usr/bin/ketcd --config-file /etc/ketcd/ketcd.conf.yml" in exec_start
          and "exec /usr/bin/ketcd $$DAEMON_ARGS" in exec_start, exec_start)
    check_exec_start(exec_start, os.path.dirname(root))
    analyze = shutil.which("systemd-analyze")
    check("systemd-analyze is installed (./setup's PACKAGES: systemd)", analyze is not None)
    if analyze:
        # --man=no: no man page lookups; the unit's ExecStart (/bin/sh) exists here.
        code, out, err = run([analyze, "verify", "--man=no", unit], timeout=60)
        problems = [l for l in (out + err).splitlines() if "ketcd.service" in l]
        check("systemd-analyze verify", code == 0 and not problems, out + err)


def check_exec_start(exec_start, tmp):
    """Runs the unit's start command as systemd would ($$ is a literal $),
    with a stand-in for ketcd that prints its arguments, without and then
    with a config file."""
    m = re.fullmatch(r"/bin/sh -c '(.*)'", exec_start)
    check("ExecStart is /bin/sh -c '...'", m is not None, exec_start)
    if not m:
        return
    fake = os.path.join(tmp, "fake-ketcd")
    with open(fake, "w") as f:
        f.write('#!/bin/sh\necho "$@"\n')
    os.chmod(fake, 0o755)
    conf = os.path.join(tmp, "ketcd.conf.yml")
    script = m.group(1).replace("$$", "$").replace("/usr/bin/ketcd", fake).replace("/etc/ketcd/ketcd.conf.yml", conf)
    env = {"PATH": "/usr/bin:/bin", "DAEMON_ARGS": "--name n1 --log-level debug"}
    code, out, err = run(["/bin/sh", "-c", script], timeout=10, env=env)
    check("without the config file: ketcd $DAEMON_ARGS", code == 0 and out.strip() == env["DAEMON_ARGS"], out + err)
    open(conf, "w").write("name: n1\n")
    code, out, err = run(["/bin/sh", "-c", script], timeout=10, env=env)
    check("with the config file: ketcd --config-file FILE only", code == 0 and out.strip() == "--config-file " + conf,
          out + err)


def check_cmake_install(build, tmp):
    prefix = os.path.join(tmp, "prefix")
    code, out, err = run(["cmake", "--install", build, "--prefix", prefix, "--strip"])
    check("cmake --install --prefix", code == 0, out + err)
    for name in ("ketcd", "ketcdctl", "ketcd-bench"):
        path = os.path.join(prefix, "bin", name)
        check("install: bin/%s" % name, os.access(path, os.X_OK))
    check("install: nothing under etc/ or lib/systemd/",
          not os.path.exists(os.path.join(prefix, "etc")) and not os.path.exists(os.path.join(prefix, "lib")),
          str(os.listdir(prefix)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    build = os.path.abspath(ap.parse_args().build)
    tmp = tempfile.mkdtemp(prefix="ketcd-test-deb-")
    with open(os.path.join(tmp, "owner.pid"), "w") as f:
        f.write(str(os.getpid()))
    try:
        out_dir = os.path.join(tmp, "out")
        code, out, err = run(["cpack", "-G", "DEB", "-B", out_dir, "--config",
                              os.path.join(build, "CPackConfig.cmake")], cwd=tmp)
        debs = [os.path.join(out_dir, f) for f in os.listdir(out_dir) if f.endswith(".deb")] if code == 0 else []
        check("cpack -G DEB builds one .deb", code == 0 and len(debs) == 1, out + err)
        if debs:
            deb = debs[0]
            check(".deb named ketcd_<version>_<arch>.deb",
                  re.match(r"ketcd_\d+\.\d+\.\d+_(amd64|arm64)\.deb$", os.path.basename(deb)) is not None, deb)
            check_contents(deb)
            check_control(deb, tmp)
            root = os.path.join(tmp, "root")
            code, _, err = run(["dpkg", "-x", deb, root])
            check("dpkg -x", code == 0, err)
            ketcd = os.path.join(root, "usr/bin/ketcd")
            check("extracted usr/bin/ketcd exists", os.path.exists(ketcd))
            if os.path.exists(ketcd):
                check("ketcd is stripped", is_stripped(ketcd))
                code, out, err = run([ketcd, "--version"], timeout=30)
                check("extracted ketcd runs", code == 0 and out.startswith("etcd Version: "), out + err)
            unit_exists = os.path.exists(os.path.join(root, "lib/systemd/system/ketcd.service"))
            check("extracted lib/systemd/system/ketcd.service exists", unit_exists)
            if unit_exists:
                check_unit(root)
        check_cmake_install(build, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d failed" % len(FAILED))
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
