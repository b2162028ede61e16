#!/usr/bin/python3
"""tegami side by side with Postfix + Dovecot, on this machine, in one run.

    bench/compare.py install        # apt-get install postfix dovecot-pop3d (root; idempotent;
                                    # the system's own instances stay unconfigured and stopped)
    bench/compare.py [run]          # measure (both targets: root, after install)
    bench/compare.py all            # install, then run
    bench/compare.py run --quick    # smoke test: 1 rep, 200 messages, 50 idle connections
    bench/compare.py run --targets tegami   # tegami alone: no root, nothing installed
    bench/compare.py clean          # stop what a killed run left, remove the work directory
    bench/compare.py summary --out bench/results/STAMP   # re-make summary.md from raw.tsv

Both servers run as private instances under the work directory (/tmp/tegami-bench),
on 127.0.0.1 only, with no DNS off the machine; each rep measures them one after the
other (the order alternates per rep), so their ratio is from the same minutes:

  smtp   SMTP accept + durable Maildir delivery: `smtp-source -c -s C -m N -l 4096`
         to user1, until all N files are in its Maildir new/ (msg/s), for each C;
         with the server's CPU (utime + stime of its processes) per message
  pop3   POP3 USER/PASS, STAT, RETR+DELE of every message, QUIT: N messages written
         straight into 8 users' Maildirs, drained over 1 and over 8 connections (msg/s)
  mem    memory per idle connection: PSS (/proc/PID/smaps_rollup, summed over the
         server's processes) of a fresh server before and with K idle SMTP sessions
         (after EHLO), then K idle POP3 sessions (after login)

Results go to bench/results/<UTC stamp>/: raw.tsv, summary.md (medians per target and
the tegami / Postfix+Dovecot ratio per row), env.txt (the machine and the versions),
logs/. Knobs (flags win over the environment): see --help.
"""
import argparse
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from benchlib import measure, servers  # noqa: E402
from benchlib.servers import PASSWORD, log  # noqa: E402

SOURCE_DIR = os.path.dirname(HERE)
POP3_USERS = 8
ANCHORS = "postfix+dovecot"
QUICK = {"reps": 1, "messages": 200, "smtp_concs": "1 20", "pop3_conns": "1 8", "idle": 50}
DEFAULTS = {"reps": 3, "messages": 5000, "smtp_concs": "1 20 100", "pop3_conns": "1 8", "idle": 500}
ENV = {"reps": "REPS", "messages": "MESSAGES", "smtp_concs": "SMTP_CONCS", "pop3_conns": "POP3_CONNS",
       "idle": "IDLE_CONNS", "targets": "TARGETS", "tegami": "TEGAMI_BIN", "work": "BENCH_WORK",
       "client": "BENCH_CLIENT", "tests": "TESTS"}


# --------------------------------------------------------------------- results
class Rows:
    HEAD = "utc\trep\ttarget\ttest\tparam\tmetric\tvalue\tunit\n"

    def __init__(self, out):
        self.path = os.path.join(out, "raw.tsv")
        self.fh = open(self.path, "w")
        self.fh.write(self.HEAD)

    def add(self, rep, target, test, param, metric, value, unit):
        v = f"{value:.6g}" if isinstance(value, float) else str(value)
        ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self.fh.write(f"{ts}\t{rep}\t{target}\t{test}\t{param}\t{metric}\t{v}\t{unit}\n")
        self.fh.flush()


def summary_rows(concs, conns):
    """(test, param, metric, what, unit, better) in the order of summary.md."""
    rows = []
    for c in concs:
        rows.append(("smtp", f"c{c}", "deliver_msgs_per_s",
                     f"SMTP accept + durable Maildir delivery, {c} session{'s' if c != 1 else ''}", "msg/s", "higher"))
    for c in concs:
        rows.append(("smtp", f"c{c}", "server_cpu_ms_per_msg",
                     f"server CPU per message, SMTP, {c} session{'s' if c != 1 else ''}", "ms", "lower"))
    for k in conns:
        rows.append(("pop3", f"k{k}", "msgs_per_s",
                     f"POP3 RETR+DELE, {k} connection{'s' if k != 1 else ''}", "msg/s", "higher"))
    for k in conns:
        rows.append(("pop3", f"k{k}", "server_cpu_ms_per_msg",
                     f"server CPU per message, POP3, {k} connection{'s' if k != 1 else ''}", "ms", "lower"))
    rows.append(("mem", "smtp", "pss_kib_per_conn", "memory per idle SMTP connection (PSS)", "KiB", "lower"))
    rows.append(("mem", "pop3", "pss_kib_per_conn", "memory per idle POP3 connection after login (PSS)",
                 "KiB", "lower"))
    return rows


