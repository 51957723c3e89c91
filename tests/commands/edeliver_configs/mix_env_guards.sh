APP="guarded"
BUILD_HOST="build.example.com"
BUILD_USER="builder"
BUILD_AT="/home/builder/guarded"
TARGET_MIX_ENV="prod"
STAGING_HOSTS="stage.example.com"
STAGING_USER="deploy"
PRODUCTION_HOSTS="web1.example.com"
PRODUCTION_USER="deploy"
DELIVER_TO="/srv/guarded"
USING_DISTILLERY=true

post_erlang_get_and_update_deps() {
  if [ "$TARGET_MIX_ENV" = "prod" ]; then
    __sync_remote "cp /etc/guarded/prod.env '$BUILD_AT/.env'"
  elif [ "$TARGET_MIX_ENV" == "staging" ]; then
    __sync_remote "cp /etc/guarded/staging.env '$BUILD_AT/.env'"
  fi
}

pre_erlang_generate_release() {
  case "$TARGET_MIX_ENV" in
    prod) __sync_remote "echo building a production release in $TARGET_MIX_ENV" ;;
    bench) status "benchmark build" ;;
  esac
}
