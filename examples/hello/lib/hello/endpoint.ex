defmodule Hello.Endpoint do
  @moduledoc "A tiny HTTP/1.0 endpoint on 127.0.0.1 built on :gen_tcp."
  use Task, restart: :permanent
  require Logger

  def start_link(port), do: Task.start_link(__MODULE__, :listen, [port])

  def listen(port) do
    opts = [:binary, packet: :http_bin, active: false, reuseaddr: true, backlog: 128]
    {:ok, socket} = :gen_tcp.listen(port, [ip: {127, 0, 0, 1}] ++ opts)
    Logger.info("hello listening on 127.0.0.1:#{port}")
    accept(socket)
  end

  # Fully qualified calls (and an MFA for the child) pick up new code after a hot upgrade.
  @doc false
  def accept(socket) do
    {:ok, client} = :gen_tcp.accept(socket)
    {:ok, pid} = Task.Supervisor.start_child(Hello.ConnSupervisor, __MODULE__, :serve, [client])
    :ok = :gen_tcp.controlling_process(client, pid)
    send(pid, :socket_ready)
    __MODULE__.accept(socket)
  end

  @doc false
  def serve(client) do
    receive do
      :socket_ready -> :ok
    end

    with {:ok, {:http_request, method, {:abs_path, path}, _}} <- :gen_tcp.recv(client, 0, 5000),
         {:ok, length} <- read_headers(client, 0),
         :ok <- read_body(client, length) do
      {status, body} = route(method, path)
      :gen_tcp.send(client, response(status, body))
    end

    :gen_tcp.close(client)
  end

  defp read_headers(client, length) do
    case :gen_tcp.recv(client, 0, 5000) do
      {:ok, :http_eoh} ->
        {:ok, length}

      {:ok, {:http_header, _, :"Content-Length", _, n}} ->
        read_headers(client, String.to_integer(n))

      {:ok, {:http_header, _, _, _, _}} ->
        read_headers(client, length)

      other ->
        other
    end
  end

  defp read_body(_client, 0), do: :ok

  defp read_body(client, length) do
    :ok = :inet.setopts(client, packet: :raw)
    with {:ok, _body} <- :gen_tcp.recv(client, length, 5000), do: :ok
  end

  defp route(:GET, "/"), do: {200, "hello #{Application.spec(:hello, :vsn)}\n"}
  defp route(:GET, "/state"), do: reply(Hello.Counter.get())
  defp route(method, "/incr") when method in [:GET, :POST], do: reply(Hello.Counter.incr())
  defp route(_method, _path), do: {404, "not found\n"}

  defp reply(term), do: {200, inspect(term) <> "\n"}

  defp response(status, body) do
    reason = if status == 200, do: "OK", else: "Not Found"

    [
      "HTTP/1.0 #{status} #{reason}\r\n",
      "Content-Type: text/plain\r\n",
      "Content-Length: #{byte_size(body)}\r\n",
      "Connection: close\r\n\r\n",
      body
    ]
  end
end
