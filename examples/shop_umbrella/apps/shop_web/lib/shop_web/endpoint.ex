defmodule ShopWeb.Endpoint do
  @moduledoc """
  A tiny HTTP/1.0 endpoint on 127.0.0.1: answers every request with the release's name and
  version and the products of the core app, so one answer shows both apps are running.
  """
  use Task, restart: :permanent

  def start_link(port), do: Task.start_link(__MODULE__, :listen, [port])

  def listen(port) do
    opts = [:binary, packet: :http_bin, active: false, reuseaddr: true, ip: {127, 0, 0, 1}]
    {:ok, socket} = :gen_tcp.listen(port, opts)
    accept(socket)
  end

  defp accept(socket) do
    {:ok, client} = :gen_tcp.accept(socket)
    serve(client)
    accept(socket)
  end

  defp serve(client) do
    with {:ok, {:http_request, _method, _path, _}} <- :gen_tcp.recv(client, 0, 5000),
         :ok <- skip_headers(client) do
      body = "#{release()} #{Enum.join(ShopCore.Catalog.products(), ",")}\n"

      :gen_tcp.send(client, [
        "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n",
        "Content-Length: #{byte_size(body)}\r\nConnection: close\r\n\r\n",
        body
      ])
    end

    :gen_tcp.close(client)
  end

  defp skip_headers(client) do
    case :gen_tcp.recv(client, 0, 5000) do
      {:ok, :http_eoh} -> :ok
      {:ok, {:http_header, _, _, _, _}} -> skip_headers(client)
      other -> other
    end
  end

  defp release, do: "#{System.get_env("RELEASE_NAME")} #{System.get_env("RELEASE_VSN")}"
end
