"""PgBouncer in transaction mode in front of the test PostgreSQL (the `--through-pgbouncer` option).

Django's settings for it (README, "Pooled Postgres"): DISABLE_SERVER_SIDE_CURSORS, because a
server-side cursor would outlive the transaction that pooled its server connection.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import time
from pathlib import Path

import psycopg2

from tests.support.seaweedfs import free_ports

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


def config_text(listen_port: int, upstream_host: str, upstream_port: int, workdir: Path) -> str:
    return f"""[databases]
* = host={upstream_host} port={upstream_port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {listen_port}
auth_type = trust
auth_file = {workdir / "users.txt"}
pool_mode = transaction
default_pool_size = 20
max_client_conn = 2000
server_reset_query =
ignore_startup_parameters = extra_float_digits
unix_socket_dir =
logfile = {workdir / "pgbouncer.log"}
pidfile = {workdir / "pgbouncer.pid"}
"""


class PgBouncer:
    def __init__(self, workdir: Path, upstream_host: str, upstream_port: int, user: str):
        self.workdir = workdir
        self.upstream = (upstream_host, upstream_port)
        self.user = user
        self.port = free_ports(1)[0]
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 20) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "users.txt").write_text(f'"{self.user}" ""\n')
        ini = self.workdir / "pgbouncer.ini"
        ini.write_text(config_text(self.port, *self.upstream, self.workdir))
        command = [PGBOUNCER, str(ini)]
        if os.geteuid() == 0:
            # PgBouncer will not run as root: it drops to the postgres account, which must read its files.
            os.chmod(self.workdir, 0o777)
            for path in self.workdir.iterdir():
                os.chmod(path, 0o666)
            command[1:1] = ["-u", pwd.getpwnam("postgres").pw_name]
        self.proc = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=(self.workdir / "stderr.log").open("ab"), start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                psycopg2.connect(host="127.0.0.1", port=self.port, user=self.user, dbname="postgres").close()
                return
            except psycopg2.OperationalError as exc:
                if self.proc.poll() is not None:
                    log = (self.workdir / "stderr.log").read_text()[-2000:]
                    raise RuntimeError(f"pgbouncer exited: {log}") from exc
                time.sleep(0.2)
        raise RuntimeError("pgbouncer did not answer")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)  # SIGINT: safe shutdown, closing its server connections
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
