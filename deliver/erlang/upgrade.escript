#!/usr/bin/env escript
%% deliver's build-host helper for hot upgrades. Run from any directory; paths are absolute.
%%
%%   appups Root Rel Old New UserDir
%%       For every application whose version differs between releases/Old/Rel.rel and
%%       releases/New/Rel.rel (both unpacked under Root), make sure
%%       lib/App-NewVsn/ebin/App.appup exists: copied from UserDir/App.appup when the user
%%       ships one, kept when the release already holds one, generated otherwise.
%%       Prints "appup App OldVsn NewVsn user|release|generated" per application, and the
%%       generated appups. Also prints "protocol Module" for every consolidated protocol that
%%       differs between the two releases (Elixir: these are not hot-upgraded).
%%   relup Root Rel Old New
%%       systools:make_relup from Old to New (and back) -> Root/releases/New/relup.
%%
%% Exit status 1 with "error: ..." on stderr when something is wrong.
-mode(compile).

main(["appups", Root, Rel, Old, New, UserDir]) ->
    OldApps = rel_apps(Root, Rel, Old),
    NewApps = rel_apps(Root, Rel, New),
    Changed = [{App, maps:get(App, OldApps), Vsn}
               || {App, Vsn} <- lists:sort(maps:to_list(NewApps)),
                  maps:is_key(App, OldApps), maps:get(App, OldApps) =/= Vsn],
    lists:foreach(fun(Change) -> appup(Root, UserDir, Change) end, Changed),
    protocols(Root, Old, New),
    halt(0);
main(["relup", Root, Rel, Old, New]) ->
    ok = file:set_cwd(Root),
    R = fun(V) -> filename:join(["releases", V, Rel]) end,
    Options = [{path, ["lib/*/ebin"]}, {outdir, filename:join("releases", New)}, silent],
    case systools:make_relup(R(New), [R(Old)], [R(Old)], Options) of
        {ok, _Relup, Mod, Warnings} ->
            [io:format("warning: ~ts", [Mod:format_warning(W)]) || W <- Warnings],
            io:format("relup ~ts~n", [filename:join([Root, "releases", New, "relup"])]),
            halt(0);
        {error, Mod, Error} ->
            fail("relup: ~ts", [Mod:format_error(Error)])
    end;
main(_) ->
    fail("usage: upgrade.escript appups Root Rel Old New UserDir | relup Root Rel Old New", []).

rel_apps(Root, Rel, Vsn) ->
    File = filename:join([Root, "releases", Vsn, Rel ++ ".rel"]),
    case file:consult(File) of
        {ok, [{release, _, _, Apps}]} ->
            maps:from_list([{element(1, A), element(2, A)} || A <- Apps]);
        {ok, _} -> fail("~ts: not a release file", [File]);
        {error, Reason} -> fail("~ts: ~ts", [File, file:format_error(Reason)])
    end.

appup(Root, UserDir, {App, OldVsn, NewVsn}) ->
    Name = atom_to_list(App),
    Ebin = fun(V) -> filename:join([Root, "lib", Name ++ "-" ++ V, "ebin"]) end,
    Target = filename:join(Ebin(NewVsn), Name ++ ".appup"),
    User = filename:join(UserDir, Name ++ ".appup"),
    Source =
        case {filelib:is_regular(User), filelib:is_regular(Target)} of
            {true, _} ->
                check_user_appup(User, NewVsn),
                {ok, _} = file:copy(User, Target),
                user;
            {false, true} ->
                release;
            {false, false} ->
                Appup = default_appup(OldVsn, NewVsn, Ebin(OldVsn), Ebin(NewVsn)),
                ok = file:write_file(Target, io_lib:format("~tp.~n", [Appup])),
                generated
        end,
    io:format("appup ~ts ~ts ~ts ~ts~n", [Name, OldVsn, NewVsn, Source]),
    Source =:= generated andalso io:format("~ts", [indent(file_text(Target))]).

