%% Minimal HTTP/1.0-style endpoint on 127.0.0.1:$PORT (default 4100), gen_tcp only.
%%   GET /      -> "counter_erl <vsn>\n"   (vsn read at request time)
%%   GET /state -> io_lib:format("~p~n", [State])
%%   GET /incr  -> increments, answers the new state
-module(counter_erl_http).

-export([start_link/0, init/1, accept_loop/1]).

start_link() ->
    proc_lib:start_link(?MODULE, init, [self()]).

init(Parent) ->
    Port = list_to_integer(os:getenv("PORT", "4100")),
    case gen_tcp:listen(Port, [binary, {ip, {127, 0, 0, 1}}, {packet, raw},
                               {active, false}, {reuseaddr, true}]) of
        {ok, LSock} ->
            register(?MODULE, self()),
            proc_lib:init_ack(Parent, {ok, self()}),
            accept_loop(LSock);
        {error, Reason} ->
            proc_lib:init_ack(Parent, {error, {listen, Port, Reason}})
    end.

%% Fully qualified recursive call so a newly loaded version of this module is picked up.
accept_loop(LSock) ->
    case gen_tcp:accept(LSock) of
        {ok, Sock} ->
            _ = (catch handle(Sock)),
            _ = gen_tcp:close(Sock),
            ?MODULE:accept_loop(LSock);
        {error, Reason} ->
            exit({accept, Reason})
    end.

handle(Sock) ->
    {ok, Data} = read_head(Sock, <<>>),
    [RequestLine | _] = binary:split(Data, <<"\r\n">>),
    {Status, Body} =
        case binary:split(RequestLine, <<" ">>, [global]) of
            [<<"GET">>, Path | _] -> route(Path);
            _ -> {"400 Bad Request", <<"bad request\n">>}
        end,
    gen_tcp:send(Sock, [<<"HTTP/1.1 ">>, Status, <<"\r\n">>,
                        <<"Content-Type: text/plain\r\n">>,
                        <<"Content-Length: ">>, integer_to_list(iolist_size(Body)), <<"\r\n">>,
                        <<"Connection: close\r\n\r\n">>, Body]).

read_head(Sock, Acc) ->
    case binary:match(Acc, <<"\r\n\r\n">>) of
        nomatch when byte_size(Acc) < 8192 ->
            case gen_tcp:recv(Sock, 0, 5000) of
                {ok, More} -> read_head(Sock, <<Acc/binary, More/binary>>);
                {error, _} = E -> E
            end;
        _ ->
            {ok, Acc}
    end.

route(<<"/">>) ->
    {ok, Vsn} = application:get_key(counter_erl, vsn),
    {"200 OK", ["counter_erl ", Vsn, "\n"]};
route(<<"/state">>) ->
    {"200 OK", io_lib:format("~p~n", [sys:get_state(counter_erl_server)])};
route(<<"/incr">>) ->
    _ = counter_erl_server:incr(),
    {"200 OK", io_lib:format("~p~n", [sys:get_state(counter_erl_server)])};
route(_) ->
    {"404 Not Found", <<"not found\n">>}.
