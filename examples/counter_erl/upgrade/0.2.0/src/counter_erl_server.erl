%% counter_erl_server, release 0.2.0: the state is #{count => N}.
-module(counter_erl_server).
-behaviour(gen_server).

-export([start_link/0, incr/0, get/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2,
         terminate/2, code_change/3]).

start_link() ->
    gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

incr() -> gen_server:call(?MODULE, incr).
get() -> gen_server:call(?MODULE, get).

init([]) ->
    {ok, #{count => 0}}.

handle_call(incr, _From, #{count := N} = S) ->
    {reply, N + 1, S#{count := N + 1}};
handle_call(get, _From, #{count := N} = S) ->
    {reply, N, S};
handle_call(_Other, _From, S) ->
    {reply, {error, unknown_call}, S}.

handle_cast(_Msg, S) -> {noreply, S}.
handle_info(_Msg, S) -> {noreply, S}.
terminate(_Reason, _S) -> ok.

%% Upgrade 0.1.0 -> 0.2.0: integer -> map (runs in this, the new, module).
code_change(_OldVsn, N, _Extra) when is_integer(N) ->
    {ok, #{count => N}};
%% Downgrade 0.2.0 -> 0.1.0: release_handler calls this (new) module with {down, OldVsn}
%% before loading the old code, so convert back to the integer here.
code_change({down, _OldVsn}, #{count := N}, _Extra) ->
    {ok, N};
code_change(_OldVsn, S, _Extra) ->
    {ok, S}.
