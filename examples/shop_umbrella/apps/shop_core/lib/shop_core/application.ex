defmodule ShopCore.Application do
  @moduledoc false
  use Application

  @impl true
  def start(_type, _args) do
    Supervisor.start_link([ShopCore.Catalog], strategy: :one_for_one, name: ShopCore.Supervisor)
  end
end
