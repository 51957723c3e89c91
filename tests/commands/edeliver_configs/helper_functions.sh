# hooks that call helper functions of the file's own
APP="shop"
BUILD_HOST="build.example.com"
BUILD_USER="builder"
BUILD_AT="/home/builder/shop/builds"
PRODUCTION_HOSTS="shop1.example.com"
PRODUCTION_USER="shop"
DELIVER_TO="/opt/shop"
USING_DISTILLERY=true

link_secret() {
  local secret="$1"
  __sync_remote "
    ln -sfn '/home/builder/secrets/$secret' '$BUILD_AT/config/$secret'
  "
}

build_assets() {
  status "Building assets with webpack"
  __sync_remote "
    set -e
    cd '$BUILD_AT/assets'
    yarn install
    yarn run webpack --mode production
    cd '$BUILD_AT'
    $MIX_CMD phx.digest $SILENCE
  "
}

pre_erlang_get_and_update_deps() {
  link_secret prod.secret.exs
}

pre_erlang_clean_compile() {
  build_assets
}
