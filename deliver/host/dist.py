"""Asking the node of one deploy host over its Erlang distribution, on the SSH connection the
command already holds (transport/erldist.py): no second VM is booted on the host.

Where the node is and its cookie are read over SSH from the release it runs, resolved the way
its start script resolves them (tools' `node_address`); the cookie stays in memory. When the
distribution cannot be used (the release's distribution is off, the tool is not one deliver
finds nodes of, nothing is registered under the node's name, the SSH server does not forward
ports), `Unavailable` says why and the caller asks the start script instead (`bin/<app> rpc`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from deliver.errors import NodeError
from deliver.host.layout import HostState, in_root, parse_state_then, read_state, state_then
from deliver.shell import Secret, parse_key_values
from deliver.tools import available_tools, node_address
from deliver.transport import erldist
from deliver.transport.erlterm import Atom, Pid, Term, text
from deliver.transport.remote import NodeLink, Remote

#: Seconds every step of a question may take (a channel, the handshake, one call).
TIMEOUT = 10.0
#: Seconds code of the user's (a migration, `deliver rpc`) may run in the node: long, never
#: forever.
TASK_TIMEOUT = 3600.0

_ALIVE = re.compile(r"[A-Za-z0-9_-]{1,200}")
_HOST_PART = re.compile(r"[A-Za-z0-9._-]{1,200}")
_PORT = re.compile(r"[1-9][0-9]{0,4}")
_COOKIE_HINT = (
    "the node runs with another cookie than its release and deliver.env give now "
    "(RELEASE_COOKIE, releases/COOKIE, vm.args): put that one back, or end the node's OS "
    "process on the host and run deliver start"
)


class Unavailable(Exception):
    """The node cannot be asked over its distribution; str() says why, for --verbose."""


@dataclass(frozen=True)
class DistAddress:
    """Where the node of a release is: `alive@...` on the host's epmd or a fixed port."""

    alive: str
    node_host: str
    epmd_port: int
    dist_port: int | None
    cookie: Secret


def parse_address(output: str) -> DistAddress:
    """The answer of a tool's node_address script (plus EPMD_PORT=); Unavailable when the
    release's distribution is off or what it printed is not a node's address."""
    head, marker, cookie = output.partition("COOKIE-FOLLOWS\n")
    values = parse_key_values(head)
    dist, node = values.get("DIST", ""), values.get("NODE", "")
    if dist == "none":
        raise Unavailable("the release's distribution is off (RELEASE_DISTRIBUTION=none)")
    alive, _, node_host = node.partition("@")
    cookie = cookie.strip("\n")
    if dist not in ("sname", "name") or not marker or not _ALIVE.fullmatch(alive):
        raise Unavailable(f"cannot tell the node's name from its release (got {node!r})")
    if node_host and not _HOST_PART.fullmatch(node_host):
        raise Unavailable(f"cannot tell the node's host from its release (got {node!r})")
    if not cookie or len(cookie) > 255 or "\n" in cookie:
        raise Unavailable("cannot read the node's cookie from its release")
    ports = [values.get(key) or "" for key in ("EPMD_PORT", "DIST_PORT")]
    if any(port and not (_PORT.fullmatch(port) and int(port) < 65536) for port in ports):
        raise Unavailable(f"ERL_EPMD_PORT or ERL_DIST_PORT is not a port: {ports}")
    epmd, fixed = ports
    return DistAddress(
        alive,
        node_host or ("localhost" if dist == "sname" else "127.0.0.1"),
        int(epmd) if epmd else erldist.EPMD_PORT,
        int(fixed) if fixed else None,
        Secret(cookie),
    )


def read_address(remote: Remote, root: str, tool: str, app: str, directory: str) -> DistAddress:
    """The address of the node of `directory` (`running`, else `current` when it is
    "running"), read in one command; Unavailable when deliver cannot ask it directly."""
    if not isinstance(remote, NodeLink):
        raise Unavailable("this connection cannot open TCP channels")
    script = node_address(tool)
    if script is None:
        raise Unavailable(f"deliver does not know where {tool} releases' nodes listen")
    pick = "d=running; [ -e running ] || d=current" if directory == "running" else "d=current"
    body = f'{pick}\ncd "$d" || exit 1\necho EPMD_PORT="${{ERL_EPMD_PORT:-}}"\n'
    try:
        result = remote.run_private(in_root(root, body + script.node_address(app)))
    except erldist.DistError as error:
        raise Unavailable(str(error)) from None
    if not result.ok:
        raise Unavailable("cannot read the node's name and cookie from its release")
    return parse_address(result.stdout)


