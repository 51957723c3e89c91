"""A release store in a directory on another machine, over SSH.

deliver itself talks to the store host over one SSH connection (listing manifests, writing
them, pruning). Archives do not pass through the laptop: the build host pushes its archive to
the store host with `ssh store 'cat > ...' < archive`, and each deploy host pulls it with
`ssh store 'cat ...' > archive`. So the build and deploy hosts log in to the store host
themselves, with their own key and their own known_hosts: deliver runs their ssh with
BatchMode (never a prompt) and StrictHostKeyChecking (never trusting an unknown key).
"""

from __future__ import annotations

import base64
import binascii
import io
import shlex
import tarfile
import uuid
from collections.abc import Mapping
from pathlib import Path

from deliver.config import SshSettings, SshStoreSpec
from deliver.errors import CommandFailed, StoreError
from deliver.release import MAX_MANIFEST_BYTES, Release
from deliver.release_store.appups import (
    MAX_APPUP_BYTES,
    StoredAppup,
    appups_directory,
    check_names,
    read_appups,
)
from deliver.release_store.base import Listing, Unreadable, find_release, read_listing
from deliver.shell import check_sha256, join, quote, quote_path, tail
from deliver.transport.remote import OutputSink, Progress, Remote, Writable
from deliver.transport.ssh import SshRemote

TRUST_HINT = (
    "the build and deploy hosts connect to the store host themselves: each needs an SSH key "
    "the store host accepts and the store host's key in its ~/.ssh/known_hosts "
    "(see the README, section Release stores)"
)
#: ssh's own exit status when it could not connect or log in.
SSH_FAILED = 255


