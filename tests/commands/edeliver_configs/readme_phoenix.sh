APP="my_app"

BUILD_HOST="build.example.com"
BUILD_USER="builder"
BUILD_AT="/tmp/edeliver/my_app/builds"

STAGING_HOSTS="stage.example.com"
STAGING_USER="web"
TEST_AT="/home/web/staging"

PRODUCTION_HOSTS="web1.example.com web2.example.com"
PRODUCTION_USER="web"
DELIVER_TO="/home/web"
USING_DISTILLERY=true
AUTO_VERSION=commit-count+git-revision+branch-unless-master
GIT_CLEAN_PATHS="_build rel priv/static"
ECTO_REPOSITORY="MyApp.Repo"
x=$(date)

pre_erlang_get_and_update_deps() {
  local _prod_secret_path="/home/builder/prod.secret.exs"
  if [ "$TARGET_MIX_ENV" = "prod" ]; then
    __sync_remote "
      ln -sfn '$_prod_secret_path' '$BUILD_AT/config/prod.secret.exs'
    "
  fi
}

pre_erlang_clean_compile() {
  status "Running phoenix.digest" # log output prepended with "----->"
  __sync_remote " # runs the commands on the build host
    [ -f ~/.profile ] && source ~/.profile # load profile (optional)
    set -e # fail if any command fails (recommended)
    cd '$BUILD_AT' # enter the build directory on the build host (required)
    # prepare something
    mkdir -p priv/static # required by the phoenix.digest task
    cd assets
    npm install
    ./node_modules/brunch/bin/brunch build --production
    cd ..
    APP='$APP' MIX_ENV='$TARGET_MIX_ENV' $MIX_CMD phx.digest $SILENCE
  "
}
post_extract_release_archive() {
  status "Removing start_erl.data"
  __remote "
    [ -f ~/.profile ] && source ~/.profile
    set -e
    cd '$DELIVER_TO/$APP/releases' $SILENCE
    rm -f start_erl.data
  "
}
pre_something_else() { echo hi; }
