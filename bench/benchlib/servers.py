"""The servers compared by bench/compare.py, each a private instance under
the work directory (default /tmp/tegami-bench), bound to 127.0.0.1 only:

  tegami          WORK/tegami/       `tegami init`, started through the integration
                                     tests' harness (port 0, [dns] servers = a closed
                                     loopback port)
  postfix+dovecot WORK/postfix/      Postfix config_directory, queue, log (`postfix -c`)
                  WORK/dovecot/      stand-alone dovecot.conf, base_dir, log (`dovecot -c`)
                  WORK/mail/         the Maildirs Postfix's virtual(8) writes, Dovecot reads

Users are user1..userN@example.test with password PASSWORD on both sides.
"""
import glob
import os
import pwd
import shutil
import subprocess
import sys
import time

from . import procs

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))   # bench/
SOURCE_DIR = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "integration"))
import harness  # noqa: E402

DOMAIN = "example.test"
PASSWORD = "bench-Passw0rd"
MAIL_USER = "tgbench"          # owner of the anchors' Maildirs (Postfix virtual uid, Dovecot uid)
PACKAGES = ("postfix", "dovecot-core", "dovecot-pop3d")


def log(*a):
    print("[compare]", *a, file=sys.stderr, flush=True)


def run(cmd, timeout=120, check=True, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {p.returncode}: {p.stderr.strip() or p.stdout.strip()}")
    return p


def wait_port(host, port, timeout):
    import socket
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


def port_free(port):
    import socket
    s = socket.socket()
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def count_files(d):
    try:
        with os.scandir(d) as it:
            return sum(1 for _ in it)
    except FileNotFoundError:
        return 0


def empty_dir(d):
    try:
        names = os.listdir(d)
    except FileNotFoundError:
        return
    for n in names:
        try:
            os.unlink(os.path.join(d, n))
        except FileNotFoundError:
            pass


def crypt_hash(password):
    """A SHA-512 crypt(3) hash ($6$, 1000 rounds): `tegami user add --hash`
    imports it without paying yescrypt for each of hundreds of bench users
    (Dovecot's users are {PLAIN}; no login is timed, so neither costs much)."""
    import secrets
    salt = secrets.token_hex(8)
    try:
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import crypt
        h = crypt.crypt(password, f"$6$rounds=1000${salt}")
        if h and h.startswith("$6$"):
            return h
    except ImportError:
        pass
    return run(["openssl", "passwd", "-6", "-salt", salt, password]).stdout.strip()


def maildrop_name(seq, size, wsize):
    """A fresh Maildir name (never one used before: Dovecot remembers names in
    its uidlist), with the sizes on disk (S=) and on the wire (W=) as tegami
    names its deliveries (Dovecot reads both too)."""
    t = time.time()
    return f"{int(t)}.M{int(t * 1e6) % 1000000:06d}P{os.getpid()}Q{seq}.bench,S={size},W={wsize}"


# --------------------------------------------------------------------- target base
class Target:
    name = "?"
    owner = None                # (uid, gid) for files written into its Maildirs

    def rcpt(self, i):
        return f"user{i}@{DOMAIN}"

    login = rcpt

    def maildir(self, i):
        raise NotImplementedError

    def delivered(self, i):
        return count_files(os.path.join(self.maildir(i), "new"))

    def stored(self, i):
        md = self.maildir(i)
        return count_files(os.path.join(md, "new")) + count_files(os.path.join(md, "cur"))

    def clean(self, i):
        for sub in ("new", "cur", "tmp"):
            empty_dir(os.path.join(self.maildir(i), sub))

    def wait_idle(self, timeout=120):
        return True


# --------------------------------------------------------------------- tegami
class Tegami(Target):
    name = "tegami"

    def __init__(self, work, binary, nusers, max_conns, logdir):
        self.dir = os.path.join(work, "tegami")
        self.bin = binary
        self.nusers = nusers
        self.max_conns = max_conns
        self.logdir = logdir
        self.srv = None
        self._logged = 0

    def maildir(self, i):
        return os.path.join(self.dir, "data", "mail", DOMAIN, f"user{i}")

    def maildrop_name(self, seq, size, wsize, new=True):
        # as tegami names its own deliveries: sizes on disk (S=) and on the wire (W=)
        return maildrop_name(seq, size, wsize)

    @staticmethod
    def stop_stale(work):
        """A tegami left running from a killed run (its pid file in data_dir)."""
        pid = procs.read_pidfile(os.path.join(work, "tegami", "data", "tegami.pid"))
        if pid and procs.alive(pid):
            try:
                exe = os.readlink(f"/proc/{pid}/exe")
            except OSError:
                exe = ""
            if os.path.basename(exe).startswith("tegami"):
                log(f"stopping a tegami left over from an earlier run (pid {pid})")
                procs.kill_wait(pid, 40)

    def setup(self):
        self.stop_stale(os.path.dirname(self.dir))
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(os.path.dirname(self.dir), exist_ok=True)
        harness.BIN = self.bin
        t0 = time.monotonic()
        self.srv = harness.Server(users=(), keep_dir=self.dir, domain=DOMAIN, hostname=f"bench.{DOMAIN}",
                                  # no reverse DNS of the client, as Postfix here
                                  # (smtpd_peername_lookup = no)
                                  # and no SPF check of MAIL FROM (Postfix here runs
                                  # no SPF policy service either)
                                  extra_config={"dns.reverse_timeout": '"0s"', "spf.check": "false",
                                                "limits.connections_per_ip": str(self.max_conns + 100),
                                                "limits.connections": str(2 * self.max_conns + 200)})
        h = crypt_hash(PASSWORD)
        for i in range(1, self.nusers + 1):
            self.srv.cli("user", "add", self.rcpt(i), "--hash", h)
        for i in range(1, self.nusers + 1):
            for sub in ("new", "cur", "tmp"):
                os.makedirs(os.path.join(self.maildir(i), sub), exist_ok=True)
        log(f"tegami: {self.dir}, {self.nusers} users, set up in {time.monotonic() - t0:.1f}s")

    def start(self):
        self.srv.start(timeout=30)
        self.smtp_port, self.pop3_port = self.srv.ports["smtp"], self.srv.ports["pop3"]
        log(f"tegami pid {self.srv.proc.pid}: SMTP 127.0.0.1:{self.smtp_port}, POP3 127.0.0.1:{self.pop3_port}")

    def _save_log(self):
        lines = self.srv.log_lines[self._logged:] if self.srv else []
        if lines and self.logdir:
            with open(os.path.join(self.logdir, "tegami-serve.log"), "a") as fh:
                fh.write("\n".join(lines) + "\n")
            self._logged += len(lines)

    def stop(self):
        if self.srv and self.srv.proc and self.srv.proc.poll() is None:
            rc = self.srv.stop()
            log(f"tegami stopped (exit {rc})")
        self._save_log()

    def cleanup(self):
        """Last resort on the way out: nothing of ours may outlive the run."""
        if self.srv:
            try:
                self.stop()
            except Exception as e:  # noqa: BLE001
                log(f"tegami stop: {e!r}")
            self.srv.cleanup()
            self._save_log()

    def restart(self, proto):
        self.stop()
        self.start()

    def smtp_addr(self):
        return f"127.0.0.1:{self.smtp_port}"

    def pop3_addr(self):
        return ("127.0.0.1", self.pop3_port)

    def roots(self, proto):
        return [self.srv.proc.pid]

    def version(self):
        out = []
        try:
            out.append("this checkout " + run(["git", "-C", SOURCE_DIR, "describe", "--always", "--dirty"],
                                       check=False).stdout.strip())
        except Exception:  # noqa: BLE001
            pass
        cache = os.path.join(os.path.dirname(os.path.abspath(self.bin)), "CMakeCache.txt")
        if os.path.exists(cache):
            for ln in open(cache):
                if ln.startswith("CMAKE_BUILD_TYPE:"):
                    out.append("build type " + ln.split("=", 1)[1].strip())
        st = os.stat(self.bin)
        out.append(f"binary {os.path.abspath(self.bin)} ({st.st_size} bytes, built "
                   f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(st.st_mtime))})")
        return ", ".join(out)