class SshStore:
    is_local = False

    def __init__(
        self,
        spec: SshStoreSpec,
        settings: SshSettings,
        sink: OutputSink | None = None,
        *,
        verbose: bool = False,
        debug: bool = False,
    ) -> None:
        self.spec, self.settings, self.sink = spec, settings, sink
        self.location = str(spec)
        self.remote = SshRemote(spec.host, settings, sink, verbose=verbose, debug=debug)

    def open(self) -> SshStore:
        """Connect to the store host; raises ConnectionFailed / HostKeyError."""
        self.remote.open()
        return self

    @property
    def directory(self) -> str:
        """The store directory, quoted for the store host's shell."""
        return quote_path(self.spec.path)

    def check(self) -> None:
        """Create the store directory if needed and make sure we may write to it."""
        self.remote.run(
            join(
                f"mkdir -p {self.directory}",
                f"test -w {self.directory} || {{ echo 'not writable'; exit 1; }}",
            ),
            step=f"checking the release store {self.location}",
        )

    def check_host(self, remote: Remote) -> None:
        """Make sure `remote` can log in to the store host itself, before it has to."""
        result = remote.run(self.ssh_command("true"), check=False)
        if not result.ok:
            raise StoreError(
                f"{remote.name} cannot log in to the release store host "
                f"{self.spec.host.name}: {tail(result.output, 3) or 'ssh failed'}",
                hint=TRUST_HINT,
            )

    def releases(self, app: str, kind: str = "release") -> list[Release]:
        """Every complete release of `app` in the store, oldest version first; a manifest
        that fails the Release gate is reported to the sink and skipped."""
        return self._listing(app, kind).usable(self.sink)

    def find(self, app: str, version: str | None = None, kind: str = "release") -> Release:
        """The release with `version`, or the newest one; raises ReleaseNotFound, or
        ManifestInvalid when the manifest of `version` was refused."""
        return find_release(self._listing(app, kind), app, version, kind, self.sink)

    def _listing(self, app: str, kind: str) -> Listing:
        # a mark of this listing's own: a manifest's text cannot fake the next file's start
        mark = f"--deliver-manifest-{uuid.uuid4().hex}--"
        script = f"""cd {self.directory} 2>/dev/null || exit 0
for m in {quote(app + "_")}*{quote(f".{kind}.json")}; do
  [ -f "$m" ] && [ -f "${{m%.json}}.tar.gz" ] || continue
  printf '\\n%s %s\\n' {mark} "$m"; head -c {MAX_MANIFEST_BYTES + 1} "$m" || :
done"""
        output = self.remote.run(script, step=f"listing {self.location}").stdout
        manifests = []
        for block in output.split(f"\n{mark} ")[1:]:
            name, _, text = block.partition("\n")
            manifests.append((name, text))
        return read_listing(manifests, self.location, app, kind)

    def where(self, release: Release) -> str:
        return f"{self.location}/{release.archive_name}"

    def put(self, release: Release, archive: Path, progress: Progress | None = None) -> None:
        """Upload a local archive over deliver's connection, verify it there, then publish."""
        partial = self._partial(release)
        self.check()
        try:
            self.remote.upload(archive, self._path(partial), progress)
        except BaseException:
            self.remote.run(f"rm -f {self._path_q(partial)}", check=False)
            raise
        self.remote.run(
            f"cd {self.directory} && {_publish(release, quote(partial))}",
            step=f"storing {release.archive_name} in {self.location}",
        )
        self._write_manifest(release)

    def get(self, release: Release, local: Writable, progress: Progress | None = None) -> None:
        self.remote.download(self._path(release.archive_name), local, progress)

    def receive_from_host(
        self, release: Release, remote: Remote, path: str, progress: Progress | None = None
    ) -> None:
        """The build host pushes the archive at `path` to the store host itself; the store
        host checks its sha256 before it gets its name, then deliver writes the manifest."""
        store_script = "\n".join(
            [
                "set -e",
                f"mkdir -p {self.directory} && cd {self.directory}",
                f"part={quote(self._partial(release))}",
                'cat > "$part"',
                _publish(release, '"$part"'),
            ]
        )
        _run_reaching_store(
            remote,
            f"{self.ssh_command(store_script)} < {quote(path)}",
            f"pushing {release.archive_name} to {self.location}",
        )
        self._write_manifest(release)

    def send_to_host(
        self, release: Release, remote: Remote, path: str, progress: Progress | None = None
    ) -> None:
        """`remote` (a deploy host) pulls the archive from the store host into `path`; the
        caller verifies its sha256 there."""
        fetch = self.ssh_command(f"cat {self._path_q(release.archive_name)}")
        _run_reaching_store(
            remote,
            f"{fetch} > {quote(path)} || {{ status=$?; rm -f {quote(path)}; exit $status; }}",
            f"fetching {release.archive_name} from {self.location}",
        )

    def put_appups(self, release: Release, files: Mapping[str, bytes]) -> None:
        """Replace the appups stored beside `release`'s archive with `files`: sent as one tar
        on stdin, extracted into a fresh directory that then takes the place of the old."""
        check_names(files)
        directory = quote(appups_directory(release))
        partial = quote(f".{appups_directory(release)}.{uuid.uuid4().hex[:8]}.part")
        script = join(
            f"mkdir -p {self.directory} && cd {self.directory}",
            f"mkdir -m 0700 {partial}",
            f"tar -xf - -C {partial} --no-same-owner --no-same-permissions",
            f"rm -rf {directory}",
            f"mv {partial} {directory}",
        )
        self.remote.run(
            script,
            stdin=_tar(files),
            step=f"storing the appups of {release.version} in {self.location}",
        )

    def appups(self, release: Release) -> list[StoredAppup]:
        """The appups stored beside `release`'s archive (none for an upgrade stored before
        deliver kept them), each checked; refused ones are reported to the sink."""
        mark = f"--deliver-appup-{uuid.uuid4().hex}--"
        script = f"""cd {self.directory}/{quote(appups_directory(release))} 2>/dev/null || exit 0
for f in */* */.[!.]* */..?*; do
  [ -e "$f" ] || [ -L "$f" ] || continue
  printf '\n%s %s\n' {mark} "$f"
  if [ -f "$f" ] && [ ! -L "$f" ] && [ ! -L "${{f%%/*}}" ]; then
    head -c {MAX_APPUP_BYTES + 1} "$f" | base64 -w 0 || :
  else printf '%s' {mark}; fi
done"""
        output = self.remote.run(script, step=f"reading appups in {self.location}").stdout
        files: list[tuple[str, bytes | Unreadable]] = []
        for block in output.split(f"\n{mark} ")[1:]:
            # base64: the bytes as they are (the connection's text would hide bad UTF-8)
            name, _, text = block.partition("\n")
            content = Unreadable("not a regular file") if text == mark else _base64(text)
            files.append((name, content))
        return read_appups(files, release, self.location, self.sink)

    def remove(self, release: Release) -> None:
        """Manifest first: a release without its manifest is already invisible."""
        self.remote.run(
            f"cd {self.directory} && rm -f {quote(release.manifest_name)} "
            f"{quote(release.archive_name)} && rm -rf {quote(appups_directory(release))}",
            step=f"removing {release.version} from {self.location}",
        )

    def close(self) -> None:
        self.remote.close()

    def ssh_command(self, command: str) -> str:
        """The `ssh` a build or deploy host runs to reach the store host: never a prompt,
        never an unknown host key trusted."""
        host = self.spec.host
        options = ["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"]
        options += ["-o", f"ConnectTimeout={max(1, int(self.settings.connect_timeout))}"]
        if host.port is not None:
            options += ["-p", str(host.port)]
        destination = f"{host.user}@{host.hostname}" if host.user else host.hostname
        return shlex.join([*options, destination, command])

    def _write_manifest(self, release: Release) -> None:
        partial = f".{release.manifest_name}.{uuid.uuid4().hex[:8]}.part"
        self.remote.upload(release.to_json().encode(), self._path(partial))
        self.remote.run(
            f"cd {self.directory} && mv {quote(partial)} {quote(release.manifest_name)}",
            step=f"writing the manifest of {release.version} in {self.location}",
        )

    def _partial(self, release: Release) -> str:
        # unique, so two builds of one version never write into the same file
        return f".{release.archive_name}.{uuid.uuid4().hex[:8]}.part"

    def _path(self, name: str) -> str:
        return f"{self.spec.path}/{name}"

    def _path_q(self, name: str) -> str:
        return f"{self.directory}/{quote(name)}"


def _run_reaching_store(remote: Remote, command: str, step: str) -> None:
    """Run a command that logs in to the store host; if ssh itself failed, say what to set up."""
    try:
        remote.run(command, step=step)
    except CommandFailed as error:
        if error.exit_status == SSH_FAILED:
            error.hint = TRUST_HINT
        raise


def _base64(text: str) -> bytes | Unreadable:
    try:
        return base64.b64decode(text.strip(), validate=True)
    except binascii.Error:
        return Unreadable("its content did not arrive whole")


def _tar(files: Mapping[str, bytes]) -> bytes:
    """`files` (name -> content) as an uncompressed tar, directories first."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for directory in sorted({name.split("/")[0] for name in files}):
            entry = tarfile.TarInfo(directory)
            entry.type, entry.mode = tarfile.DIRTYPE, 0o700
            archive.addfile(entry)
        for name, data in sorted(files.items()):
            entry = tarfile.TarInfo(name)
            entry.size, entry.mode = len(data), 0o600
            archive.addfile(entry, io.BytesIO(data))
    return buffer.getvalue()


def _publish(release: Release, partial: str) -> str:
    """Shell: give the archive its name only if its sha256 is the manifest's."""
    return join(
        check_sha256(partial, release.sha256, remove=True),
        f"mv {partial} {quote(release.archive_name)}",
    )