check_user_appup(File, NewVsn) ->
    case file:consult(File) of
        {ok, [{NewVsn, Up, Down}]} when is_list(Up), is_list(Down) -> ok;
        {ok, [{Other, _, _}]} when is_list(Other) ->
            fail("~ts is the appup of version ~ts, but the new release has ~ts",
                 [File, Other, NewVsn]);
        {ok, _} -> fail("~ts: expected one term {NewVsn, UpFrom, DownTo}", [File]);
        {error, {Line, Mod, Term}} -> fail("~ts:~p: ~ts", [File, Line, Mod:format_error(Term)]);
        {error, Reason} -> fail("~ts: ~ts", [File, file:format_error(Reason)])
    end.

%% Added modules are added, deleted ones deleted; a changed module is updated through its
%% code_change/3 when it has one (suspend, load, code_change, resume), as a supervisor when it
%% is one, and otherwise simply loaded. Plain modules are loaded with soft_purge after the
%% upgrade: a process still running the old code (e.g. an acceptor blocked in accept/1) is not
%% killed at make_permanent, it moves to the new code at its next fully-qualified call.
default_appup(OldVsn, NewVsn, OldEbin, NewEbin) ->
    Old = beams(OldEbin),
    New = beams(NewEbin),
    Added = lists:sort([M || M <- maps:keys(New), not maps:is_key(M, Old)]),
    Deleted = lists:sort([M || M <- maps:keys(Old), not maps:is_key(M, New)]),
    Changed = lists:sort([M || M <- maps:keys(New), maps:is_key(M, Old),
                               md5(maps:get(M, Old)) =/= md5(maps:get(M, New))]),
    %% Up and down both use the NEW module's kind: on a downgrade the release handler calls
    %% the new module's code_change({down, Vsn}, ...) before it loads the old code.
    Instruction = fun(M) ->
        case kind(maps:get(M, New)) of
            supervisor -> {update, M, supervisor};
            process -> {update, M, {advanced, []}};
            plain -> {load_module, M, brutal_purge, soft_purge, []}
        end
    end,
    Up = [{add_module, M} || M <- Added] ++ [Instruction(M) || M <- Changed]
        ++ [{delete_module, M} || M <- Deleted],
    Down = [{add_module, M} || M <- Deleted] ++ [Instruction(M) || M <- Changed]
        ++ [{delete_module, M} || M <- Added],
    {NewVsn, [{OldVsn, Up}], [{OldVsn, Down}]}.

beams(Dir) ->
    maps:from_list([{list_to_atom(filename:basename(F, ".beam")), F}
                    || F <- filelib:wildcard(filename:join(Dir, "*.beam"))]).

md5(File) ->
    {ok, {_, Sum}} = beam_lib:md5(File),
    Sum.

kind(File) ->
    {ok, {_, [{exports, Exports}, {attributes, Attributes}]}} =
        beam_lib:chunks(File, [exports, attributes]),
    Behaviours = lists:append([V || {K, V} <- Attributes, K =:= behaviour orelse K =:= behavior]),
    IsSupervisor = lists:member(supervisor, Behaviours)
        orelse lists:member('Elixir.Supervisor', Behaviours),
    HasCodeChange = lists:member({code_change, 3}, Exports)
        orelse lists:member({code_change, 4}, Exports),
    if IsSupervisor -> supervisor;
       HasCodeChange -> process;
       true -> plain
    end.

%% Consolidated protocols live in releases/Vsn/consolidated (mix releases) and are loaded at
%% boot only: a hot upgrade keeps the old ones.
protocols(Root, Old, New) ->
    Dir = fun(V) -> filename:join([Root, "releases", V, "consolidated"]) end,
    OldBeams = beams(Dir(Old)),
    NewBeams = beams(Dir(New)),
    [io:format("protocol ~ts~n", [M])
     || M <- lists:sort(maps:keys(NewBeams)),
        not maps:is_key(M, OldBeams)
            orelse md5(maps:get(M, OldBeams)) =/= md5(maps:get(M, NewBeams))].

file_text(File) ->
    {ok, Text} = file:read_file(File),
    Text.

indent(Text) ->
    [["    ", Line, "\n"] || Line <- string:split(string:trim(Text, trailing), "\n", all)].

fail(Format, Args) ->
    io:format(standard_error, "error: " ++ Format ++ "~n", Args),
    halt(1).