def fmt(v):
    if v is None:
        return "–"
    if v >= 100:
        return f"{v:,.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def summarize(out):
    """summary.md from raw.tsv (and the run's header lines in meta.txt)."""
    vals, errors, targets = {}, {}, []
    concs, conns = [], []
    with open(os.path.join(out, "raw.tsv")) as fh:
        next(fh)
        for ln in fh:
            _, rep, target, test, param, metric, value, unit = ln.rstrip("\n").split("\t")
            if target not in targets:
                targets.append(target)
            if test == "smtp" and param[1:].isdigit() and int(param[1:]) not in concs:
                concs.append(int(param[1:]))
            if test == "pop3" and param[1:].isdigit() and int(param[1:]) not in conns:
                conns.append(int(param[1:]))
            if metric == "error":
                errors.setdefault((test, param, target), []).append(f"rep {rep}: {value}")
                continue
            try:
                vals.setdefault((test, param, metric, target), []).append((int(rep), float(value)))
            except ValueError:
                pass
    targets.sort(key=lambda t: t != ANCHORS)          # Postfix+Dovecot first, tegami second
    meta = ""
    if os.path.exists(os.path.join(out, "meta.txt")):
        meta = open(os.path.join(out, "meta.txt")).read().strip() + "\n\n"
    label = {ANCHORS: "Postfix / Dovecot", "tegami": "tegami"}
    head = "| what | unit | " + " | ".join(label.get(t, t) for t in targets)
    sep = "|---|---|" + "---:|" * len(targets)
    both = ANCHORS in targets and "tegami" in targets
    if both:
        head += " | tegami ÷ Postfix/Dovecot | better |"
        sep += "---:|---|"
    else:
        head += " |"
    lines = [f"# tegami compared with Postfix + Dovecot ({os.path.basename(os.path.normpath(out))})", "",
             meta + "Medians over the reps; each rep's values in brackets when there are several. "
             "The machine is described in env.txt, every value in raw.tsv.", "", head, sep]
    for test, param, metric, what, unit, better in summary_rows(sorted(concs), sorted(conns)):
        meds, cells = {}, []
        present = False
        for t in targets:
            v = vals.get((test, param, metric, t))
            if v:
                present = True
                meds[t] = statistics.median(x for _, x in v)
                cell = fmt(meds[t])
                if len(v) > 1:
                    cell += " (" + ", ".join(fmt(x) for _, x in sorted(v)) + ")"
            elif (test, param, t) in errors:
                present = True
                cell = "failed"
            else:
                cell = "–"
            cells.append(cell)
        if not present:
            continue
        row = f"| {what} | {unit} | " + " | ".join(cells)
        if both:
            a, b = meds.get(ANCHORS), meds.get("tegami")
            ratio = f"{b / a:.2f}×" if a and b is not None else "–"
            row += f" | {ratio} | {better} |"
        else:
            row += " |"
        lines.append(row)
    if errors:
        lines += ["", "Failed measurements:", ""]
        for (test, param, target), msgs in errors.items():
            for m in msgs:
                lines.append(f"- {test} {param} {target} {m}")
    text = "\n".join(lines) + "\n"
    with open(os.path.join(out, "summary.md"), "w") as fh:
        fh.write(text)
    return text


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError) as e:
        return repr(e)


