"""A real single-node Slurm (Debian ``slurm-wlm`` + ``munge``) under one temp folder, for tests.

::

    with SlurmCluster(tmp_path / "slurm") as cluster:      # munged, slurmctld, slurmd; node idle
        job = cluster.sbatch(["--wrap", "hostname"])
        assert cluster.wait_job(job) == "COMPLETED"

Everything (config, munge key and socket, state, spool, logs) lives under ``root``; the
daemons run in the foreground as our children and are stopped by PID (SIGTERM, then SIGKILL),
after every job of this cluster is cancelled. ``ProctrackType=proctrack/linuxproc`` and
``TaskPlugin=task/none`` need no cgroups; ``SlurmdParameters=config_overrides`` lets the
node declare more CPUs than the machine has, so light jobs run side by side on a small box.
``cluster.env`` (``SLURM_CONF``) points the client commands at this cluster; jobs inherit it.
``can_start()`` says why a cluster cannot be started here (None when it can).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import weakref
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "scontrol", "scancel", "sinfo", "srun")
FINAL_STATES = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY",
                "PREEMPTED", "BOOT_FAIL", "DEADLINE"}


def can_start() -> str | None:
    """Why a private cluster cannot be started on this machine (None when it can)."""
    missing = [d for d in (*DAEMONS, *CLIENTS, "mungekey") if _which(d) is None]
    if missing:
        return f"Slurm/munge not installed ({', '.join(missing)} missing; apt-get install slurm-wlm munge)"
    if os.geteuid() != 0:
        return "starting a private Slurm needs root (slurmd runs jobs as their user)"
    return None


def _which(name: str) -> str | None:
    return shutil.which(name) or next((str(p) for d in ("/usr/sbin", "/sbin")
                                       if (p := Path(d) / name).is_file()), None)


def _kill_all(procs: list[subprocess.Popen]) -> None:
    """Last resort (garbage collection, interpreter exit): SIGKILL our daemons, by PID."""
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _real_memory_mb() -> int:
    with open("/proc/meminfo") as fh:
        kb = int(next(line for line in fh if line.startswith("MemTotal")).split()[1])
    return max(1024, kb // 1024 - 512)


class SlurmCluster:
    """One controller and one node on 127.0.0.1; see the module docstring."""

    def __init__(self, root: str | os.PathLike | None, cpus: int = 4, partition: str = "debug",
                 start_timeout_s: float = 60.0) -> None:
        self.external = root is None  # a cluster that already answers (see existing())
        self.root = Path(root or tempfile.gettempdir()).resolve()
        self.cpus = cpus
        self.partition = partition
        self.start_timeout_s = start_timeout_s
        self.node = socket.gethostname().split(".")[0]
        self.conf = self.root / "slurm.conf"
        self.log_dir = self.root / "log"
        self.procs: dict[str, subprocess.Popen] = {}
        self._finalizer: weakref.finalize | None = None

    @classmethod
    def existing(cls) -> SlurmCluster:
        """The cluster this machine's Slurm commands already talk to (nothing is started or stopped)."""
        return cls(None)

    # -- environment ------------------------------------------------------------------
    @property
    def env(self) -> dict[str, str]:
        """Variables that point Slurm's client commands (and jobs) at this cluster."""
        return {} if self.external else {"SLURM_CONF": str(self.conf)}

    def client_env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """os.environ without the variables of a job we may be running inside (a test run under
        Slurm must not hand its own array index to the jobs it submits); a private cluster
        also drops SBATCH_* defaults meant for another cluster."""
        drop = ("SLURM_", "SRUN_") if self.external else ("SLURM_", "SBATCH_", "SRUN_")
        env = {k: v for k, v in os.environ.items() if not k.startswith(drop) or k == "SLURM_CONF"}
        return {**env, **self.env, **(extra or {})}

    def run(self, *cmd: str, check: bool = True, timeout: float = 60.0, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess:
        proc = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, check=False,
                              env=env or self.client_env())
        if check and proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.strip()[-800:]}")
        return proc

    # -- lifecycle --------------------------------------------------------------------
    def _write_config(self) -> None:
        for sub in ("munge", "state", "spool", "log"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o700)
        (self.root / "munge").chmod(0o700)
        key = self.root / "munge" / "munge.key"
        if not key.is_file():
            subprocess.run([_which("mungekey"), "--create", f"--keyfile={key}"], check=True,
                           capture_output=True)
        key.chmod(0o600)
        r = self.root
        lines = [
            "ClusterName=scaletest",
            f"SlurmctldHost={self.node}(127.0.0.1)",
            f"SlurmctldPort={_free_port()}",
            f"SlurmdPort={_free_port()}",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={r}/munge/munge.socket",
            "SlurmUser=root",
            "SlurmdUser=root",
            f"StateSaveLocation={r}/state",
            f"SlurmdSpoolDir={r}/spool",
            f"SlurmctldPidFile={r}/slurmctld.pid",
            f"SlurmdPidFile={r}/slurmd.pid",
            f"SlurmctldLogFile={self.log_dir}/slurmctld.log",
            f"SlurmdLogFile={self.log_dir}/slurmd.log",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "SwitchType=switch/none",
            "MpiDefault=none",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            "JobCompType=jobcomp/none",
            "SchedulerType=sched/backfill",
            # A finished array wakes its dependant within a second or two, not a minute.
            "SchedulerParameters=sched_interval=2,bf_interval=2,defer_batch=0",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_CPU",
            "SlurmdParameters=config_overrides",
            "ReturnToService=2",
            "SlurmctldTimeout=30",
            "SlurmdTimeout=30",
            "MessageTimeout=20",
            "InactiveLimit=0",
            "KillWait=5",
            "MinJobAge=3600",
            f"NodeName={self.node} NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={_real_memory_mb()} State=UNKNOWN",
            f"PartitionName={self.partition} Nodes={self.node} Default=YES MaxTime=INFINITE State=UP",
        ]
        self.conf.write_text("\n".join(lines) + "\n")

    def _spawn(self, name: str, cmd: list[str]) -> None:
        log = open(self.log_dir / f"{name}.out", "ab")  # noqa: SIM115 - handed to the child
        try:
            self.procs[name] = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                                env=self.client_env(), start_new_session=True)
        finally:
            log.close()

    def start(self) -> SlurmCluster:
        """Start munged, slurmctld and slurmd; return once the node is idle."""
        if self.external:
            return self
        reason = can_start()
        if reason:
            raise RuntimeError(reason)
        self._write_config()
        r = self.root
        self._spawn("munged", [_which("munged"), "--foreground", "--force", f"--socket={r}/munge/munge.socket",
                               f"--key-file={r}/munge/munge.key", f"--pid-file={r}/munge/munged.pid",
                               f"--log-file={self.log_dir}/munged.log", f"--seed-file={r}/munge/munged.seed"])
        self._wait(lambda: (r / "munge" / "munge.socket").exists(), "munged socket")
        self._spawn("slurmctld", [_which("slurmctld"), "-D", "-i", "-f", str(self.conf)])
        self._wait(lambda: self.run("scontrol", "ping", check=False).returncode == 0, "slurmctld ping")
        self._spawn("slurmd", [_which("slurmd"), "-D", "-f", str(self.conf), "-N", self.node])
        self._finalizer = weakref.finalize(self, _kill_all, list(self.procs.values()))
        try:
            self.wait_node_idle()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait(self, ready, what: str) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        while not ready():
            dead = [n for n, p in self.procs.items() if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                tail = self.log_tail()
                self.stop()
                why = f"{', '.join(dead)} exited" if dead else f"no {what} after {self.start_timeout_s:g}s"
                raise RuntimeError(f"single-node Slurm failed to start: {why}\n{tail}")
            time.sleep(0.2)

    def node_state(self) -> str:
        proc = self.run("sinfo", "-h", "-N", "-n", self.node, "-o", "%T", check=False)
        return proc.stdout.strip().lower() if proc.returncode == 0 else ""

    def wait_node_idle(self, timeout_s: float | None = None) -> None:
        """Block until the node reports idle (registered, no jobs on it)."""
        deadline = time.monotonic() + (timeout_s or self.start_timeout_s)
        while (state := self.node_state()) != "idle":
            if any(p.poll() is not None for p in self.procs.values()) or time.monotonic() > deadline:
                raise RuntimeError(f"node {self.node} not idle (state {state!r})\n{self.log_tail()}")
            if state.startswith(("drain", "down")):  # a node that was busy when we restarted
                self.run("scontrol", "update", f"NodeName={self.node}", "State=RESUME", check=False)
            time.sleep(0.3)

    def cancel_all(self, timeout_s: float = 60.0) -> None:
        """Cancel every job of this cluster and wait until none is left running."""
        self.run("scancel", "--full", "--user", str(os.geteuid()), check=False)
        deadline = time.monotonic() + timeout_s
        while self.run("squeue", "-h", "-t", "PD,R,CG,S", check=False).stdout.strip():
            if time.monotonic() > deadline:
                break
            time.sleep(0.5)

    def stop(self) -> None:
        """Cancel the jobs, then stop slurmd, slurmctld and munged by PID (SIGTERM, then SIGKILL)."""
        if self.external:
            return
        if "slurmctld" in self.procs and self.procs["slurmctld"].poll() is None:
            with contextlib.suppress(Exception):
                self.cancel_all()
        for name in ("slurmd", "slurmctld", "munged"):
            proc = self.procs.pop(name, None)
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None

    def __enter__(self) -> SlurmCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log_tail(self, lines: int = 25) -> str:
        out = []
        for path in sorted(self.log_dir.glob("*")):
            with contextlib.suppress(OSError):
                text = path.read_text(errors="replace").splitlines()[-lines:]
                out.append(f"--- {path.name}\n" + "\n".join(text))
        return "\n".join(out)

    # -- jobs -------------------------------------------------------------------------
    def sbatch(self, args: list[str], env: dict[str, str] | None = None, cwd: str | os.PathLike | None = None
               ) -> str:
        """Submit; returns the job id (``--parsable``)."""
        proc = subprocess.run(["sbatch", "--parsable", *args], capture_output=True, text=True, timeout=60,
                              env=self.client_env(env), cwd=cwd, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"sbatch {' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()[-800:]}")
        return proc.stdout.strip().split(";")[0]

    def jobs(self, job_id: str) -> dict[str, dict[str, str]]:
        """``scontrol show job`` of a job (an array: one entry per task), keyed by JobId."""
        proc = self.run("scontrol", "show", "job", "-o", str(job_id), check=False)
        out: dict[str, dict[str, str]] = {}
        for line in proc.stdout.splitlines():
            fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
            if "JobId" in fields:
                out[fields["JobId"]] = fields
        return out

    def state(self, job_id: str) -> str:
        """One word for a job (an array: its tasks' states joined by ',' when they differ)."""
        states = {j["JobState"] for j in self.jobs(job_id).values()}
        return ",".join(sorted(states)) if states else "UNKNOWN"

    def wait_job(self, job_id: str, timeout_s: float = 300.0) -> str:
        """Block until every task of ``job_id`` is in a final state; returns ``state()``."""
        deadline = time.monotonic() + timeout_s
        while True:
            jobs = self.jobs(job_id)
            if jobs and all(j["JobState"] in FINAL_STATES for j in jobs.values()):
                return self.state(job_id)
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} not finished after {timeout_s:g}s: {self.state(job_id)}\n"
                                   f"{self.log_tail(10)}")
            time.sleep(0.5)