# --------------------------------------------------------------------- anchors
def packages_missing():
    missing = []
    for p in PACKAGES:
        r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", p], capture_output=True, text=True)
        if "install ok installed" not in r.stdout:
            missing.append(p)
    return missing


def install():
    """apt-get install postfix dovecot-pop3d without configuring or starting the
    system's instances; add the system user owning the bench Maildirs. Idempotent."""
    if os.geteuid() != 0:
        sys.exit("compare.py install: run as root (apt-get, useradd)")
    missing = packages_missing()
    if missing:
        log(f"installing {' '.join(missing)} from Debian (system services are neither started nor enabled)")
        run(["debconf-set-selections"], input="postfix postfix/main_mailer_type select No configuration\n")
        guard = "/usr/sbin/policy-rc.d"
        made_guard = False
        if not os.path.exists(guard):          # invoke-rc.d: 101 = action forbidden
            with open(guard, "w") as fh:
                fh.write("#!/bin/sh\n# tegami bench/compare.py: no service starts during install\nexit 101\n")
            os.chmod(guard, 0o755)
            made_guard = True
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        try:
            cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing]
            p = subprocess.run(cmd, env=env, timeout=1800)
            if p.returncode != 0:           # stale package lists: update once and retry
                subprocess.run(["apt-get", "update", "-q"], env=env, timeout=600, check=True)
                subprocess.run(cmd, env=env, timeout=1800, check=True)
        finally:
            if made_guard:
                os.unlink(guard)
        # The packages enable their units/init scripts: switch off what we brought in.
        units = [u for p, u in (("postfix", "postfix.service"), ("dovecot-core", "dovecot.service"),
                                ("dovecot-core", "dovecot.socket")) if p in missing]
        if units and os.path.isdir("/run/systemd/system") and shutil.which("systemctl"):
            subprocess.run(["systemctl", "disable", *units], timeout=120)
        elif units and shutil.which("update-rc.d"):
            for name in sorted({u.split(".")[0] for u in units}):
                subprocess.run(["update-rc.d", name, "disable"], timeout=60, capture_output=True)
    else:
        log("postfix and dovecot-pop3d are installed")
    try:
        pwd.getpwnam(MAIL_USER)
    except KeyError:
        run(["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
             "--shell", "/usr/sbin/nologin", MAIL_USER])
        log(f"added system user {MAIL_USER} (owns the anchors' Maildirs under the work directory)")
    log(f"postfix {postfix_version()}, dovecot {dovecot_version()}")


