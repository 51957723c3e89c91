APP="local_app"
BUILD_HOST="localhost"
BUILD_USER="builder"
BUILD_AT="~/builds/local_app"
PRODUCTION_HOSTS="localhost"
PRODUCTION_USER="deploy"
DELIVER_TO="~/local_app"
AUTO_VERSION=git-revision
