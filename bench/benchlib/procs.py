"""Process trees from /proc: their CPU time and their memory (PSS).

A server is measured as the tree of processes under its root pid (tegami: one
process; Postfix and Dovecot: the master and everything it forked).
"""
import os
import signal
import time

HZ = os.sysconf("SC_CLK_TCK")


def _stat(pid):
    """(comm, ppid, fields after the comm) of /proc/PID/stat, or None if gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            s = fh.read()
    except OSError:
        return None
    l, r = s.index("("), s.rindex(")")
    rest = s[r + 2:].split()
    return s[l + 1:r], int(rest[1]), rest


def proc_table():
    tab = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = _stat(int(d))
            if st:
                tab[int(d)] = st
    return tab


def tree(roots, tab=None):
    """Pids of roots and all their descendants (that are alive now)."""
    tab = tab if tab is not None else proc_table()
    kids = {}
    for pid, (_, ppid, _) in tab.items():
        kids.setdefault(ppid, []).append(pid)
    out, todo, seen = [], [r for r in roots if r in tab], set()
    while todo and len(out) < 100000:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        out.append(pid)
        todo.extend(kids.get(pid, []))
    return out


def tree_cpu_s(roots):
    """CPU seconds (user + system) used so far by the tree, children reaped
    by their parents included (cutime + cstime): the difference of two
    samples is the tree's CPU over the window, even when processes were born
    and died in between (a master reaps its children)."""
    tab = proc_table()
    ticks = 0
    for pid in tree(roots, tab):
        f = tab[pid][2]
        ticks += int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])
    return ticks / HZ


def pss_kib(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for ln in fh:
                if ln.startswith("Pss:"):
                    return int(ln.split()[1])
    except OSError:
        pass
    return None


def tree_pss_kib(roots):
    """(PSS in KiB summed over the tree, number of processes)."""
    total = n = 0
    for pid in tree(roots):
        v = pss_kib(pid)
        if v is not None:
            total += v
            n += 1
    return total, n


def alive(pid):
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    st = _stat(pid)
    return st is not None and st[2][0] != "Z"


def wait_gone(pid, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return not alive(pid)


def kill_wait(pid, timeout=10):
    """SIGTERM, then SIGKILL after timeout seconds."""
    if not alive(pid):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    if not wait_gone(pid, timeout):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        wait_gone(pid, 5)


def read_pidfile(path):
    try:
        with open(path) as fh:
            return int(fh.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
