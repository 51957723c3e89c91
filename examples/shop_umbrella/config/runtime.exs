import Config

config :shop_web, port: String.to_integer(System.get_env("PORT", "4000"))
