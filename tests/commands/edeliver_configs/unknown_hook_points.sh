APP="hooky"
BUILD_HOST="build.example.com"
BUILD_USER="builder"
BUILD_AT="/home/builder/hooky"
PRODUCTION_HOSTS="web1.example.com"
PRODUCTION_USER="deploy"
DELIVER_TO="/srv/hooky"

pre_erlang_build_docs() {
  __sync_remote "cd '$BUILD_AT' && mix docs"
}

post_deploy() {
  status "deployed"
}

post_erlang_update() {
  __sync_remote "cd '$BUILD_AT' && echo updated to $VERSION"
}

post_upgrade_release() {
  __remote "
    set -e
    '$DELIVER_TO/$APP/bin/$APP' rpc 'Hooky.warm_caches()'
  "
}
