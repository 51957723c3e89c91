"""One-off work on the node of one deploy host: an expression inside the running node (`rpc`),
one in a fresh VM of the current release (`eval`), a shell command in `current` (`exec`), and
the command line of an interactive remote console. Each runs in the release root with the
host's env file loaded and the login's launcher variables scrubbed (layout.in_root).

The expression and the command's words are data: each is one quoted shell word, never
interpolated into the script unquoted.
"""

from __future__ import annotations

from collections.abc import Sequence

from deliver.errors import InvalidArgument
from deliver.host.dist import TASK_TIMEOUT, Unavailable, address_for, node_session
from deliver.host.layout import HostState, in_root
from deliver.shell import quote
from deliver.tools import node_commands
from deliver.transport.remote import NodeLink, Remote, Result

#: Where the running node's start script is: `running` (what the node was started from, also
#: after `current` was switched), else `current`.
_NODE_DIR = 'd=running; [ -e running ] || d=current\ncd "$d" || exit 1'


def check_expression(expression: str) -> str:
    """`expression` if it can be passed to a node: not blank, no NUL (no argv holds one)."""
    if not expression.strip():
        raise InvalidArgument("expression", "is empty", expression)
    if "\0" in expression:
        raise InvalidArgument("expression", "holds a NUL character", expression)
    return expression


def printing(tool: str, expression: str, inside_node: bool) -> str:
    """`expression` made to print its value, as IEx or erl would: mix's `rpc` and `eval`
    print only what the code prints itself, and so does relx's offline eval (relx's `rpc`
    through its `eval` prints the value already)."""
    if tool == "mix":
        # on lines of their own: a trailing `# comment` in the expression stays a comment
        return f"IO.inspect((\n{expression}\n))"
    if tool == "rebar3" and not inside_node:
        body = expression.strip().removesuffix(".")
        return f'io:format("~p~n", [begin {body} end]).'
    return expression


def rpc(remote: Remote, state: HostState, app: str, expression: str) -> Result:
    """Evaluate `expression` inside the host's running node; the Result says how it went.
    Asked over the node's distribution (host/dist.py), else through `bin/<app> rpc`."""
    code = printing(state.tool, check_expression(expression), inside_node=True)
    try:
        address = address_for(remote, state, app, "running")
        with node_session(remote, address) as asked:
            ok, output = asked.evaluate(state.tool, code, TASK_TIMEOUT)
        return Result(output, "", 0 if ok else 1)
    except Unavailable as why:
        if isinstance(remote, NodeLink):
            remote.note(f"asking bin/{app} (a VM on the host) instead of the node itself: {why}")
    node = node_commands(state.tool)
    return remote.run(in_root(state.root, f"{_NODE_DIR}\n{node.rpc(app, code)}"), check=False)


def evaluate(remote: Remote, state: HostState, app: str, expression: str) -> Result:
    """Evaluate `expression` in a fresh VM of the current release (its apps not started)."""
    node = node_commands(state.tool)
    code = printing(state.tool, check_expression(expression), inside_node=False)
    return remote.run(
        in_root(state.root, f"cd current || exit 1\n{node.eval(app, code)}"), check=False
    )


def execute(remote: Remote, state: HostState, argv: Sequence[str]) -> Result:
    """Run the command `argv` (its words as given: shell syntax needs `sh -c '...'`) in the
    current release's directory."""
    if not argv or not argv[0]:
        raise InvalidArgument("command", "is empty: give it after --, e.g. -- ls -la")
    if any("\0" in word for word in argv):
        raise InvalidArgument("command", "holds a NUL character")
    words = " ".join(quote(word) for word in argv)
    return remote.run(in_root(state.root, f"cd current || exit 1\n{words}"), check=False)


def console_command(state: HostState, app: str) -> str:
    """Shell: attach an interactive remote shell to the host's running node (mix: `remote`,
    relx and Distillery: `remote_console`), replacing the login shell so the terminal goes
    straight to it."""
    command = "remote" if state.tool == "mix" else "remote_console"
    return in_root(state.root, f"{_NODE_DIR}\nexec bin/{quote(app)} {command}")