@dataclass(frozen=True)
class AddressedState(HostState):
    """A host's state read together with where the node of `running` (else `current`) is,
    in one remote command: its address, or why deliver cannot ask it directly."""

    address: DistAddress | None = field(default=None, kw_only=True)
    unavailable: str = field(default="", kw_only=True)


def read_node_state(remote: Remote, deliver_to: str, app: str) -> HostState:
    """read_state, and in the same remote command the address of the node of `running`
    (else `current`): a question to the node then needs no other command before its
    channel opens. The answer holds the cookie: it is never shown (run_private). A
    connection that cannot reach a node's distribution gets plain read_state."""
    if not isinstance(remote, NodeLink):
        return read_state(remote, deliver_to, app)
    try:
        result = remote.run_private(state_then(deliver_to, _address_script(app)))
    except erldist.DistError:  # a wrapper of a connection that has no TCP channels
        return read_state(remote, deliver_to, app)
    state, rest = parse_state_then(remote.name, deliver_to, app, result.stdout)
    try:
        if node_address(state.tool) is None:
            raise Unavailable(f"deliver does not know where {state.tool} releases' nodes listen")
        _, marker, answer = rest.partition("ADDRESS-FOLLOWS\n")
        if not marker:
            raise Unavailable("cannot read the node's name and cookie from its release")
        address = parse_address(answer)
    except Unavailable as why:
        return AddressedState(*_fields(state), env_sha256=state.env_sha256, unavailable=str(why))
    return AddressedState(*_fields(state), env_sha256=state.env_sha256, address=address)


def with_address(remote: Remote, state: HostState, app: str) -> HostState:
    """`state` with the address of the node of `running` (else `current`), read once (one
    command) for the several questions a caller asks that node."""
    try:
        address = read_address(remote, state.root, state.tool, app, "running")
    except Unavailable as why:
        return AddressedState(*_fields(state), env_sha256=state.env_sha256, unavailable=str(why))
    return AddressedState(*_fields(state), env_sha256=state.env_sha256, address=address)


def _fields(state: HostState) -> tuple[str, str, str | None, str | None, str]:
    return state.name, state.root, state.current, state.running, state.tool


def _address_script(app: str) -> str:
    """Shell, in the release root: read_address's script for the tool the release of
    `running` (else `current`) was built with, chosen on the host (`.deliver-tool`)."""
    branches = "".join(
        f"{tool}) {found.node_address(app)}\n;;\n"
        for tool in available_tools()
        if (found := node_address(tool)) is not None
    )
    return f"""d=running; [ -e running ] || d=current
cd "$d" || exit 0
echo ADDRESS-FOLLOWS
echo EPMD_PORT="${{ERL_EPMD_PORT:-}}"
t=$(cat .deliver-tool 2>/dev/null)
case "${{t:-mix}}" in
{branches}esac"""


def address_for(remote: Remote, state: HostState, app: str, directory: str) -> DistAddress:
    """The address of the node of `directory` ("running": `running`, else `current`; or
    "current"): the one read with the state when it is that node's (read_node_state), else
    read now (one remote command). Unavailable when deliver cannot ask the node directly."""
    if isinstance(state, AddressedState) and (directory == "running" or state.running is None):
        if state.address is None:
            raise Unavailable(state.unavailable)
        return state.address
    return read_address(remote, state.root, state.tool, app, directory)


