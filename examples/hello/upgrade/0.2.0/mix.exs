defmodule Hello.MixProject do
  use Mix.Project

  def project do
    [
      app: :hello,
      version: "0.2.0",
      elixir: "~> 1.14",
      start_permanent: Mix.env() == :prod,
      deps: [],
      releases: [
        hello: [include_executables_for: [:unix], steps: [:assemble, :tar]]
      ]
    ]
  end

  def application do
    [
      extra_applications: [:logger, :sasl],
      mod: {Hello.Application, []}
    ]
  end
end
