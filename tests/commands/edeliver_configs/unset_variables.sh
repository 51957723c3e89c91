# the least a file can say: no APP, no users, no DELIVER_TO
BUILD_HOST="build.example.com"
PRODUCTION_HOSTS="web1.example.com web2.example.com"
