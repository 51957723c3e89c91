APP="twice"
BUILD_HOST="build.example.com"
BUILD_USER="builder"
BUILD_AT="/home/builder/twice"
STAGING_HOSTS="stage.example.com"
STAGING_USER="deploy"
PRODUCTION_HOSTS="web1.example.com"
PRODUCTION_USER="deploy"
DELIVER_TO="/srv/twice"
if [ "$DEPLOY_ENVIRONMENT" = "staging" ]; then
  DELIVER_TO="/srv/twice-staging"
fi
