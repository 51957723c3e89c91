defmodule ShopWeb.Application do
  @moduledoc false
  use Application

  @impl true
  def start(_type, _args) do
    children = [{ShopWeb.Endpoint, Application.fetch_env!(:shop_web, :port)}]
    Supervisor.start_link(children, strategy: :one_for_one, name: ShopWeb.Supervisor)
  end
end
