"""The floor: the same work done with plain OpenSSH (`ssh`, `scp`, `git push`), run in parallel
the way deliver runs hosts (at most hosts.MAX_PARALLEL at once), on the same sandbox hosts."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from bench.measure import BenchError
from deliver.sandbox import Sandbox, SandboxHost
from deliver.shell import quote
from deliver.transport.fanout import MAX_PARALLEL


@dataclass(frozen=True)
class OpenSsh:
    """Command lines for the system's OpenSSH clients with the sandbox's ssh_config."""

    config: Path

    @classmethod
    def of(cls, sandbox: Sandbox) -> OpenSsh:
        return cls(sandbox.ssh_config)

    def ssh(self, host: SandboxHost, command: str) -> list[str]:
        """`command` run from the host's home: sandbox sessions start in the real user's home
        directory (sshd's choice), while HOME is the simulated host's."""
        return ["ssh", "-F", str(self.config), host.name, f'cd "$HOME" && {command}']

    def scp(self, source: Path, host: SandboxHost, target: str) -> list[str]:
        """Copy to `target` relative to the simulated host's home."""
        return [
            "scp",
            "-O",
            "-q",
            "-F",
            str(self.config),
            str(source),
            f"{host.name}:{host.home}/{target}",
        ]

    def git_ssh_command(self) -> str:
        return f"ssh -F {quote(str(self.config))}"


def run(
    argv: Sequence[str],
    *,
    stdout: int = subprocess.DEVNULL,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> None:
    """Run one OpenSSH command; raises BenchError with its stderr when it fails."""
    done = subprocess.run(
        argv, stdin=subprocess.DEVNULL, stdout=stdout, stderr=subprocess.PIPE, cwd=cwd, env=env
    )
    if done.returncode != 0:
        raise BenchError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.decode()}")


def on_each(hosts: Sequence[SandboxHost], work: Callable[[SandboxHost], None]) -> None:
    """`work` on every host in parallel, bounded like deliver's fan-out; first error raised."""
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(hosts))) as pool:
        for future in [pool.submit(work, host) for host in hosts]:
            future.result()


def deploy(ssh: OpenSsh, hosts: Sequence[SandboxHost], archive: Path, name: str) -> None:
    """scp the archive to each host, then extract it there in a second ssh session."""

    def one(host: SandboxHost) -> None:
        run(ssh.scp(archive, host, f"bench/{name}.tar.gz"))
        run(ssh.ssh(host, f"mkdir -p bench/{name} && tar -xzf bench/{name}.tar.gz -C bench/{name}"))

    on_each(hosts, one)


def command_everywhere(ssh: OpenSsh, hosts: Sequence[SandboxHost], command: str) -> None:
    on_each(hosts, lambda host: run(ssh.ssh(host, command)))


def upload(ssh: OpenSsh, host: SandboxHost, source: Path, target: str) -> None:
    run(ssh.scp(source, host, target))


def build(
    ssh: OpenSsh,
    host: SandboxHost,
    repo: Path,
    build_dir: str,
    commit: str,
    fetched: Path,
    clean: bool,
) -> None:
    """What `deliver build release` does, as plain commands: (a fresh git repository when
    `clean`), git push, then ONE ssh session that resets the tree, runs the same mix commands
    and streams back the tarball `mix release` made (the sample's release has the :tar step)."""
    if clean:
        run(ssh.ssh(host, f"mkdir -p {build_dir} && cd {build_dir} && git init -q"))
    url = f"ssh://{host.name}{build_dir}"
    run(
        ["git", "push", "--force", "--porcelain", url, f"{commit}:refs/deliver/build"],
        cwd=repo,
        env={**os.environ, "GIT_SSH_COMMAND": ssh.git_ssh_command()},
    )
    script = f"""set -e
cd {build_dir}
{{
git reset -q --hard {commit}
git clean -q -ffd
rm -rf _build/prod/rel
export MIX_ENV=prod
mix deps.get
mix compile
mix release hello --overwrite
}} >&2
cat _build/prod/hello-*.tar.gz
"""
    with fetched.open("wb") as archive:
        run(ssh.ssh(host, script), stdout=archive.fileno())
