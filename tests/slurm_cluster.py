"""A real single-node SLURM (Debian slurm-wlm + munge) for the tests, started from nothing in
about 20 s: munged on its own socket, slurmctld and slurmd with a generated slurm.conf
(recipe: ../shared/HOST-FACTS.md). ``python tests/slurm_cluster.py DIR`` starts one by hand and
prints the SLURM_CONF to export."""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")


def available() -> bool:
    return os.geteuid() == 0 and all(shutil.which(d) or Path(f"/usr/sbin/{d}").exists() for d in DAEMONS) \
        and shutil.which("sbatch") is not None


def _node_line(host: str) -> str:
    out = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, timeout=30).stdout
    first = out.splitlines()[0] if out else f"NodeName={host} CPUs=2"
    keep = re.findall(r"(CPUs|Boards|SocketsPerBoard|CoresPerSocket|ThreadsPerCore|RealMemory)=(\S+)", first)
    return f"NodeName={host} " + " ".join(f"{k}={v}" for k, v in keep) + " State=UNKNOWN"


class Cluster:
    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self.host = socket.gethostname().split(".")[0]
        self.conf = self.root / "slurm.conf"
        self.env: dict[str, str] = {}
        self.pids: list[int] = []

    def start(self, timeout: float = 90.0) -> dict[str, str]:
        r = self.root
        for d in ("munge", "state", "spool", "log"):
            (r / d).mkdir(parents=True, exist_ok=True)
        os.chmod(r / "munge", 0o755)
        key = r / "munge" / "munge.key"
        if not key.exists():
            key.write_bytes(os.urandom(1024))
        os.chmod(key, 0o600)
        sock = r / "munge" / "munge.socket"
        subprocess.run(["munged", "--force", f"--socket={sock}", f"--key-file={key}",
                        f"--pid-file={r / 'munge' / 'munged.pid'}", f"--log-file={r / 'log' / 'munged.log'}",
                        f"--seed-file={r / 'munge' / 'munged.seed'}"], check=True, timeout=30)
        self.conf.write_text("\n".join([
            "ClusterName=phcomp-test",
            f"SlurmctldHost={self.host}",
            "SlurmUser=root",
            "AuthType=auth/munge",
            f"AuthInfo=socket={sock}",
            "CredType=cred/munge",
            f"StateSaveLocation={r / 'state'}",
            f"SlurmdSpoolDir={r / 'spool'}",
            f"SlurmctldPidFile={r / 'slurmctld.pid'}",
            f"SlurmdPidFile={r / 'slurmd.pid'}",
            f"SlurmctldLogFile={r / 'log' / 'slurmctld.log'}",
            f"SlurmdLogFile={r / 'log' / 'slurmd.log'}",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core",
            "MpiDefault=pmi2",
            "SlurmdParameters=config_overrides",
            "SchedulerParameters=batch_sched_delay=0",
            "MailProg=/bin/true",
            "ReturnToService=2",
            "SlurmctldTimeout=30",
            "InactiveLimit=0",
            "KillWait=5",
            _node_line(self.host),
            f"PartitionName=debug Nodes={self.host} Default=YES MaxTime=INFINITE State=UP",
            "",
        ]))
        self.env = {"SLURM_CONF": str(self.conf)}
        env = dict(os.environ, **self.env)
        subprocess.run(["slurmctld", "-f", str(self.conf)], check=True, env=env, timeout=60)
        subprocess.run(["slurmd", "-f", str(self.conf)], check=True, env=env, timeout=60)
        t0 = time.time()
        while time.time() - t0 < timeout:
            out = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, env=env).stdout.strip()
            if out and out.split()[0].rstrip("*") in ("idle", "mixed", "allocated"):
                return self.env
            time.sleep(0.5)
        raise RuntimeError(f"SLURM did not come up in {timeout} s: sinfo says {out!r}; logs in {r / 'log'}")

    def stop(self) -> None:
        env = dict(os.environ, **self.env)
        subprocess.run(["scancel", "--full", "-u", "root"], capture_output=True, env=env, timeout=30)
        for pidfile in (self.root / "slurmd.pid", self.root / "slurmctld.pid", self.root / "munge" / "munged.pid"):
            try:
                pid = int(pidfile.read_text().split()[0])
                os.kill(pid, 15)
            except (OSError, ValueError, IndexError):
                pass
        time.sleep(1)


if __name__ == "__main__":
    c = Cluster(sys.argv[1] if len(sys.argv) > 1 else "/tmp/phcomp-slurm")
    print("export SLURM_CONF=" + c.start()["SLURM_CONF"])
