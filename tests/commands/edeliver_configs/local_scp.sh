# a secret copied from this machine with scp
APP="notes"
BUILD_HOST="build.example.com"
BUILD_USER="builder"
BUILD_AT="/tmp/edeliver/notes/builds"
PRODUCTION_HOSTS="notes.example.com"
PRODUCTION_USER="notes"
DELIVER_TO="/home/notes/app"

pre_erlang_get_and_update_deps() {
  status "Copying prod.secret.exs"
  scp ~/secrets/notes/prod.secret.exs "$BUILD_USER@$BUILD_HOST:$BUILD_AT/config/prod.secret.exs"
  scp ~/notes.txt "$BUILD_USER@$BUILD_HOST:/tmp/notes.txt"
}