def write_env(out, a, targets, client_name):
    """env.txt: what machine and what software the numbers come from."""
    def cpuinfo():
        model, n = "?", 0
        try:
            for ln in open("/proc/cpuinfo"):
                if ln.startswith("model name") and model == "?":
                    model = ln.split(":", 1)[1].strip()
                if ln.startswith("processor"):
                    n += 1
        except OSError:
            pass
        return model, n

    model, n = cpuinfo()
    dirs = {"work directory (all data dirs)": a.work, "results": out}
    topo = sh("lscpu | grep -E '^(Thread|Core|Socket|Hypervisor vendor|Virtualization)' | tr -s ' ' | paste -sd ';' -")
    mem = sh("grep -E '^(MemTotal|MemAvailable|SwapTotal)' /proc/meminfo | tr -s ' ' | paste -sd ';' -")
    governor = sh("cat /sys/devices/system/cpu/cpu0/cpufreq/scaling_governor 2>/dev/null") or "n/a"
    osname = sh(". /etc/os-release 2>/dev/null; echo $PRETTY_NAME")
    debver = sh("cat /etc/debian_version 2>/dev/null")
    virt = sh("systemd-detect-virt 2>/dev/null") or sh("grep -m1 -o hypervisor /proc/cpuinfo") or "unknown"
    lines = [
        f"date (UTC): {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())}",
        f"command: {' '.join(sys.argv)}",
        f"host: {os.uname().nodename}",
        f"cpu: {n} x {model} (online: {os.cpu_count()}; {topo})",
        f"cpu frequency governor: {governor}",
        f"memory: {mem}",
        f"load average at start: {sh('cat /proc/loadavg')}",
        f"kernel: {sh('uname -srvm')}",
        f"os: {osname} (debian_version {debver})",
        f"virtualization: {virt}",
    ]
    for what, d in dirs.items():
        probe = d if os.path.exists(d) else os.path.dirname(d)
        src = sh(f"findmnt -no SOURCE -T {probe}")
        lines.append(f"{what}: {d} on {src} {sh(f'findmnt -no FSTYPE,OPTIONS -T {probe}')}")
        dev = sh(f"lsblk -no PKNAME {src} 2>/dev/null | head -1") or os.path.basename(src)
        if dev:
            lines.append(f"  disk {dev}: {sh(f'lsblk -dno NAME,SIZE,ROTA,TRAN,MODEL /dev/{dev} 2>/dev/null') or 'n/a'}"
                         f" (ROTA 1 = rotational); scheduler {sh(f'cat /sys/block/{dev}/queue/scheduler 2>/dev/null') or 'n/a'}")
    lines += [f"disk usage of the work directory's filesystem: {sh(f'df -h --output=size,used,avail {os.path.dirname(a.work)} | tail -1')}",
              f"python: {sys.version.split()[0]} ({sys.executable})",
              f"smtp client: {client_name}",
              f"targets: {', '.join(t.name for t in targets)}"]
    for t in targets:
        lines.append(f"  {t.name}: {t.version()}")
    if not any(t.name == ANCHORS for t in targets):
        lines.append(f"  (not measured) postfix {servers.postfix_version()}, dovecot {servers.dovecot_version()}")
    lines += [f"reps: {a.reps}", f"messages: {a.messages} per SMTP run; {POP3_USERS} users × "
              f"{max(1, a.messages // POP3_USERS)} for POP3; {a.msg_len}-octet bodies",
              f"SMTP sessions: {a.smtp_concs}", f"POP3 connections: {a.pop3_conns}",
              f"idle connections: {a.idle}", f"tests: {a.tests}"]
    with open(os.path.join(out, "env.txt"), "w") as fh:
        fh.write("\n".join(lines) + "\n")