class NodeSession:
    """An open distribution connection to the node of one host: the questions deliver asks,
    each one call; every failure is a NodeError naming the host."""

    def __init__(self, host: str, session: erldist.Session) -> None:
        self.host, self.session = host, session

    def rpc(self, module: str, function: str, args: list[Term], timeout: float = TIMEOUT) -> Term:
        """`module:function(args...)` inside the node: its value (for hot upgrades, migrations).
        Unavailable when the node hangs up (it is going down, or crashed while booting)."""
        try:
            return self.session.rpc(module, function, args, timeout)
        except erldist.DistError as error:
            if error.kind == erldist.UNREACHABLE:
                raise Unavailable(f"the node hung up: {error}") from None
            raise _node_error(self.host, error) from None

    def node(self) -> str:
        """erlang:node/0: the node's full name (liveness)."""
        return str(self.rpc("erlang", "node", []))

    def os_pid(self) -> int:
        pid = text(self.rpc("os", "getpid", []))
        if pid is None or not pid.isdigit():
            raise NodeError(self.host, f"the node gave an OS pid that is not a number: {pid!r}")
        return int(pid)

    def started(self, app: str) -> bool:
        """The node finished booting and `app` is started (an umbrella release's name is no
        application: then the finished boot is enough)."""
        if self.rpc("init", "get_status", []) != (Atom("started"), Atom("started")):
            return False
        running = self.rpc("application", "which_applications", [])
        if isinstance(running, list) and any(
            isinstance(entry, tuple) and entry[:1] == (Atom(app),) for entry in running
        ):
            return True
        return self.rpc("application", "get_key", [Atom(app), Atom("vsn")]) == Atom("undefined")

    def running_version(self, app: str) -> str:
        """The release version the node runs: with the release handler (which hot upgrades
        need), the installed-not-yet-permanent release (`current`) if there is one, else the
        permanent one; else the version it booted ($RELEASE_VSN of mix), else the app's."""
        if isinstance(self.rpc("erlang", "whereis", [Atom("release_handler")]), Pid):
            releases = self.rpc("release_handler", "which_releases", [])
            found = _release_in(releases, "current") or _release_in(releases, "permanent")
            if found:
                return found
        # os:getenv/1 takes a charlist, and answers the atom false for an unset variable
        booted = text(self.rpc("os", "getenv", [list(b"RELEASE_VSN")]))
        if booted:
            return booted
        key = self.rpc("application", "get_key", [Atom(app), Atom("vsn")])
        if isinstance(key, tuple) and len(key) == 2 and (vsn := text(key[1])):
            return vsn
        raise NodeError(self.host, f"the node does not say which version of {app} it runs")

    def evaluate(self, tool: str, expression: str, timeout: float) -> tuple[bool, str]:
        """Evaluate `expression` (Elixir or Erlang, as the tool's releases run) inside the
        node, as `bin/<app> rpc` does: (whether it succeeded, what it printed or its error)."""
        evaluation = node_address(tool)
        if evaluation is None:
            raise Unavailable(f"deliver cannot evaluate code in {tool} nodes directly")
        code = evaluation.captured_eval
        if evaluation.language == "elixir":
            binding: list[Term] = [(Atom("expr"), expression.encode())]
            answer = self.rpc("Elixir.Code", "eval_string", [code.encode(), binding], timeout)
            value = answer[0] if isinstance(answer, tuple) and answer else None
        else:
            value = self._erlang(code, f"{expression.strip().removesuffix('.')}.", timeout)
        if not (isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], bytes)):
            raise NodeError(
                self.host, f"the node's answer to the task is malformed: {value!r:.200}"
            )
        outcome, printed = value[0], value[1].decode(errors="replace")
        if outcome == Atom("ok"):
            return True, printed
        error = outcome[1] if isinstance(outcome, tuple) and len(outcome) == 2 else outcome
        return False, printed + (text(error) or repr(error))

    def _erlang(self, code: str, expression: str, timeout: float) -> Term:
        """erl_eval of `code` with Expr bound: scanned and parsed by the node itself."""
        scanned = self.rpc("erl_scan", "string", [[ord(c) for c in code]], timeout)
        parsed = self.rpc("erl_parse", "parse_exprs", [_ok(self.host, scanned, 1)], timeout)
        binding: list[Term] = [(Atom("Expr"), [ord(c) for c in expression])]
        exprs = _ok(self.host, parsed, 1)
        value = self.rpc("erl_eval", "exprs", [exprs, binding], timeout)
        return _ok(self.host, value, 1, tag="value")


