"""The release handler's calls of a hot upgrade of a relx release, as Erlang code the node
evaluates itself over its distribution (host/handler_calls.py): what relx's
install_upgrade.escript does from a second VM booted on the host (`bin/<rel> unpack|upgrade|
downgrade <vsn>`, which stays the fallback when the distribution cannot be reached). The code
answers {'$printed', Text}, printed as is by rebar3's captured eval, with the marks
CHECKED=<vsn> / INSTALLED=<vsn> on success and relx's words otherwise.
"""

from __future__ import annotations

import re

from deliver.shell import erlang_string

#: The start of deliver's hot-upgrade code for the node (over its distribution): what relx's
#: install_upgrade.escript does from a second VM, done by the node itself. `Unpack` makes the
#: release handler know the staged releases/<rel>-<vsn>.tar.gz as relx does (a link
#: releases/<vsn>/<rel>.tar.gz to it, unpack_release("<vsn>/<rel>")); `Running` is the version
#: the node runs; every answer is {'$printed', Text} with the marks deliver reads.
_HOT_PRELUDE = """Vsn = @VSN@,
Rel = @REL@,
Releases = filename:join(code:root_dir(), "releases"),
Said = fun(Format, Args) ->
    {'$printed', unicode:characters_to_binary(io_lib:format(Format, Args))}
end,
Known = [{V, S} || {_, V, _, S} <- release_handler:which_releases()],
Running = proplists:get_value(current, [{S, V} || {V, S} <- Known],
    proplists:get_value(permanent, [{S, V} || {V, S} <- Known])),
Package = filename:join(Releases, Rel ++ "-" ++ Vsn ++ ".tar.gz"),
Unpack = fun() ->
    Link = filename:join([Releases, Vsn, Rel ++ ".tar.gz"]),
    case filelib:is_regular(Package) of
        false -> {error, {release_package_not_found, Package}};
        true ->
            ok = filelib:ensure_dir(Link),
            _ = file:delete(Link),
            ok = file:make_symlink(Package, Link),
            case release_handler:unpack_release(filename:join(Vsn, Rel)) of
                {ok, _} -> ok;
                {error, {existing_release, _}} -> ok;
                Unpacking -> Unpacking
            end
    end
end,
"""

#: Once staged: unpacked, the relup has an entry for what the node runs, and
#: check_install_release passes; prints CHECKED=<vsn>. Nothing is installed. A release unpacked
#: by an earlier check that failed (never installed) gets the archive's files it lacks again
#: (the files it has, and the host's links, are kept), so a retry once the cause is gone can
#: pass: relx's `unpack` would leave it as it is.
_HOT_CHECK = (
    _HOT_PRELUDE
    + """Refill = fun() ->
    case erl_tar:extract(Package, [{cwd, code:root_dir()}, compressed, keep_old_files]) of
        ok -> ok;
        Refilling -> {error, {refilling_from, Package, Refilling}}
    end
end,
Unpacked = case {proplists:get_value(Vsn, Known), filelib:is_regular(Package)} of
    {undefined, _} -> Unpack();
    {unpacked, true} -> Refill();
    _ -> ok
end,
Relup = filename:join([Releases, Vsn, "relup"]),
case Unpacked of
    ok ->
        case file:consult(Relup) of
            {ok, [{Vsn, Up, _}]} ->
                case lists:keymember(Running, 1, Up) of
                    false ->
                        Said("the relup of ~s has no entry for ~s (it upgrades from ~s)~n",
                             [Vsn, Running, lists:join(", ", [element(1, E) || E <- Up])]);
                    true ->
                        case release_handler:check_install_release(Vsn) of
                            {ok, _, _} -> Said("CHECKED=~s~n", [Vsn]);
                            Refused ->
                                Said("release_handler:check_install_release failed: ~p~n",
                                     [Refused])
                        end
                end;
            Unreadable -> Said("~s: ~p~n", [Relup, Unreadable])
        end;
    Failed -> Said("Unpack failed: ~p~n", [Failed])
end"""
)

#: relx's `upgrade|downgrade <vsn>`: check_install_release, install_release, make_permanent
#: and bin/<rel> from bin/<rel>-<vsn>, by the release's state; prints INSTALLED=<vsn>.
_HOT_INSTALL = (
    _HOT_PRELUDE
    + """Unpacked = case proplists:get_value(Vsn, Known) of
    undefined -> Unpack();
    _ -> ok
end,
Permanent = fun() ->
    ok = release_handler:make_permanent(Vsn),
    Bin = filename:join(code:root_dir(), "bin"),
    _ = file:copy(filename:join(Bin, Rel ++ "-" ++ Vsn), filename:join(Bin, Rel)),
    Said("Made release permanent: ~s~nINSTALLED=~s~n", [Vsn, Vsn])
end,
Install = fun() ->
    case release_handler:check_install_release(Vsn) of
        {ok, _, _} ->
            case release_handler:install_release(Vsn, [{update_paths, true}]) of
                {ok, _, _} -> Permanent();
                {error, {old_processes, Mod}} ->
                    Said("ERROR: unable to install ~s - old processes still running code "
                         "from module ~p~n", [Vsn, Mod]);
                Failed -> Said("ERROR: release_handler:install_release failed: ~p~n", [Failed])
            end;
        Refused -> Said("ERROR: release_handler:check_install_release failed: ~p~n", [Refused])
    end
end,
case {Unpacked, proplists:get_value(Vsn, Known)} of
    {ok, current} -> Permanent();
    {ok, permanent} when Running =:= Vsn ->
        Said("Release ~s is already installed, running and set permanent.~nINSTALLED=~s~n",
             [Vsn, Vsn]);
    {ok, _} -> Install();
    {NotUnpacked, _} -> Said("Unpack failed: ~p~n", [NotUnpacked])
end"""
)


def check_code(app: str, version: str) -> str:
    """Once the archive is staged as releases/<app>-<version>.tar.gz: prints CHECKED=<version>
    when the release handler can install it."""
    return _with_values(_HOT_CHECK, app, version)


def install_code(app: str, version: str) -> str:
    """Install `version` (an upgrade, or a downgrade to an older one) and make it permanent:
    prints INSTALLED=<version>."""
    return _with_values(_HOT_INSTALL, app, version)


def _with_values(code: str, app: str, version: str) -> str:
    # one pass: a value holding "@REL@" stays inside its literal
    values = {"@VSN@": erlang_string(version), "@REL@": erlang_string(app)}
    return re.sub("@VSN@|@REL@", lambda found: values[found.group()], code)