# --------------------------------------------------------------------- the run
def run_smtp(a, rows, rep, tgt, conc, client, logdir):
    p = f"c{conc}"
    tgt.clean(1)
    measure.settle(tgt)
    with open(os.path.join(logdir, f"smtp-{tgt.name}-c{conc}-r{rep}.log"), "w") as lf:
        r = measure.smtp_burst(tgt, client, conc, a.messages, a.msg_len, lf)
    if r["rc"] != 0 or r["deliver_s"] is None:
        rows.add(rep, tgt.name, "smtp", p, "error", f"client exit {r['rc']}, {tgt.delivered(1)}/{a.messages} "
                 f"in the Maildir", "")
        log(f"smtp {tgt.name} c={conc} rep {rep}: FAILED (client exit {r['rc']}, "
            f"{tgt.delivered(1)}/{a.messages} delivered)")
        return
    n = a.messages
    rows.add(rep, tgt.name, "smtp", p, "client_s", r["client_s"], "s")
    rows.add(rep, tgt.name, "smtp", p, "deliver_s", r["deliver_s"], "s")
    rows.add(rep, tgt.name, "smtp", p, "accept_msgs_per_s", n / r["client_s"], "msg/s")
    rows.add(rep, tgt.name, "smtp", p, "deliver_msgs_per_s", n / r["deliver_s"], "msg/s")
    rows.add(rep, tgt.name, "smtp", p, "server_cpu_s", r["server_cpu_s"], "s")
    rows.add(rep, tgt.name, "smtp", p, "server_cpu_ms_per_msg", 1000 * r["server_cpu_s"] / n, "ms")
    log(f"smtp {tgt.name} c={conc} rep {rep}: {n / r['deliver_s']:,.0f} msg/s into the Maildir "
        f"({r['deliver_s']:.2f}s), server CPU {1000 * r['server_cpu_s'] / n:.2f} ms/msg")