def _ok(host: str, answer: Term, index: int, tag: str = "ok") -> Term:
    if isinstance(answer, tuple) and len(answer) > index and answer[0] == Atom(tag):
        return answer[index]
    raise NodeError(host, f"the node could not evaluate deliver's code: {answer!r:.200}")


def _release_in(releases: Term, status: str) -> str | None:
    if not isinstance(releases, list):
        return None
    for entry in releases:
        if isinstance(entry, tuple) and len(entry) == 4 and entry[3] == Atom(status):
            return text(entry[1])
    return None


@contextmanager
def node_session(
    remote: Remote, address: DistAddress, timeout: float = TIMEOUT
) -> Iterator[NodeSession]:
    """A connection to the node at `address` through `remote`, closed after the block:
    Unavailable when nothing listens there (the caller falls back or waits), NodeError when
    the node refuses or does not answer."""
    if not isinstance(remote, NodeLink):
        raise Unavailable("this connection cannot open TCP channels")
    link = remote

    def open_stream(port: int) -> erldist.Stream:
        return link.open_tcp(port, timeout)

    try:
        session = erldist.connect(
            open_stream,
            address.alive,
            erldist.own_node_name(address.node_host),
            address.cookie.value,
            epmd_port=address.epmd_port,
            dist_port=address.dist_port,
            timeout=timeout,
        )
    except erldist.DistError as error:
        if error.kind in (erldist.UNREACHABLE, erldist.NOT_REGISTERED):
            raise Unavailable(_where(address, error)) from None
        raise _node_error(remote.name, error) from None
    try:
        yield NodeSession(remote.name, session)
    finally:
        session.close()


def _where(address: DistAddress, error: erldist.DistError) -> str:
    if error.kind == erldist.NOT_REGISTERED:
        return f"no node {address.alive} is registered with epmd on port {address.epmd_port}"
    return f"the node's distribution cannot be reached ({error})"


def _node_error(host: str, error: erldist.DistError) -> NodeError:
    if error.kind == erldist.COOKIE:
        failure = NodeError(host, f"{error} (the node's distribution refused to answer)")
        failure.hint = _COOKIE_HINT
        return failure
    if error.kind == erldist.TIMEOUT:
        return NodeError(host, f"the node did not answer within {TIMEOUT:g}s over its distribution")
    return NodeError(host, f"asking the node over its distribution failed: {error}")


def evaluate_in_node(
    remote: Remote, root: str, tool: str, app: str, code: str, timeout: float
) -> tuple[bool, str] | None:
    """Evaluate `code` inside the node of `root/running` over its distribution, as
    `bin/<app> rpc` would: (whether it succeeded, what it printed or its error). None when the
    distribution cannot be reached (the caller asks the start script: said with --verbose).
    A node that hangs up or stops answering during the call (an upgrade restarting the
    emulator) is (False, why): no verdict on what it runs, which the caller asks it next."""
    try:
        address = read_address(remote, root, tool, app, "running")
        with node_session(remote, address) as node:
            try:
                return node.evaluate(tool, code, timeout)
            except (Unavailable, NodeError) as error:
                return False, str(error)
    except Unavailable as why:
        if isinstance(remote, NodeLink):
            remote.note(f"asking bin/{app} (a VM on the host) instead of the node itself: {why}")
        return None


def pid_and_version(remote: Remote, root: str, tool: str, app: str) -> tuple[int, str] | None:
    """The OS pid and the version of the node `root/running` was started from, once its app
    is started, asked over its distribution; None when it cannot be asked so (down, its app
    not started, or the distribution cannot be used: the caller asks its start script)."""
    try:
        address = read_address(remote, root, tool, app, "running")
        with node_session(remote, address) as node:
            if not node.started(app):
                return None
            return node.os_pid(), node.running_version(app)
    except Unavailable as why:
        if isinstance(remote, NodeLink):
            remote.note(f"asking bin/{app} (a VM on the host) instead of the node itself: {why}")
        return None