def postfix_version():
    try:
        return run(["postconf", "-d", "-h", "mail_version"], check=False).stdout.strip() or "?"
    except (OSError, subprocess.SubprocessError):
        return "not installed"


def dovecot_version():
    try:
        return run(["dovecot", "--version"], check=False).stdout.strip() or "?"
    except (OSError, subprocess.SubprocessError):
        return "not installed"


class Anchors(Target):
    """Postfix 3.7 (SMTP, virtual(8) Maildir delivery) + Dovecot 2.3 (POP3), as Debian ships them."""
    name = "postfix+dovecot"

    def __init__(self, work, nusers, max_conns, smtp_port, pop3_port, logdir):
        self.work = work
        self.pf = os.path.join(work, "postfix")
        self.dc = os.path.join(work, "dovecot")
        self.mail = os.path.join(work, "mail")
        self.nusers = nusers
        self.max_conns = max_conns
        self.smtp_port, self.pop3_port = smtp_port, pop3_port
        self.logdir = logdir

    # -- layout
    def maildir(self, i):
        return os.path.join(self.mail, DOMAIN, f"user{i}")

    def maildrop_name(self, seq, size, wsize, new=True):
        return maildrop_name(seq, size, wsize)

    def postfix_pid(self):
        return procs.read_pidfile(os.path.join(self.pf, "spool", "pid", "master.pid"))

    def dovecot_pid(self):
        return procs.read_pidfile(os.path.join(self.dc, "run", "master.pid"))

    def roots(self, proto):
        pid = self.postfix_pid() if proto == "smtp" else self.dovecot_pid()
        return [pid] if pid else []

    def smtp_addr(self):
        return f"127.0.0.1:{self.smtp_port}"

    def pop3_addr(self):
        return ("127.0.0.1", self.pop3_port)

    def version(self):
        return f"postfix {postfix_version()}, dovecot {dovecot_version()}"

    # -- setup
    def setup(self):
        if os.geteuid() != 0:
            sys.exit("the postfix+dovecot target needs root (Postfix and Dovecot start as root "
                     "and drop privileges); run as root, or use --targets tegami")
        missing = packages_missing()
        if missing or not shutil.which("postfix") or not shutil.which("dovecot"):
            sys.exit(f"{' '.join(missing) or 'postfix/dovecot'} not installed: run "
                     f"`bench/compare.py install` first (or `bench/compare.py all`)")
        try:
            pw = pwd.getpwnam(MAIL_USER)
        except KeyError:
            sys.exit(f"no system user {MAIL_USER}: run `bench/compare.py install` first")
        self.uid, self.gid = pw.pw_uid, pw.pw_gid
        self.owner = (self.uid, self.gid)
        self.stop_stale()
        for p in (self.smtp_port, self.pop3_port):
            if not port_free(p):
                sys.exit(f"127.0.0.1:{p} is in use: choose other ports (POSTFIX_PORT, DOVECOT_PORT)")
        shutil.rmtree(self.mail, ignore_errors=True)
        for d in (self.pf, self.dc):
            shutil.rmtree(d, ignore_errors=True)
        os.makedirs(self.work, exist_ok=True)
        os.chmod(self.work, 0o755)
        self._write_postfix()
        self._write_dovecot()
        self._make_maildirs()
        run(["postfix", "-c", os.path.join(self.pf, "etc"), "check"])
        run(["doveconf", "-c", os.path.join(self.dc, "dovecot.conf"), "-n"])
        log(f"postfix+dovecot: configs in {self.pf}/etc and {self.dc}, Maildirs in {self.mail}")

    def stop_stale(self):
        pf = os.path.join(self.pf, "etc")
        if procs.alive(self.postfix_pid()) and os.path.exists(os.path.join(pf, "main.cf")):
            log("stopping a Postfix left over from an earlier run")
            self.stop_postfix()
        if procs.alive(self.dovecot_pid()):
            log("stopping a Dovecot left over from an earlier run")
            self.stop_dovecot()

    def _write_postfix(self):
        etc, spool, data, logd = (os.path.join(self.pf, d) for d in ("etc", "spool", "data", "log"))
        for d in (etc, spool, data, logd):
            os.makedirs(d, exist_ok=True)
        os.chmod(self.pf, 0o755)
        os.chmod(spool, 0o755)
        pf_uid = pwd.getpwnam("postfix")
        os.chown(data, pf_uid.pw_uid, pf_uid.pw_gid)
        os.chmod(data, 0o700)
        with open(os.path.join(etc, "main.cf"), "w") as fh:
            fh.write(f"""# Private instance of tegami's bench/compare.py (rewritten on every run).
# Everything not set here is at the Postfix defaults, durability included:
# cleanup(8) fsyncs the queue file before the 250, virtual(8) fsyncs the Maildir file.
compatibility_level = 3.6
queue_directory = {spool}
data_directory = {data}
mail_owner = postfix
setgid_group = postdrop
myhostname = bench.{DOMAIN}
mydomain = {DOMAIN}
myorigin = $myhostname
mydestination =
# loopback only, IPv4 only, and no DNS at all
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_peername_lookup = no
smtp_dns_support_level = disabled
alias_maps =
alias_database =
biff = no
append_dot_mydomain = no
# virtual(8) delivers into Maildirs (a trailing / in the map means Maildir)
virtual_mailbox_domains = {DOMAIN}
virtual_mailbox_base = {self.mail}
virtual_mailbox_maps = texthash:{etc}/vmailbox
virtual_uid_maps = static:{self.uid}
virtual_gid_maps = static:{self.gid}
virtual_transport = virtual
# nothing ever leaves this machine
local_transport = error:local delivery is off in the benchmark
default_transport = error:outbound mail is off in the benchmark
relay_transport = error:outbound mail is off in the benchmark
maillog_file_prefixes = {logd}
maillog_file = {logd}/postfix.log
""")
        smtpd_max = max(300, self.max_conns + 100)
        with open(os.path.join(etc, "master.cf"), "w") as fh:
            fh.write(f"""# service type  private unpriv  chroot  wakeup  maxproc command + args
127.0.0.1:{self.smtp_port} inet n - n - {smtpd_max} smtpd
pickup     unix  n - n 60 1 pickup
cleanup    unix  n - n - 0 cleanup
qmgr       unix  n - n 300 1 qmgr
rewrite    unix  - - n - - trivial-rewrite
bounce     unix  - - n - 0 bounce
defer      unix  - - n - 0 bounce
trace      unix  - - n - 0 bounce
verify     unix  - - n - 1 verify
flush      unix  n - n 1000? 0 flush
proxymap   unix  - - n - - proxymap
proxywrite unix  - - n - 1 proxymap
showq      unix  n - n - - showq
error      unix  - - n - - error
retry      unix  - - n - - error
discard    unix  - - n - - discard
virtual    unix  - n n - - virtual
anvil      unix  - - n - 1 anvil
scache     unix  - - n - 1 scache
postlog    unix-dgram n - n - 1 postlogd
""")
        with open(os.path.join(etc, "vmailbox"), "w") as fh:
            for i in range(1, self.nusers + 1):
                fh.write(f"user{i}@{DOMAIN}\t{DOMAIN}/user{i}/\n")
            fh.write(f"postmaster@{DOMAIN}\t{DOMAIN}/postmaster/\n")

    def _write_dovecot(self):
        run_d, state, logd = (os.path.join(self.dc, d) for d in ("run", "state", "log"))
        for d in (run_d, state, logd):
            os.makedirs(d, exist_ok=True)
        os.chmod(self.dc, 0o755)
        limit = max(300, self.max_conns + 100)
        with open(os.path.join(self.dc, "dovecot.conf"), "w") as fh:
            fh.write(f"""# Private instance of tegami's bench/compare.py (rewritten on every run).
# Stand-alone: no conf.d; everything not set here (mail_fsync, ...) at the defaults.
instance_name = tegami-bench-dovecot
base_dir = {run_d}
state_dir = {state}
log_path = {logd}/dovecot.log
protocols = pop3
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
first_valid_uid = {self.uid}
last_valid_uid = {self.uid}
first_valid_gid = {self.gid}
default_internal_user = dovecot
default_login_user = dovenull
mail_location = maildir:~
default_client_limit = {4 * limit}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.dc}/users
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {self.dc}/users
}}
service pop3-login {{
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {self.pop3_port}
  }}
  inet_listener pop3s {{
    port = 0
  }}
  process_limit = {limit}
}}
service pop3 {{
  process_limit = {limit}
}}
service anvil {{
  client_limit = {4 * limit}
}}
service auth {{
  client_limit = {4 * limit}
}}
""")
        users = os.path.join(self.dc, "users")
        with open(users, "w") as fh:
            for i in range(1, self.nusers + 1):
                fh.write(f"user{i}@{DOMAIN}:{{PLAIN}}{PASSWORD}:{self.uid}:{self.gid}::{self.maildir(i)}::\n")
        dc_gid = pwd.getpwnam("dovecot").pw_gid
        os.chown(users, 0, dc_gid)
        os.chmod(users, 0o640)

    def _make_maildirs(self):
        for d in (self.mail, os.path.join(self.mail, DOMAIN)):
            os.makedirs(d, exist_ok=True)
            os.chown(d, self.uid, self.gid)
            os.chmod(d, 0o755)
        for i in list(range(1, self.nusers + 1)) + ["postmaster"]:
            md = self.maildir(i) if i != "postmaster" else os.path.join(self.mail, DOMAIN, "postmaster")
            for d in (md, *(os.path.join(md, s) for s in ("new", "cur", "tmp"))):
                os.makedirs(d, exist_ok=True)
                os.chown(d, self.uid, self.gid)
                os.chmod(d, 0o700)

    # -- start / stop
    def start(self):
        self.start_postfix()
        self.start_dovecot()

    def start_postfix(self):
        etc = os.path.join(self.pf, "etc")
        rc = self._daemon(["postfix", "-c", etc, "start"], os.path.join(self.pf, "log", "start.log"))
        if rc != 0 or not wait_port("127.0.0.1", self.smtp_port, 30):
            raise RuntimeError(f"postfix did not start (exit {rc}): {self._tail('postfix')}")
        self._wait_pid(self.postfix_pid)
        log(f"postfix master pid {self.postfix_pid()}: SMTP 127.0.0.1:{self.smtp_port}")

    def start_dovecot(self):
        rc = self._daemon(["dovecot", "-c", os.path.join(self.dc, "dovecot.conf")],
                          os.path.join(self.dc, "log", "start.log"))
        if rc != 0 or not wait_port("127.0.0.1", self.pop3_port, 30):
            raise RuntimeError(f"dovecot did not start (exit {rc}): {self._tail('dovecot')}")
        self._wait_pid(self.dovecot_pid)
        log(f"dovecot master pid {self.dovecot_pid()}: POP3 127.0.0.1:{self.pop3_port}")

    @staticmethod
    def _wait_pid(get, timeout=10):
        """The master writes its pid file a moment after it listens."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not procs.alive(get()):
            time.sleep(0.05)
        if not procs.alive(get()):
            raise RuntimeError("no master pid file")

    @staticmethod
    def _daemon(cmd, logfile):
        """Runs a command that daemonizes: the daemon must not inherit a pipe of ours
        (we would wait for its EOF), so its output goes to a file."""
        with open(logfile, "a") as lf:
            try:
                return subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=lf, stderr=subprocess.STDOUT,
                                      timeout=60).returncode
            except subprocess.TimeoutExpired:
                return "timeout"

    def _tail(self, which):
        f = os.path.join(self.pf, "log", "postfix.log") if which == "postfix" \
            else os.path.join(self.dc, "log", "dovecot.log")
        try:
            start = os.path.join(os.path.dirname(f), "start.log")
            return "".join(open(start, errors="replace").readlines()[-5:]
                           + open(f, errors="replace").readlines()[-10:])
        except OSError:
            return ""

    def _stop_tree(self, pid, how, what):
        if not procs.alive(pid):
            return
        pids = procs.tree([pid])
        try:
            how()
        except Exception as e:  # noqa: BLE001 - fall through to signals
            log(f"{what} stop: {e!r}")
        if not procs.wait_gone(pid, 30):
            log(f"{what} master {pid} still alive after 30 s: SIGKILL")
            procs.kill_wait(pid, 1)
        for p in pids:                  # no child may outlive its master
            if procs.alive(p):
                procs.kill_wait(p, 5)
        log(f"{what} stopped (master pid {pid})")

    def stop_postfix(self):
        self._stop_tree(self.postfix_pid(),
                        lambda: self._daemon(["postfix", "-c", os.path.join(self.pf, "etc"), "stop"],
                                             os.path.join(self.pf, "log", "start.log")),
                        "postfix")

    def stop_dovecot(self):
        pid = self.dovecot_pid()
        self._stop_tree(pid, lambda: os.kill(pid, 15), "dovecot")

    def stop(self):
        self.stop_postfix()
        self.stop_dovecot()
        self.save_logs()

    cleanup = stop

    def save_logs(self):
        if not self.logdir:
            return
        for src, dst in ((os.path.join(self.pf, "log", "postfix.log"), "postfix.log"),
                         (os.path.join(self.dc, "log", "dovecot.log"), "dovecot.log")):
            if os.path.exists(src):
                shutil.copyfile(src, os.path.join(self.logdir, dst))
        for f in (os.path.join(self.pf, "etc", "main.cf"), os.path.join(self.pf, "etc", "master.cf"),
                  os.path.join(self.dc, "dovecot.conf")):
            if os.path.exists(f):
                shutil.copyfile(f, os.path.join(self.logdir, os.path.basename(f)))

    def restart(self, proto):
        if proto == "smtp":
            self.stop_postfix()
            self.start_postfix()
        else:
            self.stop_dovecot()
            self.start_dovecot()

    def queue_files(self):
        n = 0
        for d in ("incoming", "active", "deferred", "hold", "maildrop"):
            for _, _, files in os.walk(os.path.join(self.pf, "spool", d)):
                n += len(files)
        return n

    def wait_idle(self, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.queue_files() == 0:
                return True
            time.sleep(0.2)
        log(f"postfix queue still holds {self.queue_files()} files after {timeout}s")
        return False


def clean(work):
    """Stop whatever a killed run left behind and remove the work directory."""
    Tegami.stop_stale(work)
    a = Anchors(work, 0, 0, 0, 0, None)
    a.stop_stale()
    if os.path.isdir(work):
        shutil.rmtree(work, ignore_errors=True)
        log(f"removed {work}")