def run_pop3(a, rows, rep, tgt, k):
    p = f"k{k}"
    users = list(range(1, POP3_USERS + 1))
    per = max(1, a.messages // POP3_USERS)
    measure.settle(tgt)
    measure.fill(tgt, users, per, a.msg_len)
    time.sleep(1)
    try:
        r = measure.pop3_drain(tgt, users, PASSWORD, k, per * len(users))
    except RuntimeError as e:
        rows.add(rep, tgt.name, "pop3", p, "error", str(e).replace("\t", " "), "")
        log(f"pop3 {tgt.name} k={k} rep {rep}: FAILED {e}")
        for i in users:
            tgt.clean(i)
        return
    rows.add(rep, tgt.name, "pop3", p, "wall_s", r["wall_s"], "s")
    rows.add(rep, tgt.name, "pop3", p, "msgs", r["msgs"], "msg")
    rows.add(rep, tgt.name, "pop3", p, "msgs_per_s", r["msgs"] / r["wall_s"], "msg/s")
    rows.add(rep, tgt.name, "pop3", p, "server_cpu_s", r["server_cpu_s"], "s")
    rows.add(rep, tgt.name, "pop3", p, "server_cpu_ms_per_msg", 1000 * r["server_cpu_s"] / r["msgs"], "ms")
    log(f"pop3 {tgt.name} k={k} rep {rep}: {r['msgs'] / r['wall_s']:,.0f} msg/s ({r['msgs']} in {r['wall_s']:.2f}s)")


def run_mem(a, rows, rep, tgt, kind):
    try:
        r = measure.idle_memory(tgt, kind, a.idle, PASSWORD)
    except (RuntimeError, OSError) as e:
        rows.add(rep, tgt.name, "mem", kind, "error", repr(e).replace("\t", " "), "")
        log(f"mem {tgt.name} {kind} rep {rep}: FAILED {e!r}")
        return
    rows.add(rep, tgt.name, "mem", kind, "idle_conns", a.idle, "conn")
    rows.add(rep, tgt.name, "mem", kind, "pss_kib_per_conn", r["kib_per_conn"], "KiB")
    rows.add(rep, tgt.name, "mem", kind, "pss_before_kib", r["pss_before_kib"], "KiB")
    rows.add(rep, tgt.name, "mem", kind, "pss_after_kib", r["pss_after_kib"], "KiB")
    rows.add(rep, tgt.name, "mem", kind, "procs_before", r["procs_before"], "proc")
    rows.add(rep, tgt.name, "mem", kind, "procs_after", r["procs_after"], "proc")
    log(f"mem {tgt.name} {kind} rep {rep}: {r['kib_per_conn']:.1f} KiB PSS per idle connection "
        f"({r['procs_before']} -> {r['procs_after']} processes)")


def find_tegami(path):
    if path:
        if not os.access(path, os.X_OK):
            sys.exit(f"no tegami binary at {path}")
        return os.path.abspath(path)
    path = os.path.join(SOURCE_DIR, "build", "release", "tegami")
    if not os.access(path, os.X_OK):
        log(f"no {path}: building it (cmake --preset release && cmake --build --preset release)")
        subprocess.run(["cmake", "--preset", "release"], cwd=SOURCE_DIR, check=True, timeout=600)
        subprocess.run(["cmake", "--build", "--preset", "release"], cwd=SOURCE_DIR, check=True, timeout=7200)
    return path


def cmd_run(a):
    want = [t.strip() for t in a.targets.replace(",", " ").split()]
    for t in want:
        if t not in ("tegami", "postfix", "anchors", ANCHORS):
            sys.exit(f"unknown target {t}: tegami, postfix (= Postfix + Dovecot)")
    concs = [int(x) for x in a.smtp_concs.replace(",", " ").split()]
    ks = [int(x) for x in a.pop3_conns.replace(",", " ").split()]
    tests = a.tests.replace(",", " ").split()
    for t in tests:
        if t not in ("smtp", "pop3", "mem"):
            sys.exit(f"unknown test {t}: smtp, pop3, mem")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < 2 * a.idle + 200:
        sys.exit(f"the open-file limit ({hard}) is too low for {a.idle} idle connections")
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = a.out or os.path.join(HERE, "results", stamp)
    logdir = os.path.join(out, "logs")
    os.makedirs(logdir, exist_ok=True)
    client_name, client = measure.smtp_client(a.client)
    nusers = max(POP3_USERS, a.idle)

    targets = []
    if any(t in ("postfix", "anchors", ANCHORS) for t in want):
        targets.append(servers.Anchors(a.work, nusers, a.idle, a.postfix_port, a.dovecot_port, logdir))
    if "tegami" in want:
        targets.append(servers.Tegami(a.work, find_tegami(a.tegami), nusers, a.idle, logdir))
    with open(os.path.join(out, "meta.txt"), "w") as fh:
        parts = [f"{a.reps} rep{'s' if a.reps != 1 else ''}"]
        if "smtp" in tests:
            parts.append(f"{a.messages} messages of {a.msg_len} octets per SMTP run (client: {client_name})")
        if "pop3" in tests:
            parts.append(f"{POP3_USERS} × {max(1, a.messages // POP3_USERS)} messages per POP3 drain")
        if "mem" in tests:
            parts.append(f"{a.idle} idle connections")
        fh.write(", ".join(parts) + ".")
    rows = Rows(out)
    started = []
    t_run = time.monotonic()
    try:
        for t in targets:
            t.setup()
        write_env(out, a, targets, client_name)
        for t in targets:
            started.append(t)
            t.start()
        for rep in range(1, a.reps + 1):
            order = targets if rep % 2 else list(reversed(targets))
            log(f"rep {rep}/{a.reps}: {' then '.join(t.name for t in order)}")
            if "smtp" in tests:
                for c in concs:
                    for t in order:
                        run_smtp(a, rows, rep, t, c, client, logdir)
            if "pop3" in tests:
                for k in ks:
                    for t in order:
                        run_pop3(a, rows, rep, t, k)
            if "mem" in tests:
                for kind in ("smtp", "pop3"):
                    for t in order:
                        run_mem(a, rows, rep, t, kind)
    finally:
        measure.kill_children()
        for t in reversed(started):
            try:
                t.cleanup()
            except Exception as e:  # noqa: BLE001 - keep stopping the others
                log(f"{t.name}: stop failed: {e!r}")
        rows.fh.close()
    text = summarize(out)
    print(text)
    log(f"done in {time.monotonic() - t_run:.0f}s; results in {out}")
    return 0


def parse(argv):
    ap = argparse.ArgumentParser(prog="bench/compare.py", description=__doc__,
                                 epilog="Flags win over the environment variables named in brackets.",
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", nargs="?", default="run", choices=("run", "install", "all", "clean", "summary"))
    ap.add_argument("--quick", action="store_true", help="smoke test: " + ", ".join(f"{k}={v}" for k, v in QUICK.items()))
    ap.add_argument("--targets", help="tegami and/or postfix (= Postfix + Dovecot) [TARGETS; both]")
    ap.add_argument("--tegami", metavar="PATH", help="the tegami binary [TEGAMI_BIN; build/release/tegami, "
                    "built if missing]")
    ap.add_argument("--reps", type=int, help=f"repetitions [REPS; {DEFAULTS['reps']}]")
    ap.add_argument("--messages", type=int, help=f"messages per SMTP run and per POP3 drain [MESSAGES; "
                    f"{DEFAULTS['messages']}]")
    ap.add_argument("--smtp-concs", help=f"SMTP sessions in parallel [SMTP_CONCS; \"{DEFAULTS['smtp_concs']}\"]")
    ap.add_argument("--pop3-conns", help=f"POP3 connections in parallel [POP3_CONNS; \"{DEFAULTS['pop3_conns']}\"]")
    ap.add_argument("--idle", type=int, help=f"idle connections for the memory test [IDLE_CONNS; {DEFAULTS['idle']}]")
    ap.add_argument("--tests", help="smtp, pop3, mem [TESTS; all]")
    ap.add_argument("--client", choices=("auto", "smtp-source", "python"),
                    help="SMTP load generator: smtp-source (package postfix) or benchlib/smtpload.py "
                    "[BENCH_CLIENT; auto = smtp-source when installed]")
    ap.add_argument("--msg-len", type=int, default=4096, help="message body octets [4096]")
    ap.add_argument("--work", help="private instances and their data [BENCH_WORK; /tmp/tegami-bench]")
    ap.add_argument("--out", help="results folder [bench/results/<UTC stamp>]")
    ap.add_argument("--postfix-port", type=int, default=int(os.environ.get("POSTFIX_PORT", 12525)),
                    help="Postfix smtpd on 127.0.0.1 [POSTFIX_PORT; 12525]")
    ap.add_argument("--dovecot-port", type=int, default=int(os.environ.get("DOVECOT_PORT", 12110)),
                    help="Dovecot pop3 on 127.0.0.1 [DOVECOT_PORT; 12110] (tegami takes free ports)")
    a = ap.parse_args(argv)
    for k in ("reps", "messages", "smtp_concs", "pop3_conns", "idle", "targets", "tegami", "work",
              "client", "tests"):
        if getattr(a, k) is not None:
            continue
        v = None
        if a.quick and k in QUICK:
            v = QUICK[k]
        elif os.environ.get(ENV[k]):
            v = os.environ[ENV[k]]
            if k in ("reps", "messages", "idle"):
                v = int(v)
        else:
            v = DEFAULTS.get(k, {"targets": "postfix tegami", "work": "/tmp/tegami-bench",
                                 "client": "auto", "tests": "smtp pop3 mem"}.get(k))
        setattr(a, k, v)
    if a.reps < 1 or a.messages < 1 or a.idle < 1:
        ap.error("--reps, --messages and --idle must be at least 1")
    if not os.path.isabs(a.work) or os.path.realpath(a.work) in ("/", "/tmp", os.path.realpath(SOURCE_DIR)):
        ap.error("--work must be an absolute path of its own (it is deleted and re-created)")
    return a


def main(argv=None):
    a = parse(sys.argv[1:] if argv is None else argv)

    def on_signal(signum, _frame):     # unwind through the finally blocks: stop every instance
        for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(s, signal.SIG_IGN)      # and let nothing interrupt that
        log(f"signal {signum}: stopping")
        raise SystemExit(128 + signum)
    for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(s, on_signal)
    if a.command == "install":
        servers.install()
        return 0
    if a.command == "clean":
        servers.clean(a.work)
        return 0
    if a.command == "summary":
        if not a.out:
            sys.exit("summary: --out RESULTS_DIR")
        print(summarize(a.out))
        return 0
    if a.command == "all":
        servers.install()
    return cmd_run(a)


if __name__ == "__main__":
    sys.exit(main())
